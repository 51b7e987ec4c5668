package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/policy"
)

// MaxEventBody is the largest accepted POST /v1/audit/events body: an entry
// must fit the 64 KiB tlog-tiles limit after canonical re-encoding.
const MaxEventBody = 64 << 10

// Page limits for GET /v1/audit/entries.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

type eventRequest struct {
	Kind  string          `json:"kind"`
	Actor string          `json:"actor"`
	Body  json.RawMessage `json:"body"`
}

type eventResponse struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"`
	Kind     string `json:"kind"`
	Actor    string `json:"actor"`
}

// postEvent records an event from one of the owner's programs. Its kind is
// put under "event." and its actor under the authenticated principal, so an
// outside program can never write as the kernel or another plane.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:write"); err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEventBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("an event body may be at most %d bytes", MaxEventBody))
		}
		return errorf(http.StatusBadRequest, "bad_body", "could not read the body: "+err.Error())
	}
	ev, err := decodeEvent(principal(r), raw)
	if err != nil {
		return err
	}
	rs, err := s.sys.Ledger.Append(r.Context(), ev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, eventResponse{
		Index: rs[0].Index, LeafHash: base64.StdEncoding.EncodeToString(rs[0].LeafHash),
		Kind: ev.Kind, Actor: ev.Actor,
	})
	return nil
}

// decodeEvent parses a POST /v1/audit/events body and turns it into the
// event to record, validated and namespaced.
func decodeEvent(p kernel.Principal, raw []byte) (ledger.Event, error) {
	var req eventRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return ledger.Event{}, errorf(http.StatusBadRequest, "malformed_json", "the body must be a JSON object {\"kind\",\"actor\",\"body\"}: "+err.Error())
	}
	if dec.More() {
		return ledger.Event{}, errorf(http.StatusBadRequest, "malformed_json", "the body must hold exactly one JSON object")
	}
	ev, err := externalEvent(p, req)
	if err != nil {
		return ledger.Event{}, err
	}
	if err := ev.Validate(); err != nil {
		return ledger.Event{}, err
	}
	return ev, nil
}

// externalEvent namespaces an outside event.
func externalEvent(p kernel.Principal, req eventRequest) (ledger.Event, error) {
	if req.Kind == "" {
		return ledger.Event{}, errorf(http.StatusBadRequest, "invalid_event", "kind is required, e.g. \"backup.finished\"")
	}
	kind := req.Kind
	if !strings.HasPrefix(kind, "event.") {
		kind = "event." + kind
	}
	if !ledger.ValidKind(kind) {
		return ledger.Event{}, errorf(http.StatusBadRequest, "invalid_event",
			fmt.Sprintf("kind %q must be dot-separated segments of a-z, 0-9, _ and - (at most %d bytes with the event. prefix)", req.Kind, ledger.MaxKindLen))
	}
	actor := p.Name()
	if req.Actor != "" {
		actor += "/" + req.Actor
	}
	body := bytes.TrimSpace(req.Body)
	if bytes.Equal(body, []byte("null")) {
		body = nil // the same as leaving it out: {}
	}
	if len(body) > 0 && body[0] != '{' {
		return ledger.Event{}, errorf(http.StatusBadRequest, "invalid_event", "body must be a JSON object")
	}
	return ledger.Event{Kind: kind, Actor: actor, Body: body}, nil
}

func (s *Server) getEntry(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:read"); err != nil {
		return err
	}
	i, err := parseUint(r.PathValue("index"), "index")
	if err != nil {
		return err
	}
	data, err := s.sys.Ledger.Entry(r.Context(), i)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(data)
	return nil
}

// getBody answers a stored model-call body by its SHA-256 (audit.store_bodies).
func (s *Server) getBody(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:read"); err != nil {
		return err
	}
	h, err := hex.DecodeString(r.PathValue("sha256"))
	if err != nil || len(h) != sha256.Size {
		return errorf(http.StatusBadRequest, "invalid_parameter", "the body is named by its SHA-256 as 64 hex digits")
	}
	var data []byte
	err = s.sys.Store.View(r.Context(), func(tx store.ReadTx) (err error) {
		data, err = tx.Blob(r.Context(), h)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "no body stored with that hash (bodies are kept only with audit.store_bodies on)")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	w.Write(data)
	return nil
}

// listEntries streams a page of entries as JSON Lines, each line the exact
// stored bytes. The X-Ledger-Size header tells where the log ends.
func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:read"); err != nil {
		return err
	}
	q := r.URL.Query()
	from, err := optUint(q.Get("from"), "from", 0)
	if err != nil {
		return err
	}
	limit, err := optUint(q.Get("limit"), "limit", DefaultPageLimit)
	if err != nil {
		return err
	}
	if limit == 0 || limit > MaxPageLimit {
		return errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit must be between 1 and %d", MaxPageLimit))
	}
	size := s.sys.Ledger.Size()
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("X-Ledger-Size", strconv.FormatUint(size, 10))
	var buf bytes.Buffer
	err = s.sys.Ledger.Entries(r.Context(), from, int(limit), func(_ uint64, data []byte) error {
		buf.Write(data)
		buf.WriteByte('\n')
		return nil
	})
	if err != nil {
		return err
	}
	w.Write(buf.Bytes())
	return nil
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request) error {
	cp, err := s.sys.Ledger.Checkpoint()
	if err != nil {
		return errorf(http.StatusNotFound, "not_found", "no checkpoint has been signed yet")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(cp.Note)
	return nil
}

type proofResponse struct {
	Index  *uint64  `json:"index,omitempty"`
	From   *uint64  `json:"from,omitempty"`
	Size   uint64   `json:"size"`
	Hashes []string `json:"hashes"`
}

func encodeHashes(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// defaultSize is the size proofs are made against when none is given: the
// latest checkpoint's, so the proof checks against a signed root.
func (s *Server) defaultSize() uint64 {
	if cp, err := s.sys.Ledger.Checkpoint(); err == nil {
		return cp.Size
	}
	return s.sys.Ledger.Size()
}

func (s *Server) inclusion(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:read"); err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("index") == "" {
		return errorf(http.StatusBadRequest, "invalid_parameter", "index is required")
	}
	i, err := parseUint(q.Get("index"), "index")
	if err != nil {
		return err
	}
	size, err := optUint(q.Get("size"), "size", s.defaultSize())
	if err != nil {
		return err
	}
	if i >= size {
		return errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("index %d is not below size %d", i, size))
	}
	p, err := s.sys.Ledger.InclusionProof(r.Context(), i, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proofResponse{Index: &i, Size: size, Hashes: encodeHashes(p)})
	return nil
}

