// Package ledger is the trace plane's tamper-evident log: an append-only
// sequence of canonical JSON entries under an RFC 6962 Merkle tree, with
// C2SP signed checkpoints. Appends are group-committed: concurrent appends
// share one store transaction and one fsync, and return only once durable.
package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// ErrUnavailable is wrapped by every error that means the ledger could not
// durably record: the operation must not happen (no audit, no action).
var ErrUnavailable = errors.New("ledger unavailable")

// ErrClosed is returned by appends after Close began.
var ErrClosed = fmt.Errorf("%w: the ledger is shutting down", ErrUnavailable)

// ErrNotFound is returned for an entry, tile or proof beyond the log.
var ErrNotFound = errors.New("not in the log")

// Options configure a Ledger.
type Options struct {
	// CheckpointInterval is the least time between two signed checkpoints
	// under load (default 900ms, so that coverage including the commit
	// stays under a second). An acknowledged entry is covered by a
	// checkpoint within about this long.
	CheckpointInterval time.Duration
	// MaxBatch caps the entries committed in one transaction (default 8192).
	MaxBatch int
	// ProbeInterval is how often a degraded ledger tries to write again
	// (default 1s).
	ProbeInterval time.Duration
	// DeferFor is how long the sequencer holds deferred appends
	// (AppendDeferred, CommitDeferred) waiting for an undeferred request
	// to share a commit with (default 5ms).
	DeferFor   time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Progress reports the integrity check at open on large logs.
	Progress func(done, total uint64)
}

