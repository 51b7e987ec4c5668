package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirroros/mirror/bus/bustest"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/council"
	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/provenance"
	"github.com/mirroros/mirror/trust/lease"
	"golang.org/x/mod/sumdb/note"
)

// newRunFixture runs a kernel whose only provider is a scripted fake
// Ollama with three models; script answers each chat call.
func newRunFixture(t *testing.T, script func(model, system, prompt string) string) (*System, *bustest.ScriptedOllama) {
	f := &bustest.ScriptedOllama{Models: []string{"llama3.2", "qwen3", "mistral"},
		Script: func(c bustest.OllamaCall) (string, bool) { return script(c.Model, c.System, c.Prompt), true }}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("OLLAMA_HOST", srv.URL)
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"} {
		t.Setenv(k, "")
	}
	cfg := config.Default()
	cfg.Aliases = map[string][]string{"default": {"ollama/llama3.2"}, "local": {"ollama/llama3.2"}}
	sys, err := Open(context.Background(), t.TempDir(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Close(context.Background()) })
	return sys, f
}

func waitEnded(t *testing.T, sys *System, id string) store.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := sys.waitRun(ctx, id)
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return r
}

const goodSummary = `{"summary":"MirrorOS governs model calls.","key_points":["Every call is audited."]}`

func TestARunGoesThroughEveryStageAndIsSigned(t *testing.T) {
	sys, fake := newRunFixture(t, func(model, system, prompt string) string {
		return "Here you go:\n```json\n" + goodSummary + "\n```"
	})
	ctx := context.Background()
	owner := rootLease(t, sys)
	r, err := sys.StartRun(ctx, owner, RunRequest{Skill: "summarize", Inputs: map[string]any{"text": "MirrorOS audits every model call."}})
	if err != nil {
		t.Fatal(err)
	}
	r = waitEnded(t, sys, r.ID)
	if r.State != RunSucceeded || !bytes.Contains(r.Output, []byte("governs model calls")) {
		t.Fatalf("run ended %s (%s): %s", r.State, r.Error, r.Output)
	}
	if fake.Calls("summarize") != 1 {
		t.Fatalf("%d calls for one valid answer", fake.Calls("summarize"))
	}
	// The provenance record is signed by the kernel's key.
	_, vkey, err := LoadVerifier(sys.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	rec, err := provenance.Open(r.Provenance, v)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run != r.ID || rec.Skill.Name != "summarize" || rec.Skill.Digest != r.SkillDigest || len(rec.Models) != 1 ||
		rec.Models[0] != "ollama/llama3.2" || len(rec.PromptHashes) != 1 || rec.OutputHash != sha(r.Output) || rec.Verifiers[0].Kind != "schema" {
		t.Fatalf("record: %+v", rec)
	}
	// Every stage is in the ledger, in order.
	var kinds []string
	sys.Ledger.Entries(ctx, 0, 10000, func(_ uint64, d []byte) error {
		var e struct {
			Kind string `json:"kind"`
			Body struct {
				Run string `json:"run"`
			} `json:"body"`
		}
		json.Unmarshal(d, &e)
		if strings.HasPrefix(e.Kind, "run.") && e.Body.Run == r.ID {
			kinds = append(kinds, e.Kind)
		}
		return nil
	})
	if got := strings.Join(kinds, " "); got != "run.start run.contract run.step run.provenance" {
		t.Fatalf("ledger: %s", got)
	}
	stats, _ := sys.SkillStatus(ctx, "summarize", r.SkillVersion)
	if len(stats) != 2 || stats[0].Verified != 1 || stats[0].Status != "canary" || stats[1].Model != "ollama/llama3.2" || stats[1].Successes < 0.99 {
		t.Fatalf("skill record: %+v", stats)
	}
}

func TestASchemaViolationIsRepairedOnceThenFails(t *testing.T) {
	var mu sync.Mutex
	answers := []string{`{"summary":""}`, goodSummary}
	sys, fake := newRunFixture(t, func(model, system, prompt string) string {
		mu.Lock()
		defer mu.Unlock()
		a := answers[0]
		if len(answers) > 1 {
			answers = answers[1:]
		}
		return a
	})
	ctx := context.Background()
	owner := rootLease(t, sys)
	r, err := sys.StartRun(ctx, owner, RunRequest{Skill: "summarize", Inputs: map[string]any{"text": "x y z"}})
	if err != nil {
		t.Fatal(err)
	}
	r = waitEnded(t, sys, r.ID)
	if r.State != RunSucceeded || fake.Calls("summarize") != 2 {
		t.Fatalf("repair: %s %s after %d calls", r.State, r.Error, fake.Calls("summarize"))
	}
	steps, _ := sys.RunSteps(ctx, r.ID)
	if len(steps) != 3 || steps[1].Kind != "execute" || steps[1].OK || !strings.Contains(string(steps[1].Detail), "key_points") || steps[2].Kind != "repair" || !steps[2].OK {
		t.Fatalf("steps: %+v", steps)
	}

	// Never valid: the run fails after max_attempts, with the reasons.
	mu.Lock()
	answers = []string{"not json at all"}
	mu.Unlock()
	r, err = sys.StartRun(ctx, owner, RunRequest{Skill: "summarize", Inputs: map[string]any{"text": "x y z"}})
	if err != nil {
		t.Fatal(err)
	}
	r = waitEnded(t, sys, r.ID)
	if r.State != RunFailed || !strings.Contains(r.Error, "schema") || fake.Calls("summarize") != 4 {
		t.Fatalf("unrepairable: %s %q after %d calls", r.State, r.Error, fake.Calls("summarize"))
	}
}

func TestBadInputsAndUnknownSkillsAreRefusedUpFront(t *testing.T) {
	sys, fake := newRunFixture(t, func(string, string, string) string { return goodSummary })
	ctx := context.Background()
	owner := rootLease(t, sys)
	for _, req := range []RunRequest{
		{Skill: "summarize", Inputs: map[string]any{"txt": "typo"}},
		{Skill: "no-such-skill"},
		{},
	} {
		_, err := sys.StartRun(ctx, owner, req)
		re, ok := err.(*RunError)
		if !ok || re.Status/100 != 4 {
			t.Fatalf("%+v: %v", req, err)
		}
	}
	if fake.Calls("summarize")+fake.Calls("other") != 0 {
		t.Fatal("a refused run reached a model")
	}
}

func TestSpawnedRunsGetHalfTheBudgetAndDieWithTheirParent(t *testing.T) {
	block := make(chan struct{})
	sys, _ := newRunFixture(t, func(model, system, prompt string) string {
		if strings.Contains(prompt, "slow") {
			<-block
		}
		return goodSummary
	})
	ctx := context.Background()
	owner := rootLease(t, sys)
	agent, _, err := sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "agent", Scopes: []string{"model:*", "skill:run:*"}, BudgetMicros: 1_000_000, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := sys.StartRun(ctx, agent, RunRequest{Skill: "summarize", Inputs: map[string]any{"text": "slow parent"}})
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the parent's contract (its own lease).
	deadline := time.Now().Add(10 * time.Second)
	for parent.RunLease == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		parent, _ = sys.Run(ctx, parent.ID)
	}
	pl, err := sys.leaseByID(ctx, parent.RunLease)
	if err != nil || pl.BudgetMicros != 500_000 {
		t.Fatalf("parent run lease: budget %d (%v), want half of $1; run %s %s", pl.BudgetMicros, err, parent.State, parent.Error)
	}
	child, err := sys.StartRun(ctx, agent, RunRequest{Skill: "summarize", Inputs: map[string]any{"text": "slow child"}, ParentRun: parent.ID})
	if err != nil {
		t.Fatal(err)
	}
	for child.RunLease == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		child, _ = sys.Run(ctx, child.ID)
	}
	cl, err := sys.leaseByID(ctx, child.RunLease)
	if err != nil || cl.Parent != pl.ID || cl.BudgetMicros != 250_000 || child.Depth != 1 {
		t.Fatalf("child run lease: %+v (%v)", cl, err)
	}
	// Each budget was set aside when its contract was made: the agent holds
	// the parent run's half, the parent run the child's quarter.
	if a, p := mustLease(t, sys, agent.ID), mustLease(t, sys, pl.ID); a.ReservedMicros != 500_000 || p.ReservedMicros != 250_000 {
		t.Fatalf("set aside: agent %d, parent run %d; want 500,000 and 250,000", a.ReservedMicros, p.ReservedMicros)
	}
	// Revoking the agent's lease revokes both runs' leases at once.
	ids, err := sys.Leases.Revoke(ctx, owner, agent.ID)
	if err != nil || len(ids) != 3 {
		t.Fatalf("revoked %v, %v", ids, err)
	}
	// The answers in flight when the lease went are not used: both runs stop.
	close(block)
	for _, id := range []string{parent.ID, child.ID} {
		if r := waitEnded(t, sys, id); r.State != RunCancelled || r.Output != nil {
			t.Fatalf("run %s after its lease was revoked: %s %q", id, r.State, r.Error)
		}
	}
	if a := mustLease(t, sys, agent.ID); a.ReservedMicros != 0 {
		t.Fatalf("the agent still has %d set aside after its runs were revoked", a.ReservedMicros)
	}
}

