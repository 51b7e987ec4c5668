package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/mirroros/mirror/kernel"
	"github.com/spf13/cobra"
)

func newModelsCmd(g *globals) *cobra.Command {
	var refresh bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the models the bus can route to, with tier, price and health",
		Long: `List every model of every provider the kernel knows: Ollama on this machine,
the vendors whose keys are in the kernel's environment, and those in
config.toml. Local models are tier 0: content with secrets or personal data
only ever goes to them. Prices are USD per million tokens (input / cached /
output); a cloud model without a price is refused until one is configured.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			path := "/v1/models"
			if refresh {
				path += "?refresh=1"
			}
			var resp struct {
				Data        []kernel.ModelInfo `json:"data"`
				Unavailable map[string]string  `json:"unavailable"`
			}
			if err := c.send(cmd.Context(), "GET", path, nil, &resp); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tTIER\tPRICE $/Mtok\tHEALTH\tRELIABILITY\tALIASES")
			for _, m := range resp.Data {
				if m.Provider == "alias" {
					continue
				}
				tier := fmt.Sprintf("%d", m.Tier)
				if m.Local {
					tier = "0 local"
				}
				price := "unknown"
				if m.Price != nil {
					price = fmt.Sprintf("%g / %g / %g", m.Price.Input, m.Price.Cached, m.Price.Output)
				}
				health, rel := "unused", "-"
				if m.Health != nil {
					health = string(m.Health.Breaker.State)
					if m.Health.Breaker.Reason != "" {
						health += ": " + m.Health.Breaker.Reason
					}
					rel = fmt.Sprintf("%.3f (≥%.3f)", m.Health.Reliability.Mean, m.Health.Reliability.Lower)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, tier, price, health, rel, strings.Join(m.Aliases, ","))
			}
			tw.Flush()
			names := make([]string, 0, len(resp.Unavailable))
			for n := range resp.Unavailable {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(out, "provider %s could not be listed: %s\n", n, resp.Unavailable[n])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&refresh, "refresh", false, "ask the providers again now")
	return cmd
}
