package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trace/provenance"
	"github.com/spf13/cobra"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// parseInputs builds a run's inputs from --input k=v and --input @file.json
// and --input-file k=PATH. A k=v value that is a JSON number, boolean, array
// or object is typed; anything else is a string.
func parseInputs(specs, files []string, stdin io.Reader) (map[string]any, error) {
	in := map[string]any{}
	for _, s := range specs {
		if path, ok := strings.CutPrefix(s, "@"); ok {
			raw, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("--input @%s: %w", path, err)
			}
			var obj map[string]any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&obj); err != nil || obj == nil {
				return nil, fmt.Errorf("--input @%s must hold one JSON object of inputs", path)
			}
			for k, v := range obj {
				in[k] = v
			}
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--input %q must be key=value or @file.json", s)
		}
		in[k] = typedValue(v)
	}
	for _, s := range files {
		k, path, ok := strings.Cut(s, "=")
		if !ok || k == "" || path == "" {
			return nil, fmt.Errorf("--input-file %q must be key=PATH (PATH - reads standard input)", s)
		}
		var raw []byte
		var err error
		if path == "-" {
			raw, err = io.ReadAll(stdin)
		} else {
			raw, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, fmt.Errorf("--input-file %s: %w", s, err)
		}
		in[k] = string(raw)
	}
	return in, nil
}

func typedValue(v string) any {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil || dec.More() {
		return v
	}
	if _, err := dec.Token(); err != io.EOF {
		return v
	}
	switch x.(type) {
	case json.Number, bool, []any, map[string]any:
		return x
	}
	return v
}