func (o *Options) setDefaults() {
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 900 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 8192
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = time.Second
	}
	if o.DeferFor <= 0 {
		o.DeferFor = 5 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Health is a snapshot of the ledger's state.
type Health struct {
	OK             bool
	Reason         string // why not OK
	Size           uint64 // acknowledged entries
	CheckpointSize uint64
	CheckpointTime time.Time // when the latest checkpoint was signed (zero if before this start)
	Pending        int       // appends waiting for the next commit
}

// Ledger is the log. Create it with Open; it is safe for concurrent use.
type Ledger struct {
	st       store.Store
	signer   note.Signer
	verifier note.Verifier
	opts     Options
	log      *slog.Logger
	m        *metrics

	reqs    chan *request
	closing chan struct{}
	stopped chan struct{}
	closeMu sync.RWMutex // held for reading while submitting; Close takes it to stop submissions
	closed  bool

	mu        sync.RWMutex
	size      uint64
	cp        Checkpoint
	cpTime    time.Time
	writeErr  error // the last write failed; cleared by a successful write
	refused   error // the stored log failed its integrity check: never write
	rng       *compact.Range
	lastEntry time.Time
}

type request struct {
	ctx      context.Context
	events   []prepared
	fn       func(*Tx) error
	deferred bool // may wait Options.DeferFor to share a commit
	receipts []Receipt
	err      error
	done     chan struct{}
}

// Open checks the stored log against its checkpoints and starts the
// sequencer. If the check fails, the ledger still opens, for reading, but
// refuses every append and reports why in Health: it never signs on top of
// a log that does not match its own checkpoints.
func Open(ctx context.Context, st store.Store, signer note.Signer, verifier note.Verifier, opts Options) (*Ledger, error) {
	opts.setDefaults()
	if signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() {
		return nil, errors.New("ledger: the signing key and the verifier key do not match")
	}
	if !ValidOrigin(signer.Name()) {
		return nil, fmt.Errorf("ledger: key name %q is not a valid origin (%sNAME)", signer.Name(), OriginPrefix)
	}
	l := &Ledger{
		st: st, signer: signer, verifier: verifier, opts: opts, log: opts.Logger,
		reqs:    make(chan *request, 4*opts.MaxBatch),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	l.m = newMetrics(l, opts.Registerer)
	start := time.Now()
	var rep Report
	err := st.View(ctx, func(tx store.ReadTx) error {
		var err error
		rep, err = VerifyStore(ctx, tx, verifier, VerifyOptions{Progress: opts.Progress})
		return err
	})
	var verr *VerifyError
	switch {
	case errors.As(err, &verr):
		l.refused = fmt.Errorf("%w: the stored log failed its integrity check, so nothing will be written on top of it: %v", ErrUnavailable, err)
		l.log.Error("ledger refuses to write", "reason", err.Error())
		// Reads still serve what is stored, so the damage can be inspected.
		if err := st.View(ctx, func(tx store.ReadTx) (err error) { l.size, err = tx.LedgerSize(ctx); return err }); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("ledger: integrity check: %w", err)
	default:
		l.size = rep.Size
		if rep.Latest != nil {
			l.cp = *rep.Latest
		}
		if err := l.reload(ctx); err != nil {
			return nil, err
		}
		l.log.Info("ledger verified", "size", rep.Size, "checkpoints", rep.Checkpoints, "took", time.Since(start).Round(time.Millisecond))
	}
	l.m.size.Set(float64(l.size))
	go l.run()
	return l, nil
}

// reload rebuilds the in-memory tree state from the store, trusting it; used
// after verification at open and after a failed write, whose outcome is
// uncertain.
func (l *Ledger) reload(ctx context.Context) error {
	return l.st.View(ctx, func(tx store.ReadTx) error {
		size, err := tx.LedgerSize(ctx)
		if err != nil {
			return err
		}
		rng, err := loadRange(ctx, tx, size)
		if err != nil {
			return err
		}
		var last time.Time
		if size > 0 {
			err := tx.LedgerEntries(ctx, size-1, size, func(e store.LedgerEntry) error {
				pe, err := ParseEntry(e.Data)
				last = pe.Time
				return err
			})
			if err != nil {
				return err
			}
		}
		cp := l.cp
		if stored, err := tx.LatestCheckpoint(ctx); err == nil {
			if cp, err = OpenCheckpoint(stored.Note, l.verifier); err != nil {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		l.mu.Lock()
		l.size, l.rng, l.lastEntry, l.cp = size, rng, last, cp
		l.mu.Unlock()
		l.m.size.Set(float64(size))
		return nil
	})
}

// Append durably records events, in order, and returns their receipts. It
// returns an error wrapping ErrUnavailable when they could not be recorded;
// then none of them is in the log.
func (l *Ledger) Append(ctx context.Context, events ...Event) ([]Receipt, error) {
	return l.append(ctx, false, events)
}

// AppendDeferred is Append for records nobody is waiting on, such as the
// outcome of a call whose answer has already been sent: the sequencer may
// hold them up to Options.DeferFor so that they share the commit (and its
// fsync) of the next undeferred request instead of taking one of their
// own, which an undeferred request arriving meanwhile would wait behind.
// They are just as durable when it returns.
func (l *Ledger) AppendDeferred(ctx context.Context, events ...Event) ([]Receipt, error) {
	return l.append(ctx, true, events)
}

func (l *Ledger) append(ctx context.Context, deferred bool, events []Event) ([]Receipt, error) {
	ps := make([]prepared, len(events))
	for i, e := range events {
		p, err := e.prepare()
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	r := &request{ctx: ctx, events: ps, deferred: deferred, done: make(chan struct{})}
	if err := l.submit(ctx, r); err != nil {
		return nil, err
	}
	return r.receipts, r.err
}

// Tx is the ledger's side of a Commit: entries appended through it commit
// atomically with the writes made through Store.
type Tx struct {
	l       *Ledger
	stx     store.Tx
	batch   *batch
	entries int
}

// Store is the store transaction in which the state change is written.
func (t *Tx) Store() store.Tx { return t.stx }

// Append records an event in the same transaction. The receipt is final once
// Commit returns nil.
func (t *Tx) Append(e Event) (Receipt, error) {
	p, err := e.prepare()
	if err != nil {
		return Receipt{}, err
	}
	return t.batch.add(p), nil
}

// Savepoint runs fn so that, if it fails, what it wrote through Store and
// the entries it appended are undone and the rest of the transaction
// stands. It returns fn's error.
func (t *Tx) Savepoint(fn func() error) error {
	mark, bufMark := len(t.batch.entries), len(t.batch.buf)
	err := t.stx.Savepoint(context.Background(), fn)
	if err != nil {
		t.batch.entries, t.batch.buf = t.batch.entries[:mark], t.batch.buf[:bufMark]
	}
	return err
}

// Commit runs fn inside the ledger's next group commit. Everything fn writes
// through tx.Store() and every entry it appends through tx.Append commit in
// one transaction, or not at all: a state change and the entry recording it
// are never apart. fn must be quick and must not call the ledger itself.
// If fn returns an error, its writes and entries are undone and Commit
// returns that error; other requests in the batch are unaffected.
func (l *Ledger) Commit(ctx context.Context, fn func(tx *Tx) error) error {
	return l.commitFn(ctx, false, fn)
}

// CommitDeferred is Commit for writes nobody is waiting on; see
// AppendDeferred.
func (l *Ledger) CommitDeferred(ctx context.Context, fn func(tx *Tx) error) error {
	return l.commitFn(ctx, true, fn)
}

func (l *Ledger) commitFn(ctx context.Context, deferred bool, fn func(tx *Tx) error) error {
	r := &request{ctx: ctx, fn: fn, deferred: deferred, done: make(chan struct{})}
	if err := l.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

func (l *Ledger) submit(ctx context.Context, r *request) error {
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	if err := l.unavailable(); err != nil {
		l.closeMu.RUnlock()
		return err
	}
	select {
	case l.reqs <- r:
		l.closeMu.RUnlock()
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return ctx.Err()
	}
	<-r.done // once queued, a request is always answered
	return nil
}

func (l *Ledger) unavailable() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.refused != nil {
		return l.refused
	}
	if l.writeErr != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, l.writeErr)
	}
	return nil
}

// Close stops taking appends, finishes those in flight, signs a final
// checkpoint covering everything acknowledged, and stops the sequencer. It
// does not close the store.
func (l *Ledger) Close(ctx context.Context) error {
	l.closeMu.Lock()
	already := l.closed
	l.closed = true
	l.closeMu.Unlock()
	if !already {
		close(l.closing)
	}
	select {
	case <-l.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batch collects the entries of one group commit.
type batch struct {
	base    uint64 // index of the first entry
	entries []store.LedgerEntry
	last    time.Time
	buf     []byte
}

func (b *batch) add(p prepared) Receipt {
	t := time.Now().UTC()
	if t.Before(b.last) {
		t = b.last // entry times never go backwards, even if the clock does
	}
	b.last = t
	idx := b.base + uint64(len(b.entries))
	start := len(b.buf)
	b.buf = p.encode(b.buf, idx, t)
	data := b.buf[start:len(b.buf):len(b.buf)]
	leaf := hasher.HashLeaf(data)
	b.entries = append(b.entries, store.LedgerEntry{Index: idx, Data: data, LeafHash: leaf})
	return Receipt{Index: idx, LeafHash: leaf}
}

// run is the sequencer: the only goroutine that writes the log.
func (l *Ledger) run() {
	defer close(l.stopped)
	var (
		cpTimer   = time.NewTimer(time.Hour)
		deferWait = time.NewTimer(time.Hour)
		probe     = time.NewTicker(l.opts.ProbeInterval)
		pending   []*request
		draining  bool
	)
	cpTimer.Stop()
	deferWait.Stop()
	defer probe.Stop()
	for {
		if len(pending) == 0 && !draining {
			select {
			case r := <-l.reqs:
				pending = append(pending, r)
			case <-cpTimer.C:
				l.checkpointOnly()
				l.armCheckpoint(cpTimer)
				continue
			case <-probe.C:
				l.probe()
				l.armCheckpoint(cpTimer)
				continue
			case <-l.closing:
				draining = true // take what was queued before Close, then finish
			}
		}
		// Take whatever else is queued, up to a batch.
		n := 0
		for _, r := range pending {
			n += r.weight()
		}
	fill:
		for n < l.opts.MaxBatch {
			select {
			case r := <-l.reqs:
				pending = append(pending, r)
				n += r.weight()
			default:
				break fill
			}
		}
		// Only deferred requests: hold them a little for an undeferred
		// one to share their commit.
		if !draining && n < l.opts.MaxBatch && allDeferred(pending) {
			deferWait.Reset(l.opts.DeferFor)
		hold:
			for n < l.opts.MaxBatch {
				select {
				case r := <-l.reqs:
					pending = append(pending, r)
					n += r.weight()
					if !r.deferred {
						break hold
					}
				case <-deferWait.C:
					break hold
				case <-l.closing:
					draining = true
					break hold
				}
			}
			deferWait.Stop()
		}
		if len(pending) > 0 {
			pending = l.commit(pending)
			l.armCheckpoint(cpTimer)
			continue
		}
		if draining {
			l.finalCheckpoint()
			return
		}
	}
}

// weight is what a request counts for against MaxBatch.
func (r *request) weight() int { return max(len(r.events), 1) }

func allDeferred(reqs []*request) bool {
	for _, r := range reqs {
		if !r.deferred {
			return false
		}
	}
	return len(reqs) > 0
}

// armCheckpoint sets the timer for the next checkpoint if acknowledged
// entries are not covered yet.
func (l *Ledger) armCheckpoint(t *time.Timer) {
	l.mu.RLock()
	due := l.size > l.cp.Size && l.writeErr == nil && l.refused == nil
	wait := l.opts.CheckpointInterval - time.Since(l.cpTime)
	l.mu.RUnlock()
	if due {
		t.Reset(max(wait, 0))
	}
}

// commit runs one group commit over as many of reqs as fit in a batch and
// returns the rest.
func (l *Ledger) commit(reqs []*request) []*request {
	l.mu.RLock()
	base, rng, last, refused := l.size, l.rng, l.lastEntry, l.refused
	cpDue := time.Since(l.cpTime) >= l.opts.CheckpointInterval
	l.mu.RUnlock()

	var take []*request
	n := 0
	for len(reqs) > 0 && (n == 0 || n+reqs[0].weight() <= l.opts.MaxBatch) {
		r := reqs[0]
		reqs = reqs[1:]
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		n += r.weight()
		take = append(take, r)
	}
	if len(take) == 0 {
		return reqs
	}
	if refused != nil {
		l.fail(take, refused)
		return reqs
	}

	ctx := context.Background()
	b := &batch{base: base, last: last, buf: make([]byte, 0, 256*n), entries: make([]store.LedgerEntry, 0, n)}
	var newRng *compact.Range
	var cp Checkpoint
	start := time.Now()
	err := l.st.Update(ctx, func(stx store.Tx) error {
		b.entries, b.buf = b.entries[:0], b.buf[:0]
		for _, r := range take {
			r.err, r.receipts = nil, nil
			if r.fn == nil {
				for _, p := range r.events {
					r.receipts = append(r.receipts, b.add(p))
				}
				continue
			}
			tx := &Tx{l: l, stx: stx, batch: b}
			r.err = tx.Savepoint(func() error { return r.fn(tx) })
		}
		if len(b.entries) == 0 {
			return nil
		}
		newRng = cloneRange(rng)
		var nodes []store.LedgerNode
		visit := func(id compact.NodeID, h []byte) {
			if storedLevel(id.Level) {
				nodes = append(nodes, store.LedgerNode{Level: id.Level, Index: id.Index, Hash: h})
			}
		}
		for _, e := range b.entries {
			if err := newRng.Append(e.LeafHash, visit); err != nil {
				return err
			}
		}
		if err := stx.AppendLedgerEntries(ctx, b.entries); err != nil {
			return err
		}
		if err := stx.PutLedgerNodes(ctx, nodes); err != nil {
			return err
		}
		if cpDue {
			root, err := rootOf(newRng)
			if err != nil {
				return err
			}
			if cp, err = signCheckpoint(l.signer, newRng.End(), root); err != nil {
				return err
			}
			return stx.PutCheckpoint(ctx, store.Checkpoint{Size: cp.Size, Note: cp.Note})
		}
		return nil
	})
	l.m.commitSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		l.writeFailed(err)
		l.fail(take, fmt.Errorf("%w: %v", ErrUnavailable, err))
		return reqs
	}
	now := time.Now()
	l.mu.Lock()
	if len(b.entries) > 0 {
		l.size, l.rng, l.lastEntry = newRng.End(), newRng, b.last
	}
	if cp.Note != nil {
		l.cp, l.cpTime = cp, now
	}
	recovered := l.writeErr != nil
	l.writeErr = nil
	size := l.size
	l.mu.Unlock()
	if recovered {
		l.log.Info("ledger writes again", "size", size)
	}
	l.m.size.Set(float64(size))
	l.m.appends.Add(float64(len(b.entries)))
	l.m.batchSize.Observe(float64(len(b.entries)))
	for _, r := range take {
		close(r.done)
	}
	return reqs
}

func (l *Ledger) fail(reqs []*request, err error) {
	for _, r := range reqs {
		r.receipts = nil
		if r.err == nil || r.fn == nil {
			r.err = err
		} else {
			r.err = errors.Join(err, r.err)
		}
		close(r.done)
	}
	l.m.failures.Add(float64(len(reqs)))
}

func (l *Ledger) writeFailed(err error) {
	l.mu.Lock()
	first := l.writeErr == nil
	l.writeErr = err
	l.mu.Unlock()
	if first {
		l.log.Error("ledger cannot write; refusing appends until it can", "err", err.Error())
	}
}

// probe, while writes are failing, tries a small write and, once it goes
// through, reloads the tree state from the store (the failed commit's
// outcome is unknown) and takes appends again.
func (l *Ledger) probe() {
	l.mu.RLock()
	failing := l.writeErr != nil && l.refused == nil
	l.mu.RUnlock()
	if !failing {
		return
	}
	ctx := context.Background()
	err := l.st.Update(ctx, func(tx store.Tx) error {
		return tx.SetMeta(ctx, "ledger.probe", []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
	if err == nil {
		err = l.reload(ctx)
	}
	if err != nil {
		l.writeFailed(err)
		return
	}
	l.mu.Lock()
	l.writeErr = nil
	size := l.size
	l.mu.Unlock()
	l.log.Info("ledger writes again", "size", size)
}

// checkpointOnly signs and stores a checkpoint when no batch came to carry it.
func (l *Ledger) checkpointOnly() {
	l.mu.RLock()
	size, rng, covered := l.size, l.rng, l.cp.Size
	failing := l.writeErr != nil || l.refused != nil
	l.mu.RUnlock()
	if failing || size <= covered {
		return
	}
	root, err := rootOf(rng)
	if err == nil {
		var cp Checkpoint
		cp, err = signCheckpoint(l.signer, size, root)
		if err == nil {
			ctx := context.Background()
			err = l.st.Update(ctx, func(tx store.Tx) error {
				return tx.PutCheckpoint(ctx, store.Checkpoint{Size: cp.Size, Note: cp.Note})
			})
		}
		if err == nil {
			l.mu.Lock()
			l.cp, l.cpTime = cp, time.Now()
			l.writeErr = nil
			l.mu.Unlock()
			return
		}
	}
	l.writeFailed(err)
}

func (l *Ledger) finalCheckpoint() {
	l.checkpointOnly()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.refused == nil && l.size > l.cp.Size {
		l.log.Error("ledger stopped without a checkpoint covering every entry", "size", l.size, "checkpoint", l.cp.Size)
	}
}

// Health reports the ledger's state.
func (l *Ledger) Health() Health {
	l.mu.RLock()
	defer l.mu.RUnlock()
	h := Health{OK: true, Size: l.size, CheckpointSize: l.cp.Size, CheckpointTime: l.cpTime, Pending: len(l.reqs)}
	switch {
	case l.refused != nil:
		h.OK, h.Reason = false, l.refused.Error()
	case l.writeErr != nil:
		h.OK, h.Reason = false, "the ledger cannot write: "+l.writeErr.Error()
	}
	return h
}

// Size is the number of acknowledged entries.
func (l *Ledger) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Origin is the log's name, the origin line of its checkpoints.
func (l *Ledger) Origin() string { return l.signer.Name() }

// VerifierKey is the verifier key in sumdb/note text form.
func (l *Ledger) Verifier() note.Verifier { return l.verifier }

// Checkpoint returns the latest signed checkpoint, or ErrNotFound before the
// first one.
func (l *Ledger) Checkpoint() (Checkpoint, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.cp.Note == nil {
		return Checkpoint{}, ErrNotFound
	}
	return l.cp, nil
}

// Entry returns the exact stored bytes of entry i.
func (l *Ledger) Entry(ctx context.Context, i uint64) ([]byte, error) {
	if i >= l.Size() {
		return nil, fmt.Errorf("entry %d: %w (size %d)", i, ErrNotFound, l.Size())
	}
	var out []byte
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		return tx.LedgerEntries(ctx, i, i+1, func(e store.LedgerEntry) error {
			out = bytes.Clone(e.Data)
			return nil
		})
	})
	if err == nil && out == nil {
		err = fmt.Errorf("entry %d: %w", i, ErrNotFound)
	}
	return out, err
}

// Entries calls fn with the stored bytes of up to limit entries from index
// from, in order, within the acknowledged log.
func (l *Ledger) Entries(ctx context.Context, from uint64, limit int, fn func(index uint64, data []byte) error) error {
	to := min(l.Size(), from+uint64(limit))
	return l.st.View(ctx, func(tx store.ReadTx) error {
		return tx.LedgerEntries(ctx, from, to, func(e store.LedgerEntry) error { return fn(e.Index, e.Data) })
	})
}

// InclusionProof proves entry index is in the tree of the given size.
func (l *Ledger) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if size > l.Size() || index >= size {
		return nil, fmt.Errorf("inclusion of %d in size %d: %w (size %d)", index, size, ErrNotFound, l.Size())
	}
	var p [][]byte
	err := l.st.View(ctx, func(tx store.ReadTx) (err error) {
		p, err = inclusionProof(ctx, tx, index, size)
		return err
	})
	return p, err
}

// ConsistencyProof proves the tree of size to extends the tree of size from.
func (l *Ledger) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	if to > l.Size() || from > to {
		return nil, fmt.Errorf("consistency from %d to %d: %w (size %d)", from, to, ErrNotFound, l.Size())
	}
	var p [][]byte
	err := l.st.View(ctx, func(tx store.ReadTx) (err error) {
		p, err = consistencyProof(ctx, tx, from, to)
		return err
	})
	return p, err
}

// RootAt returns the root hash of the tree of the given size.
func (l *Ledger) RootAt(ctx context.Context, size uint64) ([]byte, error) {
	if size > l.Size() {
		return nil, fmt.Errorf("root at %d: %w (size %d)", size, ErrNotFound, l.Size())
	}
	var root []byte
	err := l.st.View(ctx, func(tx store.ReadTx) (err error) {
		root, err = rootAt(ctx, tx, size)
		return err
	})
	return root, err
}
