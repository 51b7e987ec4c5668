package kernel

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/policy"
)

// PoliciesDir holds the owner's own Cedar policies, beside the default pack.
const PoliciesDir = "policies"

// policyWatcher reloads DATA_DIR/policies when its files change. An invalid
// set is refused with its file:line:column errors and the set in force
// stays; every set put in force is recorded in the ledger by its hash.
type policyWatcher struct {
	dir  string
	gate *gate.Gate
	sys  *System

	mu      sync.Mutex
	print   [32]byte
	lastErr error
}

func fingerprint(dir string) [32]byte {
	h := sha256.New()
	entries, _ := os.ReadDir(dir)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		if filepath.Ext(n) != ".cedar" {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", n, fi.Size(), fi.ModTime().UnixNano())
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// check reloads if the directory changed since the last look.
func (w *policyWatcher) check(ctx context.Context) {
	fp := fingerprint(w.dir)
	w.mu.Lock()
	same := fp == w.print
	w.print = fp
	w.mu.Unlock()
	if same {
		return
	}
	e, err := policy.Load(w.dir)
	if err == nil {
		if e.Hash() == w.gate.Engine().Hash() {
			w.setErr(nil)
			return
		}
		err = w.gate.SetEngine(ctx, e, "reload")
	}
	w.setErr(err)
	if err != nil {
		w.sys.Log.Error("policy change refused; the previous policies stay in force", "dir", w.dir, "err", err.Error())
		return
	}
	w.sys.Log.Info("policies reloaded", "hash", e.Hash(), "files", len(e.Files()))
}

func (w *policyWatcher) setErr(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}

// Err is the last refused reload, or nil.
func (w *policyWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// startTrust loads the policies and starts the background work of the trust
// plane: policy reloads and the sweeper of expired leases, reservations and
// approvals.
func (s *System) startTrust(ctx context.Context) error {
	dir := filepath.Join(s.DataDir, PoliciesDir)
	if err := os.MkdirAll(dir, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	e, err := policy.Load(dir)
	if err != nil {
		return fmt.Errorf("policies in %s: %w", dir, err)
	}
	s.Gate = gate.New(s.Store, s.Ledger, e, s.Log.With("plane", "trust"), nil)
	if err := s.Gate.SetEngine(ctx, e, "start"); err != nil {
		s.Log.Error("policy.load not recorded; running degraded", "err", err.Error())
	}
	s.policies = &policyWatcher{dir: dir, gate: s.Gate, sys: s, print: fingerprint(dir)}
	bg, cancel := context.WithCancel(context.Background())
	s.stopBG = cancel
	s.bgDone = make(chan struct{})
	// Model calls an earlier run allowed but never answered are closed in
	// the background; Close waits for the pass to finish.
	startIndex := s.Ledger.Size()
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		if n, err := s.closeDanglingCalls(context.Background(), startIndex); err != nil {
			s.Log.Warn("closing model calls left open by a crash", "err", err.Error())
		} else if n > 0 {
			s.Log.Warn("model calls left without an outcome by an earlier stop were recorded as outcome_unknown", "calls", n)
		}
	}()
	go func() {
		defer close(s.bgDone)
		reload := time.NewTicker(2 * time.Second)
		sweep := time.NewTicker(5 * time.Second)
		models := time.NewTicker(modelsEvery)
		defer reload.Stop()
		defer sweep.Stop()
		defer models.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-models.C:
				if s.catalog != nil {
					s.catalog.refresh(bg)
				}
			case <-reload.C:
				s.policies.check(bg)
			case <-sweep.C:
				if _, _, err := s.Leases.Sweep(bg); err != nil && bg.Err() == nil {
					s.Log.Warn("lease sweep", "err", err.Error())
				}
				if _, err := s.Gate.Sweep(bg); err != nil && bg.Err() == nil {
					s.Log.Warn("approval sweep", "err", err.Error())
				}
			}
		}
	}()
	return nil
}

// PolicyError is the last refused policy reload, or nil.
func (s *System) PolicyError() error {
	if s.policies == nil {
		return nil
	}
	return s.policies.Err()
}
