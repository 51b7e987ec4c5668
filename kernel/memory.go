package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mirroros/mirror/memory"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trust/lease"
)

// startMemory opens the memory plane. With memory.embed_model set, claims
// are embedded through the bus (as the kernel, under the root lease, so
// the embedding is routed, gated and audited like any call) and search is
// hybrid.
func (s *System) startMemory() {
	opts := memory.Options{Corroboration: s.Config.Memory.Corroboration, Logger: s.Log.With("plane", "memory")}
	if m := s.Config.Memory.EmbedModel; m != "" {
		opts.Embedder = &busEmbedder{s: s, model: m}
	}
	s.Memory = memory.New(s.Store, s.Ledger, opts)
}

// busEmbedder embeds memory text through the governed bus.
type busEmbedder struct {
	s     *System
	model string
}

func (e *busEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	root, err := e.s.leaseByID(ctx, lease.RootID)
	if err != nil {
		return nil, err
	}
	vecs, _, err := e.s.Embed(ctx, root, e.model, texts, CallOptions{Door: "memory", Agent: "memory"})
	return vecs, err
}

// memoryCache holds the canon's identity claims for the identity preamble,
// looked up at most once a second.
type memoryCache struct {
	mu      sync.Mutex
	checked time.Time
	text    string
}

// identityClaims renders the canon's identity claims for the preamble.
func (s *System) identityClaims() string {
	if s.Memory == nil {
		return ""
	}
	c := &s.memCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.checked.IsZero() && time.Since(c.checked) < identityRecheck {
		return c.text
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	claims, err := s.Memory.IdentityClaims(ctx)
	if err != nil {
		s.Log.Warn("identity claims not read", "err", err.Error())
		return c.text
	}
	var b strings.Builder
	if len(claims) > 0 {
		b.WriteString("\n\nWhat the kernel's memory holds as true about the person it serves (canon):\n")
		for _, cl := range claims {
			fmt.Fprintf(&b, "- %s\n", strings.Join(strings.Fields(cl.Statement), " "))
		}
	}
	c.text, c.checked = b.String(), time.Now()
	return c.text
}

// retrieval is the memory preamble for a call that opted in: canon claims
// relevant to the last user message, with citations.
func (s *System) retrieval(ctx context.Context, query string) string {
	if s.Memory == nil || strings.TrimSpace(query) == "" {
		return ""
	}
	if len(query) > 2000 {
		query = query[:2000]
	}
	cs, err := s.Memory.Retrieve(ctx, query, 5)
	if err != nil {
		s.Log.Warn("memory retrieval failed; the call goes on without it", "err", err.Error())
		return ""
	}
	return memory.FormatPreamble(cs)
}

// skillExtractor extracts claims with the extract-claims skill: a governed
// run under the caller's lease, so it is gated, budgeted, journaled and has
// a provenance record like any run.
type skillExtractor struct {
	s      *System
	lease  store.Lease
	source string
	runID  string
}

// Name attributes the extracted claims.
func (e *skillExtractor) Name() string { return "extract-claims" }

func (e *skillExtractor) Extract(ctx context.Context, text string) ([]memory.ExtractedClaim, error) {
	r, err := e.s.StartRun(ctx, e.lease, RunRequest{Skill: "extract-claims", Inputs: map[string]any{"text": text, "source": e.source}, Agent: "memory"})
	if err != nil {
		return nil, err
	}
	e.runID = r.ID
	r, err = e.s.waitRun(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	if r.State != RunSucceeded {
		return nil, fmt.Errorf("extract-claims run %s %s: %s", r.ID, r.State, r.Error)
	}
	var out struct {
		Claims []struct {
			Statement string `json:"statement"`
			Span      struct {
				Start int `json:"start"`
				End   int `json:"end"`
			} `json:"span"`
			Confidence float64 `json:"confidence"`
		} `json:"claims"`
	}
	if err := json.Unmarshal(r.Output, &out); err != nil {
		return nil, fmt.Errorf("extract-claims output: %w", err)
	}
	// The skill counts characters; memory spans are byte offsets.
	offsets := runeOffsets(text)
	claims := make([]memory.ExtractedClaim, 0, len(out.Claims))
	for _, c := range out.Claims {
		claims = append(claims, memory.ExtractedClaim{Statement: c.Statement, Confidence: c.Confidence,
			Start: byteOffset(offsets, c.Span.Start), End: byteOffset(offsets, c.Span.End)})
	}
	return claims, nil
}

// runeOffsets maps character positions to byte offsets (one past the end
// included).
func runeOffsets(s string) []int {
	out := make([]int, 0, utf8.RuneCountInString(s)+1)
	for i := range s {
		out = append(out, i)
	}
	return append(out, len(s))
}

func byteOffset(offsets []int, char int) int {
	switch {
	case char < 0:
		return char // out of range: memory drops or clamps it and says so
	case char >= len(offsets):
		return offsets[len(offsets)-1] + (char - len(offsets) + 1)
	}
	return offsets[char]
}

// ExtractClaims extracts claims from a piece of evidence with the
// extract-claims skill under the caller's lease.
func (s *System) ExtractClaims(ctx context.Context, l store.Lease, evidenceID string) (memory.ExtractResult, string, error) {
	ev, err := s.Memory.Evidence(ctx, evidenceID)
	if err != nil {
		return memory.ExtractResult{}, "", err
	}
	ex := &skillExtractor{s: s, lease: l, source: ev.Source}
	res, err := s.Memory.ExtractClaims(ctx, evidenceID, ex)
	if err != nil && ex.runID != "" {
		err = errors.Join(err, fmt.Errorf("see run %s", ex.runID))
	}
	return res, ex.runID, err
}
