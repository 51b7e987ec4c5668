package memory

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
)

// BenchmarkAddEvidence measures evidence ingest through the full path:
// validation, hashing, one ledger group commit and fsync per call.
func BenchmarkAddEvidence(b *testing.B) {
	f := newFixture(b, Options{})
	ctx := context.Background()
	var n atomic.Int64
	content := func() []byte {
		return fmt.Appendf(nil, "turn %d: the user mentioned that the staging cluster runs in eu-west-1 and deploys on Tuesdays", n.Add(1))
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := f.m.AddEvidence(ctx, NewEvidence{Kind: EvidenceTurn, Content: content(), Actor: actor}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evidence/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := f.m.AddEvidence(ctx, NewEvidence{Kind: EvidenceTurn, Content: content(), Actor: actor}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "evidence/s")
	})
}

// BenchmarkAddClaim measures claim ingest through the full path: span
// checks, the corroboration lookup, one ledger group commit per call.
func BenchmarkAddClaim(b *testing.B) {
	f := newFixture(b, Options{})
	ctx := context.Background()
	e := f.evidence(b, strings.Repeat("the user said many things in this conversation. ", 20), time.Time{})
	var n atomic.Int64
	claim := func() NewClaim {
		i := n.Add(1)
		return NewClaim{Statement: fmt.Sprintf("The user mentioned fact number %d about the project", i),
			Spans: []Span{{EvidenceID: e.ID, Start: int(i % 500), End: int(i%500) + 40}}, Confidence: 0.8, Actor: actor}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.m.AddClaim(ctx, claim()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.m.AddClaim(ctx, claim()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	})
}

// corpus generates statements from a Zipf-distributed vocabulary, so that
// a few words are in most statements and most words in few, as in text.
type corpus struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	words []string
}

func newCorpus(seed uint64, vocabulary int) *corpus {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	syl := []string{"ka", "lo", "mi", "ter", "san", "vo", "ri", "en", "dal", "pu", "shi", "gor", "na", "bel", "tu", "rex", "ol", "fin"}
	seen := map[string]bool{}
	var words []string
	for len(words) < vocabulary {
		var w strings.Builder
		for range 2 + rng.IntN(3) {
			w.WriteString(syl[rng.IntN(len(syl))])
		}
		if !seen[w.String()] {
			seen[w.String()] = true
			words = append(words, w.String())
		}
	}
	return &corpus{rng: rng, zipf: rand.NewZipf(rng, 1.07, 8, uint64(vocabulary-1)), words: words}
}

func (c *corpus) word() string { return c.words[c.zipf.Uint64()] }

func (c *corpus) statement() string {
	n := 6 + c.rng.IntN(10)
	ws := make([]string, n)
	for i := range ws {
		ws[i] = c.word()
	}
	return "The user " + strings.Join(ws, " ")
}

// query is what a person or a model would type: one to four words, some of
// them common, sometimes with stop words around them.
func (c *corpus) query() string {
	var ws []string
	if c.rng.IntN(3) == 0 {
		ws = append(ws, "what", "does", "the")
	}
	for range 1 + c.rng.IntN(4) {
		ws = append(ws, c.word())
	}
	return strings.Join(ws, " ")
}