func newRunCmd(g *globals) *cobra.Command {
	var (
		inputs, inputFiles, then []string
		goal, agent              string
		detach, asJSON           bool
	)
	cmd := &cobra.Command{
		Use:   "run [SKILL[@VERSION]] [--input k=v]… [--goal G] [--then SKILL2]… [--detach]",
		Short: "Run a skill through the governed pipeline and follow it to its output",
		Long: `Ask the kernel to run a skill. Every run goes through the same pipeline:
the skill is chosen (or named), a contract is made (inputs checked against the
skill's schema, your lease's scopes, the policy gate — which may wait for a
person's approval), a child lease with the skill's budget is carved out,
models are called (falling back along the skill's list), the output is
checked against the schema (and by a verifier model or a council when the
skill says so), and the result is stored with a provenance record signed by
the kernel and included in the ledger. 'mirror provenance RUN' checks it.

Inputs:
  --input key=value        a value that parses as a JSON number, boolean,
                           array or object is typed; anything else is a string
  --input @inputs.json     merge a JSON object of inputs
  --input-file key=PATH    the file's contents as a string (PATH - is stdin)

Without SKILL, --goal is required and the kernel chooses the skill (a local
model picks among the installed skills, or keywords decide). --then chains
skills: each later step gets the previous output. By default the command
follows the run, printing each step (model, cost), approvals it waits for,
then the output (JSON, on stdout) and the final state; it exits 1 if the run
failed or was cancelled. Ctrl-C stops following; the run goes on ('mirror
runs RUN' shows it). --detach prints the run id and returns at once.`,
		Example: `  mirror run summarize --input text="MirrorOS is a local AI kernel…"
  mirror run summarize --input-file text=README.md --input max_words=50
  cat notes.md | mirror run summarize --input-file text=-
  mirror run translate --input text=Bonjour --input target_language=English
  mirror run translate --input-file text=brief.fr.md --input target_language=English --then summarize
  mirror run --goal "give me the gist of this" --input-file text=notes.md
  RUN=$(mirror run summarize --input @inputs.json --detach)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := parseInputs(inputs, inputFiles, cmd.InOrStdin())
			if err != nil {
				return err
			}
			req := map[string]any{"inputs": in}
			if len(args) == 1 {
				req["skill"] = args[0]
			} else if strings.TrimSpace(goal) == "" {
				return errors.New("name a SKILL, or give --goal and let the kernel choose one (mirror skill ls lists them)")
			}
			if goal != "" {
				req["goal"] = goal
			}
			if agent != "" {
				req["agent"] = agent
			}
			if len(then) > 0 {
				chain := make([]map[string]any, len(then))
				for i, s := range then {
					chain[i] = map[string]any{"skill": s}
				}
				req["chain"] = chain
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var started struct {
				ID    string `json:"id"`
				State string `json:"state"`
			}
			if err := c.send(cmd.Context(), "POST", "/v1/runs", req, &started); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			if detach {
				fmt.Fprintln(cmd.OutOrStdout(), started.ID)
				fmt.Fprintf(stderr, "started %s; follow it with: mirror runs %s\n", started.ID, started.ID)
				return nil
			}
			fmt.Fprintf(stderr, "run %s started (Ctrl-C stops following; the run goes on)\n", started.ID)
			v, err := followRun(cmd.Context(), c, started.ID, stderr)
			if err != nil {
				return err
			}
			return finishRun(cmd.OutOrStdout(), stderr, v, asJSON)
		},
	}
	cmd.Flags().StringArrayVarP(&inputs, "input", "i", nil, "an input key=value, or @file.json; repeat")
	cmd.Flags().StringArrayVar(&inputFiles, "input-file", nil, "an input key=PATH read as a string (- is stdin); repeat")
	cmd.Flags().StringVar(&goal, "goal", "", "what you want, in words; chooses the skill when none is named")
	cmd.Flags().StringVar(&agent, "agent", "", "the agent the run is for (policy and the ledger see it)")
	cmd.Flags().StringArrayVar(&then, "then", nil, "a skill to feed the output to; repeat for a longer chain")
	cmd.Flags().BoolVar(&detach, "detach", false, "print the run id and return without following")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole run as JSON at the end")
	return cmd
}

// finishRun prints a run's output and final state; a failed or cancelled
// run is exit 1.
func finishRun(stdout, stderr io.Writer, v api.RunView, asJSON bool) error {
	if asJSON {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else if len(v.Output) > 0 {
		fmt.Fprintln(stdout, prettyJSON(v.Output))
	}
	took := ""
	if c, err := time.Parse(time.RFC3339Nano, v.Created); err == nil {
		if e, err := time.Parse(time.RFC3339Nano, v.Ended); err == nil {
			took = " in " + e.Sub(c).Round(time.Millisecond).String()
		}
	}
	switch v.State {
	case kernel.RunSucceeded:
		fmt.Fprintf(stderr, "run %s succeeded%s, cost $%.6f; check it: mirror provenance %s\n", v.ID, took, v.CostUSD, v.ID)
		return nil
	default:
		fmt.Fprintf(stderr, "run %s %s%s: %s\n", v.ID, v.State, took, v.Error)
		return &exitError{1, errQuiet}
	}
}

func prettyJSON(raw []byte) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// runProgress prints what is new in each view of a followed run.
type runProgress struct {
	w     io.Writer
	state string
	seen  map[int]bool
}

func (p *runProgress) show(v api.RunView) {
	for _, st := range v.Steps {
		if p.seen[st.Seq] {
			continue
		}
		p.seen[st.Seq] = true
		if st.Kind == "intent" {
			continue
		}
		fmt.Fprintf(p.w, "  step %d %s\n", st.Seq, describeStep(st))
	}
	if v.State == p.state {
		return
	}
	p.state = v.State
	switch v.State {
	case kernel.RunRunning:
		sk := v.Skill
		if v.SkillVersion != "" {
			sk += "@" + v.SkillVersion
		}
		fmt.Fprintf(p.w, "  running %s under contract %s\n", sk, shortHex(v.ContractSHA256))
	case kernel.RunWaiting:
		fmt.Fprintf(p.w, "  waiting for approval %s: the policy asks a person to decide.\n", v.ApprovalID)
		fmt.Fprintf(p.w, "    approve it with: mirror approve %s   (or: mirror deny %s)\n", v.ApprovalID, v.ApprovalID)
	}
}

func shortHex(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

func describeStep(st api.StepView) string {
	var b strings.Builder
	b.WriteString(st.Kind)
	if st.Model != "" {
		b.WriteString(" by " + st.Model)
	}
	var text string
	json.Unmarshal(st.Output, &text)
	switch st.Kind {
	case "select":
		if text != "" {
			b.WriteString(": chose skill " + text)
		}
	case "chain":
		if text != "" {
			b.WriteString(": child run " + text)
		}
	case "verify", "council":
		if st.OK {
			b.WriteString(": pass")
		} else {
			b.WriteString(": FAIL")
		}
	default:
		if !st.OK {
			var d struct {
				SchemaErrors string `json:"schema_errors"`
			}
			if json.Unmarshal(st.Detail, &d) == nil && d.SchemaErrors != "" {
				b.WriteString(": output rejected: " + oneLine(d.SchemaErrors, 160))
			} else {
				b.WriteString(": not ok")
			}
		} else {
			b.WriteString(": ok")
		}
	}
	if st.CostUSD > 0 {
		fmt.Fprintf(&b, ", $%.6f", st.CostUSD)
	}
	if s, err := time.Parse(time.RFC3339Nano, st.Started); err == nil {
		if e, err := time.Parse(time.RFC3339Nano, st.Ended); err == nil {
			fmt.Fprintf(&b, ", %s", e.Sub(s).Round(time.Millisecond))
		}
	}
	return b.String()
}

// followRun follows GET /v1/runs/{id}?follow=1 until the run ends, printing
// progress to w, and returns the final view. A broken stream is picked up
// again.
func followRun(ctx context.Context, c *client, id string, w io.Writer) (api.RunView, error) {
	p := &runProgress{w: w, seen: map[int]bool{}}
	var last api.RunView
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return last, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		ended, err := c.stream(ctx, "/v1/runs/"+url.PathEscape(id)+"?follow=1", func(event string, data []byte) error {
			switch event {
			case "run":
				var v api.RunView
				if err := json.Unmarshal(data, &v); err != nil {
					return err
				}
				last = v
				p.show(v)
			case "error":
				var e struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				json.Unmarshal(data, &e)
				return &streamError{code: e.Error.Code, msg: e.Error.Message}
			}
			return nil
		})
		if err != nil {
			var ae *apiError
			var se *streamError
			if errors.As(err, &se) {
				return last, &exitError{1, se}
			}
			if errors.As(err, &ae) || ctx.Err() != nil {
				return last, err
			}
			lastErr = err
			continue
		}
		if ended && kernel.Terminal(last.State) {
			return last, nil
		}
		lastErr = errors.New("the stream ended before the run did")
	}
	return last, fmt.Errorf("lost the run's stream: %v (see: mirror runs %s)", lastErr, id)
}

// streamError is an "event: error" of a followed run.
type streamError struct{ code, msg string }

func (e *streamError) Error() string { return e.msg }

// stream reads a Server-Sent Events response, calling fn for each event; it
// reports whether an "end" event came.
func (c *client) stream(ctx context.Context, path string, fn func(event string, data []byte) error) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return false, fmt.Errorf("cannot reach the kernel at %s (is 'mirror up' running?): %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_, _, err := answer(resp, body)
		if err == nil {
			err = fmt.Errorf("unexpected status %s", resp.Status)
		}
		return false, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var event string
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event != "" {
				if event == "end" {
					return true, nil
				}
				if err := fn(event, data.Bytes()); err != nil {
					return false, err
				}
			}
			event = ""
			data.Reset()
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return false, sc.Err()
}

func newRunsCmd(g *globals) *cobra.Command {
	var (
		state  string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "runs [RUN] [--state S] [--limit N]",
		Short: "List runs, or show one run with its steps",
		Long: `Without RUN, list the runs asked for by your lease and the leases granted
from it, newest first: id, state, skill, agent, cost, when, and the goal or
the error. --state filters (pending, waiting_approval, running, succeeded,
failed, cancelled; comma-separated for several).

With RUN, show that run: its contract, every journaled step (model, cost,
time), its output or error.`,
		Example: `  mirror runs
  mirror runs --state failed,cancelled --limit 20
  mirror runs run_01J…`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				var v api.RunView
				if err := c.getJSON(cmd.Context(), "/v1/runs/"+url.PathEscape(args[0]), &v); err != nil {
					return err
				}
				if asJSON {
					b, _ := json.MarshalIndent(v, "", "  ")
					fmt.Fprintln(w, string(b))
					return nil
				}
				printRun(w, v)
				return nil
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if state != "" {
				q.Set("state", state)
			}
			var resp struct {
				Runs []api.RunView `json:"runs"`
			}
			if err := c.getJSON(cmd.Context(), "/v1/runs?"+q.Encode(), &resp); err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(resp.Runs, "", "  ")
				fmt.Fprintln(w, string(b))
				return nil
			}
			if len(resp.Runs) == 0 {
				fmt.Fprintln(w, "no runs")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSKILL\tAGENT\tCOST\tCREATED\tGOAL / ERROR")
			for _, r := range resp.Runs {
				sk := r.Skill
				if r.SkillVersion != "" {
					sk += "@" + r.SkillVersion
				}
				note := r.Goal
				if r.Error != "" {
					note = r.Error
				}
				created := r.Created
				if t, err := time.Parse(time.RFC3339Nano, r.Created); err == nil {
					created = t.Local().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t$%.6f\t%s\t%s\n", r.ID, r.State, sk, r.Agent, r.CostUSD, created, oneLine(note, 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only runs in these states (comma-separated)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many runs (1-500)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRun(w io.Writer, v api.RunView) {
	sk := v.Skill
	if v.SkillVersion != "" {
		sk += "@" + v.SkillVersion
	}
	fmt.Fprintf(w, "run:       %s\nstate:     %s\n", v.ID, v.State)
	if v.ParentRun != "" {
		fmt.Fprintf(w, "parent:    %s (depth %d)\n", v.ParentRun, v.Depth)
	}
	fmt.Fprintf(w, "skill:     %s %s\n", sk, v.SkillDigest)
	if v.Goal != "" {
		fmt.Fprintf(w, "goal:      %s\n", oneLine(v.Goal, 200))
	}
	if v.Agent != "" {
		fmt.Fprintf(w, "agent:     %s\n", v.Agent)
	}
	fmt.Fprintf(w, "lease:     %s (run lease %s)\n", v.Lease, v.RunLease)
	if v.ContractSHA256 != "" {
		fmt.Fprintf(w, "contract:  sha256 %s\n", v.ContractSHA256)
	}
	if v.ApprovalID != "" {
		fmt.Fprintf(w, "approval:  %s (mirror approve %s)\n", v.ApprovalID, v.ApprovalID)
	}
	fmt.Fprintf(w, "created:   %s\n", v.Created)
	if v.Ended != "" {
		fmt.Fprintf(w, "ended:     %s\n", v.Ended)
	}
	fmt.Fprintf(w, "cost:      $%.6f\n", v.CostUSD)
	if v.Resumes > 0 {
		fmt.Fprintf(w, "resumed:   %d times after a kernel restart\n", v.Resumes)
	}
	fmt.Fprintf(w, "inputs:    %s\n", oneLine(string(v.Inputs), 200))
	fmt.Fprintln(w, "steps:")
	for _, st := range v.Steps {
		fmt.Fprintf(w, "  %d %s\n", st.Seq, describeStep(st))
	}
	if v.Error != "" {
		fmt.Fprintf(w, "error:     %s\n", v.Error)
	}
	if len(v.Output) > 0 {
		fmt.Fprintf(w, "output:\n%s\n", prettyJSON(v.Output))
	}
	if v.Provenance != "" {
		fmt.Fprintf(w, "provenance: signed; check it with: mirror provenance %s\n", v.ID)
	}
}

func newCouncilCmd(g *globals) *cobra.Command {
	var (
		models, choices    []string
		chairman, agent    string
		vote, skip, asJSON bool
		maxTokens          int
	)
	cmd := &cobra.Command{
		Use:   `council "QUESTION" [--model M]… [--chairman M] [--vote] [--choice C]…`,
		Short: "Ask several models one question; they rank, cross-check and answer together",
		Long: `A council puts one question to several models (2 to 9) at once, each call
governed, charged to your lease and audited like any other.

Synthesize mode (the default): each member answers; each ranks the others'
answers without knowing whose they are (aggregated by Borda count); each
answer is split into atomic claims that the other members judge; the chairman
writes the final answer. Claims another member contradicts, or that no
member supports, are FLAGGED: the output says which model claimed what and
who disagreed. Agreement is the share of checked claims not flagged.

Vote mode (--vote): each member answers and the answers are reduced to one of
the --choice values (or compared as written); a strict majority wins.

Without --model the kernel picks up to three members, one per provider,
local ones first.`,
		Example: `  mirror council "Is it safe to run fsck on a mounted filesystem?" --model ollama/llama3.2 --model ollama/qwen3
  mirror council "Does this diff change behaviour?" --vote --choice yes --choice no
  mirror council "Summarize the tradeoffs of SQLite WAL mode" --chairman openai/gpt-4o-mini --skip-claims`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := map[string]any{"question": strings.Join(args, " "), "skip_claim_check": skip}
			if len(models) > 0 {
				req["models"] = models
			}
			if chairman != "" {
				req["chairman"] = chairman
			}
			if vote || len(choices) > 0 {
				req["mode"] = "vote"
			}
			if len(choices) > 0 {
				req["choices"] = choices
			}
			if agent != "" {
				req["agent"] = agent
			}
			if maxTokens > 0 {
				req["max_tokens"] = maxTokens
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			c.http = &http.Client{Timeout: 30 * time.Minute}
			body, _ := json.Marshal(req)
			raw, _, err := c.do(cmd.Context(), "POST", "/v1/council", bytes.NewReader(body))
			var res api.CouncilView
			var ae *apiError
			if errors.As(err, &ae) && ae.Code == "council_quorum" {
				var partial struct {
					Result api.CouncilView `json:"result"`
				}
				if json.Unmarshal(raw, &partial) == nil {
					printCouncil(cmd.OutOrStdout(), partial.Result)
				}
				return &exitError{1, err}
			}
			if err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			if asJSON {
				var b bytes.Buffer
				json.Indent(&b, raw, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), b.String())
				return nil
			}
			printCouncil(cmd.OutOrStdout(), res)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&models, "model", "m", nil, "a member model; repeat (2 to 9)")
	cmd.Flags().StringVar(&chairman, "chairman", "", "the model that splits claims and writes the final answer (default: the first member)")
	cmd.Flags().BoolVar(&vote, "vote", false, "vote instead of synthesizing")
	cmd.Flags().StringArrayVar(&choices, "choice", nil, "a fixed choice to vote on; repeat (implies --vote)")
	cmd.Flags().BoolVar(&skip, "skip-claims", false, "skip the claim cross-check (faster, cheaper)")
	cmd.Flags().StringVar(&agent, "agent", "", "the agent the council is for")
	cmd.Flags().IntVar(&maxTokens, "max-tokens", 0, "completion budget for answers and the synthesis")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole result as JSON")
	return cmd
}

func indent(s, pad string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n")
}

func printCouncil(w io.Writer, r api.CouncilView) {
	fmt.Fprintf(w, "Question: %s\n", r.Question)
	fmt.Fprintf(w, "Mode: %s", r.Mode)
	if r.Chairman != "" && r.Mode != "vote" {
		fmt.Fprintf(w, ", chairman %s", r.Chairman)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nAnswers:")
	for _, a := range r.Answers {
		who := a.Model
		if a.AnsweredBy != "" && a.AnsweredBy != a.Model {
			who += " (answered by " + a.AnsweredBy + ")"
		}
		label := ""
		if a.Label != "" {
			label = "[" + a.Label + "] "
		}
		fmt.Fprintf(w, "  %s%s:\n%s\n", label, who, indent(a.Text, "      "))
		if a.Choice != "" {
			fmt.Fprintf(w, "      → votes %q\n", a.Choice)
		}
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "  %s did not answer: %s\n", f.Model, f.Error)
	}
	valid := 0
	for _, rk := range r.Rankings {
		if rk.Valid {
			valid++
		}
	}
	if len(r.Ranking) > 0 && valid == 0 {
		fmt.Fprintln(w, "\nRanking: none — no member's ranking could be used")
		for _, rk := range r.Rankings {
			if rk.Error != "" {
				fmt.Fprintf(w, "  %s: %s\n", rk.Judge, oneLine(rk.Error, 160))
			}
		}
	} else if len(r.Ranking) > 0 {
		fmt.Fprintf(w, "\nRanking (Borda count over %d anonymous rankings):\n", valid)
		for i, ra := range r.Ranking {
			fmt.Fprintf(w, "  %d. %s  score %d, mean position %.2f over %d rankings\n", i+1, ra.Model, ra.Score, ra.MeanPosition, ra.Rankings)
		}
	}
	if len(r.Claims) > 0 || len(r.Flags) > 0 {
		if len(r.Flags) == 0 {
			fmt.Fprintf(w, "\nFlagged claims: none of %d checked claims\n", len(r.Claims))
		} else {
			fmt.Fprintf(w, "\nFlagged claims (%d of %d checked) — do not rely on these without checking:\n", len(r.Flags), len(r.Claims))
		}
		for _, f := range r.Flags {
			fmt.Fprintf(w, "  !! %s: %q\n", strings.ToUpper(f.Kind), f.Claim)
			fmt.Fprintf(w, "     claimed by %s", f.Model)
			if len(f.ContradictedBy) > 0 {
				fmt.Fprintf(w, "; contradicted by %s", strings.Join(f.ContradictedBy, ", "))
			}
			if len(f.UnsupportedBy) > 0 {
				fmt.Fprintf(w, "; not supported by %s", strings.Join(f.UnsupportedBy, ", "))
			}
			if len(f.SupportedBy) > 0 {
				fmt.Fprintf(w, "; supported by %s", strings.Join(f.SupportedBy, ", "))
			}
			if len(f.ContradictedBy)+len(f.UnsupportedBy)+len(f.SupportedBy) == 0 {
				fmt.Fprint(w, "; no other member could judge it")
			}
			fmt.Fprintln(w)
			for _, n := range f.Notes {
				fmt.Fprintf(w, "     note: %s\n", n)
			}
		}
		fmt.Fprintf(w, "Agreement: %.0f%% of checked claims were not flagged\n", 100*r.Agreement)
	}
	if r.Mode == "vote" {
		fmt.Fprintln(w, "\nVotes:")
		for _, choice := range slices.Sorted(maps.Keys(r.Votes)) {
			who := r.Votes[choice]
			fmt.Fprintf(w, "  %s: %d (%s)\n", choice, len(who), strings.Join(who, ", "))
		}
		if len(r.Abstained) > 0 {
			fmt.Fprintf(w, "  abstained: %s\n", strings.Join(r.Abstained, ", "))
		}
		switch {
		case r.Winner != "":
			fmt.Fprintf(w, "Winner: %s\n", r.Winner)
		case r.Tie:
			fmt.Fprintln(w, "No winner: a tie")
		default:
			fmt.Fprintln(w, "No winner: no strict majority")
		}
		for _, d := range r.Dissent {
			fmt.Fprintf(w, "  dissent: %s voted %s\n", d.Model, d.Choice)
		}
	}
	if r.Final != "" {
		fmt.Fprintf(w, "\nFinal answer:\n%s\n", indent(r.Final, "  "))
	}
	fmt.Fprintf(w, "\n%d model calls, $%.6f\n", len(r.Calls), r.CostUSD)
}

func newProvenanceCmd(g *globals) *cobra.Command {
	var pubkey string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "provenance RUN [--pubkey FILE]",
		Short: "Check a run's signed provenance and its inclusion in the ledger",
		Long: `Fetch a run's provenance and check it here, without trusting the kernel:

  1. the provenance note's signature, with the kernel's public key
     (DATA_DIR/ledger.pub, or --pubkey);
  2. the latest checkpoint's signature, with the same key;
  3. that the run.provenance ledger entry is in the log: its RFC 6962 leaf
     hash and the inclusion proof lead to the checkpoint's root;
  4. that the entry carries the same record and note, for this run;
  5. that the run's output hashes to the signed output hash.

Then it prints the record: the skill and its digest, the models, the hashes
of every prompt and of the output, what the verifiers said, cost and timings.
Any mismatch is exit 1 with the reason.`,
		Example: `  mirror provenance run_01J…
  mirror provenance run_01J… --pubkey ./ledger.pub --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if pubkey == "" {
				pubkey = filepath.Join(g.dataDir, kernel.PubKeyFile)
			}
			raw, err := os.ReadFile(pubkey)
			if err != nil {
				return fmt.Errorf("the kernel's public key: %w", err)
			}
			v, err := note.NewVerifier(strings.TrimSpace(string(raw)))
			if err != nil {
				return fmt.Errorf("%s: not a verifier key: %v", pubkey, err)
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var pv api.ProvenanceView
			deadline := time.Now().Add(15 * time.Second)
			for {
				err := c.getJSON(cmd.Context(), "/v1/runs/"+url.PathEscape(id)+"/provenance", &pv)
				var ae *apiError
				if errors.As(err, &ae) && ae.Code == "not_yet_checkpointed" && time.Now().Before(deadline) {
					time.Sleep(500 * time.Millisecond)
					continue
				}
				if err != nil {
					return err
				}
				break
			}
			var run api.RunView
			if err := c.getJSON(cmd.Context(), "/v1/runs/"+url.PathEscape(id), &run); err != nil {
				return err
			}
			rec, err := checkProvenance(v, id, pv, run)
			if err != nil {
				return &exitError{1, fmt.Errorf("provenance of %s does NOT check out: %w", id, err)}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.MarshalIndent(map[string]any{"verified": true, "ledger_index": pv.LedgerIndex, "tree_size": pv.TreeSize, "record": rec}, "", "  ")
				fmt.Fprintln(w, string(b))
				return nil
			}
			printRecord(w, rec)
			fmt.Fprintf(w, "\nsignature OK (%s), included in the log at index %d under checkpoint size %d\n", v.Name(), pv.LedgerIndex, pv.TreeSize)
			return nil
		},
	}
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "the kernel's verifier key file (default DATA_DIR/ledger.pub)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the verified record as JSON")
	return cmd
}

