package bus

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// fakeProvider is a Provider made of function fields.
type fakeProvider struct {
	name       string
	ChatFunc   func(ctx context.Context, req Request) (Response, error)
	StreamFunc func(ctx context.Context, req Request) (Stream, error)
	calls      int
}

func (f *fakeProvider) Name() string { return f.name }
func (f *fakeProvider) Chat(ctx context.Context, req Request) (Response, error) {
	f.calls++
	return f.ChatFunc(ctx, req)
}
func (f *fakeProvider) ChatStream(ctx context.Context, req Request) (Stream, error) {
	f.calls++
	return f.StreamFunc(ctx, req)
}
func (f *fakeProvider) Models(context.Context) ([]Model, error) { return []Model{{ID: "m"}}, nil }

func answering(name, text string) *fakeProvider {
	return &fakeProvider{name: name, ChatFunc: func(_ context.Context, req Request) (Response, error) {
		return Response{Model: req.Model, Message: Message{Role: Assistant, Content: []Part{{Type: TextPart, Text: text}}}, Stop: StopEnd}, nil
	}}
}

func failing(name string, e *Error) *fakeProvider {
	return &fakeProvider{name: name, ChatFunc: func(context.Context, Request) (Response, error) { return Response{}, e }}
}

type sliceStream struct {
	events []Event
	err    error // after the events
}

func (s *sliceStream) Next() (Event, error) {
	if len(s.events) == 0 {
		if s.err != nil {
			return Event{}, s.err
		}
		return Event{}, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}
func (s *sliceStream) Close() error { return nil }

func newTestRouter(t *testing.T, c *testClock, ps map[string]bool, ordered ...Provider) *Router {
	r := NewRouter(BreakerConfig{ConsecutiveFailures: 2, Cooldown: time.Minute}, c.now)
	for i, p := range ordered {
		r.AddProvider(p, ps[p.Name()], i+1)
	}
	return r
}

func TestResolveKeepsSecretsOnLocalModels(t *testing.T) {
	c := newClock()
	r := newTestRouter(t, c, map[string]bool{"ollama": true}, answering("ollama", "l"), answering("openai", "c"))
	if err := r.SetAlias("smart", []string{"openai/gpt", "ollama/llama"}); err != nil {
		t.Fatal(err)
	}
	ts, err := r.Resolve("smart", false)
	if err != nil || len(ts) != 2 || ts[0].Provider != "ollama" {
		t.Fatalf("tiers must put local first: %+v %v", ts, err)
	}
	ts, err = r.Resolve("smart", true)
	if err != nil || len(ts) != 1 || !ts[0].Local {
		t.Fatalf("local only: %+v %v", ts, err)
	}
	if _, err := r.Resolve("openai/gpt", true); !errors.Is(err, ErrNoLocal) {
		t.Fatalf("a cloud model for a local-only request: %v", err)
	}
	if _, err := r.Resolve("nope/x", false); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("unknown provider: %v", err)
	}
	if err := r.SetAlias("bad", []string{"nope/x"}); err == nil {
		t.Fatal("an alias to an unknown provider was accepted")
	}
}

func TestChatFallsBackOnlyOnTheProvidersFailures(t *testing.T) {
	c := newClock()
	limited := failing("a", &Error{Provider: "a", Status: 429, Kind: RateLimited, RetryAfter: 30 * time.Second})
	good := answering("b", "from b")
	r := newTestRouter(t, c, nil, limited, good)
	r.SetAlias("x", []string{"a/m", "b/m"})
	ts, _ := r.Resolve("x", false)
	resp, used, attempts, err := r.Chat(context.Background(), ts, Request{})
	if err != nil || used.Provider != "b" || resp.Message.Text() != "from b" || len(attempts) != 2 || attempts[0].Status != 429 {
		t.Fatalf("resp %+v used %+v attempts %+v err %v", resp, used, attempts, err)
	}
	// Retry-After is honoured: "a" is skipped, not called, for 30 seconds.
	_, _, attempts, _ = r.Chat(context.Background(), ts, Request{})
	if limited.calls != 1 || attempts[0].Skipped == "" {
		t.Fatalf("a rate-limited provider was called again: calls %d attempts %+v", limited.calls, attempts)
	}
	c.advance(31 * time.Second)
	r.Chat(context.Background(), ts, Request{})
	if limited.calls != 2 {
		t.Fatalf("not retried after Retry-After: %d calls", limited.calls)
	}

	bad := failing("c", &Error{Provider: "c", Status: 400, Kind: BadRequest, Message: "bad field"})
	r2 := newTestRouter(t, c, nil, bad, answering("d", "d"))
	r2.SetAlias("y", []string{"c/m", "d/m"})
	ts2, _ := r2.Resolve("y", false)
	if _, _, _, err := r2.Chat(context.Background(), ts2, Request{}); err == nil {
		t.Fatal("a bad request fell back to another provider")
	}
}

