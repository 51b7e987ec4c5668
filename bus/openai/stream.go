package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mirroros/mirror/bus"
)

var errClosed = errors.New("openai: stream closed")

// stream reads an SSE body of chat.completion.chunk objects:
//
//	data: {chunk}
//	data: {chunk with finish_reason}
//	data: {chunk with usage and no choices}   (stream_options.include_usage)
//	data: [DONE]
type stream struct {
	ctx     context.Context
	c       *Client
	body    io.ReadCloser
	sc      *bufio.Scanner
	dec     chunkDecoder
	pending []bus.Event
	err     error // sticky: returned by every later Next
	once    sync.Once
	closed  atomic.Bool // Close was called (perhaps from another goroutine)
}

func newStream(ctx context.Context, c *Client, body io.ReadCloser, requested string) *stream {
	sc := bufio.NewScanner(&limitedReader{r: body, n: maxStreamBytes})
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	return &stream{ctx: ctx, c: c, body: body, sc: sc, dec: chunkDecoder{model: requested}}
}

// limitedReader fails, rather than ending quietly, past n bytes.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

var errTooLarge = errors.New("stream larger than allowed")

func (s *stream) Next() (bus.Event, error) {
	for {
		if len(s.pending) > 0 {
			ev := s.pending[0]
			s.pending = s.pending[1:]
			if ev.Type == bus.Done {
				s.err = io.EOF
				s.close()
			}
			return ev, nil
		}
		if s.err != nil {
			return bus.Event{}, s.err
		}
		if s.closed.Load() {
			s.err = errClosed
			continue
		}
		s.err = s.fill()
	}
}

// fill reads lines until it has queued events, or returns why it cannot.
func (s *stream) fill() error {
	for len(s.pending) == 0 {
		if !s.sc.Scan() {
			err := s.sc.Err()
			s.close()
			switch {
			case err == nil && s.dec.finished:
				// Some servers end the body after the finish chunk without
				// [DONE]; the answer is complete all the same.
				s.pending = append(s.pending, s.dec.done())
				return nil
			case err == nil:
				return &bus.Error{Provider: s.c.cfg.Name, Kind: bus.Unavailable,
					Message: "stream ended before completion: " + io.ErrUnexpectedEOF.Error()}
			case errors.Is(err, bufio.ErrTooLong):
				return s.c.malformed(fmt.Sprintf("SSE line longer than %d bytes", maxLineBytes))
			case errors.Is(err, errTooLarge):
				return s.c.malformed(fmt.Sprintf("stream larger than %d bytes", maxStreamBytes))
			case s.closed.Load():
				return errClosed
			default:
				if cerr := s.ctx.Err(); cerr != nil {
					return cerr
				}
				return &bus.Error{Provider: s.c.cfg.Name, Kind: bus.Unavailable,
					Message: "stream interrupted: " + s.c.scrub(err.Error())}
			}
		}
		data, ok := sseData(s.sc.Bytes())
		if !ok {
			// A server that refuses to stream may answer 200 with a bare
			// JSON error body instead of events.
			if line := bytes.TrimSpace(s.sc.Bytes()); len(line) > 0 && line[0] == '{' {
				if ch, err := parseChunk(line); err == nil && len(ch.Error) > 0 && string(ch.Error) != "null" {
					s.close()
					return s.c.inBandError(line)
				}
			}
			continue
		}
		if string(bytes.TrimSpace(data)) == "[DONE]" {
			s.pending = append(s.pending, s.dec.done())
			return nil
		}
		ch, err := parseChunk(data)
		if err != nil {
			s.close()
			return s.c.malformed("stream chunk: " + err.Error())
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			s.close()
			return s.c.inBandError(data)
		}
		s.pending = s.dec.apply(ch, s.pending)
	}
	return nil
}

func (s *stream) close() {
	s.once.Do(func() { s.body.Close() })
}

// Close ends the stream and releases the connection.
func (s *stream) Close() error {
	s.closed.Store(true)
	s.close()
	return nil
}

// sseData returns the payload of a "data:" line; other SSE lines (comments,
// event:, id:, retry:, blank separators) carry nothing for this protocol.
func sseData(line []byte) ([]byte, bool) {
	line = bytes.TrimRight(line, "\r")
	rest, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok {
		return nil, false
	}
	rest = bytes.TrimPrefix(rest, []byte(" "))
	if len(bytes.TrimSpace(rest)) == 0 {
		return nil, false
	}
	return rest, true
}

// parseChunk decodes one chat.completion.chunk.
func parseChunk(data []byte) (wireResponse, error) {
	var ch wireResponse
	if err := json.Unmarshal(data, &ch); err != nil {
		return wireResponse{}, err
	}
	return ch, nil
}

// chunkDecoder turns chunks into bus events and remembers what the final
// Done event needs.
type chunkDecoder struct {
	model    string
	finish   string
	finished bool // a finish_reason arrived
	usage    bus.Usage
	calls    map[int]*callState
}

type callState struct {
	sentID, sentName bool
}

func (d *chunkDecoder) apply(ch wireResponse, out []bus.Event) []bus.Event {
	if ch.Model != "" {
		d.model = ch.Model
	}
	if ch.Usage != nil {
		d.usage = convertUsage(ch.Usage)
	}
	for _, choice := range ch.Choices {
		if choice.Index != 0 {
			continue // only one answer is asked for
		}
		if choice.Delta != nil {
			out = d.applyDelta(choice.Delta, out)
		}
		if choice.FinishReason != nil && *choice.FinishReason != "" {
			d.finish = *choice.FinishReason
			d.finished = true
		}
	}
	return out
}

func (d *chunkDecoder) applyDelta(m *wireRespMsg, out []bus.Event) []bus.Event {
	if text, err := contentText(m.Content); err == nil && text != "" {
		out = append(out, bus.Event{Type: bus.TextDelta, Text: text})
	}
	if m.Refusal != nil && *m.Refusal != "" {
		out = append(out, bus.Event{Type: bus.TextDelta, Text: *m.Refusal})
	}
	for pos, tc := range m.ToolCalls {
		idx := pos
		if tc.Index != nil {
			idx = *tc.Index
		}
		if d.calls == nil {
			d.calls = map[int]*callState{}
		}
		st := d.calls[idx]
		if st == nil {
			st = &callState{}
			d.calls[idx] = st
		}
		ev := bus.Event{Type: bus.ToolCallDelta, Index: idx, ArgumentsDelta: string(tc.Function.Arguments)}
		if !st.sentID {
			ev.ID = tc.ID
			if ev.ID == "" {
				ev.ID = "call_" + strconv.Itoa(idx) // servers that give no ids
			}
			st.sentID = true
		}
		if !st.sentName && tc.Function.Name != "" {
			ev.Name = tc.Function.Name
			st.sentName = true
		}
		if ev.ID == "" && ev.Name == "" && ev.ArgumentsDelta == "" {
			continue
		}
		out = append(out, ev)
	}
	return out
}

func (d *chunkDecoder) done() bus.Event {
	return bus.Event{Type: bus.Done, Stop: stopReason(d.finish, len(d.calls) > 0), Usage: d.usage, Model: d.model}
}
