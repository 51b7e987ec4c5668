package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
)

// faultMode is how a faultyStore's Update fails while failure is on.
type faultMode int32

const (
	// failBeforeWrite: Update fails at once, as when the disk is gone.
	failBeforeWrite faultMode = iota + 1
	// failAtCommit: the writes run, then the transaction fails and is rolled
	// back, as when COMMIT or its fsync fails.
	failAtCommit
	// failAfterCommit: the transaction commits, then Update reports an
	// error anyway; the caller cannot know the outcome.
	failAfterCommit
)

var errInjected = errors.New("injected I/O error")

// faultyStore wraps a real store; while failing is set its Update fails in
// the configured way. Reads always work.
type faultyStore struct {
	store.Store
	mode    faultMode
	failing atomic.Bool
	updates atomic.Int64 // Update calls that failed by injection
}

func (s *faultyStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if !s.failing.Load() {
		return s.Store.Update(ctx, fn)
	}
	s.updates.Add(1)
	switch s.mode {
	case failBeforeWrite:
		return fmt.Errorf("store: begin: %w", errInjected)
	case failAtCommit:
		return s.Store.Update(ctx, func(tx store.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return fmt.Errorf("store: commit: %w", errInjected) // rolls back what fn wrote
		})
	case failAfterCommit:
		if err := s.Store.Update(ctx, fn); err != nil {
			return err
		}
		return fmt.Errorf("store: commit: %w", errInjected)
	}
	panic("unknown fault mode")
}

// acked is an append the ledger acknowledged.
type acked struct {
	writer, seq int
	leaf        []byte
}

func faultEvent(writer, seq int) Event {
	return Event{Kind: "event.fault", Actor: "writer", Body: json.RawMessage(fmt.Sprintf(`{"seq":%d,"writer":%d}`, seq, writer))}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLedgerFailsClosedAndRecoversFromWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode faultMode
		// exact: the store must hold exactly the acknowledged entries. When a
		// commit is durable but reported failed, the store also holds entries
		// whose appends returned an error; that cannot be helped.
		exact bool
	}{
		{"writes failing before they start", failBeforeWrite, true},
		{"commits failing after the writes and rolling back", failAtCommit, true},
		{"commits reported failed after they were durable", failAfterCommit, false},
	} {
		t.Run("the ledger survives "+tc.name, func(t *testing.T) {
			testFailClosed(t, tc.mode, tc.exact)
		})
	}
}

