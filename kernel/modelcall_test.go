package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/openai"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/door"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/lease"
)

// fakeOllama answers /api/chat (non-streaming and NDJSON) and /api/tags.
func fakeOllama(t *testing.T, calls *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/tags":
			w.Write([]byte(`{"models":[{"name":"llama3.2","model":"llama3.2"}]}`))
		case "/api/chat":
			calls.Add(1)
			var req struct {
				Model  string `json:"model"`
				Stream *bool  `json:"stream"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			if req.Stream != nil && *req.Stream {
				w.Header().Set("Content-Type", "application/x-ndjson")
				fmt.Fprintf(w, `{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"lo"},"done":false}`+"\n", req.Model)
				fmt.Fprintf(w, `{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"cal"},"done":false}`+"\n", req.Model)
				fmt.Fprintf(w, `{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":9,"eval_count":2}`+"\n", req.Model)
				return
			}
			fmt.Fprintf(w, `{"model":%q,"created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"local answer"},"done":true,"done_reason":"stop","prompt_eval_count":9,"eval_count":2}`, req.Model)
		default:
			http.NotFound(w, r)
		}
	}))
}

// fakeOpenAI answers /chat/completions non-streaming.
func fakeOpenAI(t *testing.T, calls *atomic.Int64, seen *atomic.Value) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		seen.Store(string(b))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"cloud answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}}`))
	}))
}

type busFixture struct {
	sys          *System
	local, cloud atomic.Int64
	seen         atomic.Value
}

func newBusFixture(t *testing.T) *busFixture {
	f := &busFixture{}
	ol := fakeOllama(t, &f.local)
	oa := fakeOpenAI(t, &f.cloud, &f.seen)
	t.Cleanup(func() { ol.Close(); oa.Close() })
	t.Setenv("OLLAMA_HOST", ol.URL)
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"} {
		t.Setenv(k, "")
	}
	cfg := config.Default()
	// The fake "cloud" runs on loopback; tier and locality are set
	// explicitly, the way a remote vendor would be.
	cfg.Providers = []config.Provider{{Name: "openai", Kind: "openai", BaseURL: "https://api.openai.example/v1", APIKey: "sk-upstream-secret", Tier: 1}}
	cfg.Aliases = map[string][]string{"default": {"ollama/llama3.2"}}
	sys, err := Open(context.Background(), t.TempDir(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(context.Background()) })
	// The fake "cloud" runs on loopback, which discovery would call local:
	// register it again as the remote provider it stands for.
	sys.Router.AddProvider(openai.New(openai.Config{Name: "openai", BaseURL: oa.URL + "/v1", APIKey: "sk-upstream-secret"}), false, 1)
	f.sys = sys
	return f
}

func userCall(model, text string) door.Call {
	return door.Call{Model: model, Raw: []byte(text), Request: bus.Request{Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: text}}}}}}
}

