package hook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mirroros/mirror/trust/hook"
)

// FuzzParse: Parse never panics; it returns either an error wrapping one of
// its sentinels and a zero Request, or a Request that keeps its invariants
// and renders into valid JSON for every decision.
func FuzzParse(f *testing.F) {
	for _, fx := range fixtures(f) {
		f.Add(string(fx.agent), fx.payload)
	}
	f.Fuzz(func(t *testing.T, agent string, payload []byte) {
		req, err := hook.Parse(hook.Agent(agent), payload)
		if err != nil {
			if !errors.Is(err, hook.ErrInvalidPayload) && !errors.Is(err, hook.ErrTooLarge) && !errors.Is(err, hook.ErrUnknownAgent) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if req.Agent != "" || req.Raw != nil || req.Input != nil {
				t.Fatalf("failed Parse returned %+v", req)
			}
			return
		}
		if string(req.Agent) != agent {
			t.Fatalf("Agent = %q, want %q", req.Agent, agent)
		}
		if req.Phase != hook.Pre && req.Phase != hook.Post {
			t.Fatalf("Phase = %q", req.Phase)
		}
		if req.Event == "" || req.Tool == "" || req.Input == nil {
			t.Fatalf("incomplete request %+v", req)
		}
		if !bytes.Equal(req.Raw, payload) {
			t.Fatal("Raw differs from the payload")
		}
		if req.Phase == hook.Pre && req.Result != nil {
			t.Fatal("a Pre request carries a Result")
		}
		if req.Result != nil && !json.Valid(req.Result) {
			t.Fatalf("Result is not JSON: %q", req.Result)
		}
		if _, err := json.Marshal(req.Input); err != nil {
			t.Fatalf("Input does not marshal: %v", err)
		}
		for _, d := range []hook.Decision{hook.Allow, hook.Ask, hook.Block} {
			checkResponse(t, hook.Answer(req, d, agent))
		}
		checkResponse(t, hook.Acknowledge(req))
		checkResponse(t, hook.FailClosed(req.Agent, req.Phase, errors.New(agent)))
	})
}

func checkResponse(t *testing.T, r hook.Response) {
	t.Helper()
	if len(r.Stdout) > 0 && !json.Valid(r.Stdout) {
		t.Fatalf("stdout is not JSON: %q", r.Stdout)
	}
	if r.ExitCode != 0 && r.ExitCode != 2 {
		t.Fatalf("exit code %d", r.ExitCode)
	}
}

// FuzzMerge: Merge never panics, and whatever it returns is a JSON object
// that merging again leaves byte-for-byte the same.
func FuzzMerge(f *testing.F) {
	for a, s := range existingSettings {
		f.Add(string(a), []byte(s), "")
	}
	f.Add("cursor", []byte(`{"hooks":{"preToolUse":[{"command":"mirror hook cursor"}]}}`), "mirror hook cursor")
	f.Add("gemini", []byte(`{"hooks":{"BeforeTool":[1,"x",null,{"hooks":{}}]}}`), "m")
	f.Fuzz(func(t *testing.T, agent string, existing []byte, command string) {
		out, err := hook.Merge(hook.Agent(agent), existing, command)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("Merge returned something that is not a JSON object: %v\n%s", err, out)
		}
		again, err := hook.Merge(hook.Agent(agent), out, command)
		if err != nil {
			t.Fatalf("merging the result again failed: %v", err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n--- once\n%s\n--- twice\n%s", out, again)
		}
	})
}
