// Package storetest is the contract every store.Store implementation must
// pass. Call Run from the implementation's own tests.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
)

// Run runs the contract suite. open must return a new, empty store each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"an empty store has no entries, checkpoints or metadata", testEmpty},
		{"appended entries read back byte for byte in order", testAppendRead},
		{"appends must continue the ledger exactly", testAppendContiguous},
		{"a failed update leaves nothing behind", testRollback},
		{"a failed savepoint undoes only its own writes", testSavepoint},
		{"nodes are stored once and never replaced", testNodes},
		{"checkpoints are ordered by size and never replaced", testCheckpoints},
		{"metadata is set and overwritten", testMeta},
		{"tokens are found by hash only", testTokens},
		{"a view is a consistent snapshot while writes go on", testSnapshot},
		{"leases round-trip and are found by id, token hash and parent", testLeases},
		{"reservations are stored, found and deleted once", testReservations},
		{"approvals are stored, listed by state and decided", testApprovals},
		{"denials are listed newest first and filtered", testDenials},
		{"blobs are content-addressed and stored once", testBlobs},
		{"runs round-trip every field and are inserted once", testRunRoundTrip},
		{"a run update rewrites only its mutable fields", testRunUpdate},
		{"runs are listed newest first and filtered", testRunsFilter},
		{"run steps are journaled once and read back in order", testRunSteps},
		{"skill stats are upserted and ordered by model", testSkillStats},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			tt.fn(t, st)
		})
	}
}

func entry(i uint64) store.LedgerEntry {
	data := []byte(fmt.Sprintf(`{"index":%d}`, i))
	h := sha256.Sum256(append([]byte{0}, data...))
	return store.LedgerEntry{Index: i, Data: data, LeafHash: h[:]}
}

func appendN(t *testing.T, st store.Store, from, n uint64) {
	t.Helper()
	var es []store.LedgerEntry
	for i := from; i < from+n; i++ {
		es = append(es, entry(i))
	}
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.AppendLedgerEntries(context.Background(), es) }); err != nil {
		t.Fatalf("append %d..%d: %v", from, from+n, err)
	}
}

func size(t *testing.T, st store.Store) uint64 {
	t.Helper()
	var n uint64
	if err := st.View(context.Background(), func(tx store.ReadTx) (err error) { n, err = tx.LedgerSize(context.Background()); return }); err != nil {
		t.Fatal(err)
	}
	return n
}