func testFailClosed(t *testing.T, mode faultMode, exact bool) {
	ctx := context.Background()
	k := newKeys(t, "mirroros/test")
	path := filepath.Join(t.TempDir(), "mirror.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs := &faultyStore{Store: db, mode: mode}
	l, err := Open(ctx, fs, k.signer, k.verifier, Options{
		ProbeInterval:      20 * time.Millisecond,
		CheckpointInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			l.Close(ctx)
		}
	})

	var (
		mu        sync.Mutex
		acks      = map[uint64]acked{}
		successes atomic.Int64
		failures  atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	record := func(writer, seq int, rs []Receipt, err error) {
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("writer %d append %d: %v, want an error wrapping ErrUnavailable", writer, seq, err)
			}
			failures.Add(1)
			return
		}
		if len(rs) != 1 {
			t.Errorf("writer %d append %d: %d receipts", writer, seq, len(rs))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := acks[rs[0].Index]; dup {
			t.Errorf("index %d acknowledged to writer %d append %d and to writer %d append %d", rs[0].Index, prev.writer, prev.seq, writer, seq)
		}
		acks[rs[0].Index] = acked{writer: writer, seq: seq, leaf: rs[0].LeafHash}
		successes.Add(1)
	}
	const writers = 8
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				rs, err := l.Append(ctx, faultEvent(w, seq))
				record(w, seq, rs, err)
				if err != nil {
					time.Sleep(time.Millisecond) // back off instead of spinning
				}
			}
		}()
	}
	var stopOnce sync.Once
	stopWriters := func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}
	t.Cleanup(stopWriters)
	direct := writers // the writer number of appends made by the test itself
	directSeq := 0
	directAppend := func() error {
		directSeq++
		rs, err := l.Append(ctx, faultEvent(direct, directSeq))
		record(direct, directSeq, rs, err)
		return err
	}

	waitFor(t, 10*time.Second, "100 appends before the fault", func() bool { return successes.Load() >= 100 })
	for cycle := 1; cycle <= 2; cycle++ {
		fs.failing.Store(true)
		waitFor(t, 5*time.Second, "Health not OK after the store began failing", func() bool { return !l.Health().OK })
		base, probes := failures.Load(), fs.updates.Load()
		for i := 0; i < 5; i++ {
			if h := l.Health(); h.OK || h.Reason == "" {
				t.Fatalf("cycle %d: Health() = %+v while the store fails, want not OK with a reason", cycle, h)
			}
			if err := directAppend(); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("cycle %d: append while the store fails = %v, want ErrUnavailable", cycle, err)
			}
			target := base + int64(10*(i+1))
			waitFor(t, 5*time.Second, "writers refused while failing", func() bool { return failures.Load() >= target })
		}
		// Appends are refused without reaching the store now, so further
		// failed Updates are the sequencer's probes.
		waitFor(t, 5*time.Second, "two failed probes while failing", func() bool { return fs.updates.Load() >= probes+2 })
		if h := l.Health(); h.OK {
			t.Fatalf("cycle %d: Health() = %+v after failed probes, want not OK", cycle, h)
		}

		fs.failing.Store(false)
		waitFor(t, 5*time.Second, "Health OK again after the fault cleared", func() bool { return l.Health().OK })
		if err := directAppend(); err != nil {
			t.Fatalf("cycle %d: append after recovery: %v", cycle, err)
		}
		after := successes.Load() + 100
		waitFor(t, 10*time.Second, "100 appends after recovery", func() bool { return successes.Load() >= after })
	}
	stopWriters()
	if err := directAppend(); err != nil {
		t.Fatalf("append after the writers stopped: %v", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	if failures.Load() == 0 {
		t.Fatal("no append failed: the fault was never seen")
	}

	// Every acknowledged append is stored at its index with its leaf hash.
	var stored []store.LedgerEntry
	var rep Report
	err = db.View(ctx, func(tx store.ReadTx) error {
		size, err := tx.LedgerSize(ctx)
		if err != nil {
			return err
		}
		if err := tx.LedgerEntries(ctx, 0, size, func(e store.LedgerEntry) error {
			stored = append(stored, store.LedgerEntry{Index: e.Index, Data: bytes.Clone(e.Data), LeafHash: bytes.Clone(e.LeafHash)})
			return nil
		}); err != nil {
			return err
		}
		rep, err = VerifyStore(ctx, tx, k.verifier, VerifyOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("the store after the faults: %v", err)
	}
	if rep.Latest == nil || rep.Latest.Size != rep.Size {
		t.Errorf("the final checkpoint %+v does not cover all %d entries", rep.Latest, rep.Size)
	}
	if h := l.Health(); h.Size != rep.Size {
		t.Errorf("the ledger acknowledged %d entries, the store holds %d", h.Size, rep.Size)
	}
	mu.Lock()
	defer mu.Unlock()
	for idx, a := range acks {
		if idx >= uint64(len(stored)) {
			t.Errorf("acknowledged entry %d (writer %d append %d) is beyond the stored log of %d", idx, a.writer, a.seq, len(stored))
			continue
		}
		e := stored[idx]
		if e.Index != idx || !bytes.Equal(e.LeafHash, a.leaf) {
			t.Errorf("acknowledged entry %d (writer %d append %d): stored as index %d with leaf %x, receipt leaf %x", idx, a.writer, a.seq, e.Index, e.LeafHash, a.leaf)
			continue
		}
		pe, err := ParseEntry(e.Data)
		if err != nil {
			t.Errorf("entry %d: %v", idx, err)
			continue
		}
		if want := fmt.Sprintf(`{"seq":%d,"writer":%d}`, a.seq, a.writer); string(pe.Body) != want {
			t.Errorf("entry %d holds %s, acknowledged for %s", idx, pe.Body, want)
		}
	}
	if exact && len(stored) != len(acks) {
		t.Errorf("the store holds %d entries but %d were acknowledged: a failed append was written", len(stored), len(acks))
	}
	t.Logf("%d acknowledged, %d refused, %d stored, %d injected failures", len(acks), failures.Load(), len(stored), fs.updates.Load())
}
