package lease

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/policy"
	"github.com/mirroros/mirror/trust/token"
	"golang.org/x/mod/sumdb/note"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

type fixture struct {
	m     *Manager
	st    *sqlite.DB
	led   *ledger.Ledger
	path  string
	clk   *clock
	root  store.Lease
	token string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, _ := ledger.GenerateKey("mirroros/test")
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	led, err := ledger.Open(ctx, st, s, v, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(ctx); st.Close() })
	clk := &clock{}
	clk.t.Store(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC).UnixNano())
	tok, _ := token.New()
	root := store.Lease{ID: RootID, Name: "owner", Scopes: []string{"*"}, TokenHash: token.Hash(tok),
		NotBefore: clk.now(), BudgetMicros: -1, BudgetTokens: -1, State: Active, Created: clk.now()}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutLease(ctx, root) }); err != nil {
		t.Fatal(err)
	}
	return &fixture{m: New(st, led, clk.now), st: st, led: led, path: path, clk: clk, root: root, token: tok}
}

func (f *fixture) grant(t testing.TB, parent store.Lease, req GrantRequest) (store.Lease, string) {
	t.Helper()
	if req.BudgetMicros == 0 {
		req.BudgetMicros = -1
	}
	if req.BudgetTokens == 0 {
		req.BudgetTokens = -1
	}
	l, tok, err := f.m.Grant(context.Background(), parent, req)
	if err != nil {
		t.Fatalf("grant %+v from %s: %v", req, parent.Name, err)
	}
	return l, tok
}

