package gemini

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/mirroros/mirror/bus"
)

// stream reads a streamGenerateContent?alt=sse answer: each SSE event's data
// is one GenerateContentResponse. Text arrives over several chunks; function
// calls arrive whole and become one ToolCallDelta each.
type stream struct {
	c    *Client
	ctx  context.Context
	body io.ReadCloser
	sc   *bufio.Scanner

	state chunkState
	queue []bus.Event
	done  bool  // Done has been returned
	err   error // sticky error
}

// chunkState is what the decoder remembers across chunks.
type chunkState struct {
	model  string
	calls  int    // function calls seen so far (their indexes)
	finish string // finishReason, once seen
	usage  bus.Usage
}

func newStream(c *Client, ctx context.Context, body io.ReadCloser, model string) *stream {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &stream{c: c, ctx: ctx, body: body, sc: sc, state: chunkState{model: model}}
}

// Next returns the next event, io.EOF after Done.
func (s *stream) Next() (bus.Event, error) {
	for {
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue = s.queue[1:]
			return ev, nil
		}
		if s.done {
			return bus.Event{}, io.EOF
		}
		if s.err != nil {
			return bus.Event{}, s.err
		}
		data, err := s.readEvent()
		if err != nil {
			if s.state.finish != "" {
				// Everything arrived; whatever follows the last chunk is moot.
				s.done = true
				return s.state.doneEvent(), nil
			}
			s.err = s.streamError(err)
			return bus.Event{}, s.err
		}
		evs, err := s.state.handle(data)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				s.err = s.c.apiErr(ae)
			} else {
				s.err = s.c.errorf(200, bus.Malformed, "unparseable stream chunk: %v", err)
			}
			return bus.Event{}, s.err
		}
		s.queue = append(s.queue, evs...)
	}
}

func (s *stream) streamError(err error) error {
	if errors.Is(err, io.EOF) {
		return s.c.errorf(200, bus.Unavailable, "stream ended before its final chunk")
	}
	if errors.Is(err, bufio.ErrTooLong) {
		return s.c.errorf(200, bus.Malformed, "stream line longer than %d bytes", maxLine)
	}
	if errors.Is(err, errEventTooLarge) {
		return s.c.errorf(200, bus.Malformed, "stream event larger than %d bytes", maxEvent)
	}
	return s.c.transportError(s.ctx, err)
}

var errEventTooLarge = errors.New("event too large")

// readEvent returns the data of the next SSE event. At a clean end of the
// body, a last event without its blank line is still delivered.
func (s *stream) readEvent() ([]byte, error) {
	var data []byte
	have := false
	for s.sc.Scan() {
		line := s.sc.Bytes()
		if len(line) == 0 {
			if have {
				return data, nil
			}
			continue
		}
		if line[0] == ':' { // comment
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if string(field) != "data" {
			continue // event:, id:, retry: carry nothing we need
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if have {
			data = append(data, '\n')
		}
		if len(data)+len(value) > maxEvent {
			return nil, errEventTooLarge
		}
		data = append(data, value...)
		have = true
	}
	if err := s.sc.Err(); err != nil {
		return nil, err
	}
	if have {
		return data, nil
	}
	return nil, io.EOF
}

// Close releases the connection.
func (s *stream) Close() error {
	s.done = true
	s.queue = nil
	return s.body.Close()
}

// handle decodes one chunk into events.
func (st *chunkState) handle(data []byte) ([]bus.Event, error) {
	if len(bytes.TrimSpace(data)) == 0 || string(bytes.TrimSpace(data)) == "[DONE]" {
		return nil, nil
	}
	r, err := parseChunk(data)
	if err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	if r.ModelVersion != "" {
		st.model = r.ModelVersion
	}
	if r.UsageMetadata != nil {
		st.usage = mapUsage(r.UsageMetadata)
	}
	var evs []bus.Event
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			st.finish = "SAFETY" // the prompt itself was blocked
		}
		return nil, nil
	}
	cand := r.Candidates[0]
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				tc := toolCall(p.FunctionCall, st.calls)
				evs = append(evs, bus.Event{Type: bus.ToolCallDelta, Index: st.calls, ID: tc.ID, Name: tc.Name, ArgumentsDelta: string(tc.Arguments)})
				st.calls++
			case p.Thought:
			case p.Text != "":
				evs = append(evs, bus.Event{Type: bus.TextDelta, Text: p.Text})
			}
		}
	}
	if cand.FinishReason != "" && cand.FinishReason != "FINISH_REASON_UNSPECIFIED" {
		st.finish = cand.FinishReason
	}
	return evs, nil
}

func (st *chunkState) doneEvent() bus.Event {
	return bus.Event{Type: bus.Done, Stop: mapFinish(st.finish, st.calls > 0), Usage: st.usage, Model: st.model}
}

func (e *apiError) Error() string { return e.Message }
