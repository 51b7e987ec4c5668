package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// call is one recorded backend call.
type call struct {
	Method string
	Arg    any
}

// fakeBackend records its calls and answers canned results, or err.
type fakeBackend struct {
	name string

	mu    sync.Mutex
	calls []call
	err   error
	run   SkillRunResult
	// block makes every call wait for its context to end, then report the
	// context's error on cancelled.
	block     bool
	cancelled chan error
}

func newFake(name string) *fakeBackend {
	return &fakeBackend{
		name: name,
		run: SkillRunResult{ID: "run_1", State: RunSucceeded, Output: json.RawMessage(`{"summary":"short","words":2}`),
			Provenance: "mirror run run_1\n\n— mirror sig"},
		cancelled: make(chan error, 1),
	}
}

func (f *fakeBackend) record(ctx context.Context, method string, arg any) error {
	f.mu.Lock()
	f.calls = append(f.calls, call{method, arg})
	err, block := f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		f.cancelled <- ctx.Err()
		return ctx.Err()
	}
	return err
}

func (f *fakeBackend) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeBackend) SearchMemory(ctx context.Context, q SearchQuery) (SearchResult, error) {
	if err := f.record(ctx, "SearchMemory", q); err != nil {
		return SearchResult{}, err
	}
	return SearchResult{Results: []SearchHit{
		{Type: HitClaim, ID: "clm_1", Text: "The user prefers dark mode (" + f.name + ").", Score: 0.91, Status: "canon",
			Evidence: []string{"sha256:aaa", "sha256:bbb"}, ValidAt: "2025-01-01T00:00:00Z", CreatedAt: "2025-01-02T00:00:00Z"},
		{Type: HitEvidence, ID: "sha256:ccc", Text: "line one\nline two", Score: 0.4, CreatedAt: "2025-01-03T00:00:00Z"},
	}}, nil
}

func (f *fakeBackend) AddEvidence(ctx context.Context, e EvidenceInput) (EvidenceResult, error) {
	if err := f.record(ctx, "AddEvidence", e); err != nil {
		return EvidenceResult{}, err
	}
	return EvidenceResult{ID: "sha256:ddd", Created: e.Content != "seen"}, nil
}

func (f *fakeBackend) Canon(ctx context.Context, version int) (CanonResult, error) {
	if err := f.record(ctx, "Canon", version); err != nil {
		return CanonResult{}, err
	}
	if version == 0 {
		version = 7
	}
	return CanonResult{Version: version, Hash: "sha256:canon", CreatedAt: "2025-02-01T00:00:00Z", Claims: []CanonClaim{
		{ID: "clm_1", Statement: "The user lives in Lyon.", Subject: "user", Kind: "fact", Confidence: 0.9,
			Evidence: []string{"sha256:aaa"}, ValidAt: "2024-06-01T00:00:00Z"},
	}}, nil
}

func (f *fakeBackend) RunSkill(ctx context.Context, r SkillRun) (SkillRunResult, error) {
	if err := f.record(ctx, "RunSkill", r); err != nil {
		return SkillRunResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.run, nil
}

func (f *fakeBackend) ListSkills(ctx context.Context) ([]SkillInfo, error) {
	if err := f.record(ctx, "ListSkills", nil); err != nil {
		return nil, err
	}
	return []SkillInfo{
		{Name: "summarize", Version: "1.2.0", Description: "Summarize a text.", Status: "stable"},
		{Name: "triage", Version: "0.1.0", Description: "Sort an inbox.", Status: "canary"},
	}, nil
}

// connect serves New(b) over in-memory transports and returns a client
// session to it.
func connect(t *testing.T, b Backend) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := New(b, "test").Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v0"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// text is the text content of a result.
func text(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	var parts []string
	for _, c := range res.Content {
		tc, ok := c.(*mcp.TextContent)
		if !ok {
			t.Fatalf("content %T, want text", c)
		}
		parts = append(parts, tc.Text)
	}
	return strings.Join(parts, "\n")
}

// structured decodes a result's structured content into a T.
func structured[T any](t *testing.T, res *mcp.CallToolResult) T {
	t.Helper()
	var v T
	if res.StructuredContent == nil {
		t.Fatal("no structured content")
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return v
}

func wantContains(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("missing %q in:\n%s", sub, s)
		}
	}
}

