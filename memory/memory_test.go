package memory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/trace/ledger"
	"golang.org/x/mod/sumdb/note"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) set(t time.Time)         { c.t.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

var t0 = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

type fixture struct {
	m    *Memory
	st   *sqlite.DB
	led  *ledger.Ledger
	path string
	clk  *clock
}

// newFixture opens a real SQLite store and ledger in a temporary
// directory. opts.Now is replaced by the fixture's clock, set to t0.
func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mirror.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := ledger.GenerateKey("mirroros/test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	led, err := ledger.Open(ctx, st, s, v, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(ctx); st.Close() })
	clk := &clock{}
	clk.set(t0)
	opts.Now = clk.now
	return &fixture{m: New(st, led, opts), st: st, led: led, path: path, clk: clk}
}

const actor = "lease/lse_test"

// evidence adds text evidence observed at observed (zero: now).
func (f *fixture) evidence(t testing.TB, text string, observed time.Time) Evidence {
	t.Helper()
	e, _, err := f.m.AddEvidence(context.Background(), NewEvidence{Kind: EvidenceTurn, Content: []byte(text), Actor: actor, Source: "chat", ObservedAt: observed})
	if err != nil {
		t.Fatalf("add evidence %q: %v", text, err)
	}
	return e
}

// whole cites all of e.
func whole(e Evidence) []Span { return []Span{{EvidenceID: e.ID, Start: 0, End: int(e.Size)}} }

func (f *fixture) claim(t testing.TB, in NewClaim) AddResult {
	t.Helper()
	if in.Actor == "" {
		in.Actor = actor
	}
	r, err := f.m.AddClaim(context.Background(), in)
	if err != nil {
		t.Fatalf("add claim %q: %v", in.Statement, err)
	}
	return r
}

// entries returns the parsed memory entries of the ledger.
func (f *fixture) entries(t testing.TB) []ledger.Entry {
	t.Helper()
	var out []ledger.Entry
	err := f.led.Entries(context.Background(), 0, int(f.led.Size()), func(_ uint64, data []byte) error {
		e, err := ledger.ParseEntry(data)
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Kind, "memory.") {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kinds(es []ledger.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind
	}
	return out
}

// tamper runs SQL against the database file through a connection of its
// own, as someone with access to the file would.
func (f *fixture) tamper(t testing.TB, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+f.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("tamper %q: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("tamper %q changed nothing", query)
	}
}

func ids(cs []Claim) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	slices.Sort(out)
	return out
}

func sorted(xs ...string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

func body[T any](t testing.TB, e ledger.Entry) T {
	t.Helper()
	var b T
	if err := json.Unmarshal(e.Body, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
