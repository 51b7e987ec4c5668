package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one thing load is sent to.
type target struct {
	name   string
	url    string // the chat-completions endpoint
	token  string // sent as Authorization: Bearer when set
	model  string
	client *http.Client
}

func newClient(maxInflight int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        maxInflight,
		MaxIdleConnsPerHost: maxInflight,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// errStream is a stream that ended without [DONE].
var errStream = errors.New("the stream ended without data: [DONE]")

// do sends one request and reads the whole answer. For a stream, ttft is
// when the first SSE data line arrived (zero time when none did).
func (t *target) do(ctx context.Context, body []byte, stream bool) (ttft time.Time, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return ttft, err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return ttft, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return ttft, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if !stream {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return ttft, err
		}
		if !bytes.Contains(b, []byte(answer)) {
			return ttft, fmt.Errorf("unexpected answer: %.200s", b)
		}
		return ttft, nil
	}
	br := bufio.NewReaderSize(resp.Body, 4096)
	for range 1000 { // a stream of the fake upstream is a handful of lines
		line, err := br.ReadSlice('\n')
		if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if ttft.IsZero() {
				ttft = time.Now()
			}
			if string(bytes.TrimSpace(data)) == "[DONE]" {
				io.Copy(io.Discard, io.LimitReader(br, 1<<16))
				return ttft, nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return ttft, errStream
			}
			return ttft, err
		}
	}
	return ttft, errStream
}

// runStats is one measured run.
type runStats struct {
	sent, ok, errs int
	elapsed        time.Duration   // from the first scheduled send to the last answer
	lat            []time.Duration // successful requests only, sorted
	ttft           []time.Duration // streams only, sorted
	firstErr       string
	cpu            time.Duration // process CPU time (user+system) during the run
}

func (r runStats) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// pct is the q-quantile of sorted durations, in milliseconds.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q + 0.5)
	i = min(max(i-1, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openLoop sends rate requests a second for dur, each at the time the
// open-loop clock scheduled it, whatever happened to earlier ones, with at
// most maxInflight in flight. Latency is measured from the scheduled time,
// so a request that waited for a free slot (or for a late scheduler) is
// charged with the wait: no coordinated omission. A request that could not
// be sent by the end of the run plus one timeout is an error.
func openLoop(ctx context.Context, t *target, rate int, dur time.Duration, maxInflight int, timeout time.Duration, stream bool) runStats {
	n := max(int(float64(rate)*dur.Seconds()), 1)
	interval := time.Second / time.Duration(rate)
	body := requestBody(t.model, stream)
	lat := make([]time.Duration, n)
	ttft := make([]time.Duration, n)
	okv := make([]bool, n)
	var firstErr atomic.Value
	sem := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now().Add(time.Millisecond)
	giveUp := time.NewTimer(time.Until(start.Add(dur + timeout)))
	defer giveUp.Stop()
	sent := 0
schedule:
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		select {
		case sem <- struct{}{}:
		case <-giveUp.C:
			firstErr.CompareAndSwap(nil, "not sent: all in-flight slots busy until the run's deadline")
			break schedule
		case <-ctx.Done():
			break schedule
		}
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			first, err := t.do(rctx, body, stream)
			if err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			lat[i] = time.Since(at)
			if stream {
				ttft[i] = first.Sub(at)
			}
			okv[i] = true
		}()
	}
	wg.Wait()
	r := runStats{sent: sent, elapsed: time.Since(start), cpu: cpuTime() - cpu0}
	for i := range n {
		if okv[i] {
			r.ok++
			r.lat = append(r.lat, lat[i])
			if stream {
				r.ttft = append(r.ttft, ttft[i])
			}
		}
	}
	r.errs = n - r.ok
	if v, ok := firstErr.Load().(string); ok {
		r.firstErr = v
	}
	slices.Sort(r.lat)
	slices.Sort(r.ttft)
	return r
}

// closedLoop runs workers that each send the next request as soon as the
// previous one is answered, for dur (and at most maxRequests in all).
func closedLoop(ctx context.Context, t *target, workers int, dur, timeout time.Duration, maxRequests int) runStats {
	body := requestBody(t.model, false)
	lats := make([][]time.Duration, workers)
	var errs, issued atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(dur)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil && issued.Add(1) <= int64(maxRequests) {
				rctx, cancel := context.WithTimeout(ctx, timeout)
				t0 := time.Now()
				_, err := t.do(rctx, body, false)
				cancel()
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	r := runStats{elapsed: time.Since(start), errs: int(errs.Load()), cpu: cpuTime() - cpu0}
	r.lat = slices.Concat(lats...)
	r.ok = len(r.lat)
	r.sent = r.ok + r.errs
	slices.Sort(r.lat)
	if v, ok := firstErr.Load().(string); ok {
		r.firstErr = v
	}
	return r
}
