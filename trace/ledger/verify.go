package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"

	"github.com/mirroros/mirror/store"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// VerifyError says where and how a log failed verification.
type VerifyError struct {
	// Index is the first bad entry, or -1 when the failure is not tied to
	// one entry (a checkpoint, a stored node, a truncated log).
	Index  int64
	Reason string
}

func (e *VerifyError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("entry %d: %s", e.Index, e.Reason)
	}
	return e.Reason
}

func entryErr(i uint64, format string, args ...any) error {
	return &VerifyError{Index: int64(i), Reason: fmt.Sprintf(format, args...)}
}

func logErr(format string, args ...any) error {
	return &VerifyError{Index: -1, Reason: fmt.Sprintf(format, args...)}
}

// Report is the result of a successful verification.
type Report struct {
	Size        uint64
	Root        []byte
	Checkpoints int         // signed checkpoints checked
	Latest      *Checkpoint // the largest, if any
}

// VerifyOptions tune a verification.
type VerifyOptions struct {
	// Progress, if set, is called now and then with the entries done so far
	// and the total.
	Progress func(done, total uint64)
	// Against are checkpoints saved elsewhere; the log must extend each one.
	Against []Checkpoint
}

// verifier recomputes a log from its entry bytes and checks it against its
// checkpoints. Entries are fed in order with add.
type verifier struct {
	cps       []Checkpoint // sorted by size, signatures already checked
	next      int          // first checkpoint not yet reached
	lastGood  uint64       // size of the last checkpoint that matched
	rng       *compact.Range
	nodes     []store.LedgerNode // recomputed nodes at stored levels
	against   []Checkpoint
	rootsWant map[uint64][]byte // roots to remember, by size
	roots     map[uint64][]byte
}

func newVerifier(cps []Checkpoint, against []Checkpoint) *verifier {
	sort.Slice(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size })
	v := &verifier{cps: cps, rng: factory.NewEmptyRange(0), against: against, roots: map[uint64][]byte{}}
	return v
}

func (v *verifier) visit(id compact.NodeID, h []byte) {
	if storedLevel(id.Level) {
		v.nodes = append(v.nodes, store.LedgerNode{Level: id.Level, Index: id.Index, Hash: h})
	}
}

// add feeds entry i. recorded is the leaf hash stored beside it, if any.
func (v *verifier) add(i uint64, data, recorded []byte) error {
	if err := v.expect(i); err != nil {
		return err
	}
	leaf := make([]byte, 0, sha256.Size)
	leaf, err := checkEntry(i, data, recorded, leaf)
	if err != nil {
		return err
	}
	return v.extend(leaf)
}

// expect checks that entry i is the next one.
func (v *verifier) expect(i uint64) error {
	if i != v.rng.End() {
		return entryErr(v.rng.End(), "missing (the next stored entry is %d)", i)
	}
	return nil
}

// checkEntry checks what can be checked of entry i on its own and appends
// its leaf hash to dst. It is safe to run on many entries in parallel.
func checkEntry(i uint64, data, recorded, dst []byte) ([]byte, error) {
	if len(data) > MaxEntrySize {
		return dst, entryErr(i, "%d bytes, over the %d-byte limit", len(data), MaxEntrySize)
	}
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	dst = h.Sum(dst)
	leaf := dst[len(dst)-sha256.Size:]
	if recorded != nil && !bytes.Equal(leaf, recorded) {
		return dst, entryErr(i, "stored bytes hash to %s but the recorded leaf hash is %s: the entry bytes were changed",
			b64(leaf), b64(recorded))
	}
	if !json.Valid(data) {
		return dst, entryErr(i, "stored bytes are not valid JSON")
	}
	idx, ok := entryIndex(data)
	if !ok {
		return dst, entryErr(i, "entry has no readable index field")
	}
	if idx != i {
		return dst, entryErr(i, "its index field says %d: entries were moved or swapped", idx)
	}
	return dst, nil
}

