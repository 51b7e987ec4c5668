package bustest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// ScriptedOllama is a fake Ollama server for tests of the governed
// runtime: GET /api/tags lists Models, and POST /api/chat (non-streaming,
// the shape Ollama documents) answers with whatever Script returns for the
// call. It counts calls per skill: the skill the kernel names in a run's
// system prompt (`MirrorOS skill "name"`), or "other".
type ScriptedOllama struct {
	Models []string // default: llama3.2
	// Script answers one call. Returning ok=false sends nothing: the
	// handler returns at once (use it after waiting on c.Ctx to model a
	// call that never finishes).
	Script func(c OllamaCall) (text string, ok bool)

	mu    sync.Mutex
	calls map[string]int
}

// OllamaCall is one /api/chat request as the script sees it.
type OllamaCall struct {
	Ctx    context.Context // ends when the client goes away
	Model  string
	System string // the system messages, joined
	Prompt string // the other messages, joined
	Skill  string // the skill named in the system prompt, or "other"
}

// Calls returns how many calls a skill ("other" for calls outside runs) made.
func (f *ScriptedOllama) Calls(skill string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[skill]
}

// ServeHTTP implements http.Handler.
func (f *ScriptedOllama) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/tags" && r.Method == http.MethodGet:
		models := f.Models
		if len(models) == 0 {
			models = []string{"llama3.2"}
		}
		list := make([]map[string]string, len(models))
		for i, m := range models {
			list[i] = map[string]string{"name": m, "model": m}
		}
		json.NewEncoder(w).Encode(map[string]any{"models": list})
	case r.URL.Path == "/api/chat" && r.Method == http.MethodPost:
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		c := OllamaCall{Ctx: r.Context(), Model: req.Model, Skill: "other"}
		for _, m := range req.Messages {
			if m.Role == "system" {
				c.System += m.Content
			} else {
				c.Prompt += m.Content
			}
		}
		if _, after, ok := strings.Cut(c.System, `MirrorOS skill "`); ok {
			c.Skill, _, _ = strings.Cut(after, `"`)
		}
		f.mu.Lock()
		if f.calls == nil {
			f.calls = map[string]int{}
		}
		f.calls[c.Skill]++
		f.mu.Unlock()
		text, ok := f.Script(c)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "created_at": "2026-01-01T00:00:00Z",
			"message": map[string]any{"role": "assistant", "content": text}, "done": true, "done_reason": "stop",
			"prompt_eval_count": 40, "eval_count": 12})
	default:
		http.NotFound(w, r)
	}
}
