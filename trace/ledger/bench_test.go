package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
)

// benchEvent is about the size of a policy decision record.
func benchEvent(i int) Event {
	return Event{Kind: "policy.decision", Actor: "agent/claude-code", Body: json.RawMessage(
		fmt.Sprintf(`{"decision":"allow","n":%d,"reasons":["policy.default"],"tool":"Bash"}`, i))}
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// runWriters spreads n calls of op over w goroutines and reports
// throughput and latency percentiles.
func runWriters(b *testing.B, w int, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, w)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(percentile(all, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAppend measures durable appends (each returns only after its
// group commit is fsynced) with 1, 64 and 1024 concurrent writers.
func BenchmarkAppend(b *testing.B) {
	for _, w := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) {
			f := newFixture(b, Options{})
			ctx := context.Background()
			runWriters(b, w, func(i int) error {
				_, err := f.l.Append(ctx, benchEvent(i))
				return err
			})
		})
	}
}

// BenchmarkCommit measures Ledger.Commit, a state change and its entry in
// one transaction, as the trust and runtime planes use it (a lease update,
// a policy decision with its budget reservation).
func BenchmarkCommit(b *testing.B) {
	for _, w := range []int{64, 1024} {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) {
			f := newFixture(b, Options{})
			ctx := context.Background()
			runWriters(b, w, func(i int) error {
				return f.l.Commit(ctx, func(tx *Tx) error {
					if err := tx.Store().SetMeta(ctx, fmt.Sprintf("k%d", i%4096), []byte("v")); err != nil {
						return err
					}
					_, err := tx.Append(benchEvent(i))
					return err
				})
			})
		})
	}
}

// BenchmarkBaselineSQLiteGroupCommit is the floor the ledger is measured
// against in the same run: the same rows inserted by the same kind of
// group-commit loop into a bare SQLite table, with no tree, no hashing, no
// checkpoints and no entry encoding.
func BenchmarkBaselineSQLiteGroupCommit(b *testing.B) {
	for _, w := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bare.db")
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(16384)&_txlock=immediate")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			if _, err := db.Exec(`CREATE TABLE t (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			type req struct {
				data []byte
				done chan error
			}
			reqs := make(chan req, 4*8192)
			stop := make(chan struct{})
			go func() {
				var next int64
				for {
					var batch []req
					select {
					case r := <-reqs:
						batch = append(batch, r)
					case <-stop:
						return
					}
				fill:
					for len(batch) < 8192 {
						select {
						case r := <-reqs:
							batch = append(batch, r)
						default:
							break fill
						}
					}
					tx, err := db.Begin()
					if err == nil {
						stmt, _ := tx.Prepare(`INSERT INTO t(idx, data) VALUES (?, ?)`)
						for _, r := range batch {
							if _, err = stmt.Exec(next, r.data); err != nil {
								break
							}
							next++
						}
						stmt.Close()
						if err == nil {
							err = tx.Commit()
						} else {
							tx.Rollback()
						}
					}
					for _, r := range batch {
						r.done <- err
					}
				}
			}()
			defer close(stop)
			runWriters(b, w, func(i int) error {
				data := fmt.Appendf(nil, `{"actor":"agent/claude-code","body":{"decision":"allow","n":%d,"reasons":["policy.default"],"tool":"Bash"},"index":%d,"kind":"policy.decision","time":"%s"}`,
					i, i, time.Now().UTC().Format(TimeFormat))
				r := req{data: data, done: make(chan error, 1)}
				reqs <- r
				return <-r.done
			})
		})
	}
}

// BenchmarkCheckpointCoverage measures the time from an append's
// acknowledgement to the first signed checkpoint covering it, under a
// steady load of 64 writers.
func BenchmarkCheckpointCoverage(b *testing.B) {
	f := newFixture(b, Options{})
	ctx := context.Background()
	var stopLoad atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopLoad.Load(); i++ {
				f.l.Append(ctx, benchEvent(i))
			}
		}()
	}
	var cover []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := f.l.Append(ctx, benchEvent(i))
		if err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		for {
			if cp, err := f.l.Checkpoint(); err == nil && cp.Size > rs[0].Index {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cover = append(cover, time.Since(acked))
		// Start the next sample at a random point of the checkpoint interval.
		time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
	}
	b.StopTimer()
	stopLoad.Store(true)
	wg.Wait()
	b.ReportMetric(float64(percentile(cover, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(cover, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(slices.Max(cover).Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkVerify measures full verification (every leaf rehashed, the tree
// rebuilt, checkpoints and stored nodes checked) of a 200,000-entry log, and
// as a baseline in the same run the bare cost of reading the same rows.
func BenchmarkVerify(b *testing.B) {
	const n = 200_000
	f := newFixture(b, Options{CheckpointInterval: 100 * time.Millisecond})
	ctx := context.Background()
	for i := 0; i < n; i += 1000 {
		evs := make([]Event, 1000)
		for j := range evs {
			evs[j] = benchEvent(i + j)
		}
		if _, err := f.l.Append(ctx, evs...); err != nil {
			b.Fatal(err)
		}
	}
	f.l.Close(ctx)
	b.Run("full", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			err := f.st.View(ctx, func(tx store.ReadTx) error {
				rep, err := VerifyStore(ctx, tx, f.keys.verifier, VerifyOptions{})
				if err == nil && rep.Size != n {
					err = fmt.Errorf("verified %d entries", rep.Size)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("baseline-read-rows", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var count int
			f.st.View(ctx, func(tx store.ReadTx) error {
				return tx.LedgerEntries(ctx, 0, n, func(store.LedgerEntry) error { count++; return nil })
			})
			if count != n {
				b.Fatalf("read %d rows", count)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}
