package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"
)

// Targets, in the order they are measured and reported.
const (
	direct   = "direct"
	proxy    = "proxy"
	governed = "governed"
)

var targetNames = []string{direct, proxy, governed}

// Config is one benchmark run.
type Config struct {
	Rates          []int         // open-loop rates, requests a second
	Duration       time.Duration // of each open-loop run
	MaxDuration    time.Duration // of each closed-loop (max throughput) run
	Workers        int           // closed-loop workers
	StreamRate     int           // requests a second of the streaming run
	StreamDuration time.Duration
	Warmup         time.Duration // unmeasured closed-loop load before each target's first run
	MaxInflight    int           // bound on requests in flight per run
	Timeout        time.Duration // per request
	Model          string        // the upstream's model name
	CPUProfile     string        // if set, a CPU profile of the governed max-throughput run
	Trace          string        // if set, an execution trace of the governed open-loop run at the first rate
	Log            io.Writer     // progress; nil: none
}

// DefaultConfig is a full run of about two minutes.
func DefaultConfig() Config {
	return Config{
		Rates: []int{500, 1000, 2000}, Duration: 10 * time.Second, MaxDuration: 5 * time.Second,
		Workers: 64, StreamRate: 200, StreamDuration: 5 * time.Second, Warmup: time.Second,
		MaxInflight: 512, Timeout: 5 * time.Second, Model: "bench-model",
	}
}

// QuickConfig shortens every run for a smoke test.
func QuickConfig() Config {
	c := DefaultConfig()
	c.Duration, c.MaxDuration, c.StreamDuration, c.Warmup = time.Second, 500*time.Millisecond, 500*time.Millisecond, 200*time.Millisecond
	return c
}

// maxRuns bounds the work of one run: every loop is bounded in count too.
const (
	maxRates        = 16
	maxRate         = 100_000
	maxRunDuration  = 10 * time.Minute
	maxWorkers      = 4096
	maxClosedPerRun = 10_000_000
)

func (c Config) validate() error {
	if len(c.Rates) == 0 || len(c.Rates) > maxRates {
		return fmt.Errorf("give 1 to %d rates", maxRates)
	}
	for _, r := range append([]int{c.StreamRate}, c.Rates...) {
		if r < 1 || r > maxRate {
			return fmt.Errorf("rate %d: must be between 1 and %d requests a second", r, maxRate)
		}
	}
	for _, d := range []time.Duration{c.Duration, c.MaxDuration, c.StreamDuration, c.Timeout} {
		if d <= 0 || d > maxRunDuration {
			return fmt.Errorf("duration %s: must be positive and at most %s", d, maxRunDuration)
		}
	}
	if c.Warmup < 0 || c.Warmup > maxRunDuration {
		return fmt.Errorf("warmup %s: must be between 0 and %s", c.Warmup, maxRunDuration)
	}
	if c.Workers < 1 || c.Workers > maxWorkers || c.MaxInflight < 1 || c.MaxInflight > maxWorkers {
		return fmt.Errorf("workers and in-flight requests must be between 1 and %d", maxWorkers)
	}
	if c.Model == "" {
		return errors.New("a model name is needed")
	}
	return nil
}

// Row is one open-loop run.
type Row struct {
	Target  string
	Rate    int
	Stats   runStats
	Commits commitStats // the kernel's group commits during the run (governed only)
}

// Result is everything one Run measured.
type Result struct {
	Config     Config
	Started    time.Time
	Took       time.Duration
	Rows       []Row // open loop: for each rate, each target
	Max        []Row // closed loop, one per target (Rate is the worker count)
	Stream     []Row // streaming, one per target
	RSSKiB     int64 // VmRSS at the end
	PeakRSSKiB int64 // VmHWM
	GOMAXPROCS int
}

