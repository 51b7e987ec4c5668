package ollama

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/bus/bustest"
	busollama "github.com/mirroros/mirror/bus/ollama"
	"github.com/mirroros/mirror/door"
)

// doorFake is an Ollama "upstream" built from this door: it parses with
// ParseChat and answers with WriteResponse/WriteStream/WriteError. The
// bus's own Ollama adapter, an independent Ollama client, must pass its
// whole contract against it.
type doorFake struct {
	bustest.Recorder
	srv *httptest.Server
}

var _ bustest.Fake = (*doorFake)(nil)

func newDoorFake(t *testing.T) *doorFake {
	f := &doorFake{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat", f.chat)
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, r *http.Request) {
		WriteTags(w, []TagModel{{Name: "llama3.2:latest", ModifiedAt: time.Now(), Size: 1, Family: "llama"}})
	})
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) { WriteVersion(w) })
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *doorFake) URL() string { return f.srv.URL }

func (f *doorFake) chat(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, door.MaxBody+1))
	call, err := ParseChat(body)
	req := call.Request
	req.Model = call.Model
	s := f.Take(r.Header, body, req)
	var de *door.Error
	if errors.As(err, &de) {
		WriteError(w, de.Status, de.Message)
		return
	}
	if s.Status != 0 {
		if s.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.RetryAfter/time.Second)))
		}
		WriteError(w, s.Status, s.Message)
		return
	}
	if s.Malformed {
		fmt.Fprint(w, `{"model":"x","message":{"role":"assistant","content":`)
		return
	}
	model := call.Model
	if s.Model != "" {
		model = s.Model
	}
	stop := bus.StopEnd
	if len(s.ToolCalls) > 0 {
		stop = bus.StopToolUse
	}
	if !call.Stream {
		msg := bus.Message{Role: bus.Assistant, ToolCalls: s.ToolCalls}
		if s.Text != "" {
			msg.Content = []bus.Part{{Type: bus.TextPart, Text: s.Text}}
		}
		WriteResponse(w, model, bus.Response{Model: model, Message: msg, Stop: stop, Usage: s.Usage})
		return
	}
	// Text in word pieces; tool call arguments in two fragments.
	var evs []bus.Event
	for _, p := range strings.SplitAfter(s.Text, " ") {
		if p != "" {
			evs = append(evs, bus.Event{Type: bus.TextDelta, Text: p})
		}
	}
	st := &script{}
	if s.CutStream {
		st.events, st.err = evs[:1], &bus.Error{Provider: "test", Kind: bus.Unavailable, Message: "connection reset"}
	} else {
		for i, tc := range s.ToolCalls {
			a := string(tc.Arguments)
			evs = append(evs,
				bus.Event{Type: bus.ToolCallDelta, Index: i, ID: tc.ID, Name: tc.Name, ArgumentsDelta: a[:len(a)/2]},
				bus.Event{Type: bus.ToolCallDelta, Index: i, ArgumentsDelta: a[len(a)/2:]})
		}
		st.events = append(evs, bus.Event{Type: bus.Done, Stop: stop, Usage: s.Usage, Model: model})
	}
	_ = WriteStream(w, model, st)
}

// The bus's Ollama adapter passes its provider contract against this door.
func TestBusOllamaAdapterAgainstDoor(t *testing.T) {
	f := newDoorFake(t)
	bustest.Run(t, func(base string) bus.Provider {
		return busollama.New(busollama.Config{BaseURL: base})
	}, f, bustest.Capabilities{})
}

// A whole turn-around: the door answers with tool calls, the client sends
// them back with results by tool_name, and ParseChat pairs them.
func TestToolRoundTrip(t *testing.T) {
	f := newDoorFake(t)
	p := busollama.New(busollama.Config{BaseURL: f.URL()})
	calls := []bus.ToolCall{
		{ID: "x1", Name: "get_weather", Arguments: []byte(`{"city":"Pune"}`)},
		{ID: "x2", Name: "get_weather", Arguments: []byte(`{"city":"Paris"}`)},
	}
	user := bus.Message{Role: bus.User, Content: []bus.Part{{Type: bus.TextPart, Text: "Pune and Paris?"}}}
	f.Next(bustest.Script{ToolCalls: calls})
	s, err := p.ChatStream(t.Context(), bus.Request{Model: "llama3.1", Messages: []bus.Message{user}})
	if err != nil {
		t.Fatal(err)
	}
	var got []bus.ToolCall
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == bus.ToolCallDelta {
			got = append(got, bus.ToolCall{ID: ev.ID, Name: ev.Name, Arguments: []byte(ev.ArgumentsDelta)})
		}
	}
	s.Close()
	if len(got) != 2 || !sameJSON(got[1].Arguments, calls[1].Arguments) {
		t.Fatalf("client saw calls %+v", got)
	}
	// The client answers both (results sent by tool_name, Ollama-style).
	turn := bus.Request{Model: "llama3.1", Messages: []bus.Message{user,
		{Role: bus.Assistant, ToolCalls: got},
		{Role: bus.Tool, ToolCallID: got[0].ID, Content: []bus.Part{{Type: bus.TextPart, Text: "31C"}}},
		{Role: bus.Tool, ToolCallID: got[1].ID, Content: []bus.Part{{Type: bus.TextPart, Text: "18C"}}},
	}}
	f.Next(bustest.Script{Text: "Warm and mild."})
	if _, err := p.Chat(t.Context(), turn); err != nil {
		t.Fatal(err)
	}
	last := f.Last()
	if len(last.Messages) != 4 {
		t.Fatalf("door parsed %+v", last.Messages)
	}
	a := last.Messages[1]
	for i, m := range last.Messages[2:] {
		if m.ToolCallID != a.ToolCalls[i].ID || m.Name != "get_weather" {
			t.Fatalf("result %d = %+v, calls %+v", i, m, a.ToolCalls)
		}
	}
	if last.Messages[2].Text() != "31C" || !sameJSON(a.ToolCalls[0].Arguments, calls[0].Arguments) {
		t.Fatalf("door parsed %+v", last.Messages)
	}
}
