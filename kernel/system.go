// Package kernel wires the planes together. System is the one place where
// the store, the ledger and (in later planes) leases, policy and the model
// bus meet; nothing else holds global state.
package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mirroros/mirror/bus"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/memory"
	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/gate"
	"github.com/mirroros/mirror/trust/lease"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/time/rate"
)

// Version is the kernel's version, set at build time with
// -ldflags "-X github.com/mirroros/mirror/kernel.Version=…".
var Version = "dev"

// System is a running kernel's subsystems.
type System struct {
	Config  config.Config
	DataDir string
	Store   store.Store
	Ledger  *ledger.Ledger
	Leases  *lease.Manager
	Gate    *gate.Gate

	// The model bus.
	Providers []config.Provider
	Router    *bus.Router
	Prices    *bus.PriceTable
	Metrics   *prometheus.Registry

	// The governed runtime.
	Skills        *skill.Registry
	Memory        *memory.Memory
	AllowUnsigned bool // development mode: refused skills run, marked

	Log      *slog.Logger
	Started  time.Time
	InitDone *InitResult // set when Open initialised the directory

	signer   note.Signer // the kernel's key: checkpoints and provenance
	rt       *runtime    // the governed runtime's runs
	unlock   func()
	db       *sqlite.DB
	policies *policyWatcher
	catalog  *catalog
	upstream *http.Transport // shared by the providers' adapters
	stopBG   context.CancelFunc
	bgDone   chan struct{}
	pending  sync.WaitGroup // model-call outcomes still being recorded

	limitMu     sync.Mutex
	leaseLimits map[string]*rate.Limiter // limits.lease_rpm, per lease

	idMu      sync.Mutex // the cached identity preamble
	idText    string
	idMod     time.Time
	idSize    int64
	idChecked time.Time

	memCache memoryCache // identity claims for the preamble

	implicitMu sync.Mutex
	implicit   map[string]bool // aliases the kernel set itself ("default", "local")
}

// Options are the optional parts of Open.
type Options struct {
	Logger *slog.Logger
	// WrapStore, if set, wraps the store the planes use (fault injection in
	// tests, instrumentation).
	WrapStore func(store.Store) store.Store
	// AllowUnsigned runs skills that are unsigned, untrusted or tampered
	// (never revoked ones), marking every ledger entry of such a run.
	AllowUnsigned bool
}

// Open starts the kernel's subsystems on a data directory, initialising it
// first if it is empty. It records kernel.start in the ledger; if the ledger
// refuses to write (its integrity check failed), the system still opens, in
// a degraded state that Health reports, so that it can be inspected.
func Open(ctx context.Context, dataDir string, cfg config.Config, opts Options) (*System, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDir(dataDir)
	if err != nil {
		return nil, err
	}
	s := &System{Config: cfg, DataDir: dataDir, Log: log, Started: time.Now(), unlock: unlock}
	ok := false
	defer func() {
		if !ok {
			s.closeStore()
		}
	}()
	res, err := initLocked(ctx, dataDir, cfg)
	if err != nil {
		return nil, err
	}
	if res.Created {
		s.InitDone = &res
	}
	signer, verifier, _, err := loadKeys(dataDir)
	if err != nil {
		return nil, err
	}
	if want := ledger.OriginPrefix + cfg.Ledger.Name; want != signer.Name() {
		log.Warn("ledger.name in the config differs from the key's name; the key's name is kept", "config", want, "key", signer.Name())
	}
	s.db, err = sqlite.Open(ctx, filepath.Join(dataDir, DBFile), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	s.Store = s.db
	if opts.WrapStore != nil {
		s.Store = opts.WrapStore(s.db)
	}
	s.Metrics = prometheus.NewRegistry()
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Ledger, err = ledger.Open(ctx, s.Store, signer, verifier, ledger.Options{
		CheckpointInterval: cfg.Ledger.CheckpointInterval.Duration,
		MaxBatch:           cfg.Ledger.MaxBatch,
		Logger:             log.With("plane", "trace"),
		Registerer:         s.Metrics,
		Progress: func(done, total uint64) {
			if total > 1<<20 {
				log.Info("checking the ledger", "done", done, "total", total)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.Leases = lease.New(s.Store, s.Ledger, nil)
	body, _ := json.Marshal(map[string]any{"version": Version, "pid": os.Getpid()})
	if _, err := s.Ledger.Append(ctx, ledger.Event{Kind: "kernel.start", Actor: "kernel", Body: body}); err != nil {
		log.Error("kernel.start not recorded; running degraded", "err", err.Error())
	}
	if err := s.startTrust(ctx); err != nil {
		s.Ledger.Close(ctx)
		return nil, err
	}
	if err := s.startBus(ctx); err != nil {
		s.Close(ctx)
		return nil, err
	}
	s.signer = signer
	s.startMemory()
	if err := s.startSkills(ctx, opts.AllowUnsigned); err != nil {
		s.Close(ctx)
		return nil, err
	}
	s.startRuns()
	ok = true
	return s, nil
}

// Close records kernel.stop, lets in-flight appends finish, signs a final
// checkpoint and closes the store.
func (s *System) Close(ctx context.Context) error {
	var errs []error
	s.stopRuns()
	if s.stopBG != nil {
		s.stopBG()
		<-s.bgDone
		s.stopBG = nil
	}
	s.pending.Wait()
	if s.upstream != nil {
		// Connections dialed but never used would otherwise hold a
		// provider's graceful shutdown open (tests, embedding programs).
		s.upstream.CloseIdleConnections()
	}
	if s.Ledger != nil {
		body, _ := json.Marshal(map[string]any{"uptime_seconds": int64(time.Since(s.Started).Seconds())})
		if _, err := s.Ledger.Append(ctx, ledger.Event{Kind: "kernel.stop", Actor: "kernel", Body: body}); err != nil && s.Ledger.Health().OK {
			errs = append(errs, fmt.Errorf("record kernel.stop: %w", err))
		}
		if err := s.Ledger.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		s.Ledger = nil
	}
	errs = append(errs, s.closeStore())
	return errors.Join(errs...)
}

func (s *System) closeStore() error {
	var err error
	if s.db != nil {
		err = s.db.Close()
		s.db = nil
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
	return err
}

// ErrUnauthorized is returned for a missing, malformed, unknown, revoked or
// expired token.
var ErrUnauthorized = lease.ErrUnauthorized

// Principal is who a request acts as: the lease its token belongs to.
type Principal struct {
	Lease store.Lease
}

// Name is the lease's name ("owner" for the root lease).
func (p Principal) Name() string { return p.Lease.Name }

// Authenticate checks a bearer token against the stored lease token hashes.
func (s *System) Authenticate(ctx context.Context, bearer string) (Principal, error) {
	l, err := s.Leases.Authenticate(ctx, bearer)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Lease: l}, nil
}
