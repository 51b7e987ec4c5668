package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/spf13/cobra"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/term"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read, prove and verify the tamper-evident ledger",
		Long: `The ledger records everything that happens in the kernel as canonical JSON
entries under an RFC 6962 Merkle tree, with Ed25519-signed checkpoints in the
C2SP tlog-checkpoint format.

verify and export read the data directory directly (the kernel may be running
or stopped); the other commands ask the running kernel.

Keep a checkpoint somewhere else now and then ('mirror audit checkpoint >
saved.txt'): 'mirror audit verify --against saved.txt' later proves that the
log still extends it, which catches a rewrite even by someone holding the
local signing key.`,
	}
	cmd.AddCommand(newVerifyCmd(g), newTailCmd(g), newShowCmd(g), newProveCmd(g), newCheckpointCmd(g), newPubkeyCmd(g), newExportCmd(g), newBodyCmd(g))
	return cmd
}

func openStoreRO(ctx context.Context, dataDir string) (*sqlite.DB, error) {
	path := filepath.Join(dataDir, kernel.DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no ledger in %s: %w (use --data-dir, or 'mirror init')", dataDir, err)
	}
	return sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
}

// progressPrinter reports progress on stderr for long runs.
func progressPrinter(w io.Writer, what string) func(done, total uint64) {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	start := time.Now()
	var last time.Time
	return func(done, total uint64) {
		if time.Since(start) < time.Second || (time.Since(last) < time.Second && done != total) {
			return // short runs stay quiet
		}
		last = time.Now()
		pct := ""
		if total > 0 {
			pct = fmt.Sprintf(" (%d%%)", done*100/total)
		}
		if tty {
			fmt.Fprintf(w, "\r%s %d/%d entries%s", what, done, total, pct)
			if done == total {
				fmt.Fprintln(w)
			}
		} else {
			fmt.Fprintf(w, "%s %d/%d entries%s\n", what, done, total, pct)
		}
	}
}

func readVerifierKey(dataDir, flagKey string) (note.Verifier, error) {
	vkey := flagKey
	if vkey != "" {
		if raw, err := os.ReadFile(vkey); err == nil {
			vkey = strings.TrimSpace(string(raw)) // --pubkey may name a file
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: not a verifier key (name+hash+key) or a file holding one: %v", err)
		}
		return v, nil
	}
	v, _, err := kernel.LoadVerifier(dataDir)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w (pass --pubkey)", err)
	}
	return v, nil
}

func newVerifyCmd(g *globals) *cobra.Command {
	var against, file, pubkey string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the whole log and check it against its signed checkpoints",
		Long: `Recompute every leaf hash and the Merkle root from the stored entry bytes,
check every stored checkpoint's signature and root, and the stored tree nodes.
Works on a stopped data directory (read-only) and beside a running kernel.

  --against FILE   also prove that the log extends a checkpoint saved earlier
                   (a consistency proof): this catches history rewritten and
                   re-signed with the local key.
  --file FILE      verify an export ('mirror audit export') offline instead of
                   the data directory; give the key with --pubkey.

Exit status: 0 verified (prints size and root), 1 the log does not verify
(names the first bad index and what differs), 2 it could not be checked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			v, err := readVerifierKey(g.dataDir, pubkey)
			if err != nil {
				return err
			}
			var opts ledger.VerifyOptions
			opts.Progress = progressPrinter(cmd.ErrOrStderr(), "verified")
			if against != "" {
				raw, err := os.ReadFile(against)
				if err != nil {
					return err
				}
				cp, err := ledger.OpenCheckpoint(raw, v)
				if err != nil {
					return &exitError{1, fmt.Errorf("saved checkpoint %s: %w", against, err)}
				}
				opts.Against = []ledger.Checkpoint{cp}
			}
			start := time.Now()
			var rep ledger.Report
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				rep, err = ledger.VerifyExport(f, v, opts)
				if err != nil {
					return verifyFailed(err)
				}
			} else {
				st, err := openStoreRO(ctx, g.dataDir)
				if err != nil {
					return err
				}
				defer st.Close()
				err = st.View(ctx, func(tx store.ReadTx) (err error) {
					rep, err = ledger.VerifyStore(ctx, tx, v, opts)
					return err
				})
				if err != nil {
					return verifyFailed(err)
				}
			}
			took := time.Since(start)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ok: %d entries, root %s\n", rep.Size, base64.StdEncoding.EncodeToString(rep.Root))
			fmt.Fprintf(out, "%d signed checkpoints verified with %s", rep.Checkpoints, v.Name())
			if rep.Latest != nil {
				fmt.Fprintf(out, "; the latest covers %d entries", rep.Latest.Size)
			}
			fmt.Fprintln(out)
			if len(opts.Against) > 0 {
				fmt.Fprintf(out, "extends the saved checkpoint at size %d (consistency proof verified)\n", opts.Against[0].Size)
			}
			if took > time.Second {
				fmt.Fprintf(out, "took %s (%.0f entries/s)\n", took.Round(time.Millisecond), float64(rep.Size)/took.Seconds())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&against, "against", "", "a checkpoint saved earlier that the log must extend")
	cmd.Flags().StringVar(&file, "file", "", "verify an export file instead of the data directory")
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "verifier key, or a file holding it (default DATA_DIR/ledger.pub)")
	return cmd
}

func verifyFailed(err error) error {
	var ve *ledger.VerifyError
	if errors.As(err, &ve) {
		if ve.Index >= 0 {
			return &exitError{1, fmt.Errorf("verification FAILED at entry %d: %s", ve.Index, ve.Reason)}
		}
		return &exitError{1, fmt.Errorf("verification FAILED: %s", ve.Reason)}
	}
	return err
}

func newExportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the log as JSON Lines, ending with its signed checkpoint",
		Long: `Write every entry covered by the latest signed checkpoint, one per line exactly
as stored, then a line {"checkpoint":"<signed note>"}. Verify it anywhere with
'mirror audit verify --file FILE --pubkey KEY'. Reads the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openStoreRO(ctx, g.dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			w := cmd.OutOrStdout()
			var f *os.File
			if out != "" && out != "-" {
				f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return err
				}
				w = f
			}
			var n uint64
			err = st.View(ctx, func(tx store.ReadTx) (err error) {
				n, err = ledger.Export(ctx, tx, w, progressPrinter(cmd.ErrOrStderr(), "exported"))
				return err
			})
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return err
			}
			if f != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d entries to %s\n", n, out)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write to this file (mode 0600) instead of stdout")
	return cmd
}

func newCheckpointCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Print the latest signed checkpoint (save it elsewhere for verify --against)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			body, _, err := c.get(cmd.Context(), "/v1/audit/checkpoint")
			if err != nil {
				return err
			}
			cmd.OutOrStdout().Write(body)
			return nil
		},
	}
}

func newPubkeyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pubkey",
		Short: "Print the checkpoint verifier key (sumdb/note form)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, vkey, err := kernel.LoadVerifier(g.dataDir)
			if err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), vkey)
				return nil
			}
			c, cerr := newClient(cmd, g)
			if cerr != nil {
				return err
			}
			body, _, cerr := c.get(cmd.Context(), "/v1/audit/pubkey")
			if cerr != nil {
				return fmt.Errorf("%v; and from the kernel: %v", err, cerr)
			}
			cmd.OutOrStdout().Write(body)
			return nil
		},
	}
}

func newShowCmd(g *globals) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "show INDEX",
		Short: "Print one entry exactly as stored",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			i, err := strconv.ParseUint(args[0], 10, 63)
			if err != nil {
				return fmt.Errorf("INDEX must be a non-negative integer, got %q", args[0])
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			body, _, err := c.get(cmd.Context(), fmt.Sprintf("/v1/audit/entries/%d", i))
			if err != nil {
				return err
			}
			if pretty {
				var buf bytes.Buffer
				json.Indent(&buf, body, "", "  ")
				body = buf.Bytes()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", body)
			return nil
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "indent the JSON (the stored bytes are compact)")
	return cmd
}

func newBodyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "body SHA256",
		Short: "Print a model call's stored request or response body",
		Long: `Print a model call's request or response body, named by the request_sha256 or
response_sha256 of its model.call entry. Bodies are kept only when
audit.store_bodies is on in config.toml (see docs/CONFIG.md).`,
		Example: "  mirror audit body 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if h, err := hex.DecodeString(args[0]); err != nil || len(h) != 32 {
				return fmt.Errorf("SHA256 must be 64 hex digits, got %q", args[0])
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			body, _, err := c.get(cmd.Context(), "/v1/audit/bodies/"+strings.ToLower(args[0]))
			if err != nil {
				return err
			}
			cmd.OutOrStdout().Write(body)
			return nil
		},
	}
}

func formatEntry(data []byte) string {
	e, err := ledger.ParseEntry(data)
	if err != nil {
		return string(data)
	}
	return fmt.Sprintf("%-8d %s  %-22s %-16s %s", e.Index, e.Time.Format("2006-01-02T15:04:05.000Z"), e.Kind, e.Actor, e.Body)
}

