package main

import (
	"fmt"

	"github.com/mirroros/mirror/api"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func leaseBudget(l api.LeaseView) string {
	if l.BudgetUSD == nil {
		return fmt.Sprintf("$%.2f spent, no budget of its own", l.SpentUSD)
	}
	return fmt.Sprintf("$%.2f of $%.2f spent", l.SpentUSD, *l.BudgetUSD)
}

func leaseExpiry(l api.LeaseView) string {
	if l.ExpiresAt == "" {
		return "never expires"
	}
	t, err := time.Parse(time.RFC3339, l.ExpiresAt)
	if err != nil {
		return "expires " + l.ExpiresAt
	}
	if d := time.Until(t); d > 0 {
		return "expires in " + d.Round(time.Second).String()
	}
	return "expired " + l.ExpiresAt
}

func newLeaseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease",
		Short: "Grant, list, renew and revoke capability leases",
		Long: `A lease is a token with scopes, a lifetime and a budget, granted from the
lease you hold (the owner token is the root lease, scope "*"). A child can
never hold a scope, a lifetime or a budget its parent lacks; revoking a lease
revokes all of its descendants at once. Scopes are patterns such as
tool:Bash, tool:*, model:chat:ollama/*, memory:read, lease:grant, approve,
audit:read (see docs/LEASES.md).`,
	}
	cmd.AddCommand(newLeaseGrantCmd(g), newLeaseLsCmd(g), newLeaseShowCmd(g), newLeaseRenewCmd(g), newLeaseRevokeCmd(g))
	return cmd
}