func (f *fixture) get(t testing.TB, id string) store.Lease {
	t.Helper()
	l, err := f.m.Get(context.Background(), f.root, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGrantEnforcesAttenuation(t *testing.T) {
	f := newFixture(t)
	parent, _ := f.grant(t, f.root, GrantRequest{Name: "agent", Scopes: []string{"tool:*", "model:chat:ollama/*", "lease:grant"},
		TTL: time.Hour, MaxTTL: 2 * time.Hour, BudgetMicros: 10_000_000})
	cases := []struct {
		name string
		req  GrantRequest
		what string
	}{
		{"a scope the parent lacks", GrantRequest{Name: "c", Scopes: []string{"memory:write"}}, "scope"},
		{"a broader pattern than the parent's", GrantRequest{Name: "c", Scopes: []string{"model:chat:*"}}, "scope"},
		{"everything", GrantRequest{Name: "c", Scopes: []string{"*"}}, "scope"},
		{"a lifetime past the parent's", GrantRequest{Name: "c", Scopes: []string{"tool:Bash"}, TTL: 2 * time.Hour}, "ttl"},
		{"a max ttl past the parent's", GrantRequest{Name: "c", Scopes: []string{"tool:Bash"}, MaxTTL: 3 * time.Hour}, "max_ttl"},
		{"a budget past the parent's", GrantRequest{Name: "c", Scopes: []string{"tool:Bash"}, BudgetMicros: 10_000_001}, "budget"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.BudgetMicros == 0 {
				c.req.BudgetMicros = -1
			}
			c.req.BudgetTokens = -1
			_, _, err := f.m.Grant(context.Background(), parent, c.req)
			var ae *AttenuationError
			if !errors.As(err, &ae) || ae.What != c.what {
				t.Fatalf("err = %v, want an attenuation error on %s", err, c.what)
			}
		})
	}
	t.Run("narrower scopes, time and budget are granted", func(t *testing.T) {
		c, _ := f.grant(t, parent, GrantRequest{Name: "c", Scopes: []string{"tool:Bash", "model:chat:ollama/llama3"}, TTL: 30 * time.Minute, BudgetMicros: 2_000_000})
		if c.Parent != parent.ID || c.BudgetMicros != 2_000_000 || !c.ExpiresAt.Equal(f.clk.now().Add(30*time.Minute)) {
			t.Fatalf("child = %+v", c)
		}
	})
	t.Run("a child with no budget gets half of what the chain has left", func(t *testing.T) {
		c, _ := f.grant(t, parent, GrantRequest{Name: "spawned", Scopes: []string{"tool:Read"}})
		if c.BudgetMicros != 5_000_000 {
			t.Fatalf("budget = %d, want 5000000", c.BudgetMicros)
		}
		if !c.ExpiresAt.Equal(parent.ExpiresAt) {
			t.Fatalf("default ttl should be capped at the parent's expiry: %v vs %v", c.ExpiresAt, parent.ExpiresAt)
		}
	})
	t.Run("a lease without lease:grant cannot grant", func(t *testing.T) {
		noGrant, _ := f.grant(t, f.root, GrantRequest{Name: "ng", Scopes: []string{"tool:*"}})
		_, _, err := f.m.Grant(context.Background(), noGrant, GrantRequest{Name: "x", Scopes: []string{"tool:Bash"}, BudgetMicros: -1, BudgetTokens: -1})
		if !errors.Is(err, ErrForbidden) {
			t.Fatalf("err = %v, want ErrForbidden", err)
		}
	})
}

func TestTokensAuthenticateUntilRevokedOrExpired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l, tok := f.grant(t, f.root, GrantRequest{Name: "a", Scopes: []string{"tool:*"}, TTL: time.Minute})
	got, err := f.m.Authenticate(ctx, tok)
	if err != nil || got.ID != l.ID {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if _, err := f.m.Authenticate(ctx, f.token); err != nil {
		t.Fatalf("root token: %v", err)
	}
	f.clk.advance(time.Minute)
	if _, err := f.m.Authenticate(ctx, tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired lease authenticated: %v", err)
	}
	l2, tok2 := f.grant(t, f.root, GrantRequest{Name: "b", Scopes: []string{"tool:*"}})
	if _, err := f.m.Authenticate(ctx, tok2); err != nil { // now cached
		t.Fatal(err)
	}
	if _, err := f.m.Revoke(ctx, f.root, l2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Authenticate(ctx, tok2); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoked lease authenticated: %v", err)
	}
	other, _ := token.New()
	if _, err := f.m.Authenticate(ctx, other); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := f.m.Revoke(ctx, f.root, RootID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("revoking the root: %v", err)
	}
}

// randomTree grants a random tree of leases of the given depth and returns
// them in grant order.
func randomTree(t *testing.T, f *fixture, rng *rand.Rand, depth, fanout int) []store.Lease {
	scopesPool := []string{"tool:*", "tool:Bash", "tool:Read", "model:*", "model:chat", "model:chat:ollama/*", "model:chat:ollama/llama3", "memory:read", "memory:write", "audit:read", "approve"}
	all := []store.Lease{f.root}
	frontier := []store.Lease{f.root}
	for d := 0; d < depth && len(frontier) > 0; d++ {
		var next []store.Lease
		for _, p := range frontier {
			n := 1 + rng.IntN(fanout)
			for k := 0; k < n; k++ {
				// Ask for random scopes; keep only those the parent covers,
				// and check the rest are refused.
				var want []string
				for _, s := range scopesPool {
					if rng.IntN(3) == 0 {
						want = append(want, s)
					}
				}
				want = append(want, "lease:grant")
				var ok []string
				for _, s := range want {
					if policy.ScopesCover(p.Scopes, s) || coveredByAny(p.Scopes, s) {
						ok = append(ok, s)
					}
				}
				if len(ok) < len(want) {
					_, _, err := f.m.Grant(context.Background(), p, GrantRequest{Name: "x", Scopes: want, BudgetMicros: -1, BudgetTokens: -1})
					var ae *AttenuationError
					if !errors.As(err, &ae) && !errors.Is(err, ErrForbidden) {
						t.Fatalf("grant of %v from %v: %v, want refusal", want, p.Scopes, err)
					}
				}
				if len(ok) == 0 || !policy.ScopesCover(p.Scopes, "lease:grant") {
					continue
				}
				budget := int64(-1)
				if rng.IntN(2) == 0 {
					rem := remainingOf(t, f, p.ID)
					if rem >= 0 {
						budget = rng.Int64N(rem + 1)
					} else {
						budget = rng.Int64N(100_000_000)
					}
				}
				ttl := time.Duration(1+rng.IntN(120)) * time.Minute
				if !p.ExpiresAt.IsZero() {
					ttl = min(ttl, p.ExpiresAt.Sub(f.clk.now()))
				}
				c, _, err := f.m.Grant(context.Background(), p, GrantRequest{Name: fmt.Sprintf("d%d", d+1), Scopes: ok, TTL: ttl, BudgetMicros: budget, BudgetTokens: -1})
				if err != nil {
					t.Fatalf("grant %v ttl %s budget %d from %+v: %v", ok, ttl, budget, p, err)
				}
				all = append(all, c)
				next = append(next, c)
			}
		}
		frontier = next
	}
	return all
}

func coveredByAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if policy.PatternCovers(p, s) {
			return true
		}
	}
	return false
}

