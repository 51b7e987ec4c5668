package gate

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/hook"
	"github.com/mirroros/mirror/trust/policy"
	"golang.org/x/mod/sumdb/note"
)

type fixture struct {
	g     *Gate
	st    *sqlite.DB
	clock atomic.Int64
	agent store.Lease
	owner store.Lease
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), sqlite.Options{})
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
	e, err := policy.LoadSources(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st}
	f.clock.Store(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, f.clock.Load()).UTC() }
	f.g = New(st, led, e, nil, now)
	f.owner = store.Lease{ID: "lse_root", Name: "owner", Scopes: []string{"*"}, TokenHash: []byte("o"), BudgetMicros: -1, BudgetTokens: -1, State: "active"}
	f.agent = store.Lease{ID: "lse_agent", Parent: "lse_root", Name: "agent", Scopes: []string{"tool:*"}, TokenHash: []byte("a"), BudgetMicros: -1, BudgetTokens: -1, State: "active"}
	for _, l := range []store.Lease{f.owner, f.agent} {
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutLease(ctx, l) }); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func bash(cmd string) Input {
	return Input{Action: "tool:Bash", Args: map[string]any{"command": cmd}, Context: InputContext{Agent: "claude-code", Cwd: "/home/dev/p"}}
}

func TestAnUnansweredAskExpiresIntoTheDeniedLedger(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r, err := f.g.Evaluate(ctx, f.agent, bash("curl https://example.com"))
	if err != nil || r.Decision != policy.Ask || r.ApprovalID == "" {
		t.Fatalf("evaluate: %+v %v", r, err)
	}
	if n, err := f.g.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("early sweep: %d %v", n, err)
	}
	f.clock.Add(int64(DefaultApprovalTTL + time.Second))
	if n, err := f.g.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	a, err := f.g.Approval(ctx, r.ApprovalID, 0)
	if err != nil || a.State != "expired" {
		t.Fatalf("approval: %+v %v", a, err)
	}
	ds, err := f.g.Denials(ctx, store.DenialFilter{})
	if err != nil || len(ds) != 1 || ds[0].Decision != "EXPIRED" || ds[0].LeaseName != "agent" {
		t.Fatalf("denials: %+v %v", ds, err)
	}
	// Redeeming an expired approval is refused.
	in := bash("curl https://example.com")
	in.ApprovalID = r.ApprovalID
	if r2, _ := f.g.Evaluate(ctx, f.agent, in); r2.Decision != policy.Block {
		t.Fatalf("redeem of an expired approval: %+v", r2)
	}
}

func TestAPendingApprovalIsReusedAndWaitersWakeOnDecision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r, _ := f.g.Evaluate(ctx, f.agent, bash("npm install left-pad"))
	if r.Decision != policy.Ask {
		t.Fatalf("evaluate: %+v", r)
	}
	in := bash("npm install left-pad")
	in.ApprovalID = r.ApprovalID
	again, _ := f.g.Evaluate(ctx, f.agent, in)
	if again.Decision != policy.Ask || again.ApprovalID != r.ApprovalID {
		t.Fatalf("asking again while pending should point at the same approval: %+v", again)
	}
	woke := make(chan Approval, 1)
	go func() {
		a, _ := f.g.Approval(ctx, r.ApprovalID, 10*time.Second)
		woke <- a
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := f.g.Decide(ctx, f.owner, r.ApprovalID, true, "ok"); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-woke:
		if a.State != "approved" {
			t.Fatalf("woke with %+v", a)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a waiter was not woken by the decision")
	}
}

func TestDecisionsRecordRedactedArgumentsAndReasons(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret := "ghp_R8mZ4kT1qLw9XvB2nC7yH3pD6sF0gJ5aE1uK"
	r, err := f.g.Evaluate(ctx, f.agent, bash("git remote set-url origin https://"+secret+"@github.com/x/y"))
	if err != nil {
		t.Fatal(err)
	}
	var entry []byte
	f.g.led.Entries(ctx, r.AuditIndex, 1, func(_ uint64, d []byte) error { entry = append([]byte(nil), d...); return nil })
	if strings.Contains(string(entry), secret) {
		t.Fatalf("secret in the ledger: %s", entry)
	}
	var e struct {
		Body map[string]any `json:"body"`
	}
	json.Unmarshal(entry, &e)
	if e.Body["decision"] != string(r.Decision) || e.Body["request_hash"] == "" {
		t.Fatalf("entry body %v", e.Body)
	}
}

func TestFromHookNormalisesAgentsInput(t *testing.T) {
	req := hook.Request{Agent: hook.Codex, Tool: "Bash", Cwd: "/p", SessionID: "s",
		Input: map[string]any{"command": "ls", "timeout": json.Number("30")}}
	in := FromHook(req)
	if in.Action != "tool:Bash" || in.Resource != "ls" || in.Context.Agent != "codex" {
		t.Fatalf("input %+v", in)
	}
	if _, ok := in.Args["timeout"].(int64); !ok {
		t.Fatalf("json.Number not converted: %T", in.Args["timeout"])
	}
	if got := FromHook(hook.Request{Tool: "weird:tool*name"}).Action; got != "tool:weird_tool_name" {
		t.Fatalf("action %q", got)
	}
	if err := FromHook(hook.Request{Tool: "mcp__github__create_issue"}).Validate(); err != nil {
		t.Fatalf("MCP tool action: %v", err)
	}
}
