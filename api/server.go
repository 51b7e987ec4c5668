// Package api is the kernel's HTTP front door: the native API under /v1/,
// the C2SP tlog-tiles read endpoints under /tlog/, /healthz and /metrics.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/mirroros/mirror/door"
	"github.com/mirroros/mirror/kernel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves one System.
type Server struct {
	sys     *kernel.System
	log     *slog.Logger
	mux     *http.ServeMux
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type principalKey struct{}

// New builds the handler for sys.
func New(sys *kernel.System) *Server {
	s := &Server{sys: sys, log: sys.Log.With("component", "api"), mux: http.NewServeMux()}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mirror_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mirror_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"route"})
	sys.Metrics.MustRegister(s.reqs, s.latency)

	s.route("/healthz", false, map[string]handlerFunc{"GET": s.health})
	s.mux.Handle("/metrics", promhttp.HandlerFor(sys.Metrics, promhttp.HandlerOpts{}))
	s.route("/v1/status", true, map[string]handlerFunc{"GET": s.status})
	s.route("/v1/audit/events", true, map[string]handlerFunc{"POST": s.postEvent})
	s.route("/v1/audit/entries", true, map[string]handlerFunc{"GET": s.listEntries})
	s.route("/v1/audit/entries/{index}", true, map[string]handlerFunc{"GET": s.getEntry})
	s.route("/v1/audit/checkpoint", true, map[string]handlerFunc{"GET": s.checkpoint})
	s.route("/v1/audit/proof/inclusion", true, map[string]handlerFunc{"GET": s.inclusion})
	s.route("/v1/audit/proof/consistency", true, map[string]handlerFunc{"GET": s.consistency})
	s.route("/v1/audit/pubkey", true, map[string]handlerFunc{"GET": s.pubkey})
	s.route("/v1/audit/bodies/{sha256}", true, map[string]handlerFunc{"GET": s.getBody})
	s.memoryRoutes()
	s.mux.Handle("/mcp", s.mcpHandler())
	s.route("/v1/leases", true, map[string]handlerFunc{"GET": s.listLeases, "POST": s.grantLease})
	s.route("/v1/leases/{id}", true, map[string]handlerFunc{"GET": s.getLease, "DELETE": s.revokeLease})
	s.route("/v1/leases/{id}/renew", true, map[string]handlerFunc{"POST": s.renewLease})
	s.route("/v1/models", true, map[string]handlerFunc{"GET": s.models})
	s.route("/v1/spend", true, map[string]handlerFunc{"GET": s.spend})
	// Model front doors authenticate themselves, so that every refusal is
	// in the client protocol's own error shape.
	s.route("/v1/chat/completions", false, map[string]handlerFunc{"POST": s.serveDoor(openaiDoor)})
	s.route("/v1/embeddings", false, map[string]handlerFunc{"POST": s.embeddings})
	s.route("/v1/responses", false, map[string]handlerFunc{"POST": s.serveDoor(responsesDoor)})
	s.route("/v1/messages", false, map[string]handlerFunc{"POST": s.serveDoor(anthropicDoor)})
	s.route("/v1/messages/count_tokens", false, map[string]handlerFunc{"POST": s.countTokens})
	s.route("/api/chat", false, map[string]handlerFunc{"POST": s.serveDoor(ollamaDoor)})
	s.route("/api/tags", false, map[string]handlerFunc{"GET": s.ollamaTags})
	s.route("/api/version", false, map[string]handlerFunc{"GET": s.ollamaVersion})
	s.route("/v1/evaluate", true, map[string]handlerFunc{"POST": s.evaluate})
	s.route("/v1/approvals", true, map[string]handlerFunc{"GET": s.listApprovals})
	s.route("/v1/approvals/{id}", true, map[string]handlerFunc{"GET": s.getApproval})
	s.route("/v1/approvals/{id}/approve", true, map[string]handlerFunc{"POST": s.decideApproval(true)})
	s.route("/v1/approvals/{id}/deny", true, map[string]handlerFunc{"POST": s.decideApproval(false)})
	s.route("/v1/denied", true, map[string]handlerFunc{"GET": s.denied})
	s.route("/v1/runs", true, map[string]handlerFunc{"GET": s.listRuns, "POST": s.startRun})
	s.route("/v1/runs/{id}", true, map[string]handlerFunc{"GET": s.getRun})
	s.route("/v1/runs/{id}/provenance", true, map[string]handlerFunc{"GET": s.getProvenance})
	s.route("/v1/council", true, map[string]handlerFunc{"POST": s.postCouncil})
	s.route("/v1/skills", true, map[string]handlerFunc{"GET": s.listSkills, "POST": s.installSkill})
	s.route("/v1/skills/{name}", true, map[string]handlerFunc{"GET": s.getSkill})
	s.route("/v1/skills/revocations", true, map[string]handlerFunc{"POST": s.revokeSkill})
	// Agents let a tool run when an http hook answers anything but 200 with
	// a decision, so this endpoint authenticates itself and answers every
	// failure, a bad token included, with a 200 "deny".
	s.route("/v1/hooks/{agent}", false, map[string]handlerFunc{"POST": s.agentHook})
	// Witnesses and monitors read checkpoints and hash tiles without a
	// token: they reveal hashes only. Entry bundles carry the entries and
	// need the owner token.
	s.route("/tlog/checkpoint", false, map[string]handlerFunc{"GET": s.checkpoint})
	s.route("/tlog/tile/", false, map[string]handlerFunc{"GET": s.tile})
	s.route("/", false, map[string]handlerFunc{})
	return s
}

// modelDoors are the routes whose bodies are whole conversations.
var modelDoors = map[string]bool{"/v1/embeddings": true, "/v1/chat/completions": true, "/v1/responses": true, "/v1/messages": true, "/api/chat": true}

// route registers a path with its handlers per method; other methods get
// 405 with an Allow header, unknown paths 404, both as JSON errors.
func (s *Server) route(pattern string, auth bool, methods map[string]handlerFunc) {
	allowed := make([]string, 0, len(methods)+1)
	for m := range methods {
		allowed = append(allowed, m)
	}
	if _, ok := methods["GET"]; ok {
		allowed = append(allowed, "HEAD")
	}
	sort.Strings(allowed)
	name := pattern
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					writeError(rec, errorf(http.StatusInternalServerError, "internal_error", "internal error; the daemon log has the details"))
				}
			}
			s.reqs.WithLabelValues(name, fmt.Sprint(rec.status)).Inc()
			s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		if len(methods) == 0 {
			writeError(rec, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no such endpoint: %s", r.URL.Path)))
			return
		}
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		h, ok := methods[method]
		if !ok {
			rec.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(rec, errorf(http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))))
			return
		}
		if auth {
			p, err := s.sys.Authenticate(r.Context(), bearer(r))
			if err != nil {
				writeError(rec, toError(err))
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		limit := s.sys.Config.Server.MaxBodyBytes
		if modelDoors[pattern] {
			limit = max(limit, door.MaxBody) // conversations with images are large
		}
		r.Body = http.MaxBytesReader(rec, r.Body, limit)
		if err := h(rec, r); err != nil {
			e := toError(err)
			if e.Status >= 500 {
				s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err.Error())
			}
			writeError(rec, e)
		}
	})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func principal(r *http.Request) kernel.Principal {
	p, _ := r.Context().Value(principalKey{}).(kernel.Principal)
	return p
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