func remainingOf(t *testing.T, f *fixture, id string) int64 {
	var rem int64
	err := f.st.View(context.Background(), func(tx store.ReadTx) error {
		ch, err := chain(context.Background(), tx, id)
		rem = Remaining(ch, false)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rem
}

func TestRandomTreesNeverGiveAChildMoreThanItsParent(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			f := newFixture(t)
			rng := rand.New(rand.NewPCG(seed, 7))
			leases := randomTree(t, f, rng, 1+int(seed%6), 3)
			byID := map[string]store.Lease{}
			for _, l := range leases {
				byID[l.ID] = f.get(t, l.ID)
			}
			for _, l := range byID {
				if l.Parent == "" {
					continue
				}
				p := byID[l.Parent]
				for _, s := range l.Scopes {
					if !coveredByAny(p.Scopes, s) {
						t.Errorf("%s holds %q, not covered by parent %v", l.ID, s, p.Scopes)
					}
				}
				if !p.ExpiresAt.IsZero() && l.ExpiresAt.After(p.ExpiresAt) {
					t.Errorf("%s outlives its parent", l.ID)
				}
				if p.BudgetMicros >= 0 && (l.BudgetMicros < 0 || l.BudgetMicros > p.BudgetMicros) {
					t.Errorf("%s budget %d exceeds parent's %d", l.ID, l.BudgetMicros, p.BudgetMicros)
				}
			}
		})
	}
}

// chainTree grants a straight line of depth leases under the root.
func chainTree(t *testing.T, f *fixture, depth int) []store.Lease {
	out := []store.Lease{f.root}
	for d := 1; d <= depth; d++ {
		c, _ := f.grant(t, out[len(out)-1], GrantRequest{Name: fmt.Sprintf("d%d", d), Scopes: []string{"tool:*", "lease:grant"}})
		out = append(out, c)
	}
	return out
}

