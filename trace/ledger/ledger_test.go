package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

type keys struct {
	signer   note.Signer
	verifier note.Verifier
}

func newKeys(t testing.TB, origin string) keys {
	t.Helper()
	skey, vkey, err := GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return keys{s, v}
}

type fixture struct {
	path string
	keys keys
	st   *sqlite.DB
	l    *Ledger
}

func openFixture(t testing.TB, path string, k keys, opts Options) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), st, k.signer, k.verifier, opts)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	f := &fixture{path: path, keys: k, st: st, l: l}
	t.Cleanup(f.close)
	return f
}

func newFixture(t testing.TB, opts Options) *fixture {
	return openFixture(t, filepath.Join(t.TempDir(), "mirror.db"), newKeys(t, "mirroros/test"), opts)
}

func (f *fixture) close() {
	if f.l != nil {
		f.l.Close(context.Background())
		f.l = nil
	}
	if f.st != nil {
		f.st.Close()
		f.st = nil
	}
}

func (f *fixture) reopen(t testing.TB, opts Options) *fixture {
	f.close()
	return openFixture(t, f.path, f.keys, opts)
}

func ev(i int) Event {
	return Event{Kind: "event.test", Actor: "tester", Body: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
}

func appendN(t testing.TB, l *Ledger, n int) []Receipt {
	t.Helper()
	var out []Receipt
	for i := 0; i < n; i += 100 {
		var evs []Event
		for j := i; j < min(n, i+100); j++ {
			evs = append(evs, ev(j))
		}
		rs, err := l.Append(context.Background(), evs...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

func verifyStore(t testing.TB, f *fixture) (Report, error) {
	t.Helper()
	var rep Report
	err := f.st.View(context.Background(), func(tx store.ReadTx) (err error) {
		rep, err = VerifyStore(context.Background(), tx, f.keys.verifier, VerifyOptions{})
		return err
	})
	return rep, err
}

func TestAppendAssignsConsecutiveIndexesAndCanonicalEntries(t *testing.T) {
	f := newFixture(t, Options{})
	rs, err := f.l.Append(context.Background(),
		Event{Kind: "event.a", Actor: "me", Body: json.RawMessage(`{ "z": 1, "a": {"y": [1, 2.50, "<&>"], "b": null} }`)},
		Event{Kind: "event.b", Actor: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Index != 0 || rs[1].Index != 1 {
		t.Fatalf("indexes = %d, %d", rs[0].Index, rs[1].Index)
	}
	data, err := f.l.Entry(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hasher.HashLeaf(data), rs[0].LeafHash) {
		t.Fatal("served bytes do not hash to the receipt's leaf hash")
	}
	e, err := ParseEntry(data)
	if err != nil {
		t.Fatalf("ParseEntry(%s): %v", data, err)
	}
	if string(e.Body) != `{"a":{"b":null,"y":[1,2.50,"<&>"]},"z":1}` {
		t.Fatalf("body = %s", e.Body)
	}
	if e.Kind != "event.a" || e.Actor != "me" || time.Since(e.Time) > time.Minute {
		t.Fatalf("entry = %+v", e)
	}
	second, _ := f.l.Entry(context.Background(), 1)
	if !bytes.Contains(second, []byte(`"body":{}`)) {
		t.Fatalf("empty body stored as %s", second)
	}
}

func TestAppendRejectsBadEvents(t *testing.T) {
	f := newFixture(t, Options{})
	big := fmt.Sprintf(`{"x":%q}`, bytes.Repeat([]byte("a"), MaxEntrySize))
	for name, e := range map[string]Event{
		"an empty kind":             {Kind: "", Actor: "a"},
		"a one-segment kind":        {Kind: "event", Actor: "a"},
		"an upper-case kind":        {Kind: "Event.x", Actor: "a"},
		"an empty segment":          {Kind: "event..x", Actor: "a"},
		"an empty actor":            {Kind: "event.x", Actor: ""},
		"a control char in actor":   {Kind: "event.x", Actor: "a\nb"},
		"an array body":             {Kind: "event.x", Actor: "a", Body: json.RawMessage(`[1]`)},
		"a malformed body":          {Kind: "event.x", Actor: "a", Body: json.RawMessage(`{"a":}`)},
		"a duplicate key":           {Kind: "event.x", Actor: "a", Body: json.RawMessage(`{"a":1,"a":2}`)},
		"trailing data":             {Kind: "event.x", Actor: "a", Body: json.RawMessage(`{} {}`)},
		"an entry over 64 KiB":      {Kind: "event.x", Actor: "a", Body: json.RawMessage(big)},
		"nesting deeper than limit": {Kind: "event.x", Actor: "a", Body: json.RawMessage(`{"a":` + string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)) + `}`)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.l.Append(context.Background(), e)
			if !errors.Is(err, ErrInvalidEvent) && !errors.Is(err, ErrEntryTooLarge) {
				t.Fatalf("err = %v, want a validation error", err)
			}
		})
	}
	if f.l.Size() != 0 {
		t.Fatalf("size = %d after rejected events", f.l.Size())
	}
}

func TestProofsVerifyAcrossTileBoundaries(t *testing.T) {
	f := newFixture(t, Options{})
	const n = 70_000 // crosses level-8 and level-16 stored nodes
	rs := appendN(t, f.l, n)
	ctx := context.Background()
	for _, size := range []uint64{1, 2, 255, 256, 257, 511, 65535, 65536, 65537, n} {
		root, err := f.l.RootAt(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []uint64{0, size / 3, size / 2, size - 1} {
			p, err := f.l.InclusionProof(ctx, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(hasher, i, size, rs[i].LeafHash, p, root); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", i, size, err)
			}
		}
		for _, from := range []uint64{0, 1, size / 2, size} {
			old, err := f.l.RootAt(ctx, from)
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.l.ConsistencyProof(ctx, from, size)
			if err != nil {
				t.Fatal(err)
			}
			if from > 0 {
				if err := proof.VerifyConsistency(hasher, from, size, p, old, root); err != nil {
					t.Fatalf("consistency %d→%d: %v", from, size, err)
				}
			}
		}
	}
	if _, err := f.l.InclusionProof(ctx, n, n+1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("proof beyond the log: %v", err)
	}
}

func TestCheckpointCoversAcknowledgedEntriesWithinInterval(t *testing.T) {
	f := newFixture(t, Options{CheckpointInterval: 50 * time.Millisecond})
	appendN(t, f.l, 10)
	deadline := time.Now().Add(2 * time.Second)
	for {
		cp, err := f.l.Checkpoint()
		if err == nil && cp.Size == 10 {
			opened, err := OpenCheckpoint(cp.Note, f.keys.verifier)
			if err != nil {
				t.Fatal(err)
			}
			root, _ := f.l.RootAt(context.Background(), 10)
			if !bytes.Equal(opened.Root, root) || opened.Origin != "mirroros/test" {
				t.Fatalf("checkpoint %+v does not match root %x", opened, root)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covering 10 entries after 2s (latest %+v, %v)", cp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseSignsFinalCheckpointAndRefusesAppends(t *testing.T) {
	f := newFixture(t, Options{CheckpointInterval: time.Hour})
	appendN(t, f.l, 5) // the first batch carries a checkpoint; later ones wait
	appendN(t, f.l, 5)
	if err := f.l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cp, _ := f.l.Checkpoint(); cp.Size != 10 {
		t.Fatalf("final checkpoint covers %d, want 10", cp.Size)
	}
	if _, err := f.l.Append(context.Background(), ev(0)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestConcurrentAppendsAreAllDurableAndDistinct(t *testing.T) {
	f := newFixture(t, Options{})
	const writers, each = 64, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint64]bool{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				rs, err := f.l.Append(context.Background(), ev(i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[rs[0].Index] {
					t.Errorf("index %d acknowledged twice", rs[0].Index)
				}
				seen[rs[0].Index] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != writers*each {
		t.Fatalf("%d distinct receipts, want %d", len(seen), writers*each)
	}
	f = f.reopen(t, Options{})
	if f.l.Size() != writers*each || !f.l.Health().OK {
		t.Fatalf("after reopen: %+v", f.l.Health())
	}
	if _, err := verifyStore(t, f); err != nil {
		t.Fatal(err)
	}
}

func TestCommitIsAtomicWithStateChange(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	var rec Receipt
	err := f.l.Commit(ctx, func(tx *Tx) error {
		if err := tx.Store().SetMeta(ctx, "lease.1", []byte("granted")); err != nil {
			return err
		}
		var err error
		rec, err = tx.Append(Event{Kind: "lease.grant", Actor: "owner"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("policy said no")
	err = f.l.Commit(ctx, func(tx *Tx) error {
		if err := tx.Store().SetMeta(ctx, "lease.2", []byte("granted")); err != nil {
			return err
		}
		if _, err := tx.Append(Event{Kind: "lease.grant", Actor: "owner"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed commit returned %v", err)
	}
	rs, err := f.l.Append(ctx, ev(1))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Index != 0 || rs[0].Index != 1 {
		t.Fatalf("indexes %d, %d: the failed commit's entry was not undone", rec.Index, rs[0].Index)
	}
	err = f.st.View(ctx, func(tx store.ReadTx) error {
		if _, err := tx.Meta(ctx, "lease.1"); err != nil {
			return fmt.Errorf("committed state missing: %w", err)
		}
		if _, err := tx.Meta(ctx, "lease.2"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("rolled-back state present: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReopenContinuesTheSameTree(t *testing.T) {
	f := newFixture(t, Options{})
	appendN(t, f.l, 300)
	root300, _ := f.l.RootAt(context.Background(), 300)
	f = f.reopen(t, Options{})
	rs := appendN(t, f.l, 300)
	if rs[0].Index != 300 {
		t.Fatalf("first index after reopen = %d", rs[0].Index)
	}
	root600, _ := f.l.RootAt(context.Background(), 600)
	p, err := f.l.ConsistencyProof(context.Background(), 300, 600)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(hasher, 300, 600, p, root300, root600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesAKeyPairThatDoesNotMatch(t *testing.T) {
	a, b := newKeys(t, "mirroros/a"), newKeys(t, "mirroros/a")
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := Open(context.Background(), st, a.signer, b.verifier, Options{}); err == nil {
		t.Fatal("opened with a verifier of another key")
	}
}

func TestAppendsBeyondOneBatchAreAllCommittedWithoutNewArrivals(t *testing.T) {
	f := newFixture(t, Options{MaxBatch: 8})
	const n = 40
	done := make(chan error, n)
	total := 0
	for i := 0; i < n; i++ {
		evs := []Event{ev(i)}
		if i%4 == 3 { // a request that does not fit beside others in one batch
			evs = []Event{ev(i), ev(i), ev(i), ev(i), ev(i), ev(i), ev(i)}
		}
		total += len(evs)
		go func() {
			_, err := f.l.Append(context.Background(), evs...)
			done <- err
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d appends still waiting: requests left over from a full batch were not committed", n-i, n)
		}
	}
	if f.l.Size() != uint64(total) {
		t.Fatalf("size %d, want %d", f.l.Size(), total)
	}
}

// TestAFailingCommitInABatchUndoesOnlyItsOwnWrites: many commits share
// group commits; the ones that fail leave nothing, the others and plain
// appends in the same batches are all kept.
func TestAFailingCommitInABatchUndoesOnlyItsOwnWrites(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	boom := errors.New("refused")
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if i%5 == 0 {
				if _, err := f.l.Append(ctx, ev(i)); err != nil {
					t.Error(err)
				}
				return
			}
			err := f.l.Commit(ctx, func(tx *Tx) error {
				if err := tx.Store().SetMeta(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
					return err
				}
				if _, err := tx.Append(Event{Kind: "test.commit", Actor: "t"}); err != nil {
					return err
				}
				if i%3 == 0 {
					return boom
				}
				return nil
			})
			if (i%3 == 0) != errors.Is(err, boom) || (i%3 != 0 && err != nil) {
				t.Errorf("commit %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	want := 0
	err := f.st.View(ctx, func(tx store.ReadTx) error {
		for i := range 200 {
			_, err := tx.Meta(ctx, fmt.Sprintf("k%d", i))
			kept := err == nil
			if i%5 == 0 {
				want++
				continue
			}
			if kept != (i%3 != 0) {
				return fmt.Errorf("commit %d: state kept=%v", i, kept)
			}
			if kept {
				want++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.l.Size(); got != uint64(want) {
		t.Fatalf("ledger holds %d entries, want %d", got, want)
	}
}

func TestADeferredAppendAloneWaitsAtMostDeferFor(t *testing.T) {
	const hold = 300 * time.Millisecond
	f := newFixture(t, Options{DeferFor: hold})
	start := time.Now()
	rs, err := f.l.AppendDeferred(context.Background(), ev(1))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took < hold {
		t.Fatalf("a deferred append with nothing to share a commit with returned after %v, before the %v hold", took, hold)
	}
	if rs[0].Index != 0 || f.l.Size() != 1 {
		t.Fatalf("receipt %+v, size %d", rs[0], f.l.Size())
	}
}

func TestADeferredAppendRidesTheNextUndeferredCommit(t *testing.T) {
	f := newFixture(t, Options{DeferFor: time.Hour})
	ctx := context.Background()
	done := make(chan Receipt, 1)
	go func() {
		rs, err := f.l.AppendDeferred(ctx, Event{Kind: "call.outcome", Actor: "t"})
		if err != nil {
			t.Error(err)
		}
		done <- rs[0]
	}()
	// Undeferred appends until one has carried the deferred one: without
	// that it would wait an hour.
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		if _, err := f.l.Append(ctx, ev(i)); err != nil {
			t.Fatal(err)
		}
		select {
		case rec := <-done:
			data, err := f.l.Entry(ctx, rec.Index)
			if err != nil || !bytes.Contains(data, []byte(`"call.outcome"`)) {
				t.Fatalf("entry %d: %s, %v", rec.Index, data, err)
			}
			return
		case <-deadline:
			t.Fatalf("the deferred append was not committed with %d undeferred ones", i+1)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestCloseCommitsHeldDeferredAppends(t *testing.T) {
	f := newFixture(t, Options{DeferFor: time.Hour})
	errc := make(chan error, 1)
	go func() {
		_, err := f.l.AppendDeferred(context.Background(), ev(7))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // usually held by then; Close must commit it either way
	if err := f.l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("deferred append during Close: %v", err)
	}
	f.l = nil
	g := f.reopen(t, Options{})
	if g.l.Size() != 1 {
		t.Fatalf("after Close and reopen the log holds %d entries, want the deferred one", g.l.Size())
	}
}

func TestTxSavepointUndoesOnlyWhatItsFunctionWrote(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	boom := errors.New("settle failed")
	err := f.l.CommitDeferred(ctx, func(tx *Tx) error {
		if _, err := tx.Append(Event{Kind: "test.before", Actor: "t"}); err != nil {
			return err
		}
		err := tx.Savepoint(func() error {
			if err := tx.Store().SetMeta(ctx, "inner", []byte("x")); err != nil {
				return err
			}
			if _, err := tx.Append(Event{Kind: "test.inner", Actor: "t"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			return fmt.Errorf("savepoint returned %v", err)
		}
		if err := tx.Store().SetMeta(ctx, "outer", []byte("y")); err != nil {
			return err
		}
		_, err = tx.Append(Event{Kind: "test.after", Actor: "t"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.l.Size() != 2 {
		t.Fatalf("log holds %d entries, want 2 (the savepoint's entry undone)", f.l.Size())
	}
	for i, kind := range []string{`"test.before"`, `"test.after"`} {
		data, err := f.l.Entry(ctx, uint64(i))
		if err != nil || !bytes.Contains(data, []byte(kind)) {
			t.Fatalf("entry %d = %s, %v; want kind %s", i, data, err, kind)
		}
	}
	err = f.st.View(ctx, func(tx store.ReadTx) error {
		if _, err := tx.Meta(ctx, "inner"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("the savepoint's write survived: %v", err)
		}
		_, err := tx.Meta(ctx, "outer")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := verifyStore(t, f); err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
}