// extend adds the next leaf to the tree and checks the checkpoints it reaches.
func (v *verifier) extend(leaf []byte) error {
	if err := v.rng.Append(leaf, v.visit); err != nil {
		return err
	}
	return v.reached(v.rng.End())
}

// reached checks every checkpoint whose size the tree has just reached.
func (v *verifier) reached(size uint64) error {
	var root []byte
	for _, a := range v.against {
		if a.Size == size {
			root = v.root()
			if !bytes.Equal(root, a.Root) {
				return logErr("the log does not extend the saved checkpoint: at size %d its root is %s, the saved checkpoint says %s (history was rewritten)",
					size, b64(root), b64(a.Root))
			}
			v.roots[size] = root
		}
	}
	for v.next < len(v.cps) && v.cps[v.next].Size == size {
		if root == nil {
			root = v.root()
		}
		cp := v.cps[v.next]
		if !bytes.Equal(root, cp.Root) {
			return logErr("checkpoint at size %d: its root %s differs from the recomputed root %s: the log was changed at an index in [%d, %d)",
				size, b64(cp.Root), b64(root), v.lastGood, size)
		}
		v.lastGood = size
		v.next++
	}
	return nil
}

func (v *verifier) root() []byte {
	r, err := rootOf(v.rng)
	if err != nil {
		panic(err) // unreachable: a non-empty range always has a root
	}
	return r
}

func (v *verifier) finish() (Report, error) {
	size := v.rng.End()
	if v.next < len(v.cps) {
		cp := v.cps[len(v.cps)-1]
		return Report{}, logErr("the log has %d entries but a checkpoint covers %d: the log was truncated or entries deleted", size, cp.Size)
	}
	for _, a := range v.against {
		if a.Size > size {
			return Report{}, logErr("the log has %d entries but the saved checkpoint covers %d: the log was truncated", size, a.Size)
		}
	}
	rep := Report{Size: size, Root: v.root(), Checkpoints: len(v.cps)}
	if size == 0 {
		rep.Root = hasher.EmptyRoot()
	}
	if len(v.cps) > 0 {
		latest := v.cps[len(v.cps)-1]
		rep.Latest = &latest
	}
	return rep, nil
}

func (v *verifier) checkNodes(stored []store.LedgerNode) error {
	want := make(map[[2]uint64][]byte, len(v.nodes))
	for _, n := range v.nodes {
		want[[2]uint64{uint64(n.Level), n.Index}] = n.Hash
	}
	for _, n := range stored {
		h, ok := want[[2]uint64{uint64(n.Level), n.Index}]
		if !ok {
			return logErr("stored Merkle node (level %d, index %d) is not part of the recomputed tree", n.Level, n.Index)
		}
		if !bytes.Equal(h, n.Hash) {
			return logErr("stored Merkle node (level %d, index %d) is %s but the recomputed tree has %s: proofs served from it would be wrong",
				n.Level, n.Index, b64(n.Hash), b64(h))
		}
		delete(want, [2]uint64{uint64(n.Level), n.Index})
	}
	for k := range want {
		return logErr("Merkle node (level %d, index %d) is missing from the store", k[0], k[1])
	}
	return nil
}

func openCheckpoints(notes []store.Checkpoint, nv note.Verifier) ([]Checkpoint, error) {
	cps := make([]Checkpoint, 0, len(notes))
	for _, n := range notes {
		cp, err := OpenCheckpoint(n.Note, nv)
		if err != nil {
			return nil, logErr("checkpoint stored for size %d: %v", n.Size, err)
		}
		if cp.Size != n.Size {
			return nil, logErr("checkpoint stored for size %d says size %d", n.Size, cp.Size)
		}
		cps = append(cps, cp)
	}
	return cps, nil
}

const progressEvery = 1 << 16

