package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
	"github.com/spf13/cobra"
)

func newUpCmd(g *globals) *cobra.Command {
	var allowUnsigned bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the kernel",
		Long: `Run the kernel in the foreground until SIGINT or SIGTERM.

On first start with an empty data directory it initialises it exactly like
'mirror init' and prints the owner token once to stderr. On every start it
checks the whole ledger against its signed checkpoints before writing; if they
disagree it keeps serving reads but refuses to record anything, and /healthz
says why. On SIGINT/SIGTERM it stops taking requests, lets in-flight appends
finish, records kernel.stop and signs a final checkpoint.

--allow-unsigned is a development mode for writing skills: skills that are
unsigned, signed by an untrusted or expired key, or changed since they were
signed are run anyway (revoked ones never are). It is logged loudly at start
and every ledger entry of such a run is marked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(g.dataDir)
			if err != nil {
				return err
			}
			cfg.Server.Addr = g.resolveAddr(cmd, &cfg)
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runKernel(ctx, g.dataDir, cfg, os.Stderr, kernel.Options{AllowUnsigned: allowUnsigned})
		},
	}
	cmd.Flags().BoolVar(&allowUnsigned, "allow-unsigned", false, "development mode: run unsigned or untrusted skills, marking them in the ledger")
	return cmd
}

func newLogger(cfg config.Config, w *os.File) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runKernel opens the system, serves until ctx ends, then shuts down.
func runKernel(ctx context.Context, dataDir string, cfg config.Config, stderr *os.File, opts kernel.Options) error {
	log := newLogger(cfg, stderr)
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	if host, _, _ := net.SplitHostPort(cfg.Server.Addr); host != "" {
		if ip := net.ParseIP(host); (ip != nil && !ip.IsLoopback()) || (ip == nil && host != "localhost") {
			log.Warn("listening beyond loopback: anyone who can reach this address can try tokens", "addr", cfg.Server.Addr)
		}
	}
	cfg.Server.Addr = ln.Addr().String() // the real port when :0 was asked for
	sys, err := kernel.Open(ctx, dataDir, cfg, kernel.Options{Logger: log, AllowUnsigned: opts.AllowUnsigned})
	if err != nil {
		ln.Close()
		return err
	}
	if sys.InitDone != nil {
		fmt.Fprintf(stderr, "Initialised %s.\nOwner token (shown once; also in %s/%s, mode 0600):\n\n    %s\n\n",
			dataDir, dataDir, kernel.OwnerTokenFile, sys.InitDone.OwnerToken)
	}
	srv := &http.Server{
		Handler:           api.New(sys),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	h := sys.Ledger.Health()
	log.Info("mirror is up", "addr", ln.Addr().String(), "data_dir", dataDir, "ledger_size", h.Size, "origin", sys.Ledger.Origin(), "version", kernel.Version)
	if !h.OK {
		log.Error("running degraded", "reason", h.Reason)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err.Error())
	}
	if err := sys.Close(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("mirror stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
