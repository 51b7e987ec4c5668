package council

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCaller is a scripted Caller: its reply is a deterministic function of
// the request. It records every request and the most calls it saw in flight.
type fakeCaller struct {
	script func(Request) (string, error)
	delay  time.Duration // per call; honours ctx

	mu        sync.Mutex
	reqs      []Request
	inFlight  int
	maxFlight int
}

func (f *fakeCaller) Call(ctx context.Context, req Request) (Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.inFlight++
	f.maxFlight = max(f.maxFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	text, err := f.script(req)
	if err != nil {
		return Response{}, err
	}
	return Response{Model: req.Model + "@routed", Text: text, CostMicros: 10, PromptTokens: 7, CompletionTokens: 3}, nil
}

// requests returns the recorded requests of one stage, sorted by model and
// prompt so tests do not depend on scheduling.
func (f *fakeCaller) requests(stage string) []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Request
	for _, r := range f.reqs {
		if r.Stage == stage {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].Prompt < out[j].Prompt
	})
	return out
}

// world scripts a council of models "a", "b", "c", … around one question.
//
// Every model ranks answers mentioning "100 degrees" first, then shorter
// before longer. The chairman splits claims at sentence ends. Judges a, b
// and d know water boils at 100 °C: they contradict claims saying "90
// degrees" and support the rest. Judge c supports everything except claims
// about altitude, which it cannot confirm.
type world struct {
	answers map[string]string                  // model → its answer
	fail    map[string]error                   // "model/stage" → the call's error
	wrap    map[string]func(def string) string // "model/stage" → rewrites the default reply
	votes   map[string]string                  // model → raw vote reply
	final   string                             // the chairman's synthesis
}

const waterQuestion = "At what temperature does water boil at sea level, in degrees Celsius?"

func waterWorld() *world {
	return &world{
		answers: map[string]string{
			"a": "Water boils at 100 degrees Celsius at sea level. The boiling point drops as altitude increases.",
			"b": "At sea level, water boils at 100 degrees Celsius.",
			"c": "Water boils at 90 degrees Celsius at sea level.",
		},
		final: "Water boils at 100 degrees Celsius at sea level.",
	}
}

func (w *world) caller() *fakeCaller { return &fakeCaller{script: w.respond} }

var (
	responseRE = regexp.MustCompile(`(?s)Response ([A-I]):\n<<<\n(.*?)\n>>>`)
	fencedRE   = regexp.MustCompile(`(?s)<<<\n(.*?)\n>>>`)
	claimRE    = regexp.MustCompile(`(?m)^(\d+)\. (.*)$`)
)

func (w *world) respond(req Request) (string, error) {
	key := req.Model + "/" + req.Stage
	if err := w.fail[key]; err != nil {
		return "", err
	}
	def, err := w.reply(req)
	if err != nil {
		return "", err
	}
	if f := w.wrap[key]; f != nil {
		return f(def), nil
	}
	return def, nil
}

func (w *world) reply(req Request) (string, error) {
	switch req.Stage {
	case StageAnswer:
		a, ok := w.answers[req.Model]
		if !ok {
			return "", fmt.Errorf("no answer scripted for %s", req.Model)
		}
		return a, nil
	case StageRank:
		type shown struct{ label, text string }
		var rs []shown
		for _, m := range responseRE.FindAllStringSubmatch(req.Prompt, -1) {
			rs = append(rs, shown{m[1], m[2]})
		}
		sort.SliceStable(rs, func(i, j int) bool {
			ci, cj := strings.Contains(rs[i].text, "100 degrees"), strings.Contains(rs[j].text, "100 degrees")
			if ci != cj {
				return ci
			}
			return len(rs[i].text) < len(rs[j].text)
		})
		var labels []string
		for _, r := range rs {
			labels = append(labels, r.label)
		}
		b, _ := json.Marshal(map[string]any{"ranking": labels, "reasons": "correct and concise first"})
		return string(b), nil
	case StageClaims:
		m := fencedRE.FindStringSubmatch(req.Prompt)
		var claims []string
		for s := range strings.SplitSeq(m[1], ". ") {
			if s = strings.TrimSpace(s); s != "" {
				claims = append(claims, strings.TrimSuffix(s, ".")+".")
			}
		}
		b, _ := json.Marshal(map[string]any{"claims": claims})
		return string(b), nil
	case StageJudge:
		_, list, _ := strings.Cut(req.Prompt, "Claims to check:\n")
		type v struct {
			Claim   int    `json:"claim"`
			Verdict string `json:"verdict"`
			Note    string `json:"note,omitempty"`
		}
		var vs []v
		for _, m := range claimRE.FindAllStringSubmatch(list, -1) {
			var n int
			fmt.Sscan(m[1], &n)
			switch claim := m[2]; {
			case req.Model != "c" && strings.Contains(claim, "90 degrees"):
				vs = append(vs, v{n, "contradicted", "water boils at 100 degrees Celsius at sea level"})
			case req.Model == "c" && strings.Contains(claim, "altitude"):
				vs = append(vs, v{n, "unsupported", "not sure about altitude"})
			default:
				vs = append(vs, v{Claim: n, Verdict: "supported"})
			}
		}
		b, _ := json.Marshal(map[string]any{"verdicts": vs})
		return string(b), nil
	case StageVote:
		return w.votes[req.Model], nil
	case StageSynthesize:
		return w.final, nil
	}
	return "", fmt.Errorf("unexpected stage %q", req.Stage)
}

// stageCounts counts a result's call records by stage.
func stageCounts(res *Result) map[string]int {
	n := make(map[string]int)
	for _, c := range res.Calls {
		n[c.Stage]++
	}
	return n
}

// flagFor returns the claim of model containing substr.
func flagFor(t *testing.T, fs []Flag, model, substr string) Flag {
	t.Helper()
	for _, f := range fs {
		if f.Model == model && strings.Contains(f.Claim, substr) {
			return f
		}
	}
	t.Fatalf("no claim of %s containing %q in %+v", model, substr, fs)
	return Flag{}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

var errBoom = errors.New("boom: provider unavailable")