func (c Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Run starts the fake upstream, the proxy and the kernel on 127.0.0.1,
// measures them, and shuts everything down.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	res = &Result{Config: cfg, Started: time.Now(), GOMAXPROCS: runtime.GOMAXPROCS(0)}

	// Deferred in reverse: each server closes after its clients have
	// dropped their idle connections to it.
	up, err := serve("fake upstream", fakeUpstream(cfg.Model))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, up.Close()) }()
	ph, ptr, err := newProxy(up.url)
	if err != nil {
		return nil, err
	}
	defer ptr.CloseIdleConnections()
	px, err := serve("proxy", ph)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, px.Close()) }()
	k, err := startKernel(ctx, up.url, cfg.Model)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, k.Close()) }()

	targets := map[string]*target{
		direct:   {name: direct, url: up.url + "/v1/chat/completions", model: cfg.Model, client: newClient(cfg.MaxInflight)},
		proxy:    {name: proxy, url: px.url + "/v1/chat/completions", model: cfg.Model, client: newClient(cfg.MaxInflight)},
		governed: {name: governed, url: k.srv.url + "/v1/chat/completions", token: k.token, model: "default", client: newClient(cfg.MaxInflight)},
	}
	defer func() {
		for _, t := range targets {
			t.client.CloseIdleConnections()
		}
	}()

	// Each target must answer before it is measured.
	for _, name := range targetNames {
		t := targets[name]
		for _, stream := range []bool{false, true} {
			cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			_, err := t.do(cctx, requestBody(t.model, stream), stream)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%s (stream %v) does not answer: %w", name, stream, err)
			}
		}
		if cfg.Warmup > 0 {
			closedLoop(ctx, t, min(cfg.Workers, 16), cfg.Warmup, cfg.Timeout, maxClosedPerRun)
		}
	}

	// Open loop, the targets interleaved at each rate so that the added
	// latency compares runs made close together on a noisy machine.
	for _, rate := range cfg.Rates {
		for _, name := range targetNames {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			before := snapshotCommits(k.sys.Metrics)
			var stop func()
			if name == governed && rate == cfg.Rates[0] && cfg.Trace != "" {
				if stop, err = startTrace(cfg.Trace); err != nil {
					return nil, err
				}
			}
			s := openLoop(ctx, targets[name], rate, cfg.Duration, cfg.MaxInflight, cfg.Timeout, false)
			if stop != nil {
				stop()
			}
			row := Row{Target: name, Rate: rate, Stats: s}
			if name == governed {
				row.Commits = snapshotCommits(k.sys.Metrics).since(before)
			}
			cfg.logf("open loop  %-8s %5d req/s: achieved %7.0f, errors %d, p50 %.2f ms, p99 %.2f ms%s",
				name, rate, s.rate(), s.errs, pct(s.lat, 0.5), pct(s.lat, 0.99), errNote(s))
			res.Rows = append(res.Rows, row)
		}
	}
	for _, name := range targetNames {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var stop func()
		if name == governed && cfg.CPUProfile != "" {
			stop, err = startProfile(cfg.CPUProfile)
			if err != nil {
				return nil, err
			}
		}
		s := closedLoop(ctx, targets[name], cfg.Workers, cfg.MaxDuration, cfg.Timeout, maxClosedPerRun)
		if stop != nil {
			stop()
		}
		cfg.logf("max        %-8s %5d workers: %7.0f req/s, errors %d, p50 %.2f ms, p99 %.2f ms%s",
			name, cfg.Workers, s.rate(), s.errs, pct(s.lat, 0.5), pct(s.lat, 0.99), errNote(s))
		res.Max = append(res.Max, Row{Target: name, Rate: cfg.Workers, Stats: s})
	}
	for _, name := range targetNames {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := openLoop(ctx, targets[name], cfg.StreamRate, cfg.StreamDuration, cfg.MaxInflight, cfg.Timeout, true)
		cfg.logf("stream     %-8s %5d req/s: errors %d, TTFT p50 %.2f ms, p99 %.2f ms%s",
			name, cfg.StreamRate, s.errs, pct(s.ttft, 0.5), pct(s.ttft, 0.99), errNote(s))
		res.Stream = append(res.Stream, Row{Target: name, Rate: cfg.StreamRate, Stats: s})
	}
	res.RSSKiB, res.PeakRSSKiB = procStatus("VmRSS"), procStatus("VmHWM")
	res.Took = time.Since(res.Started)
	return res, nil
}

func errNote(s runStats) string {
	if s.firstErr == "" {
		return ""
	}
	return " (first error: " + s.firstErr + ")"
}

