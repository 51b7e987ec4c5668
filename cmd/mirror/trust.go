package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/hook"
	"github.com/mirroros/mirror/trust/policy"
	"github.com/mirroros/mirror/trust/risk"
	"github.com/spf13/cobra"
)

func newPolicyCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check, test and explain the Cedar policies",
		Long: `Decisions are made by Cedar policies: the built-in default pack plus every
*.cedar file in DATA_DIR/policies (edits are picked up by a running kernel
within seconds; an invalid set is refused and the previous one stays).
These commands work offline, on the files. See docs/POLICIES.md.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "policy directory (default DATA_DIR/policies)")
	policyDir := func() string {
		if dir != "" {
			return dir
		}
		return filepath.Join(g.dataDir, kernel.PoliciesDir)
	}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the policies (errors name file:line:column)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := policy.Load(policyDir())
			if err != nil {
				return &exitError{1, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d policy files (%s), set hash %s\n", len(e.Files()), strings.Join(e.Files(), ", "), e.Hash())
			return nil
		},
	}
	test := &cobra.Command{
		Use:   "test FILE",
		Short: "Run a table of requests against the policies; exit 1 on any mismatch",
		Long: `FILE holds JSON Lines, one case per line:

  {"name":"rm -rf / is blocked","request":{"action":"tool:Bash","principal":{"name":"agent","scopes":["*"]},
   "context":{"risk":4,"signals":["recursive_delete","delete_outside_project"]}},"expect":"BLOCK"}`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := policy.Load(policyDir())
			if err != nil {
				return &exitError{1, err}
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := policy.RunTable(e, f)
			if err != nil {
				return &exitError{1, err}
			}
			printTable(cmd.OutOrStdout(), res)
			if res.Failed > 0 {
				return &exitError{1, fmt.Errorf("%d of %d cases failed", res.Failed, len(res.Cases))}
			}
			return nil
		},
	}
	var (
		action, resource, cwd, tier string
		argPairs, scopes            []string
		cost                        float64
	)
	explain := &cobra.Command{
		Use:   "explain --action tool:Bash --arg command='rm -rf ~'",
		Short: "Classify one request and show the decision with its reasons",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := policy.Load(policyDir())
			if err != nil {
				return &exitError{1, err}
			}
			in := map[string]any{}
			for _, kv := range argPairs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--arg %q must be key=value", kv)
				}
				in[k] = v
			}
			tool, _ := strings.CutPrefix(action, "tool:")
			a := risk.Classify(risk.Action{Tool: tool, Input: in, Cwd: cwd})
			cats := make([]string, len(a.Categories))
			for i, c := range a.Categories {
				cats[i] = string(c)
			}
			kinds := make([]string, len(a.Findings))
			for i, f := range a.Findings {
				kinds[i] = f.Kind
			}
			req := policy.Request{
				Principal: policy.Principal{LeaseID: "lse_explain", Name: "explain", Scopes: scopes},
				Action:    action, Resource: resource,
				Context: policy.Context{Risk: a.Risk, Categories: cats, Signals: a.Signals, Findings: kinds, Sensitivity: a.Sensitivity,
					Args: in, CostUSD: cost, Tier: tier, Time: time.Now(), Cwd: cwd},
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "risk %d, categories %v, signals %v, sensitivity %s\n", a.Risk, cats, a.Signals, a.Sensitivity)
			for _, f := range a.Findings {
				fmt.Fprintf(out, "finding %s in %s: %s\n", f.Kind, f.Where, f.Hint)
			}
			fmt.Fprintln(out, policy.Explain(e, req))
			return nil
		},
	}
	explain.Flags().StringVar(&action, "action", "tool:Bash", "the capability, e.g. tool:Bash, tool:Write, model:chat:cloud/gpt")
	explain.Flags().StringVar(&resource, "resource", "", "what it acts on")
	explain.Flags().StringArrayVar(&argPairs, "arg", nil, "tool input as key=value; repeat")
	explain.Flags().StringVar(&cwd, "cwd", "", "the agent's working directory (default: the current one)")
	explain.Flags().StringArrayVar(&scopes, "scope", []string{"*"}, "the lease's scopes")
	explain.Flags().Float64Var(&cost, "cost", 0, "estimated cost in USD")
	explain.Flags().StringVar(&tier, "tier", "", "model tier: local or cloud")
	explain.PreRun = func(*cobra.Command, []string) {
		if cwd == "" {
			cwd, _ = os.Getwd()
		}
	}
	cmd.AddCommand(check, test, explain)
	return cmd
}

func printTable(w io.Writer, res policy.TableResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tLINE\tCASE\tWANT\tGOT\tBY")
	for _, c := range res.Cases {
		mark := "ok"
		if c.Failed {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", mark, c.Line, c.Name, c.Want, c.Got, c.By)
		if c.Problem != "" {
			fmt.Fprintf(tw, "\t\t  %s\t\t\t\n", c.Problem)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d cases, %d failed\n", len(res.Cases), res.Failed)
}

func newApprovalsCmd(g *globals) *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List actions waiting for a human decision (ASK)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var resp struct{ Approvals []gate.Approval }
			if err := c.send(cmd.Context(), "GET", "/v1/approvals?state="+url.QueryEscape(state), nil, &resp); err != nil {
				return err
			}
			if len(resp.Approvals) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "no %s approvals\n", state)
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tBY\tAGENT\tREQUEST\tEXPIRES")
			for _, a := range resp.Approvals {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.State, a.RequestedBy, a.Agent, summarize(a.Request), time.Until(a.ExpiresAt).Round(time.Second))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "pending", "pending, approved, denied, expired, used or all")
	return cmd
}

func summarize(req []byte) string {
	s := strings.Join(strings.Fields(string(req)), " ")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

func newDecideCmd(g *globals, approve bool) *cobra.Command {
	verb := "approve"
	if !approve {
		verb = "deny"
	}
	var note string
	cmd := &cobra.Command{
		Use:   verb + " ID [--note TEXT]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a pending action (needs the approve scope; not your own request)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var a gate.Approval
			if err := c.send(cmd.Context(), "POST", "/v1/approvals/"+url.PathEscape(args[0])+"/"+verb, map[string]string{"note": note}, &a); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", a.ID, a.State)
			return nil
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why; recorded in the ledger")
	return cmd
}

func newDeniedCmd(g *globals) *cobra.Command {
	var since, agent string
	var limit int
	cmd := &cobra.Command{
		Use:   "denied [--since 24h] [--agent NAME]",
		Short: "Show the denied-action ledger: every BLOCK and every denied or expired ASK",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if since != "" {
				q.Set("since", since)
			}
			if agent != "" {
				q.Set("agent", agent)
			}
			var resp struct{ Denied []gate.Denial }
			if err := c.send(cmd.Context(), "GET", "/v1/denied?"+q.Encode(), nil, &resp); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tDECISION\tWHO\tACTION\tRESOURCE\tWHY\tAUDIT")
			for _, d := range resp.Denied {
				who := d.LeaseName
				if d.Agent != "" {
					who += "/" + d.Agent
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t#%d\n", d.Time.Local().Format("01-02 15:04:05"), d.Decision, who, d.Action,
					summarize([]byte(d.Resource)), summarize(d.Reasons), d.AuditIndex)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "an RFC 3339 time or a duration back from now, e.g. 24h")
	cmd.Flags().StringVar(&agent, "agent", "", "only this lease name or agent")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many rows")
	return cmd
}

func newHookCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook AGENT",
		Short: "Govern a coding agent through its hook protocol (claude-code, codex, gemini, cursor)",
		Long: `Run as the agent's hook command: reads the hook payload on stdin, asks the
