package memory

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mirroros/mirror/store"
)

// Search limits.
const (
	// DefaultSearchLimit is how many hits a search returns when Limit is 0.
	DefaultSearchLimit = 10
	// MaxSearchLimit is the most hits a search returns.
	MaxSearchLimit = 100

	maxQueryTerms = 32
	maxTermLen    = 64
	// rrfK is the constant of reciprocal rank fusion: a hit's fused score
	// is the sum over rankings of 1/(rrfK + rank).
	rrfK = 60
)

// stopWords are dropped from queries that have other words: they match
// most statements, cost the most to rank and say the least.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be been but by can could did do does for from had has have
		he her hers him his how i if in into is it its me my of on or our ours she should so than that the their
		them then there these they this those to us was we were what when where which while who whom why will
		with would you your yours`) {
		stopWords[w] = true
	}
}

// queryTerms splits user text into search terms: runs of letters, digits
// and combining marks, lower-cased, deduplicated, at most maxQueryTerms.
// A run directly followed by "*" becomes a prefix term ("berl*"). Nothing
// else of the text survives, so no query syntax can reach the index.
func queryTerms(text string) []string {
	text = strings.ToValidUTF8(text, " ")
	var (
		terms, stops []string
		seen         = map[string]bool{}
		word         strings.Builder
	)
	flush := func(prefix bool) {
		w := strings.ToLower(word.String())
		word.Reset()
		if w == "" || len(w) > maxTermLen {
			return
		}
		if prefix {
			w += "*"
		}
		if seen[w] {
			return
		}
		seen[w] = true
		if stopWords[w] {
			stops = append(stops, w)
		} else {
			terms = append(terms, w)
		}
	}
	for _, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r):
			word.WriteRune(r)
		case r == '*':
			flush(true)
		default:
			flush(false)
		}
	}
	flush(false)
	if len(terms) == 0 {
		terms = stops
	}
	if len(terms) > maxQueryTerms {
		terms = terms[:maxQueryTerms]
	}
	return terms
}

// Query is a search over memory.
type Query struct {
	// Text is what to look for, in plain words; any word may match. Empty
	// text lists the newest claims matching the filters.
	Text     string
	Statuses []Status // empty: live claims (candidate and canon) unless AsOf is set, then any
	Kinds    []Kind
	Subject  string
	// AsOf, if set, keeps claims the system believed at that moment
	// (system time).
	AsOf time.Time
	// ValidAt, if set, keeps claims that held in the world at that moment
	// (world time).
	ValidAt time.Time
	Limit   int // default DefaultSearchLimit, at most MaxSearchLimit
	// Evidence also searches the text of unredacted evidence.
	Evidence bool
}

// Results are what a search found, best first.
type Results struct {
	Claims   []ClaimHit    `json:"claims"`
	Evidence []EvidenceHit `json:"evidence,omitempty"`
	// Hybrid is true when claims were ranked by both BM25 and embedding
	// similarity.
	Hybrid bool `json:"hybrid"`
}

// ClaimHit is a claim found by a search. Score is BM25 (negated, so higher
// is better) for a text-only search, 0 for a claim found only through
// words that are in very many claims (see the package documentation), and
// the reciprocal-rank-fusion score for a hybrid search.
type ClaimHit struct {
	Claim      Claim   `json:"claim"`
	Score      float64 `json:"score"`
	TextRank   int     `json:"text_rank,omitempty"`   // 1-based rank by BM25; 0: not in that ranking
	VectorRank int     `json:"vector_rank,omitempty"` // 1-based rank by cosine similarity; 0: not in that ranking
}

// EvidenceHit is evidence whose text matched, with a snippet around the
// first match. Its Content is not included.
type EvidenceHit struct {
	Evidence Evidence `json:"evidence"`
	Snippet  string   `json:"snippet"`
	Score    float64  `json:"score"`
}

func (q Query) filter() (store.ClaimFilter, error) {
	f := Filter{Statuses: q.Statuses, Kinds: q.Kinds, Subject: q.Subject, BelievedAt: q.AsOf, TrueAt: q.ValidAt}
	if len(f.Statuses) == 0 && q.AsOf.IsZero() {
		f.Statuses = []Status{StatusCandidate, StatusCanon}
	}
	return f.store()
}

// Search finds claims (and, if asked, evidence) matching q. User text never
// makes it fail: it is reduced to plain words before it reaches the index.
func (m *Memory) Search(ctx context.Context, q Query) (Results, error) {
	sf, err := q.filter()
	if err != nil {
		return Results{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	res := Results{Claims: []ClaimHit{}}
	terms := queryTerms(q.Text)
	if len(terms) == 0 && strings.TrimSpace(q.Text) != "" {
		return res, nil // text without a single word: nothing can match
	}

	var qvec []float32
	if m.emb != nil && len(terms) > 0 {
		if vs, err := m.emb.Embed(ctx, []string{q.Text}); err != nil || len(vs) != 1 || !usableVector(vs[0]) {
			m.log.Warn("memory: query embedding failed; searching by text only", "err", err)
		} else {
			qvec = vs[0]
		}
	}
	fetch := limit
	if qvec != nil {
		fetch = max(3*limit, 30)
	}
	var hits []store.ClaimHit
	err = m.st.View(ctx, func(tx store.ReadTx) (err error) {
		hits, err = tx.SearchClaims(ctx, store.ClaimSearch{Terms: terms, Filter: sf, Limit: fetch})
		return err
	})
	if err != nil {
		return Results{}, err
	}
	if qvec == nil {
		for i, h := range hits {
			res.Claims = append(res.Claims, ClaimHit{Claim: claimOf(h.Claim), Score: h.Score, TextRank: i + 1})
		}
	} else {
		vhits, err := m.vectorSearch(ctx, qvec, sf, fetch)
		if err != nil {
			return Results{}, err
		}
		res.Claims = fuse(hits, vhits, limit)
		res.Hybrid = true
	}
	if len(res.Claims) > limit {
		res.Claims = res.Claims[:limit]
	}
	if q.Evidence && len(terms) > 0 {
		var ehits []store.EvidenceHit
		err := m.st.View(ctx, func(tx store.ReadTx) (err error) {
			ehits, err = tx.SearchEvidence(ctx, store.EvidenceSearch{Terms: terms, Limit: limit})
			return err
		})
		if err != nil {
			return Results{}, err
		}
		for _, h := range ehits {
			e := evidenceOf(h.Evidence)
			res.Evidence = append(res.Evidence, EvidenceHit{Evidence: withoutContent(e), Snippet: snippet(string(e.Content), terms), Score: h.Score})
		}
	}
	return res, nil
}

// fuse merges the BM25 and cosine rankings by reciprocal rank fusion.
func fuse(text []store.ClaimHit, vec []vectorHit, limit int) []ClaimHit {
	byID := map[string]*ClaimHit{}
	var order []*ClaimHit
	get := func(c store.Claim) *ClaimHit {
		h, ok := byID[c.ID]
		if !ok {
			h = &ClaimHit{Claim: claimOf(c)}
			byID[c.ID] = h
			order = append(order, h)
		}
		return h
	}
	for i, t := range text {
		h := get(t.Claim)
		h.TextRank = i + 1
		h.Score += 1 / float64(rrfK+i+1)
	}
	for i, v := range vec {
		h := get(v.claim)
		h.VectorRank = i + 1
		h.Score += 1 / float64(rrfK+i+1)
	}
	slices.SortStableFunc(order, func(a, b *ClaimHit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	out := make([]ClaimHit, 0, min(limit, len(order)))
	for _, h := range order[:min(limit, len(order))] {
		out = append(out, *h)
	}
	return out
}

// snippet returns about 160 bytes of text around the first match of any
// term, on one line.
func snippet(text string, terms []string) string {
	const width = 160
	lower := strings.ToLower(text)
	at := -1
	for _, t := range terms {
		if i := strings.Index(lower, strings.TrimSuffix(t, "*")); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	start := max(0, at-width/3)
	if at < 0 || len(lower) != len(text) {
		start = 0 // lower-casing changed byte offsets: start at the top
	}
	end := min(len(text), start+width)
	for start > 0 && !utf8.RuneStart(text[start]) {
		start--
	}
	for end < len(text) && !utf8.RuneStart(text[end]) {
		end++
	}
	s := strings.Join(strings.Fields(text[start:end]), " ")
	if start > 0 {
		s = "…" + s
	}
	if end < len(text) {
		s += "…"
	}
	return s
}

// --- embeddings ---

func usableVector(v []float32) bool {
	if len(v) == 0 {
		return false
	}
	var n float64
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return false
		}
		n += float64(f) * float64(f)
	}
	return n > 0
}

// embedStatements embeds the statements of new claims. A failure is logged
// and leaves the claims without embeddings: memory works without them, and
// EmbedMissing fills them in later.
func (m *Memory) embedStatements(ctx context.Context, ins []NewClaim) [][]float32 {
	out := make([][]float32, len(ins))
	if m.emb == nil {
		return out
	}
	texts := make([]string, len(ins))
	for i, in := range ins {
		texts[i] = in.Statement
	}
	vs, err := m.emb.Embed(ctx, texts)
	if err == nil && len(vs) != len(texts) {
		err = fmt.Errorf("the embedder returned %d vectors for %d texts", len(vs), len(texts))
	}
	if err != nil {
		m.log.Warn("memory: embedding claims failed; they are stored without embeddings", "err", err)
		return out
	}
	for i, v := range vs {
		if usableVector(v) {
			out[i] = v
		}
	}
	return out
}

// EmbedMissing embeds every claim that has no stored embedding and returns
// how many it embedded. Embeddings are derived from statements, so they
// are stored without ledger entries. Without an Embedder it does nothing.
func (m *Memory) EmbedMissing(ctx context.Context) (int, error) {
	if m.emb == nil {
		return 0, nil
	}
	have := map[string]bool{}
	var todo []store.Claim
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		if err := tx.ClaimEmbeddings(ctx, 0, func(e store.ClaimEmbedding) error {
			have[e.ClaimID] = true
			return nil
		}); err != nil {
			return err
		}
		cs, err := tx.Claims(ctx, store.ClaimFilter{})
		for _, c := range cs {
			if !have[c.ID] {
				todo = append(todo, c)
			}
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	done := 0
	for len(todo) > 0 {
		batch := todo[:min(64, len(todo))]
		todo = todo[len(batch):]
		texts := make([]string, len(batch))
		for i, c := range batch {
			texts[i] = c.Statement
		}
		vs, err := m.emb.Embed(ctx, texts)
		if err != nil {
			return done, fmt.Errorf("memory: embed: %w", err)
		}
		if len(vs) != len(texts) {
			return done, fmt.Errorf("memory: the embedder returned %d vectors for %d texts", len(vs), len(texts))
		}
		err = m.st.Update(ctx, func(tx store.Tx) error {
			for i, c := range batch {
				if usableVector(vs[i]) {
					if err := tx.PutClaimEmbedding(ctx, c.ID, vs[i]); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += len(batch)
	}
	return done, nil
}

// vectorIndex holds every stored claim embedding, unit-normalized, and
// catches up with the store before each search.
type vectorIndex struct {
	seq  int64
	pos  map[string]int
	ids  []string
	vecs [][]float32
}

type vectorHit struct {
	claim store.Claim
	sim   float64
}

func normalized(v []float32) []float32 {
	var n float64
	for _, f := range v {
		n += float64(f) * float64(f)
	}
	n = math.Sqrt(n)
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(float64(f) / n)
	}
	return out
}

// vectorSearch ranks the claims matching f by cosine similarity to q.
func (m *Memory) vectorSearch(ctx context.Context, q []float32, f store.ClaimFilter, k int) ([]vectorHit, error) {
	m.vecMu.Lock()
	defer m.vecMu.Unlock()
	x := &m.vecs
	if x.pos == nil {
		x.pos = map[string]int{}
	}
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		return tx.ClaimEmbeddings(ctx, x.seq, func(e store.ClaimEmbedding) error {
			x.seq = e.Seq
			if !usableVector(e.Vector) {
				return nil
			}
			v := normalized(e.Vector)
			if i, ok := x.pos[e.ClaimID]; ok {
				x.vecs[i] = v
				return nil
			}
			x.pos[e.ClaimID] = len(x.ids)
			x.ids = append(x.ids, e.ClaimID)
			x.vecs = append(x.vecs, v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	qn := normalized(q)
	type scored struct {
		i   int
		sim float64
	}
	all := make([]scored, 0, len(x.ids))
	for i, v := range x.vecs {
		if len(v) != len(qn) {
			continue // embedded by another model
		}
		var dot float32
		for j := range v {
			dot += v[j] * qn[j]
		}
		if dot > 0 { // orthogonal or opposite: not similar at all
			all = append(all, scored{i, float64(dot)})
		}
	}
	slices.SortFunc(all, func(a, b scored) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return strings.Compare(x.ids[a.i], x.ids[b.i])
	})
	// Take more than k: the filter below may drop some.
	take := all[:min(len(all), 4*k)]
	sims := make(map[string]float64, len(take))
	ids := make([]string, len(take))
	for i, s := range take {
		ids[i] = x.ids[s.i]
		sims[ids[i]] = s.sim
	}
	if len(ids) == 0 {
		return nil, nil
	}
	f.IDs, f.AfterSeq, f.Limit = ids, 0, 0
	var cs []store.Claim
	err = m.st.View(ctx, func(tx store.ReadTx) (err error) {
		cs, err = tx.Claims(ctx, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]vectorHit, len(cs))
	for i, c := range cs {
		out[i] = vectorHit{claim: c, sim: sims[c.ID]}
	}
	slices.SortStableFunc(out, func(a, b vectorHit) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return strings.Compare(a.claim.ID, b.claim.ID)
	})
	return out[:min(len(out), k)], nil
}
