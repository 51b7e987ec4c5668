package anthropic

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
)

// FuzzParseMessages feeds arbitrary bodies to ParseMessages. It must never
// panic; a refusal must be a 4xx *door.Error; an accepted call must hold
// the invariants the kernel relies on, and its answer must be writable.
func FuzzParseMessages(f *testing.F) {
	f.Add([]byte(claudeCodeBody))
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseMessages(body)
		if err != nil {
			var de *door.Error
			if !errors.As(err, &de) || de.Status < 400 || de.Status > 499 || de.Message == "" {
				t.Fatalf("error %v is not a 4xx door.Error", err)
			}
			return
		}
		if c.Model == "" || c.Request.Model != "" || c.Request.MaxTokens < 1 {
			t.Fatalf("bad call: %+v", c)
		}
		for k, v := range c.Request.Extra {
			if !json.Valid(v) {
				t.Fatalf("Extra[%q] is not valid JSON", k)
			}
		}
		for _, m := range c.Request.Messages {
			switch m.Role {
			case bus.User, bus.Assistant:
			case bus.Tool:
				if m.ToolCallID == "" {
					t.Fatal("tool message without a call id")
				}
			default:
				t.Fatalf("role %q", m.Role)
			}
			for _, p := range m.Content {
				if p.Type == bus.VendorPart && (p.Vendor != bus.VendorAnthropic || !json.Valid(p.Raw) || p.Raw[0] != '{') {
					t.Fatalf("bad vendor part %+v", p)
				}
			}
			for _, tc := range m.ToolCalls {
				if tc.ID == "" || tc.Name == "" || !json.Valid(tc.Arguments) || tc.Arguments[0] != '{' {
					t.Fatalf("bad tool call %+v", tc)
				}
			}
		}
		for _, tl := range c.Request.Tools {
			if tl.Name == "" || !json.Valid(tl.Parameters) {
				t.Fatalf("bad tool %+v", tl)
			}
		}
		// Echo the conversation's last assistant turn back as an answer.
		var resp bus.Response
		for _, m := range c.Request.Messages {
			if m.Role == bus.Assistant {
				resp.Message = m
			}
		}
		rec := httptest.NewRecorder()
		WriteResponse(rec, c.Model, resp)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %s", rec.Body)
		}
	})
}