kernel, and answers in the agent's protocol. It fails closed: if the kernel
cannot be reached, the input is bad or anything goes wrong, the action is
denied.

  mirror hook install claude-code --project .    # register it in .claude/settings.json

Each agent can run under its own lease: set MIRROR_TOKEN in its environment
to a token from 'mirror lease grant'.`,
	}
	for _, a := range []hook.Agent{hook.ClaudeCode, hook.Codex, hook.Gemini, hook.Cursor} {
		cmd.AddCommand(newAgentHookCmd(g, a))
	}
	cmd.AddCommand(newHookInstallCmd())
	return cmd
}

func newAgentHookCmd(g *globals, agent hook.Agent) *cobra.Command {
	var askVia string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   string(agent),
		Short: "The " + string(agent) + " hook command",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp := runAgentHook(cmd, g, agent, askVia, wait)
			cmd.OutOrStdout().Write(resp.Stdout)
			if resp.Stderr != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), resp.Stderr)
			}
			if resp.ExitCode != 0 {
				return &exitError{resp.ExitCode, errQuiet}
			}
			return nil
		},
	}
	def := "agent"
	if !hook.SupportsAsk(agent) {
		def = "kernel"
	}
	cmd.Flags().StringVar(&askVia, "ask-via", def, "who answers an ASK: agent (its own prompt, where it has one) or kernel (wait on 'mirror approvals')")
	cmd.Flags().DurationVar(&wait, "wait", 50*time.Second, "with --ask-via kernel, how long to wait for a decision before denying")
	return cmd
}

// errQuiet carries an exit code whose message was already printed.
var errQuiet = errors.New("")

func runAgentHook(cmd *cobra.Command, g *globals, agent hook.Agent, askVia string, wait time.Duration) hook.Response {
	payload, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), hook.MaxPayload+1))
	if err != nil {
		return hook.FailClosed(agent, hook.Pre, err)
	}
	if len(payload) > hook.MaxPayload && looksLikePost(payload) {
		return recordOversizeResult(cmd, g, agent, payload)
	}
	req, err := hook.Parse(agent, payload)
	if err != nil {
		return hook.FailClosed(agent, hook.Pre, err)
	}
	c, err := newClient(cmd, g)
	if err != nil {
		return hook.FailClosed(agent, req.Phase, err)
	}
	ctx := cmd.Context()
	if req.Phase == hook.Post {
		// The action already happened: record it, never block on it.
		if _, _, err := c.do(ctx, "POST", "/v1/hooks/"+string(agent), strings.NewReader(string(payload))); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "mirror: the tool result was not recorded:", err)
		}
		return hook.Acknowledge(req)
	}
	in := gate.FromHook(req)
	var res gate.Result
	if err := c.send(ctx, "POST", "/v1/evaluate", in, &res); err != nil {
		return hook.FailClosed(agent, req.Phase, err)
	}
	d := hook.Decision(res.Decision)
	if d == hook.Ask && (askVia == "kernel" || !hook.SupportsAsk(agent)) {
		res, err = waitForApproval(ctx, c, in, res, wait)
		if err != nil {
			return hook.FailClosed(agent, req.Phase, err)
		}
		d = hook.Decision(res.Decision)
		if d == hook.Ask {
			d = hook.Block
		}
	}
	return hook.Answer(req, d, res.Sentence())
}

// looksLikePost reports whether an oversize payload is an after-the-tool
// call (which carries the tool's whole output), judged from its event name.
func looksLikePost(payload []byte) bool {
	head := string(payload[:min(len(payload), 4096)])
	for _, ev := range []string{"PostToolUse", "AfterTool", "postToolUse", "afterShellExecution", "afterMCPExecution"} {
		if strings.Contains(head, `"`+ev+`"`) {
			return true
		}
	}
	return false
}

// recordOversizeResult records a hash of an after-the-tool payload too large
// to send whole. The action has happened; the agent is never blocked here.
func recordOversizeResult(cmd *cobra.Command, g *globals, agent hook.Agent, head []byte) hook.Response {
	h := sha256.New()
	h.Write(head)
	n, _ := io.Copy(h, cmd.InOrStdin())
	c, err := newClient(cmd, g)
	if err == nil {
		err = c.send(cmd.Context(), "POST", "/v1/audit/events", map[string]any{
			"kind": "hook.oversize_result", "actor": string(agent),
			"body": map[string]any{"agent": agent, "payload_sha256": fmt.Sprintf("%x", h.Sum(nil)), "payload_bytes": int64(len(head)) + n},
		}, nil)
	}
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "mirror: an oversize tool result was not recorded:", err)
	}
	return hook.Response{Stdout: []byte("{}\n")}
}

// waitForApproval waits on the kernel's approval queue, then redeems the
// approval for this exact request.
func waitForApproval(ctx context.Context, c *client, in gate.Input, res gate.Result, wait time.Duration) (gate.Result, error) {
	deadline := time.Now().Add(wait)
	fmt.Fprintf(os.Stderr, "mirror: waiting up to %s for approval %s (mirror approve %s)\n", wait.Round(time.Second), res.ApprovalID, res.ApprovalID)
	for time.Now().Before(deadline) {
		step := min(time.Until(deadline), 30*time.Second).Round(time.Second)
		if step < time.Second {
			step = time.Second
		}
		var a gate.Approval
		if err := c.send(ctx, "GET", fmt.Sprintf("/v1/approvals/%s?wait=%s", url.PathEscape(res.ApprovalID), step), nil, &a); err != nil {
			return res, err
		}
		switch a.State {
		case "pending":
			continue
		case "approved":
			in.ApprovalID = a.ID
			var out gate.Result
			if err := c.send(ctx, "POST", "/v1/evaluate", in, &out); err != nil {
				return res, err
			}
			return out, nil
		default:
			res.Decision = policy.Block
			res.Reasons = append(res.Reasons, policy.Reason{Policy: "approval", Reason: "approval " + a.ID + " was " + a.State})
			return res, nil
		}
	}
	res.Decision = policy.Block
	res.Reasons = append(res.Reasons, policy.Reason{Policy: "approval", Reason: "no decision within " + wait.String()})
	return res, nil
}

func newHookInstallCmd() *cobra.Command {
	var project string
	var print bool
	cmd := &cobra.Command{
		Use:   "install AGENT [--project DIR]",
		Short: "Register mirror as the agent's hook in its settings (keeps what is there)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			agent, err := hook.ParseAgent(args[0])
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				self = "mirror"
			}
			command := self + " hook " + string(agent)
			rel, snippet, err := hook.Snippet(agent, command)
			if err != nil {
				return err
			}
			if print {
				cmd.OutOrStdout().Write(snippet)
				return nil
			}
			base := project
			if base == "" {
				if base, err = os.UserHomeDir(); err != nil {
					return err
				}
			}
			path := filepath.Join(base, rel)
			existing, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			merged, err := hook.Merge(agent, existing, command)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, merged, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %q as the %s hook in %s\n", command, agent, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "project directory (default: the user-level settings in your home directory)")
	cmd.Flags().BoolVar(&print, "print", false, "print the settings snippet instead of writing it")
	return cmd
}