func rootLease(t *testing.T, sys *System) store.Lease {
	var l store.Lease
	err := sys.Store.View(context.Background(), func(tx store.ReadTx) (err error) {
		l, err = tx.Lease(context.Background(), lease.RootID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestModelCallsAreRoutedGovernedAndRecorded(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	owner := rootLease(t, f.sys)

	resp, err := f.sys.Chat(ctx, owner, userCall("default", "Say hello."), CallOptions{Door: "openai"})
	if err != nil || resp.Message.Text() != "local answer" || f.local.Load() != 1 {
		t.Fatalf("default alias → local: %+v %v", resp, err)
	}

	s, err := f.sys.ChatStream(ctx, owner, userCall("ollama/llama3.2", "stream please"), CallOptions{Door: "ollama"})
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		text += ev.Text
	}
	s.Close()
	if text != "local" {
		t.Fatalf("streamed %q", text)
	}

	f.sys.pending.Wait()
	var calls int
	f.sys.Ledger.Entries(ctx, 0, 1000, func(_ uint64, d []byte) error {
		if bytes.Contains(d, []byte(`"kind":"model.call"`)) && bytes.Contains(d, []byte(`"outcome":"ok"`)) {
			calls++
		}
		if bytes.Contains(d, []byte("sk-upstream-secret")) {
			t.Errorf("a provider key reached the ledger: %s", d)
		}
		return nil
	})
	if calls != 2 {
		t.Fatalf("%d model.call outcomes, want 2", calls)
	}
}

func TestSecretsNeverReachACloudModel(t *testing.T) {
	f := newBusFixture(t)
	owner := rootLease(t, f.sys)
	_, err := f.sys.Chat(context.Background(), owner, userCall("openai/gpt-4o-mini", "deploy with AKIA2E3RD7XQ5YLZ4W6P please"), CallOptions{Door: "openai"})
	var me *ModelError
	if !errors.As(err, &me) || me.Code != "local_only" || !strings.Contains(me.Message, "secret.aws_access_key") {
		t.Fatalf("err = %v", err)
	}
	if f.cloud.Load() != 0 {
		t.Fatal("a prompt carrying a key reached the cloud model")
	}
	ds, err := f.sys.Gate.Denials(context.Background(), store.DenialFilter{})
	if err != nil || len(ds) != 1 || ds[0].Action != "model:chat:openai/gpt-4o-mini" || !strings.Contains(string(ds[0].Reasons), "sensitive") {
		t.Fatalf("the refusal is not in the denied-action ledger: %+v %v", ds, err)
	}
	// The same prompt is fine for a local model.
	if _, err := f.sys.Chat(context.Background(), owner, userCall("default", "deploy with AKIA2E3RD7XQ5YLZ4W6P please"), CallOptions{}); err != nil {
		t.Fatalf("local model refused: %v", err)
	}
}

func TestScopesAndBudgetsAreCheckedBeforeAnyProviderIsCalled(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	owner := rootLease(t, f.sys)
	tools, _, err := f.sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "agent", Scopes: []string{"tool:*"}, BudgetMicros: -1, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.sys.Chat(ctx, tools, userCall("default", "hi"), CallOptions{})
	var me *ModelError
	if !errors.As(err, &me) || me.Status != 403 {
		t.Fatalf("a lease without model scope: %v", err)
	}
	poor, _, err := f.sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "poor", Scopes: []string{"model:*"}, BudgetMicros: 10, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.sys.Chat(ctx, poor, userCall("openai/gpt-4o-mini", "a long question"), CallOptions{})
	if !errors.As(err, &me) || me.Status != 402 {
		t.Fatalf("over budget: %v", err)
	}
	if f.cloud.Load() != 0 || f.local.Load() != 0 {
		t.Fatalf("a provider was called: local %d cloud %d", f.local.Load(), f.cloud.Load())
	}
	// The refusal is the call's recorded outcome, right after its decision.
	var kinds []string
	f.sys.Ledger.Entries(ctx, 0, 1000, func(_ uint64, d []byte) error {
		e, _ := ledger.ParseEntry(d)
		if e.Kind == "policy.decision" || e.Kind == "model.call" || e.Kind == "spend.reserve" {
			k := e.Kind
			if bytes.Contains(d, []byte(`"outcome":"budget_exceeded"`)) {
				k += ":budget_exceeded"
			}
			kinds = append(kinds, k)
		}
		return nil
	})
	if got := strings.Join(kinds, " "); !strings.HasSuffix(got, "policy.decision model.call:budget_exceeded") {
		t.Fatalf("entries: %s", got)
	}
	// Local models cost nothing: the poor lease may still use them.
	if _, err := f.sys.Chat(ctx, poor, userCall("default", "hi"), CallOptions{}); err != nil {
		t.Fatalf("local call on a tiny budget: %v", err)
	}
	// A cloud call is settled on the usage the provider reports.
	rich, _, err := f.sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "rich", Scopes: []string{"model:*"}, BudgetMicros: 1_000_000, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	f.sys.pending.Wait() // earlier outcomes are in
	before := f.sys.Ledger.Size()
	resp, err := f.sys.Chat(ctx, rich, userCall("openai/gpt-4o-mini", "hello cloud"), CallOptions{Door: "openai"})
	if err != nil || resp.Message.Text() != "cloud answer" || f.cloud.Load() != 1 {
		t.Fatalf("cloud call: %+v %v", resp, err)
	}
	// The decision and the reservation were committed together: adjacent
	// entries written by one transaction (one fsync before the provider).
	dec, _ := f.sys.Ledger.Entry(ctx, before)
	rsv, _ := f.sys.Ledger.Entry(ctx, before+1)
	if !bytes.Contains(dec, []byte(`"kind":"policy.decision"`)) || !bytes.Contains(rsv, []byte(`"kind":"spend.reserve"`)) {
		t.Fatalf("entries after the call: %s / %s", dec, rsv)
	}
	if seen, _ := f.seen.Load().(string); !strings.Contains(seen, "MirrorOS") {
		t.Fatalf("the identity preamble was not sent: %s", seen)
	}
	f.sys.pending.Wait()
	got, err := f.sys.Leases.Get(ctx, owner, rich.ID)
	// gpt-4o-mini: 1000 prompt tokens at $0.15/M + 100 completion at $0.60/M = 150 + 60 micro-USD.
	if err != nil || got.SpentMicros != 210 || got.ReservedMicros != 0 {
		t.Fatalf("after settle: spent %d reserved %d (%v)", got.SpentMicros, got.ReservedMicros, err)
	}
}

func TestACallAllowedButNeverAnsweredIsClosedAsOutcomeUnknown(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	sys, err := Open(ctx, dir, config.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// What a crash between the decision and the answer leaves behind.
	body := []byte(`{"action":"model:chat:ollama/llama3.2","decision":"ALLOW","lease":"lse_root","resource":"ollama/llama3.2"}`)
	rs, err := sys.Ledger.Append(ctx, ledger.Event{Kind: "policy.decision", Actor: "lease/lse_root", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	sys.Close(ctx)
	for round := 0; round < 2; round++ { // a second restart must not close it again
		sys, err = Open(ctx, dir, config.Default(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		sys.Close(ctx) // waits for the background pass
	}
	sys, err = Open(ctx, dir, config.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(ctx)
	n := 0
	sys.Ledger.Entries(ctx, 0, 10000, func(_ uint64, d []byte) error {
		if bytes.Contains(d, []byte(`"outcome":"outcome_unknown"`)) && bytes.Contains(d, []byte(fmt.Sprintf(`"decision_index":%d`, rs[0].Index))) {
			n++
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("%d outcome_unknown entries for the dangling decision, want exactly 1", n)
	}
}

func TestALeaseOverItsCallRateIsRefused(t *testing.T) {
	f := newBusFixture(t)
	f.sys.Config.Limits.LeaseRPM = 60 // burst of 6
	owner := rootLease(t, f.sys)
	refused := 0
	for i := 0; i < 10; i++ {
		_, err := f.sys.Chat(context.Background(), owner, userCall("default", "hi"), CallOptions{})
		var me *ModelError
		if errors.As(err, &me) && me.Status == 429 && me.Code == "rate_limited" {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 4 || f.local.Load() != 6 {
		t.Fatalf("%d refused, %d reached the provider; want 4 and 6", refused, f.local.Load())
	}
}

func TestLeaseOptionsKeepCallsLocalAndDropTheIdentity(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	owner := rootLease(t, f.sys)
	private, _, err := f.sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "private", Scopes: []string{"model:*", "lease:grant"},
		BudgetMicros: -1, BudgetTokens: -1, Options: store.LeaseOptions{LocalOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	// A local-only lease never reaches a cloud model, even one named
	// explicitly, and its children inherit that.
	child, _, err := f.sys.Leases.Grant(ctx, private, lease.GrantRequest{Name: "child", Scopes: []string{"model:*"}, BudgetMicros: -1, BudgetTokens: -1})
	if err != nil || !child.Options.LocalOnly {
		t.Fatalf("child of a local-only lease: %+v %v", child.Options, err)
	}
	for _, l := range []store.Lease{private, child} {
		_, err = f.sys.Chat(ctx, l, userCall("openai/gpt-4o-mini", "hello"), CallOptions{})
		var me *ModelError
		if !errors.As(err, &me) || me.Code != "local_only" || !strings.Contains(me.Message, "local-only") {
			t.Fatalf("%s: a cloud call on a local-only lease: %v", l.Name, err)
		}
		if _, err := f.sys.Chat(ctx, l, userCall("default", "hello"), CallOptions{}); err != nil {
			t.Fatalf("%s: a local call on a local-only lease: %v", l.Name, err)
		}
	}
	if f.cloud.Load() != 0 {
		t.Fatal("a local-only lease reached the cloud")
	}

	plain, _, err := f.sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "plain", Scopes: []string{"model:*"},
		BudgetMicros: -1, BudgetTokens: -1, Options: store.LeaseOptions{NoIdentity: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sys.Chat(ctx, plain, userCall("openai/gpt-4o-mini", "hello cloud"), CallOptions{}); err != nil {
		t.Fatal(err)
	}
	if seen, _ := f.seen.Load().(string); strings.Contains(seen, "MirrorOS") || !strings.Contains(seen, "hello cloud") {
		t.Fatalf("a no-identity lease's call carried the preamble: %s", seen)
	}
	// The options survive a round trip through the store.
	got, err := f.sys.Leases.Get(ctx, owner, plain.ID)
	if err != nil || !got.Options.NoIdentity || got.Options.LocalOnly {
		t.Fatalf("stored options: %+v %v", got.Options, err)
	}
}

func TestConcurrentModelCallsNeverOverspendALease(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	owner := rootLease(t, f.sys)
	const budget = 20_000 // micro-USD: a handful of reservations at a time
	l, _, err := f.sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "tight", Scopes: []string{"model:*"}, BudgetMicros: budget, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for range 40 {
		wg.Go(func() {
			_, err := f.sys.Chat(ctx, l, userCall("openai/gpt-4o-mini", "hello cloud"), CallOptions{})
			var me *ModelError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &me) && me.Code == "budget_exceeded":
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f.sys.pending.Wait()
	got, err := f.sys.Leases.Get(ctx, owner, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Each answered call costs 210 micro-USD (1,000 prompt and 100 completion tokens of gpt-4o-mini).
	if got.SpentMicros > budget || got.SpentMicros != 210*ok.Load() || got.ReservedMicros != 0 || ok.Load()+refused.Load() != 40 {
		t.Fatalf("spent %d of %d (reserved %d) for %d answered and %d refused calls", got.SpentMicros, budget, got.ReservedMicros, ok.Load(), refused.Load())
	}
	if refused.Load() == 0 || f.cloud.Load() != ok.Load() {
		t.Fatalf("%d refused; the cloud saw %d calls for %d answered", refused.Load(), f.cloud.Load(), ok.Load())
	}
}

func TestAFailedSettlementStillRecordsTheCall(t *testing.T) {
	f := newBusFixture(t)
	ctx := context.Background()
	owner := rootLease(t, f.sys)
	before := f.sys.Ledger.Size()
	p := &prepared{reservation: "rsv_gone", asked: "openai/gpt-4o-mini", started: time.Now(), decision: before - 1}
	used := bus.Target{Provider: "openai", Model: "gpt-4o-mini"}
	f.sys.finish(owner, p, used, nil, bus.Usage{PromptTokens: 10, CompletionTokens: 5}, []byte(`{}`), [32]byte{}, nil, false)
	var kinds []string
	var outcome map[string]any
	err := f.sys.Ledger.Entries(ctx, before, 100, func(_ uint64, d []byte) error {
		var e struct {
			Kind string         `json:"kind"`
			Body map[string]any `json:"body"`
		}
		if err := json.Unmarshal(d, &e); err != nil {
			return err
		}
		kinds = append(kinds, e.Kind)
		if e.Kind == "model.call" {
			outcome = e.Body
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 1 || outcome == nil {
		t.Fatalf("entries after the failed settlement: %v, want one model.call (the settlement's undone)", kinds)
	}
	if outcome["outcome"] != "ok" || !strings.Contains(fmt.Sprint(outcome["settle_error"]), "rsv_gone") {
		t.Fatalf("model.call body %v: want outcome ok and the settlement error", outcome)
	}
}

func TestScanRequestReadsVendorBlocks(t *testing.T) {
	vendor := func(raw string) bus.Message {
		return bus.Message{Role: bus.Assistant, Content: []bus.Part{{Type: bus.VendorPart, Vendor: bus.VendorAnthropic, Raw: json.RawMessage(raw)}}}
	}
	// Signatures and encrypted results are random by design; they must not
	// be taken for secrets (that would keep every thinking turn local).
	opaque := bus.Request{Messages: []bus.Message{
		vendor(`{"type":"thinking","thinking":"","signature":"EqQBCkgIBxABGAIiQHr9kT3mZ8xQ2vW7nL5pB1cF4dJ6gH0sK9aY2eU3iO8lM7jN4bV5cX1zQ0wE6rT8yU2iP4oA9sD3fG7hJ1kL5mN=="}`),
		vendor(`{"type":"redacted_thinking","data":"EmwKAhgBEgyT3mZ8xQ2vW7nL5pB1cF4dJ6gH0sK9aY2eU3iO8lM7jN4bV5cX1zQ0wE6rT8yU"}`),
		vendor(`{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[{"type":"web_search_result","title":"Monsoon","url":"https://example.org/m","encrypted_content":"Eqgf9xQ2vW7nL5pB1cF4dJ6gH0sK9aY2eU3iO8lM7jN4bV5cX1zQ0wE6rT8yU2iP4oA9sD3fG7hJ1kL5mN"}]}`),
	}}
	if kinds := scanRequest(opaque); len(kinds) != 0 {
		t.Errorf("opaque provider tokens were taken for %v", kinds)
	}
	// What a vendor block says is content like any other: a secret in
	// thinking text or in a server tool's input keeps the call local.
	for _, raw := range []string{
		`{"type":"thinking","thinking":"The key AKIA2E3RD7XQ5YLZ4W6P goes in the config.","signature":"s"}`,
		`{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"AKIA2E3RD7XQ5YLZ4W6P leaked"}}`,
	} {
		if kinds := scanRequest(bus.Request{Messages: []bus.Message{vendor(raw)}}); !slices.Contains(kinds, "secret.aws_access_key") {
			t.Errorf("%s: findings %v, want secret.aws_access_key", raw, kinds)
		}
	}
}