func (s *Server) consistency(w http.ResponseWriter, r *http.Request) error {
	if err := need(r, "audit:read"); err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("from") == "" {
		return errorf(http.StatusBadRequest, "invalid_parameter", "from is required")
	}
	from, err := parseUint(q.Get("from"), "from")
	if err != nil {
		return err
	}
	to, err := optUint(q.Get("to"), "to", s.defaultSize())
	if err != nil {
		return err
	}
	if from > to {
		return errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("from %d is larger than to %d", from, to))
	}
	p, err := s.sys.Ledger.ConsistencyProof(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proofResponse{From: &from, Size: to, Hashes: encodeHashes(p)})
	return nil
}

func (s *Server) pubkey(w http.ResponseWriter, r *http.Request) error {
	_, vkey, err := kernel.LoadVerifier(s.sys.DataDir)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, vkey+"\n")
	return nil
}

func (s *Server) tile(w http.ResponseWriter, r *http.Request) error {
	t, err := ledger.ParseTilePath(strings.TrimPrefix(r.URL.Path, "/tlog/"))
	if err != nil {
		return errorf(http.StatusNotFound, "not_found", err.Error())
	}
	if t.Entries {
		p, err := s.sys.Authenticate(r.Context(), bearer(r))
		if err != nil {
			return err
		}
		if !policy.ScopesCover(p.Lease.Scopes, "audit:read") {
			return errorf(http.StatusForbidden, "forbidden", fmt.Sprintf("lease %s has no scope covering audit:read", p.Name()))
		}
	}
	data, err := s.sys.Ledger.ReadTile(r.Context(), t)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if t.Width == ledger.TileWidth {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Write(data)
	return nil
}

func parseUint(s, name string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("%s must be a non-negative integer, got %q", name, s))
	}
	return n, nil
}

func optUint(s, name string, def uint64) (uint64, error) {
	if s == "" {
		return def, nil
	}
	return parseUint(s, name)
}

// Health is the body of GET /healthz.
type Health struct {
	Status               string  `json:"status"`
	Reason               string  `json:"reason,omitempty"`
	Version              string  `json:"version"`
	LedgerSize           uint64  `json:"ledger_size"`
	CheckpointSize       uint64  `json:"checkpoint_size"`
	CheckpointAgeSeconds float64 `json:"checkpoint_age_seconds"`
	UptimeSeconds        float64 `json:"uptime_seconds"`
}

func (s *Server) healthBody() (Health, int) {
	h := s.sys.Ledger.Health()
	resp := Health{
		Status: "ok", Version: kernel.Version,
		LedgerSize: h.Size, CheckpointSize: h.CheckpointSize,
		UptimeSeconds: time.Since(s.sys.Started).Seconds(),
	}
	if !h.CheckpointTime.IsZero() {
		resp.CheckpointAgeSeconds = time.Since(h.CheckpointTime).Seconds()
	}
	if !h.OK {
		resp.Status, resp.Reason = "degraded", h.Reason
		return resp, http.StatusServiceUnavailable
	}
	return resp, http.StatusOK
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	resp, code := s.healthBody()
	writeJSON(w, code, resp)
	return nil
}

// Status is the body of GET /v1/status.
type Status struct {
	Health
	Origin         string `json:"origin"`
	DataDir        string `json:"data_dir"`
	Addr           string `json:"addr"`
	PendingAppends int    `json:"pending_appends"`
	Started        string `json:"started"`
	// Breakers are the models whose circuit is not closed, with why.
	Breakers    []bus.Health `json:"breakers"`
	PolicyError string       `json:"policy_error,omitempty"` // the last refused policy reload
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	h, _ := s.healthBody()
	breakers := []bus.Health{}
	if s.sys.Router != nil {
		for _, b := range s.sys.Router.Health() {
			if b.Breaker.State != bus.Closed {
				breakers = append(breakers, b)
			}
		}
	}
	policyErr := ""
	if err := s.sys.PolicyError(); err != nil {
		policyErr = err.Error()
	}
	writeJSON(w, http.StatusOK, Status{
		Health:         h,
		Origin:         s.sys.Ledger.Origin(),
		DataDir:        s.sys.DataDir,
		Addr:           s.sys.Config.Server.Addr,
		PendingAppends: s.sys.Ledger.Health().Pending,
		Started:        s.sys.Started.UTC().Format(time.RFC3339),
		Breakers:       breakers,
		PolicyError:    policyErr,
	})
	return nil
}