// checkProvenance verifies everything a provenance answer claims.
func checkProvenance(v note.Verifier, id string, pv api.ProvenanceView, run api.RunView) (provenance.Record, error) {
	rec, err := provenance.Open([]byte(pv.Note), v)
	if err != nil {
		return rec, fmt.Errorf("the provenance note: %w", err)
	}
	if rec.Run != id {
		return rec, fmt.Errorf("the signed record is for run %s, not %s", rec.Run, id)
	}
	cp, err := ledger.OpenCheckpoint([]byte(pv.Checkpoint), v)
	if err != nil {
		return rec, err
	}
	if cp.Size != pv.TreeSize {
		return rec, fmt.Errorf("the checkpoint is for size %d, the proof for %d", cp.Size, pv.TreeSize)
	}
	entry, err := base64.StdEncoding.DecodeString(pv.Entry)
	if err != nil {
		return rec, fmt.Errorf("the ledger entry is not base64: %v", err)
	}
	hashes := make([][]byte, len(pv.InclusionProof))
	for i, h := range pv.InclusionProof {
		if hashes[i], err = base64.StdEncoding.DecodeString(h); err != nil {
			return rec, fmt.Errorf("inclusion proof hash %d is not base64: %v", i, err)
		}
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, pv.LedgerIndex, cp.Size, leaf, hashes, cp.Root); err != nil {
		return rec, fmt.Errorf("the entry is not included in the signed log: %v", err)
	}
	e, err := ledger.ParseEntry(entry)
	if err != nil {
		return rec, fmt.Errorf("the ledger entry: %v", err)
	}
	if e.Index != pv.LedgerIndex || e.Kind != "run.provenance" || e.Actor != "run/"+id {
		return rec, fmt.Errorf("ledger entry %d is %s by %s, not run %s's provenance", e.Index, e.Kind, e.Actor, id)
	}
	var body provenance.Entry
	if err := json.Unmarshal(e.Body, &body); err != nil {
		return rec, fmt.Errorf("the ledger entry's body: %v", err)
	}
	if body.Run != id || body.Note != pv.Note {
		return rec, errors.New("the ledger entry records a different run or note")
	}
	a, _ := json.Marshal(body.Record)
	b, _ := json.Marshal(rec)
	if !bytes.Equal(a, b) {
		return rec, errors.New("the ledger entry's record differs from the signed note's")
	}
	if len(run.Output) > 0 {
		h := sha256.Sum256(run.Output)
		if hex.EncodeToString(h[:]) != rec.OutputHash {
			return rec, fmt.Errorf("the run's output hashes to %x, the signed record says %s", h, rec.OutputHash)
		}
	}
	return rec, nil
}

