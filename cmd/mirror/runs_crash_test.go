package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// resumableOllama is a fake Ollama /api/chat for the crash test: it answers
// summarize at once, and holds translate until released, counting the
// calls of each skill (named in the system prompt).
type resumableOllama struct {
	mu        sync.Mutex
	calls     map[string]int
	held      chan struct{} // closed at the first translate call
	release   chan struct{} // closed to let translate answer
	heldOnce  sync.Once
	releasing bool
}

func (f *resumableOllama) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/tags":
		w.Write([]byte(`{"models":[{"name":"llama3.2","model":"llama3.2"}]}`))
		return
	case "/api/chat":
	default:
		http.NotFound(w, r)
		return
	}
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role, Content string
		} `json:"messages"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	skill := "other"
	for _, m := range req.Messages {
		if _, after, ok := strings.Cut(m.Content, "MirrorOS skill \""); ok && m.Role == "system" {
			skill, _, _ = strings.Cut(after, "\"")
		}
	}
	f.mu.Lock()
	f.calls[skill]++
	f.mu.Unlock()
	text := `{"summary":"The kernel resumes runs.","key_points":["Completed steps are not called again."]}`
	if skill == "translate" {
		f.heldOnce.Do(func() { close(f.held) })
		select {
		case <-f.release:
		case <-r.Context().Done():
			return // the kernel was killed mid-call
		}
		text = `{"translation":"Le noyau reprend les exécutions.","source_language":"English"}`
	}
	out, _ := json.Marshal(map[string]any{"model": req.Model, "created_at": "2026-01-01T00:00:00Z",
		"message": map[string]any{"role": "assistant", "content": text}, "done": true, "done_reason": "stop",
		"prompt_eval_count": 40, "eval_count": 12})
	w.Write(out)
}

func (f *resumableOllama) count(skill string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[skill]
}

// TestE2ERunResumesAfterSIGKILL: a chain (summarize, then translate) whose
// second step is in flight when the kernel is killed resumes on restart
// without calling the completed step again, and the ledger shows it.
func TestE2ERunResumesAfterSIGKILL(t *testing.T) {
	t.Parallel()
	fake := &resumableOllama{calls: map[string]int{}, held: make(chan struct{}), release: make(chan struct{})}
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
	case <-fake.held:
	case <-time.After(30 * time.Second):
		t.Fatalf("the chain never reached its translate step; summarize calls %d", fake.count("summarize"))
	}
	d.kill(t)
	if n := fake.count("summarize"); n != 1 {
		t.Fatalf("summarize called %d times before the crash", n)
	}

	close(fake.release)
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
	if s, tr := fake.count("summarize"), fake.count("translate"); s != 1 || tr != 2 {
		t.Fatalf("calls at the upstream: summarize %d (want 1: it completed before the crash), translate %d (want 2: in flight at the crash, then again)", s, tr)
	}
	entries := string(d.get(t, "/v1/audit/entries?from=0&limit=1000"))
	if n := strings.Count(entries, `"kind":"run.resume"`); n != 2 { // the chain's run and its child
		t.Fatalf("%d run.resume entries in the ledger, want 2", n)
	}
}
