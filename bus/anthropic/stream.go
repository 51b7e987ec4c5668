package anthropic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mirroros/mirror/bus"
)

// sseFrame is one server-sent event: its name and its (joined) data.
type sseFrame struct {
	Name string
	Data []byte
}

// sseReader splits an SSE body into frames.
type sseReader struct {
	sc *bufio.Scanner
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	return &sseReader{sc: sc}
}

// next returns the next frame with data. At a clean end of input it returns
// io.EOF (a partial, undispatched frame is discarded, as SSE requires).
func (r *sseReader) next() (sseFrame, error) {
	var f sseFrame
	hasData := false
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if hasData {
				return f, nil
			}
			f = sseFrame{}
			continue
		}
		if line[0] == ':' {
			continue // comment
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			f.Name = string(value)
		case "data":
			if hasData {
				f.Data = append(f.Data, '\n')
			}
			f.Data = append(f.Data, value...)
			hasData = true
		}
	}
	if err := r.sc.Err(); err != nil {
		return sseFrame{}, err
	}
	return sseFrame{}, io.EOF
}

// event is one decoded Messages stream event.
type event struct {
	Type         string          `json:"type"`
	Message      *wireMessage    `json:"message"`       // message_start
	Index        int             `json:"index"`         // content_block_*
	ContentBlock *rawBlock       `json:"content_block"` // content_block_start
	Delta        json.RawMessage `json:"delta"`         // content_block_delta, message_delta
	Usage        *deltaUsage     `json:"usage"`         // message_delta
	Error        *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"` // error
}

type blockDelta struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	PartialJSON string `json:"partial_json"`
	Thinking    string `json:"thinking"`
	Signature   string `json:"signature"`
}

type messageDelta struct {
	StopReason string `json:"stop_reason"`
}

// deltaUsage: message_delta usage is cumulative; fields that are present
// replace what message_start reported.
type deltaUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
}

// parseEvent decodes one SSE frame's data. name is the SSE event name, used
// when the data lacks a type.
func parseEvent(name string, data []byte) (event, error) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return event{}, fmt.Errorf("undecodable %q event", name)
	}
	if ev.Type == "" {
		ev.Type = name
	}
	if ev.Type == "" {
		return event{}, errors.New("event without a type")
	}
	switch ev.Type {
	case "message_start":
		if ev.Message == nil {
			return event{}, errors.New("message_start without a message")
		}
	case "content_block_start":
		if ev.ContentBlock == nil {
			return event{}, errors.New("content_block_start without a content block")
		}
	case "content_block_delta", "message_delta":
		if len(ev.Delta) == 0 || ev.Delta[0] != '{' {
			return event{}, fmt.Errorf("%s without a delta", ev.Type)
		}
	}
	if ev.Index < 0 {
		return event{}, errors.New("negative content block index")
	}
	return ev, nil
}

type blockState struct {
	kind    string // "text", "tool_use", or "vendor" (thinking, server tools, …)
	tool    int    // bus tool-call index, for tool_use
	start   string // input given in content_block_start
	gotJSON bool   // an input_json_delta arrived

	// vendor: the block as content_block_start gave it, and what its
	// deltas add, put together at content_block_stop.
	raw       json.RawMessage
	json      strings.Builder // input_json_delta
	thinking  strings.Builder // thinking_delta
	signature string          // signature_delta
	gotThink  bool
	gotSig    bool
}

// complete puts a vendor block together from its start and its deltas.
func (b *blockState) complete() (json.RawMessage, error) {
	if !b.gotJSON && !b.gotThink && !b.gotSig {
		return b.raw, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b.raw, &fields); err != nil {
		return nil, errors.New("content block is not an object")
	}
	// Input deltas that are all empty leave the input the start gave.
	if in := json.RawMessage(strings.TrimSpace(b.json.String())); len(in) > 0 {
		if !json.Valid(in) {
			return nil, errors.New("streamed block input is not valid JSON")
		}
		fields["input"] = in
	}
	if b.gotThink {
		fields["thinking"], _ = json.Marshal(b.thinking.String())
	}
	if b.gotSig {
		fields["signature"], _ = json.Marshal(b.signature)
	}
	return json.Marshal(fields)
}

type stream struct {
	body    io.ReadCloser
	sse     *sseReader
	c       *Client
	pending []bus.Event
	blocks  map[int]*blockState
	tools   int
	model   string
	usage   wireUsage
	stop    string
	started bool
	done    bool
	err     error
}

func newStream(body io.ReadCloser, c *Client) *stream {
	return &stream{body: body, sse: newSSEReader(body), c: c, blocks: map[int]*blockState{}}
}

func (s *stream) Close() error { return s.body.Close() }

// Next returns the next event; io.EOF only after Done.
func (s *stream) Next() (bus.Event, error) {
	for {
		if len(s.pending) > 0 {
			ev := s.pending[0]
			s.pending = s.pending[1:]
			return ev, nil
		}
		if s.err != nil {
			return bus.Event{}, s.err
		}
		if s.done {
			return bus.Event{}, io.EOF
		}
		s.err = s.step()
	}
}