func newTailCmd(g *globals) *cobra.Command {
	var n uint64
	var follow, raw bool
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print the last entries; -f follows new ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var st api.Status
			if err := c.getJSON(ctx, "/v1/status", &st); err != nil {
				return err
			}
			next := uint64(0)
			if st.LedgerSize > n {
				next = st.LedgerSize - n
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			for {
				body, _, err := c.get(ctx, fmt.Sprintf("/v1/audit/entries?from=%d&limit=1000", next))
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
					if len(line) == 0 {
						continue
					}
					if raw {
						fmt.Fprintf(out, "%s\n", line)
					} else {
						fmt.Fprintln(out, formatEntry(line))
					}
					next++
				}
				out.Flush()
				if !follow {
					return nil
				}
				if len(body) == 0 {
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
		},
	}
	cmd.Flags().Uint64VarP(&n, "lines", "n", 10, "how many of the last entries to print")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new entries")
	cmd.Flags().BoolVar(&raw, "json", false, "print the stored JSON lines")
	return cmd
}

func newProveCmd(g *globals) *cobra.Command {
	var size uint64
	var pubkey string
	cmd := &cobra.Command{
		Use:   "prove INDEX",
		Short: "Prove an entry is in the log, checked against the signed checkpoint",
		Long: `Fetch entry INDEX, its inclusion proof and the latest signed checkpoint from
the kernel, and check them here: the checkpoint's signature with the local
verifier key, the proof against the checkpoint's root. With --size N the
proof is for the tree of size N, tied to the checkpoint by a consistency proof.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			i, err := strconv.ParseUint(args[0], 10, 63)
			if err != nil {
				return fmt.Errorf("INDEX must be a non-negative integer, got %q", args[0])
			}
			v, err := readVerifierKey(g.dataDir, pubkey)
			if err != nil {
				return err
			}
			c, err := newClient(cmd, g)
			if err != nil {
				return err
			}
			note, _, err := c.get(ctx, "/v1/audit/checkpoint")
			if err != nil {
				return err
			}
			cp, err := ledger.OpenCheckpoint(note, v)
			if err != nil {
				return &exitError{1, err}
			}
			if size == 0 {
				size = cp.Size
			}
			if size > cp.Size {
				return fmt.Errorf("no signed checkpoint covers size %d yet (latest: %d); try again in a second", size, cp.Size)
			}
			if i >= size {
				return fmt.Errorf("entry %d is not in the tree of size %d", i, size)
			}
			data, _, err := c.get(ctx, fmt.Sprintf("/v1/audit/entries/%d", i))
			if err != nil {
				return err
			}
			leaf := rfc6962.DefaultHasher.HashLeaf(data)
			var incl struct{ Hashes [][]byte }
			if err := c.getJSON(ctx, fmt.Sprintf("/v1/audit/proof/inclusion?index=%d&size=%d", i, size), &incl); err != nil {
				return err
			}
			root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, i, size, leaf, incl.Hashes)
			if err != nil {
				return &exitError{1, fmt.Errorf("inclusion proof: %w", err)}
			}
			if size < cp.Size {
				var cons struct{ Hashes [][]byte }
				if err := c.getJSON(ctx, fmt.Sprintf("/v1/audit/proof/consistency?from=%d&to=%d", size, cp.Size), &cons); err != nil {
					return err
				}
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size, cp.Size, cons.Hashes, root, cp.Root); err != nil {
					return &exitError{1, fmt.Errorf("consistency proof to the checkpoint: %w", err)}
				}
			} else if !bytes.Equal(root, cp.Root) {
				return &exitError{1, errors.New("the inclusion proof does not lead to the signed root")}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "entry %d is in the log (leaf hash %s)\n", i, base64.StdEncoding.EncodeToString(leaf))
			fmt.Fprintf(out, "proved against the checkpoint of %d entries signed by %s\n", cp.Size, v.Name())
			fmt.Fprintf(out, "inclusion proof (%d hashes, tree size %d):\n", len(incl.Hashes), size)
			for _, h := range incl.Hashes {
				fmt.Fprintf(out, "  %s\n", base64.StdEncoding.EncodeToString(h))
			}
			return nil
		},
	}
	cmd.Flags().Uint64Var(&size, "size", 0, "tree size to prove against (default: the latest checkpoint's)")
	cmd.Flags().StringVar(&pubkey, "pubkey", "", "verifier key or a file holding it (default DATA_DIR/ledger.pub)")
	return cmd
}
