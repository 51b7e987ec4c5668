package ollama

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/mirroros/mirror/bus"
)

// version is what GET /api/version reports.
const version = "0.6.0-mirroros"

// ---- response wire types ----

type outFunction struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type outToolCall struct {
	Function outFunction `json:"function"`
}

type outMessage struct {
	Role      string        `json:"role"`
	Content   string        `json:"content"`
	ToolCalls []outToolCall `json:"tool_calls,omitempty"`
}

// chunk is a whole /api/chat answer, or one NDJSON line of a streamed one.
type chunk struct {
	Model           string     `json:"model"`
	CreatedAt       string     `json:"created_at"`
	Message         outMessage `json:"message"`
	Done            bool       `json:"done"`
	DoneReason      string     `json:"done_reason,omitempty"`
	TotalDuration   *int64     `json:"total_duration,omitempty"`
	PromptEvalCount *int       `json:"prompt_eval_count,omitempty"`
	EvalCount       *int       `json:"eval_count,omitempty"`
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// doneChunk is the final object of an answer.
func doneChunk(model string, stop bus.StopReason, u bus.Usage) chunk {
	var zero int64
	prompt, eval := u.PromptTokens, u.CompletionTokens
	return chunk{Model: model, CreatedAt: now(), Message: outMessage{Role: "assistant"},
		Done: true, DoneReason: doneReason(stop), TotalDuration: &zero,
		PromptEvalCount: &prompt, EvalCount: &eval}
}

// doneReason maps a bus stop reason to Ollama's: "length" when the token
// limit cut the answer, otherwise "stop" (Ollama reports "stop" for tool
// calls too).
func doneReason(s bus.StopReason) string {
	if s == bus.StopMaxTokens {
		return "length"
	}
	return "stop"
}

// encode writes v as one line of JSON, without HTML escaping.
func encode(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = encode(w, v)
}

// WriteResponse writes a whole (non-streamed) /api/chat answer. model is
// the name the client asked for (resp.Model if empty).
func WriteResponse(w http.ResponseWriter, model string, resp bus.Response) {
	if model == "" {
		model = resp.Model
	}
	ch := doneChunk(model, resp.Stop, resp.Usage)
	ch.Message.Content = resp.Message.Text()
	for _, tc := range resp.Message.ToolCalls {
		args, err := argsObject(tc.Arguments)
		if err != nil {
			args = json.RawMessage(`{}`) // never emit invalid JSON
		}
		ch.Message.ToolCalls = append(ch.Message.ToolCalls, outToolCall{Function: outFunction{Name: tc.Name, Arguments: args}})
	}
	writeJSON(w, http.StatusOK, ch)
}

// WriteError writes Ollama's error shape, {"error": message}, with status.
func WriteError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{message})
}

// TagModel is one model GET /api/tags lists.
type TagModel struct {
	Name       string
	ModifiedAt time.Time
	Size       int64
	Family     string
}

type tagDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

type tagEntry struct {
	Name       string     `json:"name"`
	Model      string     `json:"model"`
	ModifiedAt time.Time  `json:"modified_at"`
	Size       int64      `json:"size"`
	Digest     string     `json:"digest"`
	Details    tagDetails `json:"details"`
}

// WriteTags writes the GET /api/tags answer listing models.
func WriteTags(w http.ResponseWriter, models []TagModel) {
	out := struct {
		Models []tagEntry `json:"models"`
	}{Models: make([]tagEntry, 0, len(models))}
	for _, m := range models {
		out.Models = append(out.Models, tagEntry{Name: m.Name, Model: m.Name, ModifiedAt: m.ModifiedAt,
			Size: m.Size, Details: tagDetails{Family: m.Family}})
	}
	writeJSON(w, http.StatusOK, out)
}

// WriteVersion writes the GET /api/version answer.
func WriteVersion(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, struct {
		Version string `json:"version"`
	}{version})
}

// ---- streaming ----

// partialCall is a tool call being assembled from ToolCallDelta events.
type partialCall struct {
	index int
	name  string
	args  []byte
	sent  bool
}

// WriteStream writes a streamed /api/chat answer as NDJSON: one line per
// text delta, each tool call whole in one line once its arguments are
// complete (when the next call starts, or at Done), then a final line with
// done:true. If the stream fails — including ending without Done — it
// writes a line {"error": "…"} and returns the error; a failed write to w
// is returned as is. WriteStream closes s. model is the name the client
// asked for (the Done event's model if empty).
func WriteStream(w http.ResponseWriter, model string, s bus.Stream) error {
	defer s.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	line := func(v any) error {
		if err := encode(w, v); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	fail := func(err error) error {
		msg := err.Error()
		if msg == "" {
			msg = "stream failed"
		}
		_ = line(struct {
			Error string `json:"error"`
		}{msg})
		return err
	}

	var calls []*partialCall // in order of first appearance
	byIndex := map[int]*partialCall{}
	// flush sends, in one line, the unsent calls other than keep whose
	// arguments are complete; final (at Done) sends all or fails.
	flush := func(keep *partialCall, final bool) error {
		var out []outToolCall
		for _, c := range calls {
			if c.sent || c == keep {
				continue
			}
			args, err := argsObject(c.args)
			if !final && (err != nil || c.name == "") {
				continue // still arriving (interleaved calls)
			}
			if c.name == "" {
				return fail(fmt.Errorf("tool call %d has no name", c.index))
			}
			if err != nil {
				return fail(fmt.Errorf("tool call %d (%s): incomplete or invalid arguments", c.index, c.name))
			}
			c.sent = true
			out = append(out, outToolCall{Function: outFunction{Name: c.name, Arguments: args}})
		}
		if len(out) == 0 {
			return nil
		}
		return line(chunk{Model: model, CreatedAt: now(), Message: outMessage{Role: "assistant", ToolCalls: out}})
	}

	for {
		ev, err := s.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream ended before it was done")
			}
			return fail(err)
		}
		switch ev.Type {
		case bus.TextDelta:
			if ev.Text == "" {
				continue
			}
			if err := line(chunk{Model: model, CreatedAt: now(), Message: outMessage{Role: "assistant", Content: ev.Text}}); err != nil {
				return err
			}
		case bus.ToolCallDelta:
			c := byIndex[ev.Index]
			if c == nil {
				c = &partialCall{index: ev.Index}
				byIndex[ev.Index] = c
				calls = append(calls, c)
				sort.SliceStable(calls, func(i, j int) bool { return calls[i].index < calls[j].index })
				// A new call has started: the earlier ones are complete.
				if err := flush(c, false); err != nil {
					return err
				}
			}
			if c.sent {
				if ev.ArgumentsDelta != "" || (ev.Name != "" && ev.Name != c.name) {
					return fail(fmt.Errorf("tool call %d changed after it was sent", c.index))
				}
				continue
			}
			if ev.Name != "" {
				c.name = ev.Name
			}
			c.args = append(c.args, ev.ArgumentsDelta...)
		case bus.Done:
			if err := flush(nil, true); err != nil {
				return err
			}
			m := model
			if m == "" {
				m = ev.Model
			}
			return line(doneChunk(m, ev.Stop, ev.Usage))
		}
	}
}