// VerifyStore recomputes every leaf hash and the Merkle tree from the stored
// entry bytes, and checks the recorded leaf hashes, the stored nodes and each
// stored checkpoint's signature and root.
func VerifyStore(ctx context.Context, tx store.ReadTx, nv note.Verifier, opts VerifyOptions) (Report, error) {
	var notes []store.Checkpoint
	if err := tx.Checkpoints(ctx, func(c store.Checkpoint) error {
		notes = append(notes, store.Checkpoint{Size: c.Size, Note: bytes.Clone(c.Note)})
		return nil
	}); err != nil {
		return Report{}, err
	}
	cps, err := openCheckpoints(notes, nv)
	if err != nil {
		return Report{}, err
	}
	total, err := tx.LedgerSize(ctx)
	if err != nil {
		return Report{}, err
	}
	v := newVerifier(cps, opts.Against)
	if err := verifyEntries(ctx, tx, v, total, opts.Progress); err != nil {
		return Report{}, err
	}
	if v.rng.End() != total {
		return Report{}, entryErr(v.rng.End(), "missing (the log claims %d entries)", total)
	}
	if opts.Progress != nil {
		opts.Progress(total, total)
	}
	rep, err := v.finish()
	if err != nil {
		return Report{}, err
	}
	var stored []store.LedgerNode
	if err := tx.LedgerNodesAll(ctx, func(n store.LedgerNode) error {
		stored = append(stored, store.LedgerNode{Level: n.Level, Index: n.Index, Hash: bytes.Clone(n.Hash)})
		return nil
	}); err != nil {
		return Report{}, err
	}
	if err := v.checkNodes(stored); err != nil {
		return Report{}, err
	}
	// Prove each saved checkpoint the way an outside verifier would: with a
	// consistency proof served from the stored tree.
	for _, a := range opts.Against {
		if err := verifyConsistency(ctx, tx, a, rep); err != nil {
			return Report{}, err
		}
	}
	return rep, nil
}

func verifyConsistency(ctx context.Context, tx store.ReadTx, old Checkpoint, now Report) error {
	p, err := consistencyProof(ctx, tx, old.Size, now.Size)
	if err != nil {
		return logErr("consistency proof from %d to %d: %v", old.Size, now.Size, err)
	}
	if err := proof.VerifyConsistency(hasher, old.Size, now.Size, p, old.Root, now.Root); err != nil {
		return logErr("consistency proof from the saved checkpoint (size %d) to the log (size %d) fails: %v", old.Size, now.Size, err)
	}
	return nil
}

// ExportLine is the form of a checkpoint line in an export; every other line
// of an export is an entry, exactly as stored.
type ExportLine struct {
	Checkpoint string `json:"checkpoint"`
}

// VerifyExport verifies a JSON Lines export: entries in order, each exactly as
// stored, and lines {"checkpoint": "<signed note>"} that the entries before
// them must match.
func VerifyExport(r io.Reader, nv note.Verifier, opts VerifyOptions) (Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), MaxEntrySize+1<<12)
	v := newVerifier(nil, opts.Against)
	line := 0
	var cps []Checkpoint
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		if bytes.HasPrefix(b, []byte(`{"checkpoint":`)) {
			var cl ExportLine
			if err := json.Unmarshal(b, &cl); err != nil {
				return Report{}, logErr("line %d: malformed checkpoint line: %v", line, err)
			}
			cp, err := OpenCheckpoint([]byte(cl.Checkpoint), nv)
			if err != nil {
				return Report{}, logErr("line %d: %v", line, err)
			}
			if cp.Size != v.rng.End() {
				return Report{}, logErr("line %d: checkpoint for size %d follows %d entries", line, cp.Size, v.rng.End())
			}
			v.cps = append(v.cps, cp)
			cps = append(cps, cp)
			if err := v.reached(cp.Size); err != nil {
				return Report{}, err
			}
			continue
		}
		if err := v.add(v.rng.End(), b, nil); err != nil {
			return Report{}, err
		}
		if opts.Progress != nil && v.rng.End()%progressEvery == 0 {
			opts.Progress(v.rng.End(), 0)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Report{}, logErr("line %d is longer than any entry can be", line+1)
		}
		return Report{}, err
	}
	if len(cps) == 0 {
		return Report{}, logErr("the export holds no checkpoint: nothing vouches for it")
	}
	return v.finish()
}