// step reads one frame and queues what it yields; it returns a terminal error.
func (s *stream) step() error {
	f, err := s.sse.next()
	if errors.Is(err, io.EOF) {
		if !s.started {
			return s.c.fail(0, bus.Malformed, "response is not a Messages event stream")
		}
		return s.c.fail(0, bus.Unavailable, "stream ended before message_stop")
	}
	if errors.Is(err, bufio.ErrTooLong) {
		return s.c.fail(0, bus.Malformed, "stream line exceeds size limit")
	}
	if err != nil {
		return s.c.fail(0, bus.Unavailable, "stream broken: "+err.Error())
	}
	ev, err := parseEvent(f.Name, f.Data)
	if err != nil {
		return s.c.fail(0, bus.Malformed, err.Error())
	}
	return s.handle(ev)
}

func (s *stream) handle(ev event) error {
	if !s.started && ev.Type != "message_start" && ev.Type != "ping" && ev.Type != "error" {
		return s.c.fail(0, bus.Malformed, ev.Type+" before message_start")
	}
	switch ev.Type {
	case "ping":
	case "error":
		kind, msg := bus.Unavailable, "stream error"
		if ev.Error != nil {
			kind = kindForErrorType(ev.Error.Type)
			if ev.Error.Message != "" {
				msg = ev.Error.Message
			}
		}
		return s.c.fail(0, kind, msg)
	case "message_start":
		if s.started {
			return s.c.fail(0, bus.Malformed, "second message_start")
		}
		s.started = true
		s.model = ev.Message.Model
		s.usage = ev.Message.Usage
	case "content_block_start":
		if _, dup := s.blocks[ev.Index]; dup {
			return s.c.fail(0, bus.Malformed, "content block started twice")
		}
		b := &blockState{}
		s.blocks[ev.Index] = b
		switch cb := ev.ContentBlock; cb.Type {
		case "text":
			b.kind = "text"
			if cb.Text != "" {
				s.pending = append(s.pending, bus.Event{Type: bus.TextDelta, Text: cb.Text})
			}
		case "tool_use":
			b.kind, b.tool = "tool_use", s.tools
			s.tools++
			if in := bytes.TrimSpace(cb.Input); len(in) > 0 && string(in) != "null" {
				b.start = string(in)
			}
			s.pending = append(s.pending, bus.Event{Type: bus.ToolCallDelta, Index: b.tool, ID: cb.ID, Name: cb.Name})
		default:
			// thinking, redacted_thinking, server tool use and results:
			// passed on whole at content_block_stop.
			b.kind, b.raw = "vendor", cb.raw
		}
	case "content_block_delta":
		b, ok := s.blocks[ev.Index]
		if !ok {
			return s.c.fail(0, bus.Malformed, "delta for a block never started")
		}
		var d blockDelta
		if json.Unmarshal(ev.Delta, &d) != nil {
			return s.c.fail(0, bus.Malformed, "undecodable content block delta")
		}
		switch {
		case d.Type == "text_delta" && b.kind == "text":
			if d.Text != "" {
				s.pending = append(s.pending, bus.Event{Type: bus.TextDelta, Text: d.Text})
			}
		case d.Type == "input_json_delta" && b.kind == "tool_use":
			b.gotJSON = true
			if d.PartialJSON != "" {
				s.pending = append(s.pending, bus.Event{Type: bus.ToolCallDelta, Index: b.tool, ArgumentsDelta: d.PartialJSON})
			}
		case d.Type == "input_json_delta" && b.kind == "vendor":
			b.gotJSON = true
			b.json.WriteString(d.PartialJSON)
		case d.Type == "thinking_delta" && b.kind == "vendor":
			b.gotThink = true
			b.thinking.WriteString(d.Thinking)
		case d.Type == "signature_delta" && b.kind == "vendor":
			b.gotSig = true
			b.signature += d.Signature
		}
		// citations_delta and unknown deltas: ignored.
	case "content_block_stop":
		b, ok := s.blocks[ev.Index]
		if !ok {
			return s.c.fail(0, bus.Malformed, "stop for a block never started")
		}
		if b.kind == "tool_use" && !b.gotJSON {
			// No deltas: the arguments are what the start carried, or none.
			args := b.start
			if args == "" {
				args = "{}"
			}
			s.pending = append(s.pending, bus.Event{Type: bus.ToolCallDelta, Index: b.tool, ArgumentsDelta: args})
		}
		if b.kind == "vendor" {
			raw, err := b.complete()
			if err != nil {
				return s.c.fail(0, bus.Malformed, err.Error())
			}
			s.pending = append(s.pending, bus.Event{Type: bus.VendorBlock, Block: vendorPart(raw)})
		}
	case "message_delta":
		var d messageDelta
		if json.Unmarshal(ev.Delta, &d) != nil {
			return s.c.fail(0, bus.Malformed, "undecodable message delta")
		}
		if d.StopReason != "" {
			s.stop = d.StopReason
		}
		if u := ev.Usage; u != nil {
			set := func(dst *int, src *int) {
				if src != nil {
					*dst = *src
				}
			}
			set(&s.usage.InputTokens, u.InputTokens)
			set(&s.usage.OutputTokens, u.OutputTokens)
			set(&s.usage.CacheReadInputTokens, u.CacheReadInputTokens)
			set(&s.usage.CacheCreationInputTokens, u.CacheCreationInputTokens)
		}
	case "message_stop":
		s.done = true
		s.pending = append(s.pending, bus.Event{Type: bus.Done, Stop: mapStop(s.stop), Usage: s.usage.normalise(), Model: s.model})
	default:
		// Unknown event types are ignored, as the API's versioning policy asks.
	}
	return nil
}
