// Command mirror is the MirrorOS kernel and its command-line client.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mirroros/mirror/config"
	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// globals are the flags every command shares.
type globals struct {
	dataDir string
	addr    string
}

func defaultDataDir() string {
	if d := os.Getenv("MIRROR_DATA_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".mirror"
	}
	return filepath.Join(home, ".mirror")
}

// resolveAddr applies the precedence flag > MIRROR_ADDR > config file > default.
func (g *globals) resolveAddr(cmd *cobra.Command, cfg *config.Config) string {
	if cmd.Flags().Changed("addr") {
		return g.addr
	}
	if a := os.Getenv("MIRROR_ADDR"); a != "" {
		return a
	}
	if cfg != nil && cfg.Server.Addr != "" {
		return cfg.Server.Addr
	}
	return config.DefaultAddr
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "mirror",
		Short: "MirrorOS: the sovereign AI kernel",
		Long: `MirrorOS is one local daemon that every model call and agent action passes
through. It keeps a tamper-evident log of everything that happens in it.

Start the kernel with 'mirror up'; everything lives in one data directory
(--data-dir, $MIRROR_DATA_DIR, default ~/.mirror). Commands that talk to a
running kernel use --addr ($MIRROR_ADDR, default 127.0.0.1:8400) and the owner
token from $MIRROR_TOKEN or DATA_DIR/owner.token.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", defaultDataDir(), "data directory (env MIRROR_DATA_DIR)")
	root.PersistentFlags().StringVar(&g.addr, "addr", config.DefaultAddr, "kernel address host:port (env MIRROR_ADDR)")
	root.AddCommand(newInitCmd(g), newUpCmd(g), newStatusCmd(g), newHealthCmd(g), newAuditCmd(g), newLeaseCmd(g), newPolicyCmd(g), newApprovalsCmd(g), newDecideCmd(g, true), newDecideCmd(g, false), newDeniedCmd(g), newHookCmd(g), newModelsCmd(g), newAskCmd(g), newSpendCmd(g), newVersionCmd())
	root.AddCommand(newSkillCmd(g), newRunCmd(g), newRunsCmd(g), newCouncilCmd(g), newProvenanceCmd(g))
	root.AddCommand(newMCPCmd(g), newMemoryCmd(g))
	return root
}

func main() {
	root := newRoot()
	err := root.Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.err != errQuiet {
		fmt.Fprintln(os.Stderr, "mirror:", err)
	}
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(2)
}
