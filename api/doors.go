package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/door"
	anthropicdoor "github.com/mirroros/mirror/door/anthropic"
	ollamadoor "github.com/mirroros/mirror/door/ollama"
	openaidoor "github.com/mirroros/mirror/door/openai"
	"github.com/mirroros/mirror/door/responses"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/trace/ledger"
)

// A model front door: how one client protocol is parsed and answered.
type frontDoor struct {
	name   string
	parse  func([]byte) (door.Call, error)
	write  func(w http.ResponseWriter, model string, resp bus.Response)
	stream func(w http.ResponseWriter, model string, s bus.Stream) error
	// streamCall, when set, is used instead of stream: the door needs more
	// of the request than the model name to write the stream.
	streamCall func(w http.ResponseWriter, call door.Call, s bus.Stream) error
	fail       func(w http.ResponseWriter, status int, code, message string)
}

var (
	openaiDoor = frontDoor{name: "openai", parse: openaidoor.ParseChat, write: openaidoor.WriteResponse,
		streamCall: func(w http.ResponseWriter, call door.Call, s bus.Stream) error {
			return openaidoor.WriteStream(w, call.Model, s, openaidoor.IncludeUsage(call))
		},
		fail: openaidoor.WriteError}
	responsesDoor = frontDoor{name: "responses", parse: responses.Parse, write: responses.WriteResponse,
		stream: responses.WriteStream, fail: responses.WriteError}
	anthropicDoor = frontDoor{name: "anthropic", parse: anthropicdoor.ParseMessages, write: anthropicdoor.WriteResponse,
		stream: anthropicdoor.WriteStream, fail: anthropicdoor.WriteError}
	ollamaDoor = frontDoor{name: "ollama", parse: ollamadoor.ParseChat, write: ollamadoor.WriteResponse,
		stream: ollamadoor.WriteStream,
		fail: func(w http.ResponseWriter, status int, _ string, message string) {
			ollamadoor.WriteError(w, status, message)
		}}
)

// doorToken finds a lease token where each protocol's clients put their
// key: Authorization: Bearer, or x-api-key (Anthropic's convention). The
// lease token never travels upstream: the kernel adds the provider's key.
func doorToken(r *http.Request) string {
	if t := bearer(r); t != "" {
		return t
	}
	return strings.TrimSpace(r.Header.Get("x-api-key"))
}

// serveDoor answers one front door: authenticate, parse, run the governed
// call, and answer whole or streamed — every failure in the door's own
// error shape, so that the client's SDK understands it.
func (s *Server) serveDoor(d frontDoor) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.sys.Authenticate(r.Context(), doorToken(r))
		if err != nil {
			d.fail(w, http.StatusUnauthorized, "unauthorized", "a MirrorOS lease token is required as the API key (Authorization: Bearer mos_… or x-api-key)")
			return nil
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, door.MaxBody+1))
		if err != nil {
			d.fail(w, http.StatusBadRequest, "invalid_request", "could not read the body: "+err.Error())
			return nil
		}
		if len(body) > door.MaxBody {
			d.fail(w, http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the body is over %d bytes", door.MaxBody))
			return nil
		}
		call, err := d.parse(body)
		if err != nil {
			var de *door.Error
			if errors.As(err, &de) {
				d.fail(w, de.Status, de.Code, de.Message)
			} else {
				d.fail(w, http.StatusBadRequest, "invalid_request", err.Error())
			}
			return nil
		}
		opts := kernel.CallOptions{Door: d.name, Agent: r.Header.Get("X-Mirror-Agent"),
			NoIdentity: r.Header.Get("X-Mirror-Identity") == "off", Memory: r.Header.Get("X-Mirror-Memory") == "on"}
		if !call.Stream {
			resp, err := s.sys.Chat(r.Context(), p.Lease, call, opts)
			if err != nil {
				s.doorError(w, d, err)
				return nil
			}
			d.write(w, call.Model, resp)
			return nil
		}
		st, err := s.sys.ChatStream(r.Context(), p.Lease, call, opts)
		if err != nil {
			s.doorError(w, d, err)
			return nil
		}
		defer st.Close()
		write := func() error { return d.stream(w, call.Model, st) }
		if d.streamCall != nil {
			write = func() error { return d.streamCall(w, call, st) }
		}
		if err := write(); err != nil {
			s.log.Warn("a model stream ended with an error", "door", d.name, "err", err.Error())
		}
		return nil
	}
}