func TestListTools(t *testing.T) {
	cs := connect(t, newFake("a"))
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	required := map[string][]string{
		ToolMemorySearch:      {"query"},
		ToolMemoryAddEvidence: {"content"},
		ToolMemoryCanon:       nil,
		ToolSkillRun:          {"skill"},
		ToolSkillList:         nil,
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if len(tool.Description) < 80 {
			t.Errorf("%s: description too short: %q", tool.Name, tool.Description)
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s: no output schema", tool.Name)
		}
		var schema struct {
			Type       string                                  `json:"type"`
			Required   []string                                `json:"required"`
			Properties map[string]struct{ Description string } `json:"properties"`
		}
		b, _ := json.Marshal(tool.InputSchema)
		if err := json.Unmarshal(b, &schema); err != nil {
			t.Fatal(err)
		}
		if schema.Type != "object" {
			t.Errorf("%s: input schema type %q", tool.Name, schema.Type)
		}
		if !slices.Equal(schema.Required, required[tool.Name]) {
			t.Errorf("%s: required %v, want %v", tool.Name, schema.Required, required[tool.Name])
		}
		for p, ps := range schema.Properties {
			if ps.Description == "" {
				t.Errorf("%s.%s: no description", tool.Name, p)
			}
		}
	}
	slices.Sort(names)
	want := []string{ToolMemoryAddEvidence, ToolMemoryCanon, ToolMemorySearch, ToolSkillList, ToolSkillRun}
	if !slices.Equal(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}
}

func TestMemorySearch(t *testing.T) {
	f := newFake("a")
	cs := connect(t, f)
	res := callTool(t, cs, ToolMemorySearch, map[string]any{
		"query": " dark mode ", "as_of": "2025-03-01", "valid_at": "2025-02-01T10:00:00+01:00", "limit": 5, "kind": "preference",
	})
	if res.IsError {
		t.Fatalf("error: %s", text(t, res))
	}
	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls %v", calls)
	}
	q := calls[0].Arg.(SearchQuery)
	wantAsOf := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	wantValid := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	if q.Query != "dark mode" || !q.AsOf.Equal(wantAsOf) || !q.ValidAt.Equal(wantValid) || q.Limit != 5 || q.Kind != "preference" {
		t.Errorf("query %+v", q)
	}
	out := structured[SearchResult](t, res)
	if len(out.Results) != 2 || out.Results[0].ID != "clm_1" || out.Results[0].Evidence[1] != "sha256:bbb" || out.Results[1].Type != HitEvidence {
		t.Errorf("structured %+v", out)
	}
	txt := text(t, res)
	wantContains(t, txt,
		`2 results for "dark mode":`,
		"1. claim clm_1 [canon, score 0.91, valid from 2025-01-01T00:00:00Z]",
		"   The user prefers dark mode (a).",
		"   evidence: sha256:aaa, sha256:bbb",
		"2. evidence sha256:ccc [score 0.4]",
		"   line one\n   line two",
	)
}