func mustLease(t *testing.T, sys *System, id string) store.Lease {
	t.Helper()
	l, err := sys.leaseByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestARunsBudgetIsSetAsideAndWhatIsLeftComesBack(t *testing.T) {
	block := make(chan struct{})
	sys, _ := newRunFixture(t, func(model, system, prompt string) string {
		<-block
		return goodSummary
	})
	ctx := context.Background()
	agent, _, err := sys.Leases.Grant(ctx, rootLease(t, sys), lease.GrantRequest{Name: "agent", Scopes: []string{"model:*", "skill:run:*"}, BudgetMicros: 1_000_000, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sys.StartRun(ctx, agent, RunRequest{Skill: "summarize", Inputs: map[string]any{"text": "The kernel governs."}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.RunLease == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		r, _ = sys.Run(ctx, r.ID)
	}
	// While it runs, the agent cannot spend what the run may need.
	if a := mustLease(t, sys, agent.ID); a.ReservedMicros != 500_000 {
		t.Fatalf("agent reserved %d while its run goes on, want the run's 500,000", a.ReservedMicros)
	}
	if _, err := sys.Leases.Reserve(ctx, agent.ID, 500_001, 0, time.Minute); err == nil {
		t.Fatal("the agent could reserve the budget set aside for its run")
	}
	close(block)
	if r = waitEnded(t, sys, r.ID); r.State != RunSucceeded {
		t.Fatalf("run %s %q", r.State, r.Error)
	}
	deadline = time.Now().Add(10 * time.Second)
	for mustLease(t, sys, agent.ID).ReservedMicros != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // Unfund follows the final state
	}
	if a, rl := mustLease(t, sys, agent.ID), mustLease(t, sys, r.RunLease); a.ReservedMicros != 0 || !rl.Options.FundingClosed {
		t.Fatalf("after the run: agent reserved %d, run lease options %+v", a.ReservedMicros, rl.Options)
	}
}

func TestAChainFeedsEachOutputIntoTheNextStep(t *testing.T) {
	var seen string
	var mu sync.Mutex
	sys, fake := newRunFixture(t, func(model, system, prompt string) string {
		if strings.Contains(system, `"translate"`) {
			mu.Lock()
			seen = prompt
			mu.Unlock()
			return `{"translation":"Le noyau gouverne.","source_language":"English"}`
		}
		return goodSummary
	})
	ctx := context.Background()
	r, err := sys.StartRun(ctx, rootLease(t, sys), RunRequest{Skill: "summarize", Inputs: map[string]any{"text": "The kernel governs."},
		Chain: []ChainStep{{Skill: "translate", Inputs: map[string]any{"target_language": "French"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r = waitEnded(t, sys, r.ID)
	if r.State != RunSucceeded || !strings.Contains(string(r.Output), "Le noyau") {
		t.Fatalf("chain: %s %q %s", r.State, r.Error, r.Output)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(seen, "MirrorOS governs model calls.") || fake.Calls("translate") != 1 {
		t.Fatalf("the translate step did not get the summary: %q", seen)
	}
}

// TestACouncilReportsTheClaimOnlyOneModelMakes: three local models answer;
// one dates the Eiffel Tower wrongly, the other two contradict that claim
// when they judge it, and the council reports it instead of hiding it.
func TestACouncilReportsTheClaimOnlyOneModelMakes(t *testing.T) {
	answers := map[string]string{
		"llama3.2": "The Eiffel Tower is in Paris. It was completed in 1889.",
		"qwen3":    "The Eiffel Tower stands in Paris. It was completed in 1889.",
		"mistral":  "The Eiffel Tower is in Paris. It was completed in 1925.",
	}
	sys, _ := newRunFixture(t, func(model, system, prompt string) string {
		switch {
		case strings.Contains(system, "You are one member of a council"):
			return answers[model]
		case strings.Contains(system, "impartial reviewer"):
			return `{"ranking":["A","B"],"reasons":"A is clearer."}`
		case strings.Contains(system, "You extract checkable factual claims"):
			_, resp, _ := strings.Cut(prompt, "<<<")
			resp, _, _ = strings.Cut(resp, ">>>")
			var claims []string
			for _, c := range strings.SplitAfter(strings.TrimSpace(resp), ". ") {
				claims = append(claims, strings.TrimSpace(c))
			}
			b, _ := json.Marshal(map[string]any{"claims": claims})
			return string(b)
		case strings.Contains(system, "You are fact-checking claims"):
			_, list, _ := strings.Cut(prompt, "Claims to check:")
			var verdicts []map[string]any
			for i, line := range strings.Split(strings.TrimSpace(list), "\n") {
				if !strings.HasPrefix(line, fmt.Sprintf("%d. ", i+1)) {
					break
				}
				v := "supported"
				if strings.Contains(line, "1925") && model != "mistral" {
					v = "contradicted"
				}
				verdicts = append(verdicts, map[string]any{"claim": i + 1, "verdict": v, "note": "checked"})
			}
			b, _ := json.Marshal(map[string]any{"verdicts": verdicts})
			return string(b)
		case strings.Contains(system, "You are the chairman"):
			return "The Eiffel Tower is in Paris and was completed in 1889."
		}
		return "?"
	})
	res, err := sys.Council(context.Background(), rootLease(t, sys), council.Question{
		Text: "Where is the Eiffel Tower and when was it completed?", Models: []string{"ollama/llama3.2", "ollama/qwen3", "ollama/mistral"},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Flags) != 1 || res.Flags[0].Model != "ollama/mistral" || !strings.Contains(res.Flags[0].Claim, "1925") ||
		res.Flags[0].Kind != council.KindContradicted || len(res.Flags[0].ContradictedBy) != 2 {
		t.Fatalf("flags: %+v", res.Flags)
	}
	if !strings.Contains(res.Final, "1889") || res.Agreement >= 1 || res.Agreement <= 0.5 {
		t.Fatalf("final %q, agreement %.2f", res.Final, res.Agreement)
	}
	// The council is in the ledger, its calls are governed model calls.
	var councils, calls int
	sys.pending.Wait()
	sys.Ledger.Entries(context.Background(), 0, 10000, func(_ uint64, d []byte) error {
		if bytes.Contains(d, []byte(`"kind":"council.run"`)) {
			councils++
		}
		if bytes.Contains(d, []byte(`"kind":"model.call"`)) {
			calls++
		}
		return nil
	})
	if councils != 1 || calls != len(res.Calls) {
		t.Fatalf("%d council entries, %d model.call entries for %d calls", councils, calls, len(res.Calls))
	}
}

func TestARunWaitsForApprovalWhenThePolicyAsks(t *testing.T) {
	sys, fake := newRunFixture(t, func(model, system, prompt string) string {
		return `{"translation":"Bonjour.","source_language":"English"}`
	})
	ctx := context.Background()
	owner := rootLease(t, sys)
	ask := "@id(\"mine.ask-translate\")\n@ask\n@reason(\"translations are reviewed first\")\npermit (principal, action == Action::\"skill:run:translate\", resource);\n"
	if err := os.WriteFile(filepath.Join(sys.DataDir, PoliciesDir, "ask.cedar"), []byte(ask), 0o600); err != nil {
		t.Fatal(err)
	}
	sys.policies.check(ctx)
	agent, _, err := sys.Leases.Grant(ctx, owner, lease.GrantRequest{Name: "agent", Scopes: []string{"model:*", "skill:run:*"}, BudgetMicros: -1, BudgetTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, approve := range []bool{true, false} {
		r, err := sys.StartRun(ctx, agent, RunRequest{Skill: "translate", Inputs: map[string]any{"text": "Hello.", "target_language": "French"}})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for r.State != RunWaiting && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			r, _ = sys.Run(ctx, r.ID)
		}
		if r.State != RunWaiting || r.ApprovalID == "" || fake.Calls("translate") != 0 && approve {
			t.Fatalf("before the decision: %s %q, %d calls", r.State, r.ApprovalID, fake.Calls("translate"))
		}
		if _, err := sys.Gate.Decide(ctx, owner, r.ApprovalID, approve, "checked"); err != nil {
			t.Fatal(err)
		}
		r = waitEnded(t, sys, r.ID)
		want := RunSucceeded
		if !approve {
			want = RunCancelled
		}
		if r.State != want {
			t.Fatalf("approve=%v: run %s (%s)", approve, r.State, r.Error)
		}
	}
	if fake.Calls("translate") != 1 {
		t.Fatalf("%d translate calls, want 1 (the denied run never reached a model)", fake.Calls("translate"))
	}
}

func TestModelVerificationAndPromotion(t *testing.T) {
	var mu sync.Mutex
	verdict := `{"verdict":"fail","unsupported":["Every call is audited."],"notes":"not in the text"}`
	sys, _ := newRunFixture(t, func(model, system, prompt string) string {
		if model == "qwen3" {
			mu.Lock()
			defer mu.Unlock()
			return verdict
		}
		return goodSummary
	})
	ctx := context.Background()
	// A summarize variant whose output a second model (qwen3) checks.
	installVariant(t, sys, "checked-summary", setVerify("strategy = \"model\"\nmodel = \"ollama/qwen3\""))
	owner := rootLease(t, sys)
	run := func() store.Run {
		r, err := sys.StartRun(ctx, owner, RunRequest{Skill: "checked-summary", Inputs: map[string]any{"text": "MirrorOS governs model calls."}})
		if err != nil {
			t.Fatal(err)
		}
		return waitEnded(t, sys, r.ID)
	}
	r := run()
	if r.State != RunFailed || !strings.Contains(r.Error, "Every call is audited.") || r.Output == nil {
		t.Fatalf("a rejected output: %s %q", r.State, r.Error)
	}
	mu.Lock()
	verdict = `{"verdict":"pass","unsupported":[],"notes":"faithful"}`
	mu.Unlock()
	for range promoteAfter {
		if r := run(); r.State != RunSucceeded {
			t.Fatalf("%s %q", r.State, r.Error)
		}
	}
	stats, _ := sys.SkillStatus(ctx, "checked-summary", "1.0.0")
	if stats[0].Status != "stable" || stats[0].Verified != promoteAfter {
		t.Fatalf("after %d verified runs: %+v", promoteAfter, stats[0])
	}
	mu.Lock()
	verdict = `{"verdict":"fail","unsupported":["x"]}`
	mu.Unlock()
	for range demoteAfter {
		run()
	}
	stats, _ = sys.SkillStatus(ctx, "checked-summary", "1.0.0")
	if stats[0].Status != "demoted" {
		t.Fatalf("after %d failures: %+v", demoteAfter, stats[0])
	}
	var promoted, demoted int
	sys.Ledger.Entries(ctx, 0, 10000, func(_ uint64, d []byte) error {
		promoted += bytes.Count(d, []byte(`"kind":"skill.promote"`))
		demoted += bytes.Count(d, []byte(`"kind":"skill.demote"`))
		return nil
	})
	if promoted != 1 || demoted != 1 {
		t.Fatalf("%d promote and %d demote entries", promoted, demoted)
	}
}

func TestASkillIsChosenForAGoal(t *testing.T) {
	for _, byModel := range []bool{true, false} {
		sys, _ := newRunFixture(t, func(model, system, prompt string) string {
			if strings.Contains(prompt, "Choose the one skill") {
				if byModel {
					return `{"skill":"classify"}`
				}
				return "I am not sure."
			}
			if strings.Contains(system, `"classify"`) {
				return `{"label":"bug","confidence":0.9,"rationale":"a crash"}`
			}
			return goodSummary
		})
		ctx := context.Background()
		r, err := sys.StartRun(ctx, rootLease(t, sys), RunRequest{Goal: "give me a short summary of this", Inputs: map[string]any{"text": "It crashed.", "labels": []any{"bug", "feature"}}})
		if err != nil {
			t.Fatal(err)
		}
		r = waitEnded(t, sys, r.ID)
		want := "summarize" // the keywords: "summary"
		if byModel {
			want = "classify"
		}
		steps, _ := sys.RunSteps(ctx, r.ID)
		if r.Skill != want || len(steps) < 2 || steps[1].Kind != "select" {
			t.Fatalf("byModel=%v: chose %q (%s %s), steps %+v", byModel, r.Skill, r.State, r.Error, steps)
		}
	}
}

func TestCouncilVerification(t *testing.T) {
	sys, _ := newRunFixture(t, func(model, system, prompt string) string {
		switch {
		case strings.Contains(system, "voting on a question"):
			return "pass\nThe summary only restates the text."
		case strings.Contains(system, "recording your vote"):
			return `{"choice":"pass"}`
		case strings.Contains(system, "You extract checkable factual claims"):
			return `{"claims":["The summary restates the text."]}`
		case strings.Contains(system, "You are fact-checking claims"):
			return `{"verdicts":[{"claim":1,"verdict":"supported","note":"ok"}]}`
		}
		return goodSummary
	})
	ctx := context.Background()
	installVariant(t, sys, "council-summary", setVerify("strategy = \"council\"\ncouncil = [\"ollama/qwen3\", \"ollama/mistral\"]"))
	r, err := sys.StartRun(ctx, rootLease(t, sys), RunRequest{Skill: "council-summary", Inputs: map[string]any{"text": "MirrorOS governs model calls."}})
	if err != nil {
		t.Fatal(err)
	}
	r = waitEnded(t, sys, r.ID)
	steps, _ := sys.RunSteps(ctx, r.ID)
	if r.State != RunSucceeded || steps[len(steps)-1].Kind != "council" || string(steps[len(steps)-1].Output) != "pass" {
		t.Fatalf("council verification: %s %q, last step %+v", r.State, r.Error, steps[len(steps)-1])
	}
}

func TestASkillCanAskForHistoryAndMemory(t *testing.T) {
	var mu sync.Mutex
	var prompts []string
	sys, _ := newRunFixture(t, func(model, system, prompt string) string {
		mu.Lock()
		prompts = append(prompts, system+"\n"+prompt)
		mu.Unlock()
		return goodSummary
	})
	ctx := context.Background()
	canonClaim(t, sys, "MirrorOS keeps memory in the kernel.", "fact")
	installVariant(t, sys, "recall", func(m string) string {
		return strings.Replace(m, `name = "recall"`, "name = \"recall\"\nhistory = true\nhistory_runs = 2\nmemory = true", 1)
	})
	owner := rootLease(t, sys)
	for _, goal := range []string{"first look at memory", "second look at memory"} {
		r, err := sys.StartRun(ctx, owner, RunRequest{Skill: "recall", Goal: goal, Inputs: map[string]any{"text": "Where does MirrorOS keep memory?"}})
		if err != nil {
			t.Fatal(err)
		}
		if r = waitEnded(t, sys, r.ID); r.State != RunSucceeded {
			t.Fatalf("%s: %s", r.State, r.Error)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	last := prompts[len(prompts)-1]
	if !strings.Contains(last, `goal "first look at memory"`) || !strings.Contains(last, "[1] MirrorOS keeps memory in the kernel.") {
		t.Fatalf("the second run's prompt lacks the history or the memory: %s", last)
	}
	if strings.Contains(prompts[0], "previous runs") {
		t.Fatalf("the first run had a history: %s", prompts[0])
	}
}

// installVariant installs a copy of the built-in summarize skill named
// name, its manifest changed by edit, signed by a new trusted signer.
func installVariant(t *testing.T, sys *System, name string, edit func(manifest string) string) {
	t.Helper()
	dir := filepath.Join(sys.DataDir, SkillsDir, "summarize", "1.0.0")
	src, err := os.ReadFile(filepath.Join(dir, "skill.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, "prompt.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := edit(strings.Replace(string(src), `name = "summarize"`, `name = "`+name+`"`, 1))
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "skill.toml"), []byte(manifest), 0o644)
	os.WriteFile(filepath.Join(out, "prompt.tmpl"), tmpl, 0o644)
	skey, vkey, err := skill.GenerateKey("tester")
	if err != nil {
		t.Fatal(err)
	}
	if err := skill.Sign(out, skey); err != nil {
		t.Fatal(err)
	}
	if err := skill.AddSigner(filepath.Join(sys.DataDir, SignersDir), skill.Signer{Name: "tester", Key: vkey}); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.InstallSkill(context.Background(), "test", out); err != nil {
		t.Fatal(err)
	}
}

// setVerify replaces a manifest's [verify] strategy.
func setVerify(verify string) func(string) string {
	return func(m string) string {
		return regexp.MustCompile(`(?s)\[verify\].*?strategy = "schema"`).ReplaceAllString(m, "[verify]\n"+verify)
	}
}