func TestRevocationCascadesOnTreesOfDepth1To20(t *testing.T) {
	for depth := 1; depth <= 20; depth++ {
		t.Run(fmt.Sprintf("depth %d", depth), func(t *testing.T) {
			f := newFixture(t)
			line := chainTree(t, f, depth)
			// A side branch that must survive.
			side, sideTok := f.grant(t, f.root, GrantRequest{Name: "side", Scopes: []string{"tool:Read"}})
			cut := 1 + (depth-1)/2
			ids, err := f.m.Revoke(context.Background(), f.root, line[cut].ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != depth-cut+1 {
				t.Fatalf("revoked %d, want %d", len(ids), depth-cut+1)
			}
			for i, l := range line {
				got := f.get(t, l.ID)
				if want := i >= cut; (got.State == Revoked) != want {
					t.Errorf("lease at depth %d state %s", i, got.State)
				}
			}
			if f.get(t, side.ID).State != Active {
				t.Fatal("a lease outside the revoked subtree was revoked")
			}
			if _, err := f.m.Authenticate(context.Background(), sideTok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestACycleInjectedIntoTheStoreNeverLoops(t *testing.T) {
	f := newFixture(t)
	line := chainTree(t, f, 5)
	db, err := sql.Open("sqlite", "file:"+f.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	// d2's parent becomes d4: d2 → d4 → d3 → d2.
	if _, err := db.Exec(`UPDATE leases SET parent = ? WHERE id = ?`, line[4].ID, line[2].ID); err != nil {
		t.Fatal(err)
	}
	db.Close()
	done := make(chan error, 3)
	go func() {
		_, err := f.m.Reserve(context.Background(), line[3].ID, 1, 0, time.Minute)
		if err == nil {
			err = errors.New("a reservation up a cyclic chain succeeded")
		}
		done <- err
	}()
	go func() { _, err := f.m.Subtree(context.Background(), line[1]); done <- err }()
	go func() {
		_, err := f.m.Get(context.Background(), f.root, line[3].ID)
		done <- err
	}()
	for i := 0; i < 3; i++ {
		select {
		case err := <-done:
			if err != nil && !strings.Contains(err.Error(), "loops") && !errors.Is(err, ErrNotFound) {
				t.Errorf("walk over a cycle: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a walk over a cyclic lease tree did not terminate")
		}
	}
}

func TestConcurrentReservationsAtTheBudgetEdgeNeverOverspend(t *testing.T) {
	f := newFixture(t)
	parent, _ := f.grant(t, f.root, GrantRequest{Name: "team", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000})
	// Children with generous budgets of their own: the parent's is the edge.
	a, _ := f.grant(t, parent, GrantRequest{Name: "a", Scopes: []string{"tool:*"}, BudgetMicros: 900_000})
	b, _ := f.grant(t, parent, GrantRequest{Name: "b", Scopes: []string{"tool:*"}, BudgetMicros: 900_000})
	const n = 150
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := a.ID
			if i%2 == 1 {
				id = b.ID
			}
			_, err := f.m.Reserve(context.Background(), id, 10_000, 0, time.Minute)
			var be *BudgetError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &be):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if ok.Load() != 100 || refused.Load() != n-100 {
		t.Fatalf("%d reservations succeeded, %d refused; want exactly 100 of $0.01 on a $1 budget", ok.Load(), refused.Load())
	}
	p := f.get(t, parent.ID)
	if p.ReservedMicros+p.SpentMicros > p.BudgetMicros {
		t.Fatalf("parent overspent: reserved %d + spent %d > %d", p.ReservedMicros, p.SpentMicros, p.BudgetMicros)
	}
}

func TestSettleChargesTheChainAndRecordsExhaustion(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	parent, _ := f.grant(t, f.root, GrantRequest{Name: "p", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000})
	child, _ := f.grant(t, parent, GrantRequest{Name: "c", Scopes: []string{"tool:*"}, BudgetMicros: 800_000})
	r, err := f.m.Reserve(ctx, child.ID, 500_000, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, parent.ID); got.ReservedMicros != 500_000 {
		t.Fatalf("parent reserved %d", got.ReservedMicros)
	}
	if err := f.m.Settle(ctx, r.ID, 850_000, 1200); err != nil {
		t.Fatal(err)
	}
	c, p := f.get(t, child.ID), f.get(t, parent.ID)
	if c.SpentMicros != 850_000 || p.SpentMicros != 850_000 || c.ReservedMicros != 0 || p.ReservedMicros != 0 || c.SpentTokens != 1200 {
		t.Fatalf("after settle: child %+v parent %+v", c, p)
	}
	if err := f.m.Settle(ctx, r.ID, 1, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second settle: %v", err)
	}
	if _, err := f.m.Reserve(ctx, child.ID, 1, 0, time.Minute); err == nil {
		t.Fatal("reserved on an exhausted lease")
	}
	if !ledgerHas(t, f, "lease.exhausted", child.ID) {
		t.Fatal("no lease.exhausted entry for the child")
	}
}

func TestSweepExpiresLeasesAndReleasesStaleReservations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l, _ := f.grant(t, f.root, GrantRequest{Name: "short", Scopes: []string{"tool:*"}, TTL: time.Minute, BudgetMicros: 100})
	if _, err := f.m.Reserve(ctx, l.ID, 60, 0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	f.clk.advance(45 * time.Second)
	expired, released, err := f.m.Sweep(ctx)
	if err != nil || expired != 0 || released != 1 {
		t.Fatalf("sweep = %d, %d, %v", expired, released, err)
	}
	if got := f.get(t, l.ID); got.ReservedMicros != 0 || got.SpentMicros != 0 {
		t.Fatalf("after release: %+v", got)
	}
	f.clk.advance(time.Minute)
	expired, _, err = f.m.Sweep(ctx)
	if err != nil || expired != 1 || f.get(t, l.ID).State != Expired {
		t.Fatalf("sweep = %d, %v, state %s", expired, err, f.get(t, l.ID).State)
	}
	if !ledgerHas(t, f, "lease.expire", l.ID) || !ledgerHas(t, f, "spend.release", l.ID) {
		t.Fatal("expiry or release not in the ledger")
	}
}

func TestRenewStaysWithinMaxTTLAndTheParent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, _ := f.grant(t, f.root, GrantRequest{Name: "p", Scopes: []string{"tool:*", "lease:grant"}, TTL: 2 * time.Hour, MaxTTL: 3 * time.Hour})
	c, _ := f.grant(t, p, GrantRequest{Name: "c", Scopes: []string{"tool:*"}, TTL: 10 * time.Minute, MaxTTL: time.Hour})
	got, err := f.m.Renew(ctx, f.root, c.ID, 50*time.Minute)
	if err != nil || !got.ExpiresAt.Equal(f.clk.now().Add(50*time.Minute)) {
		t.Fatalf("renew: %+v %v", got, err)
	}
	var ae *AttenuationError
	if _, err := f.m.Renew(ctx, f.root, c.ID, 2*time.Hour); !errors.As(err, &ae) {
		t.Fatalf("renew past max_ttl: %v", err)
	}
	f.clk.advance(90 * time.Minute)
	if _, err := f.m.Renew(ctx, f.root, c.ID, 10*time.Minute); err == nil {
		t.Fatal("renewed an expired lease")
	}
	// A lease outside the caller's subtree is not found for it.
	other, _ := f.grant(t, f.root, GrantRequest{Name: "o", Scopes: []string{"tool:*"}})
	if _, err := f.m.Renew(ctx, p, other.ID, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("renew outside the subtree: %v", err)
	}
}

func ledgerHas(t *testing.T, f *fixture, kind, id string) bool {
	t.Helper()
	found := false
	err := f.led.Entries(context.Background(), 0, 1<<20, func(_ uint64, data []byte) error {
		if bytes.Contains(data, []byte(`"kind":"`+kind+`"`)) && bytes.Contains(data, []byte(id)) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// amounts is a lease's spent and reserved micro-USD.
func amounts(t *testing.T, f *fixture, id string) [2]int64 {
	t.Helper()
	l := f.get(t, id)
	return [2]int64{l.SpentMicros, l.ReservedMicros}
}

func TestAFundedLeaseSetsItsBudgetAsideAndDrawsItDown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	parent, _ := f.grant(t, f.root, GrantRequest{Name: "agent", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000})
	run, _ := f.grant(t, parent, GrantRequest{Name: "run", Scopes: []string{"tool:*"}, BudgetMicros: 600_000, Funded: true})
	if run.Options.Funding == "" {
		t.Fatal("a funded grant has no funding reservation")
	}
	// Set aside at once: the parent has 400,000 left for anything else.
	if got := amounts(t, f, parent.ID); got != [2]int64{0, 600_000} {
		t.Fatalf("parent spent/reserved %v after the funded grant", got)
	}
	if _, err := f.m.Reserve(ctx, parent.ID, 400_001, 0, time.Minute); err == nil {
		t.Fatal("the parent could spend the budget set aside for the run")
	}
	// The run's own reservations are held on the run alone…
	r, err := f.m.Reserve(ctx, run.ID, 200_000, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := amounts(t, f, parent.ID); got != [2]int64{0, 600_000} {
		t.Fatalf("parent %v while the run holds a reservation: counted twice", got)
	}
	// …and what they spend is drawn from the funding.
	if err := f.m.Settle(ctx, r.ID, 150_000, 0); err != nil {
		t.Fatal(err)
	}
	if got := amounts(t, f, run.ID); got != [2]int64{150_000, 0} {
		t.Fatalf("run %v after settling 150,000", got)
	}
	if got := amounts(t, f, parent.ID); got != [2]int64{150_000, 450_000} {
		t.Fatalf("parent %v after the run spent 150,000, want spent 150,000 and 450,000 still set aside", got)
	}
	if _, err := f.m.Reserve(ctx, run.ID, 450_001, 0, time.Minute); err == nil {
		t.Fatal("the run reserved past its budget")
	}
	// A call in flight when the run ends stays covered; the rest goes back.
	inflight, err := f.m.Reserve(ctx, run.ID, 100_000, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.Unfund(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if got := amounts(t, f, parent.ID); got != [2]int64{150_000, 100_000} {
		t.Fatalf("parent %v after the run ended with 100,000 in flight", got)
	}
	if _, err := f.m.Reserve(ctx, run.ID, 1, 0, time.Minute); err == nil {
		t.Fatal("reserved under a lease whose run has ended")
	}
	if _, err := f.m.Reserve(ctx, parent.ID, 750_000, 0, time.Minute); err != nil {
		t.Fatalf("the parent cannot use what the run gave back: %v", err)
	}
	if err := f.m.Settle(ctx, inflight.ID, 80_000, 0); err != nil {
		t.Fatal(err)
	}
	if got := amounts(t, f, parent.ID); got != [2]int64{230_000, 750_000} {
		t.Fatalf("parent %v after the in-flight call settled at 80,000", got)
	}
	if err := f.m.Unfund(ctx, run.ID); err != nil {
		t.Fatalf("a second Unfund: %v", err)
	}
	for _, kind := range []string{"spend.unfund"} {
		if !ledgerHas(t, f, kind, run.ID) {
			t.Errorf("no %s entry for the run's lease", kind)
		}
	}
}

func TestNestedFundedLeasesChargeEveryLevelOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	agent, _ := f.grant(t, f.root, GrantRequest{Name: "agent", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000})
	run, _ := f.grant(t, agent, GrantRequest{Name: "run", Scopes: []string{"tool:*"}, BudgetMicros: 500_000, Funded: true, ForRun: true})
	child, _ := f.grant(t, run, GrantRequest{Name: "child", Scopes: []string{"tool:*"}, BudgetMicros: -1, Funded: true, ForRun: true})
	if child.BudgetMicros != 250_000 {
		t.Fatalf("the spawned child got %d, want half of the run's 500,000", child.BudgetMicros)
	}
	if a, r := amounts(t, f, agent.ID), amounts(t, f, run.ID); a != [2]int64{0, 500_000} || r != [2]int64{0, 250_000} {
		t.Fatalf("agent %v, run %v after the nested funded grant", a, r)
	}
	res, err := f.m.Reserve(ctx, child.ID, 100_000, 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.Settle(ctx, res.ID, 60_000, 0); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{child.ID: {60_000, 0}, run.ID: {60_000, 190_000}, agent.ID: {60_000, 440_000}}
	for id, w := range want {
		if got := amounts(t, f, id); got != w {
			t.Errorf("%s: spent/reserved %v, want %v", id, got, w)
		}
	}
	// Revoking the run gives back both fundings.
	if _, err := f.m.Revoke(ctx, f.root, run.ID); err != nil {
		t.Fatal(err)
	}
	if a := amounts(t, f, agent.ID); a != [2]int64{60_000, 0} {
		t.Fatalf("agent %v after the run was revoked, want nothing left set aside", a)
	}
	if rem := remainingOf(t, f, agent.ID); rem != 940_000 {
		t.Fatalf("agent has %d left, want 940,000", rem)
	}
}

func TestAnExpiredFundedLeaseGivesItsBudgetBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	agent, _ := f.grant(t, f.root, GrantRequest{Name: "agent", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000, TTL: 3 * time.Hour})
	run, _ := f.grant(t, agent, GrantRequest{Name: "run", Scopes: []string{"tool:*"}, BudgetMicros: 300_000, TTL: time.Hour, Funded: true})
	f.clk.advance(time.Hour + time.Second)
	if _, _, err := f.m.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t, run.ID); got.State != Expired || !got.Options.FundingClosed {
		t.Fatalf("run lease %+v after the sweep", got)
	}
	if a := amounts(t, f, agent.ID); a != [2]int64{0, 0} {
		t.Fatalf("agent %v after the funded lease expired", a)
	}
}

func TestAFundedGrantThatDoesNotFitIsRefused(t *testing.T) {
	f := newFixture(t)
	agent, _ := f.grant(t, f.root, GrantRequest{Name: "agent", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000})
	f.grant(t, agent, GrantRequest{Name: "run1", Scopes: []string{"tool:*"}, BudgetMicros: 700_000, Funded: true})
	_, _, err := f.m.Grant(context.Background(), agent, GrantRequest{Name: "run2", Scopes: []string{"tool:*"}, BudgetMicros: 400_000, Funded: true})
	var ae *AttenuationError
	if !errors.As(err, &ae) || ae.What != "budget" {
		t.Fatalf("a second run asking for more than is left: %v", err)
	}
	// Without a budget anywhere on the chain there is nothing to set aside.
	free, _ := f.grant(t, f.root, GrantRequest{Name: "free", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: -1})
	run, _ := f.grant(t, free, GrantRequest{Name: "run", Scopes: []string{"tool:*"}, BudgetMicros: -1, Funded: true})
	if run.Options.Funding != "" {
		t.Fatalf("a funding on an unbudgeted chain: %+v", run.Options)
	}
}

// Random grants (funded and not), reservations, settlements, unfundings and
// revocations: no budget on any chain is ever overspent while reservations
// stay within what they reserved, and once everything is settled and every
// funding given back, nothing is left reserved and every lease has been
// charged exactly what was spent in its subtree.
func TestRandomFundedTreesAccountExactly(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			agent, _ := f.grant(t, f.root, GrantRequest{Name: "agent", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000})
			leases := []store.Lease{agent}
			type flight struct {
				id, lease string
				micros    int64
			}
			var inFlight []flight
			spentIn := map[string]int64{} // settled on reservations made on this lease
			check := func(step int) {
				t.Helper()
				for _, l := range leases {
					g := f.get(t, l.ID)
					if g.BudgetMicros >= 0 && g.SpentMicros+g.ReservedMicros > g.BudgetMicros {
						t.Fatalf("step %d: %s spent %d + reserved %d > budget %d", step, g.Name, g.SpentMicros, g.ReservedMicros, g.BudgetMicros)
					}
				}
			}
			for step := range 250 {
				l := leases[rng.IntN(len(leases))]
				switch op := rng.IntN(10); {
				case op < 2: // grant
					budget := int64(-1)
					if rng.IntN(3) > 0 {
						budget = rng.Int64N(300_000) + 1
					}
					c, _, err := f.m.Grant(ctx, l, GrantRequest{Name: fmt.Sprintf("l%d", step), Scopes: []string{"tool:*", "lease:grant"},
						BudgetMicros: budget, BudgetTokens: -1, Funded: rng.IntN(3) > 0})
					if err == nil {
						leases = append(leases, c)
					}
				case op < 6: // reserve
					r, err := f.m.Reserve(ctx, l.ID, rng.Int64N(50_000)+1, 0, time.Hour)
					if err == nil {
						inFlight = append(inFlight, flight{r.ID, l.ID, r.Micros})
					}
				case op < 8: // settle at most what was reserved
					if len(inFlight) == 0 {
						continue
					}
					i := rng.IntN(len(inFlight))
					fl := inFlight[i]
					inFlight = append(inFlight[:i], inFlight[i+1:]...)
					m := rng.Int64N(fl.micros + 1)
					if err := f.m.Settle(ctx, fl.id, m, 0); err != nil {
						t.Fatalf("step %d: settle: %v", step, err)
					}
					spentIn[fl.lease] += m
				case op < 9:
					if err := f.m.Unfund(ctx, l.ID); err != nil {
						t.Fatalf("step %d: unfund: %v", step, err)
					}
				default:
					if l.ID != agent.ID && rng.IntN(3) == 0 {
						if _, err := f.m.Revoke(ctx, f.root, l.ID); err != nil {
							t.Fatalf("step %d: revoke: %v", step, err)
						}
					}
				}
				check(step)
			}
			for _, fl := range inFlight {
				m := rng.Int64N(fl.micros + 1)
				if err := f.m.Settle(ctx, fl.id, m, 0); err != nil {
					t.Fatal(err)
				}
				spentIn[fl.lease] += m
			}
			for _, l := range leases {
				if err := f.m.Unfund(ctx, l.ID); err != nil {
					t.Fatal(err)
				}
			}
			check(-1)
			for _, l := range leases {
				g := f.get(t, l.ID)
				var want int64
				for id, m := range spentIn {
					if ok, _ := f.inSubtree(t, l.ID, id); ok {
						want += m
					}
				}
				if g.ReservedMicros != 0 || g.SpentMicros != want {
					t.Errorf("%s: reserved %d, spent %d; want 0 and %d (spent in its subtree)", g.Name, g.ReservedMicros, g.SpentMicros, want)
				}
			}
			err := f.st.View(ctx, func(tx store.ReadTx) error {
				left, err := tx.ExpiredReservations(ctx, f.clk.now().Add(1000*time.Hour))
				if err == nil && len(left) > 0 {
					return fmt.Errorf("%d reservations left, e.g. %+v", len(left), left[0])
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func (f *fixture) inSubtree(t *testing.T, root, id string) (bool, error) {
	var ok bool
	err := f.st.View(context.Background(), func(tx store.ReadTx) (err error) {
		ok, err = inSubtree(context.Background(), tx, root, id)
		return err
	})
	return ok, err
}

// What a funded lease has left is its own: its ancestors have already set
// its budget aside, so their smaller remainder does not limit it twice.
func TestAFundedLeaseHasItsWholeBudgetToGive(t *testing.T) {
	f := newFixture(t)
	agent, _ := f.grant(t, f.root, GrantRequest{Name: "agent", Scopes: []string{"tool:*", "lease:grant"}, BudgetMicros: 1_000_000})
	run, _ := f.grant(t, agent, GrantRequest{Name: "run", Scopes: []string{"tool:*"}, BudgetMicros: 800_000, Funded: true, ForRun: true})
	if rem := remainingOf(t, f, run.ID); rem != 800_000 {
		t.Fatalf("the run has %d left, want its whole 800,000", rem)
	}
	if rem := remainingOf(t, f, agent.ID); rem != 200_000 {
		t.Fatalf("the agent has %d left, want 200,000", rem)
	}
	child, _ := f.grant(t, run, GrantRequest{Name: "child", Scopes: []string{"tool:*"}, BudgetMicros: -1, Funded: true, ForRun: true})
	if child.BudgetMicros != 400_000 {
		t.Fatalf("a spawned child got %d, want half of the run's 800,000", child.BudgetMicros)
	}
}