func (s *Server) doorError(w http.ResponseWriter, d frontDoor, err error) {
	var me *kernel.ModelError
	switch {
	case errors.As(err, &me):
		msg := me.Message
		if me.ApprovalID != "" {
			msg += " (approve with: mirror approve " + me.ApprovalID + ")"
		}
		status := me.Status
		if d.name == "anthropic" && status == http.StatusForbidden {
			// Claude Code reads any 403 from its API as a failed login
			// ("Please run /login") and hides the reason; a refusal by
			// policy goes out as 400 invalid_request_error, which it shows
			// as it is. The code stays in the message.
			status = http.StatusBadRequest
			msg = "MirrorOS refused this call (" + me.Code + "): " + msg
		}
		d.fail(w, status, me.Code, msg)
	case errors.Is(err, ledger.ErrUnavailable):
		d.fail(w, http.StatusServiceUnavailable, "ledger_unavailable", "the ledger cannot record, so nothing was sent: "+err.Error())
	default:
		e := toError(err)
		d.fail(w, e.Status, e.Code, e.Message)
	}
}

// ollamaTags answers GET /api/tags with every routable model.
func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.sys.Authenticate(r.Context(), doorToken(r)); err != nil {
		ollamadoor.WriteError(w, http.StatusUnauthorized, "a MirrorOS lease token is required (Authorization: Bearer mos_…)")
		return nil
	}
	ms, _ := s.sys.Models(r.Context(), false)
	tags := make([]ollamadoor.TagModel, 0, len(ms))
	for _, m := range ms {
		tags = append(tags, ollamadoor.TagModel{Name: m.ID, ModifiedAt: time.Now().UTC(), Family: m.Provider})
	}
	ollamadoor.WriteTags(w, tags)
	return nil
}

func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request) error {
	ollamadoor.WriteVersion(w)
	return nil
}

// countTokens answers POST /v1/messages/count_tokens with the kernel's
// estimate (the same one budgets reserve against).
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.sys.Authenticate(r.Context(), doorToken(r)); err != nil {
		anthropicdoor.WriteError(w, http.StatusUnauthorized, "authentication_error", "a MirrorOS lease token is required as the API key")
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, door.MaxBody))
	if err != nil {
		anthropicdoor.WriteError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return nil
	}
	call, err := anthropicdoor.ParseCountTokens(body)
	if err != nil {
		var de *door.Error
		if errors.As(err, &de) {
			anthropicdoor.WriteError(w, de.Status, de.Code, de.Message)
			return nil
		}
		anthropicdoor.WriteError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return nil
	}
	anthropicdoor.WriteCountTokens(w, bus.EstimateTokens(call.Request))
	return nil
}

// embeddings answers POST /v1/embeddings (OpenAI shape).
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) error {
	p, err := s.sys.Authenticate(r.Context(), doorToken(r))
	if err != nil {
		openaidoor.WriteError(w, http.StatusUnauthorized, "unauthorized", "a MirrorOS lease token is required as the API key")
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, door.MaxBody))
	if err != nil {
		openaidoor.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return nil
	}
	req, err := openaidoor.ParseEmbeddingsRequest(body)
	if err != nil {
		var de *door.Error
		if errors.As(err, &de) {
			openaidoor.WriteError(w, de.Status, de.Code, de.Message)
		} else {
			openaidoor.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
		}
		return nil
	}
	vecs, usage, err := s.sys.Embed(r.Context(), p.Lease, req.Model, req.Input, kernel.CallOptions{Door: "openai", Agent: r.Header.Get("X-Mirror-Agent")})
	if err != nil {
		s.doorError(w, openaiDoor, err)
		return nil
	}
	if req.Base64 {
		openaidoor.WriteEmbeddingsBase64(w, req.Model, vecs, usage)
	} else {
		openaidoor.WriteEmbeddings(w, req.Model, vecs, usage)
	}
	return nil
}
