package main

import (
	"encoding/json"

	"errors"
	"fmt"
	"github.com/mirroros/mirror/api"
	"time"

	"github.com/spf13/cobra"
)

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the running kernel is doing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			body, _, err := c.get(cmd.Context(), "/v1/status")
			if err != nil {
				return err
			}
			if asJSON {
				cmd.OutOrStdout().Write(body)
				return nil
			}
			var s api.Status
			if err := json.Unmarshal(body, &s); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "mirror %s at %s, up %s (since %s)\n", s.Version, s.Addr, (time.Duration(s.UptimeSeconds) * time.Second).String(), s.Started)
			fmt.Fprintf(out, "data dir:    %s\n", s.DataDir)
			fmt.Fprintf(out, "ledger:      %s, %d entries, %d appends waiting\n", s.Origin, s.LedgerSize, s.PendingAppends)
			fmt.Fprintf(out, "checkpoint:  covers %d entries, signed %.1fs ago\n", s.CheckpointSize, s.CheckpointAgeSeconds)
			for _, b := range s.Breakers {
				fmt.Fprintf(out, "model:       %s circuit %s: %s\n", b.Key(), b.Breaker.State, b.Breaker.Reason)
			}
			if s.PolicyError != "" {
				fmt.Fprintf(out, "policies:    last edit REFUSED, previous set in force: %s\n", s.PolicyError)
			}
			if s.Status != "ok" {
				fmt.Fprintf(out, "status:      DEGRADED: %s\n", s.Reason)
				return &exitError{1, errors.New("the kernel is degraded")}
			}
			fmt.Fprintf(out, "status:      ok\n")
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON")
	return cmd
}

func newHealthCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Check the kernel's health (exit 0 ok, 1 degraded or unreachable)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			body, _, err := c.get(cmd.Context(), "/healthz")
			if body != nil {
				cmd.OutOrStdout().Write(body)
			}
			if err != nil {
				return &exitError{1, err}
			}
			return nil
		},
	}
}
