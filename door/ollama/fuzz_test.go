package ollama

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// FuzzParseChat: ParseChat never panics; it either refuses with a
// *door.Error or returns a Call whose invariants hold, and whatever it
// accepts can be answered without producing invalid JSON. Seeds live in
// testdata/fuzz/FuzzParseChat.
func FuzzParseChat(f *testing.F) {
	f.Add([]byte(`{"model":"llama3.2","messages":[{"role":"user","content":"why is the sky blue?"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		call, err := ParseChat(body)
		if err != nil {
			var de *door.Error
			if !errors.As(err, &de) || (de.Status != 400 && de.Status != 413) || de.Message == "" {
				t.Fatalf("error %v (%T) is not a 400/413 *door.Error", err, err)
			}
			return
		}
		if call.Model == "" || call.Request.Model != "" || !bytes.Equal(call.Raw, body) {
			t.Fatalf("call = %+v", call)
		}
		ids := map[string]bool{}
		for _, m := range call.Request.Messages {
			switch m.Role {
			case bus.User, bus.Assistant, bus.Tool:
			default:
				t.Fatalf("message role %q", m.Role)
			}
			for _, p := range m.Content {
				if p.Type == bus.ImagePart && len(p.Data) == 0 {
					t.Fatal("empty image part")
				}
			}
			for _, tc := range m.ToolCalls {
				// A duplicate id must be the client's own, never a synthesised one.
				if tc.ID == "" || tc.Name == "" || ids[tc.ID] && !bytes.Contains(body, []byte(strconv.Quote(tc.ID))) {
					t.Fatalf("tool call %+v (ids so far %v)", tc, ids)
				}
				ids[tc.ID] = true
				var obj map[string]any
				if err := json.Unmarshal(tc.Arguments, &obj); err != nil || obj == nil {
					t.Fatalf("arguments %q are not an object", tc.Arguments)
				}
			}
		}
		for _, ts := range call.Request.Tools {
			if ts.Name == "" || (ts.Parameters != nil && !json.Valid(ts.Parameters)) {
				t.Fatalf("tool %+v", ts)
			}
		}
		for k, v := range call.Request.Extra {
			if !json.Valid(v) {
				t.Fatalf("Extra[%s] = %q is not valid JSON", k, v)
			}
		}
		if call.Request.MaxTokens < 0 {
			t.Fatalf("MaxTokens %d", call.Request.MaxTokens)
		}
		// Echo the parsed conversation back as an answer: it must encode.
		var last bus.Message
		if n := len(call.Request.Messages); n > 0 {
			last = call.Request.Messages[n-1]
		}
		rec := httptest.NewRecorder()
		WriteResponse(rec, call.Model, bus.Response{Message: bus.Message{Role: bus.Assistant, Content: last.Content, ToolCalls: last.ToolCalls}})
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("WriteResponse wrote %q", rec.Body)
		}
	})
}