// loadClaims stores n claims straight through the store, in batches of
// 5,000 per transaction. Setup only: it bypasses the ledger (and so would
// not pass Verify) to build 100k claims in seconds.
func loadClaims(b *testing.B, f *fixture, n int) {
	b.Helper()
	ctx := context.Background()
	c := newCorpus(1, 20000)
	var ev []store.Evidence
	for i := range 200 {
		text := []byte(fmt.Sprintf("conversation %d: %s. %s.", i, c.statement(), c.statement()))
		ev = append(ev, store.Evidence{ID: EvidenceID(text), Kind: "turn", Actor: actor, ObservedAt: t0, Created: t0,
			Size: int64(len(text)), Content: text, Text: true})
	}
	kinds := []Kind{KindFact, KindFact, KindFact, KindPreference, KindEvent, KindIdentity, KindOther}
	start := time.Now()
	for done := 0; done < n; {
		err := f.st.Update(ctx, func(tx store.Tx) error {
			if done == 0 {
				for _, e := range ev {
					if err := tx.PutEvidence(ctx, e); err != nil {
						return err
					}
				}
			}
			for i := 0; i < 5000 && done < n; i++ {
				s := c.statement()
				k := kinds[c.rng.IntN(len(kinds))]
				e := ev[c.rng.IntN(len(ev))]
				created := t0.Add(time.Duration(done) * time.Second)
				cl := store.Claim{
					ID: newID("clm_"), Statement: s, Normalized: Normalize(s), Kind: string(k), Confidence: 0.5 + c.rng.Float64()/2,
					Status: store.ClaimCandidate, ContentHash: ClaimHash(s, "", k), ValidAt: created.Add(-24 * time.Hour), CreatedAt: created,
					Actor: actor, Provenance: []store.Span{{EvidenceID: e.ID, Start: 0, End: 10, Actor: actor, Added: created}},
				}
				switch r := c.rng.IntN(10); {
				case r == 0:
					cl.Status = store.ClaimCanon
				case r == 1:
					cl.Status, cl.InvalidAt, cl.ExpiredAt = store.ClaimDemoted, created.Add(time.Hour), created.Add(time.Hour)
				}
				if err := tx.PutClaim(ctx, cl); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d claims in %s", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkSearch measures search latency over 10k and 100k claims without
// embeddings and reports the 50th and 95th percentiles in milliseconds.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("claims=%d", n), func(b *testing.B) {
			f := newFixture(b, Options{})
			loadClaims(b, f, n)
			ctx := context.Background()
			for _, bench := range []struct {
				name  string
				query func(c *corpus) Query
			}{
				{"live", func(c *corpus) Query { return Query{Text: c.query()} }},
				{"as_of+valid_at", func(c *corpus) Query {
					at := t0.Add(time.Duration(c.rng.IntN(n)) * time.Second)
					return Query{Text: c.query(), AsOf: at, ValidAt: at}
				}},
				{"canon", func(c *corpus) Query { return Query{Text: c.query(), Statuses: []Status{StatusCanon}} }},
			} {
				b.Run(bench.name, func(b *testing.B) {
					c := newCorpus(1, 20000) // the same vocabulary as the claims
					c.rng = rand.New(rand.NewPCG(7, 7))
					c.zipf = rand.NewZipf(c.rng, 1.07, 8, uint64(len(c.words)-1))
					qs := make([]Query, 1000)
					for i := range qs {
						qs[i] = bench.query(c)
					}
					lat := make([]time.Duration, 0, b.N)
					i := 0
					for b.Loop() {
						start := time.Now()
						if _, err := f.m.Search(ctx, qs[i%len(qs)]); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(start))
						i++
					}
					reportPercentiles(b, lat)
				})
			}
			// The baseline, measured on the same database: plain FTS5 BM25
			// over every match (any query word), the way a search over
			// SQLite is usually written.
			b.Run("baseline-fts5-bm25", func(b *testing.B) {
				db, err := sql.Open("sqlite", "file:"+f.path+"?mode=ro")
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				c := newCorpus(1, 20000)
				c.rng = rand.New(rand.NewPCG(7, 7))
				c.zipf = rand.NewZipf(c.rng, 1.07, 8, uint64(len(c.words)-1))
				qs := make([]string, 1000)
				for i := range qs {
					var terms []string
					for _, w := range strings.Fields(c.query()) {
						terms = append(terms, `"`+w+`"`)
					}
					qs[i] = strings.Join(terms, " OR ")
				}
				lat := make([]time.Duration, 0, b.N)
				i := 0
				for b.Loop() {
					start := time.Now()
					rows, err := db.QueryContext(ctx, `SELECT c.id FROM memory_claims_fts JOIN memory_claims c ON c.seq = memory_claims_fts.rowid
						WHERE memory_claims_fts MATCH ? AND c.status IN ('candidate', 'canon') ORDER BY rank LIMIT 20`, qs[i%len(qs)])
					if err != nil {
						b.Fatal(err)
					}
					for rows.Next() {
					}
					rows.Close()
					lat = append(lat, time.Since(start))
					i++
				}
				reportPercentiles(b, lat)
			})
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
