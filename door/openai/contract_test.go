package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
	busopenai "github.com/mirroros/mirror/bus/openai"
	"github.com/mirroros/mirror/door"
)

// doorUpstream is an OpenAI-compatible server built from this door: it
// parses with ParseChat and answers with WriteResponse, WriteStream and
// WriteError. The module's own OpenAI provider adapter is the client, so
// the bus contract suite checks the door against an independent
// implementation of the same protocol.
type doorUpstream struct {
	bustest.Recorder
	t   testing.TB
	srv *httptest.Server
}

func newDoorUpstream(t testing.TB) *doorUpstream {
	u := &doorUpstream{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", u.chat)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"object":"list","data":[{"id":"test-model","object":"model","created":0,"owned_by":"mirror"}]}`)
	})
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	return u
}

func (u *doorUpstream) URL() string { return u.srv.URL + "/v1" }

func (u *doorUpstream) chat(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, door.MaxBody))
	call, err := ParseChat(body)
	var de *door.Error
	if errors.As(err, &de) {
		WriteError(w, de.Status, de.Code, de.Message)
		return
	}
	req := call.Request
	req.Model = call.Model
	s := u.Take(r.Header, body, req)

	switch {
	case s.Status != 0:
		if s.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.RetryAfter.Seconds())))
		}
		WriteError(w, s.Status, "scripted", s.Message)
		return
	case s.Malformed:
		io.WriteString(w, `{"choices":[`)
		return
	}
	stop := bus.StopEnd
	if len(s.ToolCalls) > 0 {
		stop = bus.StopToolUse
	}
	if !call.Stream {
		msg := bus.Message{Role: bus.Assistant, ToolCalls: s.ToolCalls}
		if s.Text != "" {
			msg.Content = text(s.Text)
		}
		WriteResponse(w, call.Model, bus.Response{Message: msg, Stop: stop, Usage: s.Usage})
		return
	}
	var events []bus.Event
	for _, word := range strings.SplitAfter(s.Text, " ") {
		if word != "" {
			events = append(events, bus.Event{Type: bus.TextDelta, Text: word})
		}
	}
	for i, tc := range s.ToolCalls {
		args := string(tc.Arguments)
		half := len(args) / 2
		events = append(events,
			bus.Event{Type: bus.ToolCallDelta, Index: i, ID: tc.ID, Name: tc.Name, ArgumentsDelta: args[:half]},
			bus.Event{Type: bus.ToolCallDelta, Index: i, ArgumentsDelta: args[half:]})
	}
	fs := &fakeStream{events: append(events, bus.Event{Type: bus.Done, Stop: stop, Usage: s.Usage})}
	if s.CutStream {
		fs.events = events[:1]
		fs.err = &bus.Error{Provider: "inner", Kind: bus.Unavailable, Message: "connection reset"}
	}
	_ = WriteStream(w, call.Model, fs, IncludeUsage(call))
}

func TestContractWithOpenAIAdapter(t *testing.T) {
	u := newDoorUpstream(t)
	bustest.Run(t, func(base string) bus.Provider {
		return busopenai.New(busopenai.Config{BaseURL: base, APIKey: "sk-test"})
	}, u, bustest.Capabilities{})
}

// A request that goes through the provider adapter's encoder and back
// through ParseChat arrives unchanged, images and tools included; the
// answers come back as the adapter decodes them.
func TestRoundTripThroughAdapter(t *testing.T) {
	u := newDoorUpstream(t)
	p := busopenai.New(busopenai.Config{BaseURL: u.URL()})
	req := bus.Request{
		Model:  "gpt-4o-mini",
		System: "You are a weather bot.",
		Messages: []bus.Message{
			{Role: bus.User, Content: []bus.Part{
				{Type: bus.TextPart, Text: "Where is this?"},
				{Type: bus.ImagePart, MediaType: "image/png", Data: []byte("\x89PNG\r\n\x1a\nfake")},
				{Type: bus.ImagePart, URL: "https://example.com/a.jpg"},
			}},
			{Role: bus.Assistant, Content: text("Checking."), ToolCalls: []bus.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Pune"}`)}}},
			{Role: bus.Tool, ToolCallID: "call_1", Name: "get_weather", Content: text(`{"temp_c":31}`)},
		},
		Tools:       []bus.ToolSpec{{Name: "get_weather", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice:  "get_weather",
		MaxTokens:   64,
		Temperature: f64(0.3),
		TopP:        f64(0.5),
		Stop:        []string{"END"},
		Extra:       map[string]json.RawMessage{"seed": json.RawMessage(`7`)},
	}
	u.Next(bustest.Script{Text: "Pune, 31°C & sunny <3", Usage: bus.Usage{PromptTokens: 40, CompletionTokens: 7, CachedTokens: 32}})
	resp, err := p.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := u.Last()
	if !reflect.DeepEqual(got, req) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(req, "", " ")
		t.Fatalf("door received\n%s\nwant\n%s", g, w)
	}
	if resp.Message.Text() != "Pune, 31°C & sunny <3" || resp.Stop != bus.StopEnd || resp.Model != "gpt-4o-mini" ||
		resp.Usage != (bus.Usage{PromptTokens: 40, CompletionTokens: 7, CachedTokens: 32}) {
		t.Fatalf("response %+v", resp)
	}

	// Streamed, the adapter asks for usage and gets it.
	u.Next(bustest.Script{Text: "a b c", Usage: bus.Usage{PromptTokens: 3, CompletionTokens: 3, CachedTokens: 1}})
	s, err := p.ChatStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var txt string
	var done bus.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		txt += ev.Text
		if ev.Type == bus.Done {
			done = ev
		}
	}
	if txt != "a b c" || done.Usage != (bus.Usage{PromptTokens: 3, CompletionTokens: 3, CachedTokens: 1}) || done.Stop != bus.StopEnd {
		t.Fatalf("stream %q done %+v", txt, done)
	}

	// A refused request reaches the adapter as a classified 400.
	bad := req
	bad.ToolChoice = "not_a_tool"
	_, err = p.Chat(context.Background(), bad)
	if e, ok := bus.AsError(err); !ok || e.Kind != bus.BadRequest || !strings.Contains(e.Message, "not among tools") {
		t.Fatalf("err = %v", err)
	}
}