func testEmpty(t *testing.T, st store.Store) {
	ctx := context.Background()
	err := st.View(ctx, func(tx store.ReadTx) error {
		if n, err := tx.LedgerSize(ctx); err != nil || n != 0 {
			return fmt.Errorf("size = %d, %v; want 0", n, err)
		}
		if _, err := tx.LatestCheckpoint(ctx); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("latest checkpoint: %v; want ErrNotFound", err)
		}
		if _, err := tx.Meta(ctx, "nothing"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("meta: %v; want ErrNotFound", err)
		}
		if _, err := tx.LedgerNodes(ctx, 8, 0, 1); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("nodes: %v; want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testAppendRead(t *testing.T, st store.Store) {
	ctx := context.Background()
	appendN(t, st, 0, 200)
	appendN(t, st, 200, 3)
	if n := size(t, st); n != 203 {
		t.Fatalf("size = %d, want 203", n)
	}
	var got []store.LedgerEntry
	err := st.View(ctx, func(tx store.ReadTx) error {
		return tx.LedgerEntries(ctx, 10, 250, func(e store.LedgerEntry) error {
			got = append(got, store.LedgerEntry{Index: e.Index, Data: bytes.Clone(e.Data), LeafHash: bytes.Clone(e.LeafHash)})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 193 {
		t.Fatalf("read %d entries, want 193", len(got))
	}
	for i, e := range got {
		want := entry(uint64(10 + i))
		if e.Index != want.Index || !bytes.Equal(e.Data, want.Data) || !bytes.Equal(e.LeafHash, want.LeafHash) {
			t.Fatalf("entry %d = %+v, want %+v", 10+i, e, want)
		}
	}
}

func testAppendContiguous(t *testing.T, st store.Store) {
	ctx := context.Background()
	appendN(t, st, 0, 5)
	for _, start := range []uint64{0, 4, 6} {
		err := st.Update(ctx, func(tx store.Tx) error { return tx.AppendLedgerEntries(ctx, []store.LedgerEntry{entry(start)}) })
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("append at %d over size 5: %v, want ErrConflict", start, err)
		}
	}
	gap := []store.LedgerEntry{entry(5), entry(7)}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.AppendLedgerEntries(ctx, gap) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("append with a gap: %v, want ErrConflict", err)
	}
	if n := size(t, st); n != 5 {
		t.Fatalf("size = %d after refused appends, want 5", n)
	}
}

func testRollback(t *testing.T, st store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.AppendLedgerEntries(ctx, []store.LedgerEntry{entry(0)}); err != nil {
			return err
		}
		if err := tx.SetMeta(ctx, "k", []byte("v")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v, want boom", err)
	}
	if n := size(t, st); n != 0 {
		t.Fatalf("size = %d after rollback, want 0", n)
	}
}

func testSavepoint(t *testing.T, st store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetMeta(ctx, "kept", []byte("1")); err != nil {
			return err
		}
		err := tx.Savepoint(ctx, func() error {
			if err := tx.SetMeta(ctx, "undone", []byte("1")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			return fmt.Errorf("savepoint returned %v, want boom", err)
		}
		return tx.Savepoint(ctx, func() error { return tx.SetMeta(ctx, "nested", []byte("1")) })
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx store.ReadTx) error {
		for key, want := range map[string]bool{"kept": true, "undone": false, "nested": true} {
			_, err := tx.Meta(ctx, key)
			if (err == nil) != want {
				return fmt.Errorf("meta %q present = %v, want %v", key, err == nil, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testNodes(t *testing.T, st store.Store) {
	ctx := context.Background()
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	nodes := []store.LedgerNode{{Level: 8, Index: 0, Hash: h(1)}, {Level: 8, Index: 1, Hash: h(2)}, {Level: 16, Index: 0, Hash: h(3)}}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutLedgerNodes(ctx, nodes) }); err != nil {
		t.Fatal(err)
	}
	// The same hash again is fine; another hash is a conflict.
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutLedgerNodes(ctx, nodes[:1]) }); err != nil {
		t.Fatalf("re-put identical node: %v", err)
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		return tx.PutLedgerNodes(ctx, []store.LedgerNode{{Level: 8, Index: 0, Hash: h(9)}})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("replace node: %v, want ErrConflict", err)
	}
	err = st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.LedgerNodes(ctx, 8, 0, 2)
		if err != nil {
			return err
		}
		if len(got) != 2 || !bytes.Equal(got[0], h(1)) || !bytes.Equal(got[1], h(2)) {
			return fmt.Errorf("nodes = %x", got)
		}
		if _, err := tx.LedgerNodes(ctx, 8, 0, 3); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing node: %v, want ErrNotFound", err)
		}
		var all []store.LedgerNode
		if err := tx.LedgerNodesAll(ctx, func(n store.LedgerNode) error { all = append(all, n); return nil }); err != nil {
			return err
		}
		if len(all) != 3 || all[2].Level != 16 {
			return fmt.Errorf("all nodes = %+v", all)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testCheckpoints(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, size := range []uint64{5, 1, 9} {
		cp := store.Checkpoint{Size: size, Note: []byte(fmt.Sprintf("note %d", size))}
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutCheckpoint(ctx, cp) }); err != nil {
			t.Fatal(err)
		}
	}
	same := store.Checkpoint{Size: 5, Note: []byte("note 5")}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutCheckpoint(ctx, same) }); err != nil {
		t.Fatalf("identical checkpoint again: %v", err)
	}
	other := store.Checkpoint{Size: 5, Note: []byte("forged")}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutCheckpoint(ctx, other) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second checkpoint for size 5: %v, want ErrConflict", err)
	}
	var sizes []uint64
	var latest store.Checkpoint
	err := st.View(ctx, func(tx store.ReadTx) error {
		if err := tx.Checkpoints(ctx, func(c store.Checkpoint) error { sizes = append(sizes, c.Size); return nil }); err != nil {
			return err
		}
		var err error
		latest, err = tx.LatestCheckpoint(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[1 5 9]" || latest.Size != 9 || string(latest.Note) != "note 9" {
		t.Fatalf("sizes = %v, latest = %d %q", sizes, latest.Size, latest.Note)
	}
}

func testMeta(t *testing.T, st store.Store) {
	ctx := context.Background()
	for _, v := range []string{"one", "two"} {
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.SetMeta(ctx, "k", []byte(v)) }); err != nil {
			t.Fatal(err)
		}
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		v, err := tx.Meta(ctx, "k")
		if err != nil || string(v) != "two" {
			return fmt.Errorf("meta = %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testTokens(t *testing.T, st store.Store) {
	ctx := context.Background()
	h := sha256.Sum256([]byte("mos_secret"))
	tok := store.Token{Hash: h[:], ID: "owner", Kind: "owner", Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutToken(ctx, tok) }); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutToken(ctx, tok) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate token: %v, want ErrConflict", err)
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.TokenByHash(ctx, h[:])
		if err != nil {
			return err
		}
		if got.ID != "owner" || got.Kind != "owner" || !got.Created.Equal(tok.Created) {
			return fmt.Errorf("token = %+v", got)
		}
		other := sha256.Sum256([]byte("mos_other"))
		if _, err := tx.TokenByHash(ctx, other[:]); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("unknown token: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testSnapshot(t *testing.T, st store.Store) {
	ctx := context.Background()
	appendN(t, st, 0, 10)
	var wg sync.WaitGroup
	wg.Add(1)
	started := make(chan struct{})
	var viewErr error
	go func() {
		defer wg.Done()
		viewErr = st.View(ctx, func(tx store.ReadTx) error {
			a, err := tx.LedgerSize(ctx)
			if err != nil {
				return err
			}
			close(started)
			time.Sleep(50 * time.Millisecond)
			b, err := tx.LedgerSize(ctx)
			if err != nil {
				return err
			}
			if a != b {
				return fmt.Errorf("size changed inside one view: %d then %d", a, b)
			}
			return nil
		})
	}()
	<-started
	appendN(t, st, 10, 10)
	wg.Wait()
	if viewErr != nil {
		t.Fatal(viewErr)
	}
}

func testLeases(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	h := func(s string) []byte { x := sha256.Sum256([]byte(s)); return x[:] }
	root := store.Lease{ID: "lse_root", Name: "owner", Scopes: []string{"*"}, TokenHash: h("root"),
		NotBefore: now, BudgetMicros: -1, BudgetTokens: -1, State: "active", Created: now}
	child := store.Lease{ID: "lse_a", Parent: "lse_root", Name: "agent", Scopes: []string{"tool:*", "model:chat"}, TokenHash: h("a"),
		NotBefore: now, ExpiresAt: now.Add(time.Hour), MaxTTL: 2 * time.Hour, BudgetMicros: 5_000_000, BudgetTokens: -1,
		State: "active", Created: now.Add(time.Second), Options: store.LeaseOptions{LocalOnly: true}}
	for _, l := range []store.Lease{root, child} {
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutLease(ctx, l) }); err != nil {
			t.Fatal(err)
		}
	}
	dup := child
	dup.ID = "lse_b"
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutLease(ctx, dup) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second lease with the same token hash: %v, want ErrConflict", err)
	}
	child.SpentMicros, child.ReservedMicros, child.State, child.Ended = 1_500_000, 250_000, "revoked", now.Add(time.Minute)
	child.ExpiresAt = now.Add(90 * time.Minute)
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.UpdateLease(ctx, child) }); err != nil {
		t.Fatal(err)
	}
	missing := child
	missing.ID = "lse_nope"
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.UpdateLease(ctx, missing) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing lease: %v", err)
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.Lease(ctx, "lse_a")
		if err != nil {
			return err
		}
		if got.Parent != "lse_root" || got.Name != "agent" || fmt.Sprint(got.Scopes) != "[tool:* model:chat]" ||
			!got.ExpiresAt.Equal(child.ExpiresAt) || got.MaxTTL != 2*time.Hour || got.BudgetMicros != 5_000_000 ||
			got.SpentMicros != 1_500_000 || got.ReservedMicros != 250_000 || got.State != "revoked" || !got.Ended.Equal(child.Ended) || !got.Options.LocalOnly {
			return fmt.Errorf("lease = %+v", got)
		}
		byTok, err := tx.LeaseByTokenHash(ctx, h("root"))
		if err != nil || byTok.ID != "lse_root" || byTok.Parent != "" || !byTok.ExpiresAt.IsZero() {
			return fmt.Errorf("by token: %+v %v", byTok, err)
		}
		kids, err := tx.LeaseChildren(ctx, "lse_root")
		if err != nil || len(kids) != 1 || kids[0].ID != "lse_a" {
			return fmt.Errorf("children: %+v %v", kids, err)
		}
		if _, err := tx.Lease(ctx, "lse_nope"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing lease: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testReservations(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		r := store.Reservation{ID: fmt.Sprintf("rsv_%d", i), LeaseID: "lse_a", Micros: 100, Tokens: 10, Created: now, Expires: now.Add(exp)}
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutReservation(ctx, r) }); err != nil {
			t.Fatal(err)
		}
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		r, err := tx.Reservation(ctx, "rsv_1")
		if err != nil || r.Micros != 100 || !r.Expires.Equal(now.Add(time.Hour)) {
			return fmt.Errorf("reservation %+v %v", r, err)
		}
		old, err := tx.ExpiredReservations(ctx, now.Add(10*time.Minute))
		if err != nil || len(old) != 1 || old[0].ID != "rsv_0" {
			return fmt.Errorf("expired: %+v %v", old, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		return tx.UpdateReservation(ctx, store.Reservation{ID: "rsv_0", Micros: 7, Tokens: 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx store.ReadTx) error {
		r, err := tx.Reservation(ctx, "rsv_0")
		if err != nil || r.Micros != 7 || r.Tokens != 3 || r.LeaseID == "" {
			return fmt.Errorf("after update: %+v %v", r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.UpdateReservation(ctx, store.Reservation{ID: "rsv_none"}) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing reservation: %v", err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.DeleteReservation(ctx, "rsv_0") }); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.DeleteReservation(ctx, "rsv_0") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testApprovals(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		a := store.Approval{ID: fmt.Sprintf("apr_%d", i), Request: []byte(`{"action":"tool:Bash"}`), RequestHash: []byte{byte(i)},
			Reasons: []byte(`[]`), RequestedBy: "lse_a", Agent: "codex", State: "pending", Created: now.Add(time.Duration(i) * time.Second), Expires: now.Add(exp)}
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutApproval(ctx, a) }); err != nil {
			t.Fatal(err)
		}
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		a, err := tx.Approval(ctx, "apr_1")
		if err != nil {
			return err
		}
		a.State, a.DecidedBy, a.Note, a.Decided = "approved", "lse_root", "fine", now.Add(time.Minute)
		return tx.UpdateApproval(ctx, a)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx store.ReadTx) error {
		a, err := tx.Approval(ctx, "apr_1")
		if err != nil || a.State != "approved" || a.Note != "fine" || a.Agent != "codex" || !a.Decided.Equal(now.Add(time.Minute)) {
			return fmt.Errorf("approval %+v %v", a, err)
		}
		pending, err := tx.Approvals(ctx, "pending", 10)
		if err != nil || len(pending) != 1 || pending[0].ID != "apr_0" {
			return fmt.Errorf("pending %+v %v", pending, err)
		}
		all, err := tx.Approvals(ctx, "", 10)
		if err != nil || len(all) != 2 || all[0].ID != "apr_1" {
			return fmt.Errorf("all (newest first) %+v %v", all, err)
		}
		old, err := tx.PendingApprovalsExpiringBefore(ctx, now.Add(2*time.Minute))
		if err != nil || len(old) != 1 || old[0].ID != "apr_0" {
			return fmt.Errorf("expiring %+v %v", old, err)
		}
		if _, err := tx.Approval(ctx, "apr_x"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing approval: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testDenials(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for i, who := range []string{"claude-code", "codex", "claude-code"} {
		d := store.Denial{Time: now.Add(time.Duration(i) * time.Hour), LeaseID: "lse_" + who, LeaseName: who, Agent: who,
			Action: "tool:Bash", Resource: fmt.Sprint(i), Decision: "BLOCK", Reasons: []byte(`[]`), AuditIndex: uint64(10 + i)}
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutDenial(ctx, d) }); err != nil {
			t.Fatal(err)
		}
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		all, err := tx.Denials(ctx, store.DenialFilter{})
		if err != nil || len(all) != 3 || all[0].AuditIndex != 12 {
			return fmt.Errorf("all %+v %v", all, err)
		}
		cc, err := tx.Denials(ctx, store.DenialFilter{Agent: "claude-code", Since: now.Add(time.Minute)})
		if err != nil || len(cc) != 1 || cc[0].Resource != "2" {
			return fmt.Errorf("filtered %+v %v", cc, err)
		}
		one, err := tx.Denials(ctx, store.DenialFilter{Limit: 1})
		if err != nil || len(one) != 1 {
			return fmt.Errorf("limit %+v %v", one, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testBlobs(t *testing.T, st store.Store) {
	ctx := context.Background()
	data := []byte(`{"model":"x","messages":[]}`)
	sum := sha256.Sum256(data)
	for range 2 { // storing the same content twice is not an error
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutBlob(ctx, sum[:], data) }); err != nil {
			t.Fatal(err)
		}
	}
	other := sha256.Sum256([]byte("other"))
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutBlob(ctx, other[:], data) }); err == nil {
		t.Fatal("a blob stored under a hash that is not its own")
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.Blob(ctx, sum[:])
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("blob = %q, %v", got, err)
		}
		if _, err := tx.Blob(ctx, other[:]); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing blob: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fullRun is a run with every field set to a distinct value.
func fullRun(id string, created time.Time) store.Run {
	return store.Run{
		ID: id, ParentRun: "run_parent", LeaseID: "lse_a", RunLease: "lse_run_" + id, Agent: "codex",
		Goal: "summarize the changelog", Skill: "summarize", SkillVersion: "1.2.0", SkillDigest: "sha256:abc",
		Inputs: []byte(`{"path":"CHANGELOG.md"}`), Contract: []byte(`{"output":"string"}`), ContractHash: bytes.Repeat([]byte{7}, 32),
		State: "succeeded", ApprovalID: "apr_1", Output: []byte(`"done"`), Error: "none", Provenance: []byte(`{"sig":"x"}`),
		Depth: 2, Resumes: 3, Created: created, Updated: created.Add(time.Second), Ended: created.Add(2 * time.Second),
		ProvenanceIndex: 4242,
	}
}

// sameRun reports how got differs from want, or "" when it does not. Byte
// fields must agree on nil as well as on content.
func sameRun(got, want store.Run) string {
	var diffs []string
	str := func(name, g, w string) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	byt := func(name string, g, w []byte) {
		if !bytes.Equal(g, w) || (g == nil) != (w == nil) {
			diffs = append(diffs, fmt.Sprintf("%s = %q (nil %v), want %q (nil %v)", name, g, g == nil, w, w == nil))
		}
	}
	tim := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("ParentRun", got.ParentRun, want.ParentRun)
	str("LeaseID", got.LeaseID, want.LeaseID)
	str("RunLease", got.RunLease, want.RunLease)
	str("Agent", got.Agent, want.Agent)
	str("Goal", got.Goal, want.Goal)
	str("Skill", got.Skill, want.Skill)
	str("SkillVersion", got.SkillVersion, want.SkillVersion)
	str("SkillDigest", got.SkillDigest, want.SkillDigest)
	byt("Inputs", got.Inputs, want.Inputs)
	byt("Contract", got.Contract, want.Contract)
	byt("ContractHash", got.ContractHash, want.ContractHash)
	str("State", got.State, want.State)
	str("ApprovalID", got.ApprovalID, want.ApprovalID)
	byt("Output", got.Output, want.Output)
	str("Error", got.Error, want.Error)
	byt("Provenance", got.Provenance, want.Provenance)
	if got.ProvenanceIndex != want.ProvenanceIndex {
		diffs = append(diffs, fmt.Sprintf("ProvenanceIndex = %d, want %d", got.ProvenanceIndex, want.ProvenanceIndex))
	}
	if got.Depth != want.Depth || got.Resumes != want.Resumes {
		diffs = append(diffs, fmt.Sprintf("Depth, Resumes = %d, %d, want %d, %d", got.Depth, got.Resumes, want.Depth, want.Resumes))
	}
	tim("Created", got.Created, want.Created)
	tim("Updated", got.Updated, want.Updated)
	tim("Ended", got.Ended, want.Ended)
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}

func putRuns(t *testing.T, st store.Store, runs ...store.Run) {
	t.Helper()
	ctx := context.Background()
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, r := range runs {
			if err := tx.PutRun(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRunRoundTrip(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	full := fullRun("run_full", now)
	// A fresh top-level run: nil byte fields stay nil, an empty one stays
	// empty, zero times stay zero.
	fresh := store.Run{ID: "run_fresh", LeaseID: "lse_a", Goal: "g", Inputs: []byte{}, State: "pending", Created: now}
	putRuns(t, st, full, fresh)
	dup := fullRun("run_full", now.Add(time.Hour))
	dup.Goal = "another"
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutRun(ctx, dup) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second run with the same id: %v, want ErrConflict", err)
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		for _, want := range []store.Run{full, fresh} {
			got, err := tx.Run(ctx, want.ID)
			if err != nil {
				return fmt.Errorf("run %s: %v", want.ID, err)
			}
			if d := sameRun(got, want); d != "" {
				return fmt.Errorf("run %s: %s", want.ID, d)
			}
		}
		if _, err := tx.Run(ctx, "run_nope"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing run: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRunUpdate(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	orig := store.Run{ID: "run_1", ParentRun: "run_0", LeaseID: "lse_a", Agent: "codex", Goal: "fix the build",
		Inputs: []byte(`{}`), State: "pending", Depth: 1, Created: now, Updated: now}
	putRuns(t, st, orig)

	upd := fullRun("run_1", now.Add(time.Hour))
	upd.Contract = nil // a mutable field may go back to nil
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.UpdateRun(ctx, upd) }); err != nil {
		t.Fatal(err)
	}
	missing := upd
	missing.ID = "run_nope"
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.UpdateRun(ctx, missing) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing run: %v, want ErrNotFound", err)
	}
	// Every field changes except the immutable ones.
	want := upd
	want.ParentRun, want.LeaseID, want.Goal, want.Depth, want.Created = orig.ParentRun, orig.LeaseID, orig.Goal, orig.Depth, orig.Created
	err := st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.Run(ctx, "run_1")
		if err != nil {
			return err
		}
		if d := sameRun(got, want); d != "" {
			return fmt.Errorf("updated run: %s", d)
		}
		if _, err := tx.Run(ctx, "run_nope"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("update created a run: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRunsFilter(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	mk := func(id, lease, state, parent string, created time.Time) store.Run {
		return store.Run{ID: id, LeaseID: lease, ParentRun: parent, Goal: "g", State: state, Created: created}
	}
	// run_c and run_d were created at the same instant: the larger id is
	// listed first.
	putRuns(t, st,
		mk("run_a", "lse_1", "succeeded", "", now),
		mk("run_b", "lse_2", "failed", "", now.Add(time.Second)),
		mk("run_c", "lse_1", "running", "run_a", now.Add(2*time.Second)),
		mk("run_d", "lse_3", "succeeded", "run_a", now.Add(2*time.Second)),
		mk("run_e", "lse_1", "pending", "run_b", now.Add(3*time.Second)),
	)
	ids := func(rs []store.Run) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.ID)
		}
		return fmt.Sprint(s)
	}
	cases := []struct {
		f    store.RunFilter
		want string
	}{
		{store.RunFilter{}, "[run_e run_d run_c run_b run_a]"},
		{store.RunFilter{Limit: 2}, "[run_e run_d]"},
		{store.RunFilter{LeaseIDs: []string{"lse_1"}}, "[run_e run_c run_a]"},
		{store.RunFilter{LeaseIDs: []string{"lse_2", "lse_3"}}, "[run_d run_b]"},
		{store.RunFilter{LeaseIDs: []string{"lse_none"}}, "[]"},
		{store.RunFilter{States: []string{"succeeded"}}, "[run_d run_a]"},
		{store.RunFilter{States: []string{"failed", "running", "pending"}}, "[run_e run_c run_b]"},
		{store.RunFilter{ParentRun: "run_a"}, "[run_d run_c]"},
		{store.RunFilter{ParentRun: "run_a", States: []string{"running"}}, "[run_c]"},
		{store.RunFilter{LeaseIDs: []string{"lse_1"}, States: []string{"succeeded", "pending"}, Limit: 1}, "[run_e]"},
	}
	err := st.View(ctx, func(tx store.ReadTx) error {
		for _, c := range cases {
			got, err := tx.Runs(ctx, c.f)
			if err != nil {
				return fmt.Errorf("runs %+v: %v", c.f, err)
			}
			if ids(got) != c.want {
				return fmt.Errorf("runs %+v = %s, want %s", c.f, ids(got), c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRunSteps(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 987654321, time.UTC)
	step := func(run string, seq int) store.RunStep {
		return store.RunStep{RunID: run, Seq: seq, Kind: "execute", Model: "local/llama", InputHash: bytes.Repeat([]byte{byte(seq)}, 32),
			Output: []byte(fmt.Sprintf(`{"seq":%d}`, seq)), OK: seq%2 == 0, Detail: []byte(`{"tokens":12}`), CostMicros: int64(100 * seq),
			Started: now.Add(time.Duration(seq) * time.Second), Ended: now.Add(time.Duration(seq)*time.Second + time.Millisecond)}
	}
	bare := store.RunStep{RunID: "run_1", Seq: 1, Kind: "select", Output: []byte{}}
	steps := []store.RunStep{step("run_1", 2), step("run_2", 0), step("run_1", 0), bare, step("run_2", 1)}
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, s := range steps {
			if err := tx.PutRunStep(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	again := step("run_1", 2)
	again.Kind = "verify"
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutRunStep(ctx, again) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("step journaled twice: %v, want ErrConflict", err)
	}
	byt := func(g, w []byte) bool { return bytes.Equal(g, w) && (g == nil) == (w == nil) }
	err = st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.RunSteps(ctx, "run_1")
		if err != nil {
			return err
		}
		want := []store.RunStep{step("run_1", 0), bare, step("run_1", 2)}
		if len(got) != len(want) {
			return fmt.Errorf("run_1 has %d steps, want %d: %+v", len(got), len(want), got)
		}
		for i, g := range got {
			w := want[i]
			if g.RunID != w.RunID || g.Seq != w.Seq || g.Kind != w.Kind || g.Model != w.Model || !byt(g.InputHash, w.InputHash) ||
				!byt(g.Output, w.Output) || g.OK != w.OK || !byt(g.Detail, w.Detail) || g.CostMicros != w.CostMicros ||
				!g.Started.Equal(w.Started) || !g.Ended.Equal(w.Ended) {
				return fmt.Errorf("step %d = %+v (nil InputHash, Output, Detail: %v, %v, %v), want %+v (%v, %v, %v)", i,
					g, g.InputHash == nil, g.Output == nil, g.Detail == nil, w, w.InputHash == nil, w.Output == nil, w.Detail == nil)
			}
		}
		other, err := tx.RunSteps(ctx, "run_2")
		if err != nil || len(other) != 2 || other[0].Seq != 0 || other[1].Seq != 1 {
			return fmt.Errorf("run_2 steps: %+v %v", other, err)
		}
		none, err := tx.RunSteps(ctx, "run_none")
		if err != nil || len(none) != 0 {
			return fmt.Errorf("steps of an unknown run: %+v %v", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testSkillStats(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	stats := []store.SkillStat{
		{Skill: "summarize", Version: "1.0.0", Model: "remote/large", Successes: 4.5, Failures: 0.25, Verified: 5, Updated: now},
		{Skill: "summarize", Version: "1.0.0", Model: "", Successes: 9.75, Failures: 1.5, Status: "canary", Streak: -3, Verified: 11, Updated: now},
		{Skill: "summarize", Version: "1.0.0", Model: "local/small", Successes: 5.25, Failures: 1.25, Verified: 6, Updated: now},
		{Skill: "summarize", Version: "2.0.0", Model: "", Status: "canary", Updated: now},
		{Skill: "translate", Version: "1.0.0", Model: "", Status: "stable", Updated: now},
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, s := range stats {
			if err := tx.PutSkillStat(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Putting a row again replaces it.
	promoted := stats[1]
	promoted.Status, promoted.Streak, promoted.Successes, promoted.Verified, promoted.Updated = "stable", 2, 10.5, 12, now.Add(time.Hour)
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutSkillStat(ctx, promoted) }); err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx store.ReadTx) error {
		got, err := tx.SkillStats(ctx, "summarize", "1.0.0")
		if err != nil {
			return err
		}
		want := []store.SkillStat{promoted, stats[2], stats[0]}
		if len(got) != len(want) {
			return fmt.Errorf("stats = %+v, want %+v", got, want)
		}
		for i, g := range got {
			w := want[i]
			if g.Skill != w.Skill || g.Version != w.Version || g.Model != w.Model || g.Successes != w.Successes || g.Failures != w.Failures ||
				g.Status != w.Status || g.Streak != w.Streak || g.Verified != w.Verified || !g.Updated.Equal(w.Updated) {
				return fmt.Errorf("stat %d = %+v, want %+v", i, g, w)
			}
		}
		none, err := tx.SkillStats(ctx, "summarize", "9.9.9")
		if err != nil || none == nil || len(none) != 0 {
			return fmt.Errorf("stats of an unknown version = %#v, %v; want an empty slice", none, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
