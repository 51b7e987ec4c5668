// Package bustest is the contract every bus.Provider adapter passes against
// a fake upstream that speaks the adapter's vendor wire protocol.
package bustest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
)

// Script is what the fake upstream answers to the next call.
type Script struct {
	Text      string         // answer text (may be empty when ToolCalls is set)
	ToolCalls []bus.ToolCall // tool calls to answer with
	Usage     bus.Usage      // usage to report; CachedTokens included in PromptTokens
	Model     string         // model name to report (default: the requested one)

	// Failure injection.
	Status     int           // non-zero: answer with this HTTP status and the vendor's error body
	RetryAfter time.Duration // with Status 429: the Retry-After header
	Message    string        // the error message in the vendor's error body
	Malformed  bool          // answer 200 with a body that is not valid JSON for the protocol
	CutStream  bool          // streaming: send the first text delta, then drop the connection
}

// Fake is a fake upstream for one protocol, driven by the suite.
type Fake interface {
	// URL is the base URL an adapter is configured with.
	URL() string
	// Next sets what the next call answers.
	Next(s Script)
	// Last is the last request the fake received, decoded from the wire
	// back into normalised form (Model, System, Messages, Tools, MaxTokens).
	Last() bus.Request
	// LastHeader returns a header of the last request (e.g. for the API key).
	LastHeader(name string) string
}

// Capabilities a protocol may lack; the suite skips what does not apply.
type Capabilities struct {
	NoToolCalls bool
	NoUsage     bool // the protocol does not report usage
}