func TestMemorySearchEmptyAndBadInput(t *testing.T) {
	f := newFake("a")
	cs := connect(t, f)
	for _, args := range []map[string]any{
		{"query": "x", "as_of": "yesterday"},
		{"query": "x", "valid_at": "2025-13-01"},
		{"query": "   "},
		{"query": "x", "limit": 1000},
		{"query": "x", "surprise": true},
		{},
	} {
		res := callTool(t, cs, ToolMemorySearch, args)
		if !res.IsError {
			t.Errorf("%v: not an error: %s", args, text(t, res))
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("backend called %d times for bad input", n)
	}
	res := callTool(t, cs, ToolMemorySearch, map[string]any{"query": "x", "as_of": "2025-01-01T00:00:00"})
	if res.IsError {
		t.Fatal(text(t, res))
	}
}

func TestMemoryAddEvidence(t *testing.T) {
	f := newFake("a")
	cs := connect(t, f)
	res := callTool(t, cs, ToolMemoryAddEvidence, map[string]any{
		"content": "The user's cat is called Miso.", "source": "chat:42", "observed_at": "2025-04-05T06:07:08Z",
	})
	if res.IsError {
		t.Fatal(text(t, res))
	}
	e := f.Calls()[0].Arg.(EvidenceInput)
	want := EvidenceInput{Content: "The user's cat is called Miso.", Kind: EvidenceText, Source: "chat:42",
		ObservedAt: time.Date(2025, 4, 5, 6, 7, 8, 0, time.UTC)}
	if e != want {
		t.Errorf("evidence %+v, want %+v", e, want)
	}
	if out := structured[EvidenceResult](t, res); out != (EvidenceResult{ID: "sha256:ddd", Created: true}) {
		t.Errorf("structured %+v", out)
	}
	wantContains(t, text(t, res), "Stored evidence sha256:ddd.")

	res = callTool(t, cs, ToolMemoryAddEvidence, map[string]any{"content": "seen", "kind": EvidenceTurn, "media_type": "text/plain"})
	wantContains(t, text(t, res), "already stored")
	if e := f.Calls()[1].Arg.(EvidenceInput); e.Kind != EvidenceTurn || e.MediaType != "text/plain" {
		t.Errorf("evidence %+v", e)
	}

	res = callTool(t, cs, ToolMemoryAddEvidence, map[string]any{"content": "x", "kind": "rumour"})
	if !res.IsError {
		t.Error("bad kind accepted")
	}
}

func TestMemoryCanon(t *testing.T) {
	f := newFake("a")
	cs := connect(t, f)
	res := callTool(t, cs, ToolMemoryCanon, map[string]any{})
	if res.IsError {
		t.Fatal(text(t, res))
	}
	res = callTool(t, cs, ToolMemoryCanon, map[string]any{"version": 3})
	calls := f.Calls()
	if calls[0].Arg != 0 || calls[1].Arg != 3 {
		t.Errorf("calls %v", calls)
	}
	out := structured[CanonResult](t, res)
	if out.Version != 3 || out.Hash != "sha256:canon" || len(out.Claims) != 1 || out.Claims[0].Evidence[0] != "sha256:aaa" {
		t.Errorf("structured %+v", out)
	}
	wantContains(t, text(t, res),
		"Canon version 3 (sha256:canon), 1 claims, compiled 2025-02-01T00:00:00Z:",
		"1. [fact] The user lives in Lyon.",
		"   id clm_1, subject user, confidence 0.90, valid from 2024-06-01T00:00:00Z",
		"   evidence: sha256:aaa",
	)
	if res := callTool(t, cs, ToolMemoryCanon, map[string]any{"version": -1}); !res.IsError {
		t.Error("negative version accepted")
	}
}

func TestSkillRun(t *testing.T) {
	f := newFake("a")
	cs := connect(t, f)
	res := callTool(t, cs, ToolSkillRun, map[string]any{
		"skill": "summarize", "inputs": map[string]any{"text": "a b"}, "goal": "summarize the note",
	})
	if res.IsError {
		t.Fatal(text(t, res))
	}
	r := f.Calls()[0].Arg.(SkillRun)
	if r.Skill != "summarize" || r.Goal != "summarize the note" || r.Inputs["text"] != "a b" {
		t.Errorf("run %+v", r)
	}
	out := structured[SkillRunResult](t, res)
	if out.ID != "run_1" || out.State != RunSucceeded || string(out.Output) != `{"summary":"short","words":2}` {
		t.Errorf("structured %+v", out)
	}
	wantContains(t, text(t, res),
		"Run run_1 of summarize succeeded.",
		"Output:\n{\n  \"summary\": \"short\",\n  \"words\": 2\n}",
		"Provenance:\nmirror run run_1",
	)

	// A failed run is a tool error that still carries the run.
	f.mu.Lock()
	f.run = SkillRunResult{ID: "run_2", State: RunFailed, Error: "verification failed"}
	f.mu.Unlock()
	res = callTool(t, cs, ToolSkillRun, map[string]any{"skill": "summarize"})
	if !res.IsError {
		t.Error("failed run not an error")
	}
	wantContains(t, text(t, res), "Run run_2 of summarize failed: verification failed.")
	if out := structured[SkillRunResult](t, res); out.ID != "run_2" || out.Error != "verification failed" {
		t.Errorf("structured %+v", out)
	}

	// A run still waiting for approval is not an error.
	f.mu.Lock()
	f.run = SkillRunResult{ID: "run_3", State: RunWaiting}
	f.mu.Unlock()
	res = callTool(t, cs, ToolSkillRun, map[string]any{"skill": "summarize"})
	if res.IsError {
		t.Error("waiting run is an error")
	}
	wantContains(t, text(t, res), "waiting for the owner's approval")

	if res := callTool(t, cs, ToolSkillRun, map[string]any{"inputs": map[string]any{}}); !res.IsError {
		t.Error("run without skill accepted")
	}
}

func TestSkillList(t *testing.T) {
	f := newFake("a")
	cs := connect(t, f)
	res := callTool(t, cs, ToolSkillList, map[string]any{})
	if res.IsError {
		t.Fatal(text(t, res))
	}
	out := structured[SkillList](t, res)
	if len(out.Skills) != 2 || out.Skills[0].Name != "summarize" || out.Skills[1].Status != "canary" {
		t.Errorf("structured %+v", out)
	}
	wantContains(t, text(t, res), "2 skills:", "- summarize@1.2.0 (stable): Summarize a text.", "- triage@0.1.0 (canary): Sort an inbox.")
	// No arguments at all is fine too.
	if res := callTool(t, cs, ToolSkillList, nil); res.IsError {
		t.Error(text(t, res))
	}
}

func TestBackendErrorsAreToolErrors(t *testing.T) {
	f := newFake("a")
	f.err = &APIError{Status: 403, Code: "forbidden", Message: "policy denies this lease"}
	cs := connect(t, f)
	for name, args := range map[string]any{
		ToolMemorySearch:      map[string]any{"query": "x"},
		ToolMemoryAddEvidence: map[string]any{"content": "x"},
		ToolMemoryCanon:       map[string]any{},
		ToolSkillRun:          map[string]any{"skill": "x"},
		ToolSkillList:         map[string]any{},
	} {
		res := callTool(t, cs, name, args)
		if !res.IsError {
			t.Errorf("%s: not an error", name)
		}
		wantContains(t, text(t, res), "policy denies this lease")
	}
	if n := len(f.Calls()); n != 5 {
		t.Errorf("%d calls", n)
	}
}

func TestCancellationIsProtocolError(t *testing.T) {
	f := newFake("a")
	f.err = fmt.Errorf("kernel: %w", context.Canceled)
	cs := connect(t, f)
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: ToolMemorySearch, Arguments: map[string]any{"query": "x"}})
	if err == nil || !strings.Contains(err.Error(), "cancel") {
		t.Fatalf("err %v, want a protocol error", err)
	}
}

func TestClientCancellationReachesBackend(t *testing.T) {
	f := newFake("a")
	f.block = true
	cs := connect(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolSkillRun, Arguments: map[string]any{"skill": "slow"}})
		done <- err
	}()
	for len(f.Calls()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client err %v", err)
	}
	select {
	case err := <-f.cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("backend ctx err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's context was not cancelled")
	}
}

func TestRenderEmpty(t *testing.T) {
	if s := renderSearch("q", SearchResult{}); !strings.Contains(s, `Nothing in memory matches "q"`) {
		t.Error(s)
	}
	if s := renderCanon(CanonResult{Hash: "sha256:e3b0"}); !strings.Contains(s, "empty") {
		t.Error(s)
	}
	if s := renderSkills(nil); !strings.Contains(s, "no skills") {
		t.Error(s)
	}
	if s := renderRun("x", SkillRunResult{ID: "r", State: RunSucceeded, Output: json.RawMessage(`"plain words"`)}); !strings.Contains(s, "Output:\nplain words") {
		t.Error(s)
	}
}
