// Command mirror-bench measures what governing a model call costs: it sends
// OpenAI chat completions at fixed open-loop rates to a fake upstream it
// starts itself (direct), to a bare reverse proxy in front of it (proxy),
// and to a real MirrorOS kernel started in-process whose only provider is
// that upstream (governed), then finds each one's maximum throughput and
// its time to first token when streaming, and prints a Markdown report.
// All traffic stays on 127.0.0.1.
//
//	go run ./cmd/mirror-bench [-rates 500,1000,2000] [-duration 10s] [-workers 64] [-quick] [-out FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mirror-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mirror-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := DefaultConfig()
	rates := fs.String("rates", "500,1000,2000", "open-loop rates, requests a second, comma-separated")
	duration := fs.Duration("duration", def.Duration, "length of each open-loop run")
	maxDuration := fs.Duration("max-duration", def.MaxDuration, "length of each max-throughput (closed-loop) run")
	workers := fs.Int("workers", def.Workers, "closed-loop workers of the max-throughput run")
	streamRate := fs.Int("stream-rate", def.StreamRate, "requests a second of the streaming (time to first token) run")
	streamDuration := fs.Duration("stream-duration", def.StreamDuration, "length of each streaming run")
	inflight := fs.Int("inflight", def.MaxInflight, "most requests in flight in an open-loop run")
	timeout := fs.Duration("timeout", def.Timeout, "per-request timeout")
	quick := fs.Bool("quick", false, "short runs (1 s open loop, 0.5 s max throughput and streaming) for a smoke test")
	out := fs.String("out", "", "also write the Markdown report to this file")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the governed max-throughput run to this file")
	traceFile := fs.String("trace", "", "write an execution trace (go tool trace) of the governed open-loop run at the first rate to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg := def
	if *quick {
		cfg = QuickConfig()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["duration"] || !*quick {
		cfg.Duration = *duration
	}
	if set["max-duration"] || !*quick {
		cfg.MaxDuration = *maxDuration
	}
	if set["stream-duration"] || !*quick {
		cfg.StreamDuration = *streamDuration
	}
	cfg.Workers, cfg.StreamRate, cfg.MaxInflight, cfg.Timeout = *workers, *streamRate, *inflight, *timeout
	cfg.CPUProfile, cfg.Trace = *cpuprofile, *traceFile
	cfg.Log = stderr
	cfg.Rates = nil
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-rates: %q is not a number", f)
		}
		cfg.Rates = append(cfg.Rates, r)
	}

	// The kernel discovers providers from the environment. None is routed
	// here but the fake one; clearing the vendors' keys makes sure that
	// nothing this process does can reach beyond 127.0.0.1.
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"} {
		os.Unsetenv(k)
	}
	os.Setenv("OLLAMA_HOST", "127.0.0.1:1") // nothing listens: never routed to anyway

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	res, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	md := res.Markdown()
	fmt.Fprint(stdout, md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
	}
	fmt.Fprintf(stderr, "done in %s\n", time.Since(start).Round(time.Second))
	return nil
}