func printRecord(w io.Writer, r provenance.Record) {
	fmt.Fprintf(w, "run        %s\n", r.Run)
	if r.ParentRun != "" {
		fmt.Fprintf(w, "parent     %s\n", r.ParentRun)
	}
	fmt.Fprintf(w, "lease      %s\n", r.Lease)
	signer := "signed by " + r.Skill.Signer
	if r.Skill.Unsigned {
		signer = "UNSIGNED (development mode)"
	}
	fmt.Fprintf(w, "skill      %s@%s, %s\n", r.Skill.Name, r.Skill.Version, signer)
	fmt.Fprintf(w, "digest     %s\n", r.Skill.Digest)
	fmt.Fprintf(w, "contract   sha256 %s\n", r.ContractHash)
	fmt.Fprintf(w, "models     %s\n", strings.Join(r.Models, ", "))
	for i, p := range r.PromptHashes {
		fmt.Fprintf(w, "prompt %-3d sha256 %s\n", i+1, p)
	}
	fmt.Fprintf(w, "output     sha256 %s\n", r.OutputHash)
	for _, v := range r.Verifiers {
		verdict := "ok"
		if !v.OK {
			verdict = "FAILED"
		}
		line := v.Kind + " " + verdict
		if v.Model != "" {
			line += " by " + v.Model
		}
		if v.Detail != "" {
			line += ": " + oneLine(v.Detail, 160)
		}
		fmt.Fprintf(w, "verifier   %s\n", line)
	}
	fmt.Fprintf(w, "cost       $%.6f over %d steps", float64(r.CostMicros)/1e6, r.Steps)
	if r.Resumes > 0 {
		fmt.Fprintf(w, ", resumed %d times", r.Resumes)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "timing     %s → %s (%s)", r.Started.UTC().Format(time.RFC3339), r.Ended.UTC().Format(time.RFC3339), r.Ended.Sub(r.Started).Round(time.Millisecond))
	if len(r.StageMillis) > 0 {
		parts := make([]string, len(r.StageMillis))
		for i, s := range r.StageMillis {
			parts[i] = fmt.Sprintf("%s %dms", s.Name, s.Millis)
		}
		fmt.Fprintf(w, ": %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	for _, tw := range r.TrustWarnings {
		fmt.Fprintf(w, "WARNING    %s\n", tw)
	}
}