func b64(h []byte) string { return base64.StdEncoding.EncodeToString(h) }

// vchunk is a run of consecutive stored entries on its way through the
// verification pipeline.
type vchunk struct {
	index    []uint64
	off      []int  // entry k is buf[off[k]:off[k+1]]
	buf      []byte // entry bytes
	recorded []byte // recorded leaf hashes, 32 bytes each
	leaves   []byte // recomputed leaf hashes, 32 bytes each
	errAt    int    // first entry that failed checkEntry, or -1
	err      error
	readErr  error
	done     chan struct{}
}

const chunkEntries = 4096

// verifyEntries streams the stored entries through a pipeline: one
// goroutine reads them from the store, workers hash and check each entry in
// parallel, and this goroutine extends the tree in order.
func verifyEntries(parent context.Context, tx store.ReadTx, v *verifier, total uint64, progress func(done, total uint64)) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	work := make(chan *vchunk, 4)
	ordered := make(chan *vchunk, 8)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(work)
		defer close(ordered)
		c := newChunk()
		send := func() bool {
			select {
			case ordered <- c:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- c:
			case <-ctx.Done():
				return false
			}
			c = newChunk()
			return true
		}
		const page = 1 << 14
		for from := uint64(0); from < total; from += page {
			err := tx.LedgerEntries(ctx, from, min(from+page, total), func(e store.LedgerEntry) error {
				c.index = append(c.index, e.Index)
				c.buf = append(c.buf, e.Data...)
				c.off = append(c.off, len(c.buf))
				if len(e.LeafHash) == sha256.Size {
					c.recorded = append(c.recorded, e.LeafHash...)
				} else {
					c.recorded = append(c.recorded, make([]byte, sha256.Size)...)
				}
				if len(c.index) == chunkEntries && !send() {
					return ctx.Err()
				}
				return nil
			})
			if err != nil {
				c.readErr = err
				send()
				return
			}
		}
		if len(c.index) > 0 {
			send()
		}
	}()
	workers := max(1, runtime.GOMAXPROCS(0))
	for w := 0; w < workers; w++ {
		go func() {
			for c := range work {
				c.leaves = make([]byte, 0, sha256.Size*len(c.index))
				for k, i := range c.index {
					var err error
					c.leaves, err = checkEntry(i, c.buf[c.off[k]:c.off[k+1]], c.recorded[sha256.Size*k:sha256.Size*(k+1)], c.leaves)
					if err != nil && c.err == nil {
						c.errAt, c.err = k, err
					}
				}
				close(c.done)
			}
		}()
	}
	var err error
	for c := range ordered {
		<-c.done
		if err = verifyChunk(v, c); err != nil {
			break
		}
		if progress != nil && v.rng.End()%progressEvery < uint64(len(c.index)) {
			progress(v.rng.End(), total)
		}
	}
	cancel()
	for range ordered { // let the reader finish before tx is used again
	}
	<-readerDone
	if err == nil {
		err = parent.Err()
	}
	return err
}

func newChunk() *vchunk {
	return &vchunk{
		index:    make([]uint64, 0, chunkEntries),
		off:      append(make([]int, 0, chunkEntries+1), 0),
		buf:      make([]byte, 0, 256*chunkEntries),
		recorded: make([]byte, 0, sha256.Size*chunkEntries),
		errAt:    -1,
		done:     make(chan struct{}),
	}
}

func verifyChunk(v *verifier, c *vchunk) error {
	for k, i := range c.index {
		if err := v.expect(i); err != nil {
			return err
		}
		if k == c.errAt {
			return c.err
		}
		if err := v.extend(c.leaves[sha256.Size*k : sha256.Size*(k+1)]); err != nil {
			return err
		}
	}
	return c.readErr
}