func TestABrokenProviderIsSkippedWithItsReason(t *testing.T) {
	c := newClock()
	down := failing("a", &Error{Provider: "a", Status: 503, Kind: Unavailable, Message: "overloaded"})
	r := newTestRouter(t, c, nil, down, answering("b", "b"))
	r.SetAlias("x", []string{"a/m", "b/m"})
	ts, _ := r.Resolve("x", false)
	for i := 0; i < 2; i++ {
		r.Chat(context.Background(), ts, Request{})
	}
	_, _, attempts, err := r.Chat(context.Background(), ts, Request{})
	if err != nil || down.calls != 2 || attempts[0].Skipped == "" {
		t.Fatalf("calls %d attempts %+v err %v", down.calls, attempts, err)
	}
	var found bool
	for _, h := range r.Health() {
		if h.Provider == "a" && h.Breaker.State == Open && h.Breaker.Reason != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("health does not show the open breaker: %+v", r.Health())
	}
	// When everything fails, the error says so.
	r2 := newTestRouter(t, c, nil, down)
	ts2, _ := r2.Resolve("a/m", false)
	if _, _, _, err := r2.Chat(context.Background(), ts2, Request{}); !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err %v", err)
	}
}

func TestStreamsFallBackBeforeTheFirstEventAndNeverTruncateSilently(t *testing.T) {
	c := newClock()
	cut := errors.New("connection reset")
	early := &fakeProvider{name: "a", StreamFunc: func(context.Context, Request) (Stream, error) {
		return &sliceStream{err: &Error{Provider: "a", Kind: Unavailable, Message: "reset before the first byte"}}, nil
	}}
	late := &fakeProvider{name: "b", StreamFunc: func(context.Context, Request) (Stream, error) {
		return &sliceStream{events: []Event{{Type: TextDelta, Text: "Hel"}}, err: cut}, nil
	}}
	r := newTestRouter(t, c, nil, early, late)
	r.SetAlias("x", []string{"a/m", "b/m"})
	ts, _ := r.Resolve("x", false)
	s, used, attempts, err := r.ChatStream(context.Background(), ts, Request{})
	if err != nil || used.Provider != "b" || len(attempts) != 2 {
		t.Fatalf("used %+v attempts %+v err %v", used, attempts, err)
	}
	ev, err := s.Next()
	if err != nil || ev.Text != "Hel" {
		t.Fatalf("first event %+v %v", ev, err)
	}
	if _, err := s.Next(); !errors.Is(err, cut) {
		t.Fatalf("a cut after the first byte must surface: %v", err)
	}
}

func TestReliabilityReordersCandidatesWithinATier(t *testing.T) {
	c := newClock()
	r := NewRouter(BreakerConfig{ConsecutiveFailures: 1000}, c.now)
	flaky := &fakeProvider{name: "a"}
	n := 0
	flaky.ChatFunc = func(context.Context, Request) (Response, error) {
		n++
		if n%2 == 0 {
			return Response{}, &Error{Provider: "a", Kind: Unavailable}
		}
		return Response{}, nil
	}
	steady := answering("b", "ok")
	r.AddProvider(flaky, false, 1)
	r.AddProvider(steady, false, 1)
	for i := 0; i < 200; i++ {
		r.Chat(context.Background(), []Target{{Provider: "a", Model: "m", Tier: 1}}, Request{})
		r.Chat(context.Background(), []Target{{Provider: "b", Model: "m", Tier: 1}}, Request{})
	}
	r.SetAlias("x", []string{"a/m", "b/m"})
	ts, _ := r.Resolve("x", false)
	if ts[0].Provider != "b" {
		t.Fatalf("the steadier model should come first within its tier: %+v", ts)
	}
}

func TestAProviderAtItsRateLimitIsSkippedForTheNextCandidate(t *testing.T) {
	c := newClock()
	a, b := answering("a", "from a"), answering("b", "from b")
	r := newTestRouter(t, c, nil, a, b)
	r.SetLimits("a", 60, 0) // one a second, burst 6
	r.SetAlias("x", []string{"a/m", "b/m"})
	ts, _ := r.Resolve("x", false)
	for i := 0; i < 10; i++ {
		r.Chat(context.Background(), ts, Request{})
	}
	if a.calls != 6 || b.calls != 4 {
		t.Fatalf("a %d calls, b %d: the limited provider should take its burst of 6, then fall through", a.calls, b.calls)
	}
	c.advance(2 * time.Second)
	r.Chat(context.Background(), ts, Request{})
	if a.calls != 7 {
		t.Fatalf("the limit did not refill: a %d calls", a.calls)
	}
}
