package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestQuickRun runs the whole tool at a low rate for about two seconds and
// checks that every target answered every request.
func TestQuickRun(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"} {
		t.Setenv(k, "")
	}
	t.Setenv("OLLAMA_HOST", "127.0.0.1:1")
	cfg := QuickConfig()
	cfg.Rates = []int{100}
	cfg.Duration, cfg.MaxDuration, cfg.StreamDuration, cfg.Warmup = 300*time.Millisecond, 200*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond
	cfg.Workers, cfg.StreamRate = 8, 50
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	check := func(kind string, rows []Row, wantSent int) {
		t.Helper()
		if len(rows) != len(targetNames) {
			t.Fatalf("%s: %d rows, want %d", kind, len(rows), len(targetNames))
		}
		for i, row := range rows {
			s := row.Stats
			if row.Target != targetNames[i] || s.errs != 0 || s.ok == 0 || len(s.lat) != s.ok || (wantSent > 0 && s.ok != wantSent) {
				t.Errorf("%s %s: ok %d, errors %d (want %d answered, none failed)%s", kind, row.Target, s.ok, s.errs, wantSent, errNote(s))
			}
		}
	}
	check("open loop", res.Rows, 30)
	check("max throughput", res.Max, 0)
	check("stream", res.Stream, 15)
	for _, row := range res.Stream {
		if len(row.Stats.ttft) != row.Stats.ok || row.Stats.ttft[0] <= 0 || row.Stats.ttft[len(row.Stats.ttft)-1] > row.Stats.lat[len(row.Stats.lat)-1] {
			t.Errorf("stream %s: TTFT not measured: %v", row.Target, row.Stats.ttft)
		}
	}
	if res.RSSKiB <= 0 {
		t.Errorf("RSS not read")
	}
	md := res.Markdown()
	for _, want := range []string{"| direct | 100 |", "| proxy | 100 |", "| governed | 100 |", "TTFT p50", "Max throughput"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	t.Log("\n" + md)
}
