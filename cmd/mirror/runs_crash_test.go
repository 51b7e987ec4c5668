package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus/bustest"
)

// TestE2ERunResumesAfterSIGKILL: a chain (summarize, then translate) whose
// second step is in flight when the kernel is killed resumes on restart
// without calling the completed step again, and the ledger shows it.
func TestE2ERunResumesAfterSIGKILL(t *testing.T) {
	t.Parallel()
	// The fake answers summarize at once and holds translate until
	// released (or until the kernel that asked is gone).
	held, release := make(chan struct{}), make(chan struct{})
	var heldOnce sync.Once
	fake := &bustest.ScriptedOllama{Script: func(c bustest.OllamaCall) (string, bool) {
		if c.Skill != "translate" {
			return `{"summary":"The kernel resumes runs.","key_points":["Completed steps are not called again."]}`, true
		}
		heldOnce.Do(func() { close(held) })
		select {
		case <-release:
			return `{"translation":"Le noyau reprend les exécutions.","source_language":"English"}`, true
		case <-c.Ctx.Done():
			return "", false // the kernel was killed mid-call
		}
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := []string{"OLLAMA_HOST=" + srv.URL, "OPENAI_API_KEY=", "ANTHROPIC_API_KEY=", "GEMINI_API_KEY=", "GOOGLE_API_KEY=",
		"GROQ_API_KEY=", "MISTRAL_API_KEY=", "DEEPSEEK_API_KEY=", "OPENROUTER_API_KEY="}
	dir := newDataDir(t)
	d := startDaemon(t, dir, env...)
	body := `{"skill":"summarize","inputs":{"text":"MirrorOS journals every step of a run."},"chain":[{"skill":"translate","inputs":{"target_language":"French"}}]}`
	code, _, out := d.request(t, "POST", "/v1/runs", []byte(body), true)
	if code != http.StatusAccepted {
		t.Fatalf("POST /v1/runs: %d %s", code, out)
	}
	var started struct{ ID string }
	json.Unmarshal(out, &started)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("the chain never reached its translate step; summarize calls %d", fake.Calls("summarize"))
	}
	d.kill(t)
	if n := fake.Calls("summarize"); n != 1 {
		t.Fatalf("summarize called %d times before the crash", n)
	}

	close(release)
	d = startDaemon(t, dir, env...)
	var run struct {
		State, Error string
		Resumes      int
		Output       json.RawMessage
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		json.Unmarshal(d.get(t, "/v1/runs/"+started.ID), &run)
		if run.State == "succeeded" || run.State == "failed" || run.State == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run still %s 30s after the restart", run.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if run.State != "succeeded" || !strings.Contains(string(run.Output), "Le noyau") || run.Resumes != 1 {
		t.Fatalf("after the restart: %+v", run)
	}
	if s, tr := fake.Calls("summarize"), fake.Calls("translate"); s != 1 || tr != 2 {
		t.Fatalf("calls at the upstream: summarize %d (want 1: it completed before the crash), translate %d (want 2: in flight at the crash, then again)", s, tr)
	}
	entries := string(d.get(t, "/v1/audit/entries?from=0&limit=1000"))
	if n := strings.Count(entries, `"kind":"run.resume"`); n != 2 { // the chain's run and its child
		t.Fatalf("%d run.resume entries in the ledger, want 2", n)
	}
}