// Run runs the contract. newProvider returns an adapter pointed at baseURL.
func Run(t *testing.T, newProvider func(baseURL string) bus.Provider, fake Fake, caps Capabilities) {
	p := newProvider(fake.URL())
	ctx := context.Background()
	weather := bus.ToolSpec{Name: "get_weather", Description: "Current weather for a city",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}
	basic := bus.Request{Model: "test-model", System: "You are terse.", MaxTokens: 64,
		Messages: []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Say hello."}}}}}

	t.Run("a whole text answer comes back with its usage", func(t *testing.T) {
		fake.Next(Script{Text: "Hello there.", Usage: bus.Usage{PromptTokens: 12, CompletionTokens: 3}})
		resp, err := p.Chat(ctx, basic)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Message.Text() != "Hello there." || resp.Message.Role != bus.Assistant || resp.Stop != bus.StopEnd {
			t.Fatalf("response = %+v", resp)
		}
		if !caps.NoUsage && (resp.Usage.PromptTokens != 12 || resp.Usage.CompletionTokens != 3) {
			t.Fatalf("usage = %+v", resp.Usage)
		}
		last := fake.Last()
		if last.Model != "test-model" || last.System != "You are terse." || len(last.Messages) != 1 || last.Messages[0].Text() != "Say hello." {
			t.Fatalf("upstream received %+v", last)
		}
	})

	t.Run("a streamed text answer arrives in deltas and ends with done", func(t *testing.T) {
		fake.Next(Script{Text: "One, two, three, four.", Usage: bus.Usage{PromptTokens: 5, CompletionTokens: 6}})
		s, err := p.ChatStream(ctx, basic)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		text, deltas, done := "", 0, bus.Event{}
		for {
			ev, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch ev.Type {
			case bus.TextDelta:
				text += ev.Text
				deltas++
			case bus.Done:
				done = ev
			}
		}
		if text != "One, two, three, four." || deltas < 2 || done.Type != bus.Done || done.Stop != bus.StopEnd {
			t.Fatalf("text %q in %d deltas, done %+v", text, deltas, done)
		}
		if !caps.NoUsage && done.Usage.CompletionTokens != 6 {
			t.Fatalf("stream usage %+v", done.Usage)
		}
	})

	if !caps.NoToolCalls {
		call := bus.ToolCall{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Pune"}`)}
		withTools := basic
		withTools.Tools = []bus.ToolSpec{weather}
		withTools.Messages = []bus.Message{{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Weather in Pune?"}}}}

		t.Run("a tool call comes back whole", func(t *testing.T) {
			fake.Next(Script{ToolCalls: []bus.ToolCall{call}, Usage: bus.Usage{PromptTokens: 20, CompletionTokens: 8}})
			resp, err := p.Chat(ctx, withTools)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Stop != bus.StopToolUse || len(resp.Message.ToolCalls) != 1 {
				t.Fatalf("response = %+v", resp)
			}
			got := resp.Message.ToolCalls[0]
			if got.Name != "get_weather" || !sameJSON(got.Arguments, call.Arguments) || got.ID == "" {
				t.Fatalf("tool call = %+v", got)
			}
			if last := fake.Last(); len(last.Tools) != 1 || last.Tools[0].Name != "get_weather" || !sameJSON(last.Tools[0].Parameters, weather.Parameters) {
				t.Fatalf("upstream received tools %+v", last.Tools)
			}
		})

		t.Run("a streamed tool call arrives as deltas that join into valid arguments", func(t *testing.T) {
			fake.Next(Script{ToolCalls: []bus.ToolCall{call}})
			s, err := p.ChatStream(ctx, withTools)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var name, id, args string
			var stop bus.StopReason
			for {
				ev, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				switch ev.Type {
				case bus.ToolCallDelta:
					if ev.Name != "" {
						name = ev.Name
					}
					if ev.ID != "" {
						id = ev.ID
					}
					args += ev.ArgumentsDelta
				case bus.Done:
					stop = ev.Stop
				}
			}
			if name != "get_weather" || id == "" || !sameJSON(json.RawMessage(args), call.Arguments) || stop != bus.StopToolUse {
				t.Fatalf("streamed call %q %q %q, stop %s", id, name, args, stop)
			}
		})

		t.Run("a tool result goes back to the model in a second turn", func(t *testing.T) {
			fake.Next(Script{Text: "It is 31°C in Pune."})
			turn := withTools
			turn.Messages = append(append([]bus.Message{}, withTools.Messages...),
				bus.Message{Role: bus.Assistant, ToolCalls: []bus.ToolCall{call}},
				bus.Message{Role: bus.Tool, ToolCallID: "call_1", Name: "get_weather", Content: []bus.Part{{Type: bus.TextPart, Text: `{"temp_c":31}`}}})
			resp, err := p.Chat(ctx, turn)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Message.Text() != "It is 31°C in Pune." {
				t.Fatalf("response = %+v", resp)
			}
			last := fake.Last()
			var sawCall, sawResult bool
			for _, m := range last.Messages {
				for _, c := range m.ToolCalls {
					if c.Name == "get_weather" && sameJSON(c.Arguments, call.Arguments) {
						sawCall = true
					}
				}
				if m.Role == bus.Tool && strings.Contains(m.Text(), "31") {
					sawResult = true
				}
			}
			if !sawCall || !sawResult {
				t.Fatalf("upstream did not receive the call and its result: %+v", last.Messages)
			}
		})
	}

	t.Run("another vendor's block in the history is left out", func(t *testing.T) {
		// A conversation that went through another vendor carries its
		// blocks (e.g. Anthropic thinking); they must not reach this one,
		// nor make the call fail.
		fake.Next(Script{Text: "Hello again."})
		turn := basic
		turn.Messages = []bus.Message{
			{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Say hello."}}},
			{Role: bus.Assistant, Content: []bus.Part{
				{Type: bus.VendorPart, Vendor: "elsewhere", Raw: json.RawMessage(`{"type":"private_reasoning","signature":"abc"}`)},
				{Type: bus.TextPart, Text: "Hello."}}},
			{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Again."}}},
		}
		resp, err := p.Chat(ctx, turn)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Message.Text() != "Hello again." {
			t.Fatalf("response = %+v", resp)
		}
		last := fake.Last()
		if len(last.Messages) != 3 || last.Messages[1].Text() != "Hello." {
			t.Fatalf("upstream received %+v", last.Messages)
		}
		for _, m := range last.Messages {
			for _, part := range m.Content {
				if part.Type != bus.TextPart {
					t.Fatalf("upstream received a %s part: %+v", part.Type, last.Messages)
				}
			}
		}
	})

	t.Run("errors are classified for routing", func(t *testing.T) {
		cases := []struct {
			name   string
			script Script
			kind   bus.ErrorKind
		}{
			{"a rate limit with Retry-After", Script{Status: 429, RetryAfter: 7 * time.Second, Message: "slow down"}, bus.RateLimited},
			{"a server error", Script{Status: 500, Message: "boom"}, bus.Unavailable},
			{"an overloaded server", Script{Status: 503, Message: "overloaded"}, bus.Unavailable},
			{"a bad request", Script{Status: 400, Message: "bad field"}, bus.BadRequest},
			{"a bad key", Script{Status: 401, Message: "invalid key"}, bus.AuthFailed},
			{"a malformed body", Script{Malformed: true}, bus.Malformed},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				fake.Next(c.script)
				_, err := p.Chat(ctx, basic)
				e, ok := bus.AsError(err)
				if !ok || e.Kind != c.kind {
					t.Fatalf("err = %v, want kind %s", err, c.kind)
				}
				if c.script.RetryAfter > 0 && e.RetryAfter != c.script.RetryAfter {
					t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, c.script.RetryAfter)
				}
				if c.script.Message != "" && !strings.Contains(e.Message, c.script.Message) {
					t.Fatalf("message %q lacks the provider's %q", e.Message, c.script.Message)
				}
			})
		}
	})

	t.Run("a stream cut after the first byte is an error, never a silent end", func(t *testing.T) {
		fake.Next(Script{Text: "This will be cut off mid-way.", CutStream: true})
		s, err := p.ChatStream(ctx, basic)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for {
			ev, err := s.Next()
			if errors.Is(err, io.EOF) {
				t.Fatal("a cut stream ended with io.EOF as if complete")
			}
			if err != nil {
				return
			}
			if ev.Type == bus.Done {
				t.Fatal("a cut stream produced a done event")
			}
		}
	})

	t.Run("a cancelled context stops the call", func(t *testing.T) {
		fake.Next(Script{Text: "late"})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := p.Chat(cctx, basic); err == nil {
			t.Fatal("a call with a cancelled context succeeded")
		}
	})

	t.Run("models are listed", func(t *testing.T) {
		ms, err := p.Models(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 || ms[0].ID == "" {
			t.Fatalf("models = %+v", ms)
		}
	})
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// Recorder is the state every fake keeps: the script for the next call and
// what the last call carried. Embed it in a fake to get Next, Last and
// LastHeader; the fake's handler calls Take for each request it receives.
type Recorder struct {
	mu     sync.Mutex
	next   Script
	last   bus.Request
	body   []byte
	header http.Header
}

// Next sets what the next call answers.
func (r *Recorder) Next(s Script) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = s
}

// Last is the last request, decoded.
func (r *Recorder) Last() bus.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// LastHeader is a header of the last request.
func (r *Recorder) LastHeader(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.header.Get(name)
}

// LastBody is the last request's body as received.
func (r *Recorder) LastBody() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body
}

// Take records a request and returns the script to answer it with; the
// script is used once.
func (r *Recorder) Take(h http.Header, body []byte, req bus.Request) Script {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.next
	r.next = Script{}
	r.last, r.body, r.header = req, body, h.Clone()
	return s
}

// Saw records the headers of a request that uses no script (a model list).
func (r *Recorder) Saw(h http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.header = h.Clone()
}
