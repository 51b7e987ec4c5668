package main

import (
	"fmt"
	"runtime/debug"

	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
	"github.com/spf13/cobra"
)

func newInitCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Initialise a data directory (mirror up does this on first start)",
		Long: `Create the data directory with the store, the Ed25519 key that signs ledger
checkpoints (ledger.key, 0600), its verifier key (ledger.pub), a commented
config.toml and the owner token. The token is printed once to stderr, stored
only as a SHA-256 hash, and written to DATA_DIR/owner.token (0600) for the
CLI on this machine.

On a directory that is already initialised, init changes nothing and says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Default()
			if name != "" {
				cfg.Ledger.Name = name
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			res, err := kernel.Init(cmd.Context(), g.dataDir, cfg)
			if err != nil {
				return err
			}
			if !res.Created {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is already initialised (log %s); nothing changed.\n", g.dataDir, res.Origin)
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Initialised %s (log %s).\nOwner token (shown once; also in %s/%s, mode 0600):\n\n    %s\n\nVerifier key for checkpoints: %s\n",
				g.dataDir, res.Origin, g.dataDir, kernel.OwnerTokenFile, res.OwnerToken, res.VerifierKey)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", `the log's name; checkpoints are signed as "mirroros/<name>" (default "local")`)
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := kernel.Version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
				v += " (" + bi.GoVersion + ")"
			}
			fmt.Fprintln(cmd.OutOrStdout(), "mirror", v)
		},
	}
}