func newLeaseGrantCmd(g *globals) *cobra.Command {
	var (
		name, ttl, maxTTL string
		scopes            []string
		budget            float64
		tokens            int64
		localOnly, noID   bool
		withMemory        bool
	)
	cmd := &cobra.Command{
		Use:   "grant --name NAME --scope S [--scope S…] [--ttl 1h] [--budget USD]",
		Short: "Grant a child lease of the lease you hold; prints its token once",
		Example: `  mirror lease grant --name claude-code --scope 'tool:*' --scope model:chat --ttl 8h --budget 5
  MIRROR_TOKEN=$(mirror lease grant --name ci --scope audit:read --ttl 1h --token-only)
  mirror lease grant --name private --scope 'model:*' --local-only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || len(scopes) == 0 {
				return fmt.Errorf("--name and at least one --scope are required")
			}
			req := map[string]any{"name": name, "scopes": scopes}
			if ttl != "" {
				req["ttl"] = ttl
			}
			if maxTTL != "" {
				req["max_ttl"] = maxTTL
			}
			if cmd.Flags().Changed("budget") {
				req["budget_usd"] = budget
			}
			if cmd.Flags().Changed("tokens") {
				req["budget_tokens"] = tokens
			}
			if localOnly {
				req["local_only"] = true
			}
			if noID {
				req["no_identity"] = true
			}
			if withMemory {
				req["memory"] = true
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var l api.LeaseView
			if err := c.send(cmd.Context(), "POST", "/v1/leases", req, &l); err != nil {
				return err
			}
			if only, _ := cmd.Flags().GetBool("token-only"); only {
				fmt.Fprintln(cmd.OutOrStdout(), l.Token)
				return nil
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "granted %s (%s), scopes %s, %s, %s\n", l.ID, l.Name, strings.Join(l.Scopes, " "), leaseExpiry(l), leaseBudget(l))
			fmt.Fprintf(out, "token (shown once):\n\n    %s\n", l.Token)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "who will hold it: an agent or a person")
	cmd.Flags().StringArrayVar(&scopes, "scope", nil, "a capability pattern; repeat for more")
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime, e.g. 30m or 8h (default 1h, never past the parent's)")
	cmd.Flags().StringVar(&maxTTL, "max-ttl", "", "longest lifetime through renewals (default 24h)")
	cmd.Flags().Float64Var(&budget, "budget", 0, "budget in USD (default: half of what the parent chain has left, if it has a budget)")
	cmd.Flags().Int64Var(&tokens, "tokens", 0, "token budget")
	cmd.Flags().BoolVar(&localOnly, "local-only", false, "send every model call under this lease to local models only (inherited by its children)")
	cmd.Flags().BoolVar(&noID, "no-identity", false, "leave the identity preamble out of model calls under this lease")
	cmd.Flags().BoolVar(&withMemory, "memory", false, "add relevant canon claims from memory, with citations, to model calls under this lease")
	cmd.Flags().Bool("token-only", false, "print only the token")
	return cmd
}

func newLeaseLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List your lease and its descendants as a tree",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var resp struct{ Leases []api.LeaseView }
			if err := c.send(cmd.Context(), "GET", "/v1/leases", nil, &resp); err != nil {
				return err
			}
			printTree(cmd.OutOrStdout(), resp.Leases)
			return nil
		},
	}
}

// printTree draws the depth-first listing with box-drawing branches.
func printTree(w io.Writer, ls []api.LeaseView) {
	depth := func(l api.LeaseView) int {
		if l.Depth == nil {
			return 0
		}
		return *l.Depth
	}
	for i, l := range ls {
		prefix := ""
		if depth(l) > 0 {
			// Is this the last child at its depth before the listing climbs out?
			last := true
			for _, n := range ls[i+1:] {
				if depth(n) < depth(l) {
					break
				}
				if depth(n) == depth(l) {
					last = false
					break
				}
			}
			// Ancestors' columns: a bar where that ancestor has later siblings.
			for d := 1; d < depth(l); d++ {
				bar := false
				for _, n := range ls[i+1:] {
					if depth(n) < d {
						break
					}
					if depth(n) == d {
						bar = true
						break
					}
				}
				if bar {
					prefix += "│   "
				} else {
					prefix += "    "
				}
			}
			if last {
				prefix += "└── "
			} else {
				prefix += "├── "
			}
		}
		state := ""
		if l.State != "active" {
			state = " [" + strings.ToUpper(l.State) + "]"
		}
		fmt.Fprintf(w, "%s%s %s%s  %s  %s  %s\n", prefix, l.ID, l.Name, state, strings.Join(l.Scopes, ","), leaseExpiry(l), leaseBudget(l))
	}
}

func newLeaseShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one lease",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var l api.LeaseView
			if err := c.send(cmd.Context(), "GET", "/v1/leases/"+url.PathEscape(args[0]), nil, &l); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "id:       %s\nname:     %s\nparent:   %s\nstate:    %s\nscopes:   %s\nvalid:    from %s, %s (max ttl %s)\nbudget:   %s\ntokens:   %d spent\n",
				l.ID, l.Name, l.Parent, l.State, strings.Join(l.Scopes, " "), l.NotBefore, leaseExpiry(l), l.MaxTTL, leaseBudget(l), l.SpentTokens)
			return nil
		},
	}
}

func newLeaseRenewCmd(g *globals) *cobra.Command {
	var ttl string
	cmd := &cobra.Command{
		Use:   "renew ID --ttl 1h",
		Short: "Extend a lease (never past its max ttl or its parent's expiry)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var l api.LeaseView
			if err := c.send(cmd.Context(), "POST", "/v1/leases/"+url.PathEscape(args[0])+"/renew", map[string]string{"ttl": ttl}, &l); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s) %s\n", l.ID, l.Name, leaseExpiry(l))
			return nil
		},
	}
	cmd.Flags().StringVar(&ttl, "ttl", "1h", "new lifetime from now")
	return cmd
}

func newLeaseRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a lease and every lease granted from it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			var resp struct{ Revoked []string }
			if err := c.send(cmd.Context(), "DELETE", "/v1/leases/"+url.PathEscape(args[0]), nil, &resp); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %d lease(s): %s\n", len(resp.Revoked), strings.Join(resp.Revoked, " "))
			return nil
		},
	}
}
