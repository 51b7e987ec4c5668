package agents_test

// A fake OpenAI upstream for Codex CLI: the Responses API
// (POST /v1/responses, streaming as server-sent events or not) plus the
// models list. It plays a scripted model: the first answer calls Codex's
// shell tool with one command, the answer to the function_call_output is a
// final message.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const openaiKey = "sk-proj-mirror-e2e-fake-key"

type fakeResponses struct {
	t       *testing.T
	command string // the shell command the model asks for
	callID  string
	srv     *httptest.Server

	mu       sync.Mutex
	calls    []string // "METHOD path" of every request
	streamed int      // /responses requests answered as a stream
	toolCall string   // the tool the model called ("" before the call)
	output   *string  // the function_call_output Codex sent back
	seq      int
}

func newFakeResponses(t *testing.T, command string) *fakeResponses {
	f := &fakeResponses{t: t, command: command, callID: "call_MirrorE2eShell0001"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// BaseURL is the provider's base_url: Codex appends /responses.
func (f *fakeResponses) BaseURL() string { return f.srv.URL + "/v1" }

func (f *fakeResponses) result() (output *string, tool string, streamed int, calls []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.output, f.toolCall, f.streamed, append([]string(nil), f.calls...)
}

func (f *fakeResponses) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+openaiKey {
		f.t.Logf("fake openai: %s %s without the API key (Authorization %q)", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		openaiError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided.")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/responses":
		f.responses(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		// Codex asks a provider for its models (with ?client_version=); an
		// empty list keeps its built-in model catalogue.
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{}, "models": []any{}})
	default:
		f.t.Logf("fake openai: unexpected %s %s", r.Method, r.URL.String())
		openaiError(w, http.StatusNotFound, "not_found", "Unknown path "+r.URL.Path)
	}
}

func openaiError(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": nil, "code": errCode,
	}})
}

// responsesRequest is the part of a Responses API request the script reads.
type responsesRequest struct {
	Model  string            `json:"model"`
	Stream bool              `json:"stream"`
	Input  []json.RawMessage `json:"input"`
	Tools  []struct {
		Type       string          `json:"type"`
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"tools"`
}

type inputItem struct {
	Type   string          `json:"type"`
	CallID string          `json:"call_id"`
	Output json.RawMessage `json:"output"`
}

func (f *fakeResponses) responses(w http.ResponseWriter, r *http.Request) {
	var req responsesRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		openaiError(w, http.StatusBadRequest, "invalid_json", "bad JSON: "+err.Error())
		return
	}
	if req.Model == "" {
		req.Model = codexModel
	}
	var output *string
	for _, raw := range req.Input {
		var it inputItem
		if json.Unmarshal(raw, &it) == nil && it.Type == "function_call_output" && it.CallID == f.callID {
			s := rawText(it.Output)
			output = &s
		}
	}
	// The shell tool: exec_command (unified exec, {"cmd"}) in current
	// releases, shell ({"command": argv}) in older ones.
	tool, args := "", ""
	for _, tl := range req.Tools {
		switch {
		case tl.Name == "exec_command" && tool == "":
			tool = tl.Name
			b, _ := json.Marshal(map[string]any{"cmd": f.command, "yield_time_ms": 10000})
			args = string(b)
		case tl.Name == "shell" && tool == "":
			tool = tl.Name
			b, _ := json.Marshal(map[string]any{"command": []string{"bash", "-lc", f.command}, "timeout_ms": 30000})
			args = string(b)
		}
	}

	f.mu.Lock()
	f.seq++
	respID := fmt.Sprintf("resp_mirrore2e%04d", f.seq)
	if req.Stream {
		f.streamed++
	}
	var item map[string]any
	switch {
	case output != nil:
		f.output = output
		item = messageItem(respID, "Done: the command was handled.")
	case tool != "":
		f.toolCall = tool
		item = map[string]any{"type": "function_call", "id": "fc_" + respID, "call_id": f.callID,
			"name": tool, "arguments": args, "status": "completed"}
	default:
		item = messageItem(respID, "OK")
	}
	f.mu.Unlock()

	created := time.Now().Unix()
	resp := func(status string, output []any, usage any) map[string]any {
		return map[string]any{
			"id": respID, "object": "response", "created_at": created, "status": status,
			"model": req.Model, "output": output, "parallel_tool_calls": true, "tool_choice": "auto",
			"tools": []any{}, "error": nil, "incomplete_details": nil, "usage": usage,
		}
	}
	usage := map[string]any{
		"input_tokens": 100, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": 20, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
		"total_tokens": 120,
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, resp("completed", []any{item}, usage))
		return
	}
	streamResponse(newSSE(w), resp("in_progress", []any{}, nil), resp("completed", []any{item}, usage), item)
}

func messageItem(respID, text string) map[string]any {
	return map[string]any{"type": "message", "id": "msg_" + respID, "status": "completed", "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
}

// streamResponse writes one output item as the Responses API streams it:
// response.created and response.in_progress, response.output_item.added,
// the item's deltas and "done" events, response.output_item.done and
// response.completed; every event carries its type and a sequence_number.
func streamResponse(s sseWriter, inProgress, completed, item map[string]any) {
	seq := 0
	ev := func(typ string, fields map[string]any) {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		s.event(typ, fields)
	}
	ev("response.created", map[string]any{"response": inProgress})
	ev("response.in_progress", map[string]any{"response": inProgress})
	id := item["id"]
	switch item["type"] {
	case "function_call":
		added := map[string]any{}
		for k, v := range item {
			added[k] = v
		}
		added["arguments"], added["status"] = "", "in_progress"
		ev("response.output_item.added", map[string]any{"output_index": 0, "item": added})
		args := item["arguments"].(string)
		for _, c := range chunks(args, 16) {
			ev("response.function_call_arguments.delta", map[string]any{"item_id": id, "output_index": 0, "delta": c})
		}
		ev("response.function_call_arguments.done", map[string]any{"item_id": id, "output_index": 0, "arguments": args})
	case "message":
		text := item["content"].([]any)[0].(map[string]any)["text"].(string)
		ev("response.output_item.added", map[string]any{"output_index": 0, "item": map[string]any{
			"type": "message", "id": id, "status": "in_progress", "role": "assistant", "content": []any{}}})
		ev("response.content_part.added", map[string]any{"item_id": id, "output_index": 0, "content_index": 0,
			"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}}})
		for _, c := range chunks(text, 8) {
			ev("response.output_text.delta", map[string]any{"item_id": id, "output_index": 0, "content_index": 0, "delta": c, "logprobs": []any{}})
		}
		ev("response.output_text.done", map[string]any{"item_id": id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []any{}})
		ev("response.content_part.done", map[string]any{"item_id": id, "output_index": 0, "content_index": 0,
			"part": map[string]any{"type": "output_text", "text": text, "annotations": []any{}}})
	}
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	ev("response.completed", map[string]any{"response": completed})
}
