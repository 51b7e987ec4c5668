package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
)

// BenchmarkEvaluateHTTP measures audited decisions over HTTP: each
// POST /v1/evaluate is classified, decided by the default policy pack and
// recorded durably in the ledger before it is answered.
func BenchmarkEvaluateHTTP(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			dir := b.TempDir()
			sys, err := kernel.Open(context.Background(), dir, config.Default(), kernel.Options{})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(api.New(sys))
			defer func() { srv.Close(); sys.Close(context.Background()) }()
			raw, _ := os.ReadFile(filepath.Join(dir, kernel.OwnerTokenFile))
			tok := strings.TrimSpace(string(raw))
			tr := &http.Transport{MaxIdleConnsPerHost: clients}
			client := &http.Client{Transport: tr}
			cmds := []string{"ls -la", "git status", "go test ./...", "rm -rf /", "curl https://example.com", "cat README.md"}
			var next atomic.Int64
			lat := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						body := bash(cmds[i%len(cmds)])
						req, _ := http.NewRequest("POST", srv.URL+"/v1/evaluate", bytes.NewReader([]byte(body)))
						req.Header.Set("Authorization", "Bearer "+tok)
						t0 := time.Now()
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
						lat[c] = append(lat[c], time.Since(t0))
					}
				}(c)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			p := func(q float64) float64 {
				if len(all) == 0 {
					return 0
				}
				return float64(all[min(len(all)-1, int(float64(len(all))*q))].Microseconds()) / 1000
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
			b.ReportMetric(p(0.5), "p50-ms")
			b.ReportMetric(p(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