func startTrace(path string) (func(), error) { return record(path, trace.Start, trace.Stop) }

func startProfile(path string) (func(), error) {
	return record(path, pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// record starts writing a profile or trace to path and returns what stops it.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// Markdown is the report.
func (r *Result) Markdown() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "## Model calls through the front door (mirror-bench)\n\n")
	fmt.Fprintf(&b, "%s, GOMAXPROCS %d, %s/%s. Open loop %s per rate, at most %d in flight, timeout %s; latency from the scheduled send time. Load generator, fake upstream, proxy and kernel share this one process; the proxy reaches the upstream through `http.DefaultTransport` (2 idle connections per host), the kernel through its pooled upstream transport (256 per host).\n\n",
		r.Started.Format("2006-01-02 15:04"), r.GOMAXPROCS, runtime.GOOS, runtime.GOARCH, c.Duration, c.MaxInflight, c.Timeout)

	fmt.Fprintf(&b, "### Open loop, POST /v1/chat/completions (not streamed)\n\n")
	fmt.Fprintf(&b, "| target | rate | achieved req/s | errors | p50 ms | p99 ms | p99.9 ms | added p50 ms | added p99 ms | ledger commits | commit p99 ms | slowest commit ms |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	base := map[int]runStats{}
	for _, row := range r.Rows {
		if row.Target == direct {
			base[row.Rate] = row.Stats
		}
	}
	for _, row := range r.Rows {
		s := row.Stats
		added50, added99 := "—", "—"
		if d, ok := base[row.Rate]; ok && row.Target != direct {
			added50 = fmt.Sprintf("%+.2f", pct(s.lat, 0.5)-pct(d.lat, 0.5))
			added99 = fmt.Sprintf("%+.2f", pct(s.lat, 0.99)-pct(d.lat, 0.99))
		}
		commits := "—"
		if row.Commits.n > 0 {
			commits = fmt.Sprint(row.Commits.n)
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %d | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s |\n",
			row.Target, row.Rate, s.rate(), s.errs, pct(s.lat, 0.5), pct(s.lat, 0.99), pct(s.lat, 0.999), added50, added99,
			commits, row.Commits.ms(row.Commits.p99), row.Commits.ms(row.Commits.worst))
	}
	fmt.Fprintf(&b, "\nLedger commits are the kernel's group commits (write + fsync) during the governed run, from its `mirror_ledger_commit_seconds` histogram (bucket bounds): a governed p99 far above the direct one with a slow commit beside it is the disk, not the kernel.\n")

	fmt.Fprintf(&b, "\n### Max throughput (closed loop, %d workers, %s)\n\n", c.Workers, c.MaxDuration)
	fmt.Fprintf(&b, "| target | req/s | errors | p50 ms | p99 ms | CPU µs/req |\n|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Max {
		s := row.Stats
		cpu := 0.0
		if s.sent > 0 {
			cpu = float64(s.cpu.Microseconds()) / float64(s.sent)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %d | %.2f | %.2f | %.0f |\n", row.Target, s.rate(), s.errs, pct(s.lat, 0.5), pct(s.lat, 0.99), cpu)
	}
	fmt.Fprintf(&b, "\nCPU µs/req is the whole process (load generator and fake upstream included), so the difference from direct is what the proxy or the kernel costs.\n")

	fmt.Fprintf(&b, "\n### Streaming: time to first token (open loop, %d req/s, %s)\n\n", c.StreamRate, c.StreamDuration)
	fmt.Fprintf(&b, "| target | errors | TTFT p50 ms | TTFT p99 ms | whole stream p50 ms | whole stream p99 ms |\n|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Stream {
		s := row.Stats
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %.2f |\n", row.Target, s.errs, pct(s.ttft, 0.5), pct(s.ttft, 0.99), pct(s.lat, 0.5), pct(s.lat, 0.99))
	}
	fmt.Fprintf(&b, "\nTTFT is the first SSE `data:` line. Process RSS at the end: %.1f MiB (peak %.1f MiB). The run took %s.\n",
		float64(r.RSSKiB)/1024, float64(r.PeakRSSKiB)/1024, r.Took.Round(time.Second))
	return b.String()
}
