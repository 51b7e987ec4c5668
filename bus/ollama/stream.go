package ollama

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mirroros/mirror/bus"
)

// ChatStream sends a streamed chat call; the answer arrives as NDJSON.
func (c *Client) ChatStream(ctx context.Context, req bus.Request) (bus.Stream, error) {
	w, err := c.buildRequest(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, http.MethodPost, "/api/chat", w)
	if err != nil {
		return nil, err
	}
	return &stream{c: c, ctx: ctx, body: resp.Body, rd: bufio.NewReaderSize(resp.Body, 64<<10), model: req.Model}, nil
}

type stream struct {
	c     *Client
	ctx   context.Context
	body  io.ReadCloser
	rd    *bufio.Reader
	model string // the requested model, until the upstream names one

	mu      sync.Mutex
	pending []bus.Event
	calls   int   // tool calls seen so far (for indexes and ids)
	read    int64 // bytes read so far
	done    bool  // Done has been queued
	err     error // sticky terminal error
	closed  atomic.Bool
}

// Next returns the next event; io.EOF after Done.
func (s *stream) Next() (bus.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
			s.err = io.EOF
			s.body.Close()
			continue
		}
		if s.closed.Load() {
			s.err = &bus.Error{Provider: s.c.name, Kind: bus.Unavailable, Message: "stream closed"}
			continue
		}
		line, err := s.readLine()
		if err != nil {
			s.err = err
			s.body.Close()
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ch, err := parseLine(line)
		if err != nil {
			s.err = s.c.lineError(err)
			s.body.Close()
			continue
		}
		if err := s.queue(ch); err != nil {
			s.err = err
			s.body.Close()
		}
	}
}

// readLine reads one NDJSON line, bounded by maxLineBytes and the whole
// stream by maxStreamBytes. A stream ending before its done line is an error.
func (s *stream) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := s.rd.ReadSlice('\n')
		line = append(line, frag...)
		s.read += int64(len(frag))
		if len(line) > maxLineBytes {
			return nil, s.c.malformed("stream line longer than %d bytes", maxLineBytes)
		}
		if s.read > maxStreamBytes {
			return nil, s.c.malformed("stream longer than %d bytes", maxStreamBytes)
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(bytes.TrimSpace(line)) > 0 {
				// A final line without a newline: accept it if it parses.
				return line, nil
			}
			return nil, &bus.Error{Provider: s.c.name, Status: http.StatusOK, Kind: bus.Unavailable,
				Message: "stream ended before its done line"}
		default:
			if s.ctx.Err() != nil {
				return nil, s.ctx.Err()
			}
			if s.closed.Load() {
				return nil, &bus.Error{Provider: s.c.name, Kind: bus.Unavailable, Message: "stream closed"}
			}
			return nil, &bus.Error{Provider: s.c.name, Status: http.StatusOK, Kind: bus.Unavailable,
				Message: "stream broken: " + err.Error()}
		}
	}
}

// queue turns one chunk into events.
func (s *stream) queue(ch chatChunk) error {
	if ch.Model != "" {
		s.model = ch.Model
	}
	if ch.Message.Content != "" {
		s.pending = append(s.pending, bus.Event{Type: bus.TextDelta, Text: ch.Message.Content})
	}
	if len(ch.Message.ToolCalls) > 0 {
		calls, err := toolCalls(ch.Message.ToolCalls, s.calls)
		if err != nil {
			return s.c.malformed("%v", err)
		}
		for _, tc := range calls {
			s.pending = append(s.pending, bus.Event{Type: bus.ToolCallDelta, Index: s.calls,
				ID: tc.ID, Name: tc.Name, ArgumentsDelta: string(tc.Arguments)})
			s.calls++
		}
	}
	if ch.Done {
		s.pending = append(s.pending, bus.Event{Type: bus.Done,
			Stop:  stopReason(ch.DoneReason, s.calls > 0),
			Usage: bus.Usage{PromptTokens: ch.PromptEvalCount, CompletionTokens: ch.EvalCount},
			Model: s.model})
		s.done = true
	}
	return nil
}

// Close releases the connection. Events already queued stay readable;
// after them Next reports an error (or io.EOF if Done was reached).
// Close may be called while Next is blocked, and unblocks it.
func (s *stream) Close() error {
	s.closed.Store(true)
	return s.body.Close()
}
