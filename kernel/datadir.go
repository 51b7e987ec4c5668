package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/lease"
	"github.com/mirroros/mirror/trust/token"
	"golang.org/x/mod/sumdb/note"
)

// Files in the data directory.
const (
	DBFile         = "mirror.db"
	KeyFile        = "ledger.key" // the checkpoint signing key, 0600
	PubKeyFile     = "ledger.pub" // the verifier key, safe to share
	OwnerTokenFile = "owner.token"
	LockFile       = "mirror.lock"
)

const metaInitialized = "kernel.initialized"

// InitResult says what Init did.
type InitResult struct {
	Created     bool   // false: the directory was already initialised, nothing changed
	OwnerToken  string // set only when created
	VerifierKey string
	Origin      string
}

// Init initialises a data directory: the store, the ledger signing key, a
// commented config file and the owner token. On an initialised directory
// it changes nothing. The owner token is stored hashed; its only plain copy
// is DATA_DIR/owner.token (0600) and the returned result.
func Init(ctx context.Context, dataDir string, cfg config.Config) (InitResult, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	unlock, err := lockDir(dataDir)
	if err != nil {
		return InitResult{}, err
	}
	defer unlock()
	return initLocked(ctx, dataDir, cfg)
}

func initLocked(ctx context.Context, dataDir string, cfg config.Config) (InitResult, error) {
	origin := ledger.OriginPrefix + cfg.Ledger.Name
	keyPath := filepath.Join(dataDir, KeyFile)
	signer, verifier, vkey, err := loadKeys(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		skey, vk, gerr := ledger.GenerateKey(origin)
		if gerr != nil {
			return InitResult{}, fmt.Errorf("init: %w", gerr)
		}
		if err := writeFileAtomic(keyPath, []byte(skey+"\n"), 0o600); err != nil {
			return InitResult{}, fmt.Errorf("init: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dataDir, PubKeyFile), []byte(vk+"\n"), 0o644); err != nil {
			return InitResult{}, fmt.Errorf("init: %w", err)
		}
		signer, verifier, vkey, err = loadKeys(dataDir)
	}
	if err != nil {
		return InitResult{}, err
	}
	cfgPath := filepath.Join(dataDir, config.FileName)
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		c := cfg
		c.Ledger.Name = strings.TrimPrefix(signer.Name(), ledger.OriginPrefix)
		if err := writeFileAtomic(cfgPath, []byte(config.Template(c)), 0o600); err != nil {
			return InitResult{}, fmt.Errorf("init: %w", err)
		}
	}

	st, err := sqlite.Open(ctx, filepath.Join(dataDir, DBFile), sqlite.Options{})
	if err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	defer st.Close()
	var done bool
	err = st.View(ctx, func(tx store.ReadTx) error {
		_, err := tx.Meta(ctx, metaInitialized)
		done = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	res := InitResult{VerifierKey: vkey, Origin: signer.Name()}
	if done {
		return res, nil
	}

	tok, err := token.New()
	if err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	// The file first: if the commit below fails, a rerun makes a new token
	// and overwrites it; a stored hash without its token never happens.
	if err := writeFileAtomic(filepath.Join(dataDir, OwnerTokenFile), []byte(tok+"\n"), 0o600); err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	l, err := ledger.Open(ctx, st, signer, verifier, ledger.Options{})
	if err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	defer l.Close(context.Background())
	body, _ := json.Marshal(map[string]any{
		"verifier_key":   vkey,
		"owner_token_id": token.ID(tok),
		"version":        Version,
	})
	err = l.Commit(ctx, func(tx *ledger.Tx) error {
		now := time.Now().UTC()
		if err := tx.Store().PutToken(ctx, store.Token{Hash: token.Hash(tok), ID: token.ID(tok), Kind: "owner", Created: now}); err != nil {
			return err
		}
		// The owner token is the root lease: every other lease descends from it.
		root := store.Lease{ID: lease.RootID, Name: "owner", Scopes: []string{"*"}, TokenHash: token.Hash(tok),
			NotBefore: now, BudgetMicros: -1, BudgetTokens: -1, State: lease.Active, Created: now}
		if err := tx.Store().PutLease(ctx, root); err != nil {
			return err
		}
		if err := tx.Store().SetMeta(ctx, metaInitialized, []byte(now.Format(time.RFC3339Nano))); err != nil {
			return err
		}
		_, err := tx.Append(ledger.Event{Kind: "kernel.init", Actor: "kernel", Body: body})
		return err
	})
	if err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	res.Created, res.OwnerToken = true, tok
	return res, nil
}

// loadKeys reads the signing key and derives the verifier from the public
// key file, checking that the two belong together.
func loadKeys(dataDir string) (note.Signer, note.Verifier, string, error) {
	skey, err := os.ReadFile(filepath.Join(dataDir, KeyFile))
	if err != nil {
		return nil, nil, "", err
	}
	if err := checkPrivate(filepath.Join(dataDir, KeyFile)); err != nil {
		return nil, nil, "", err
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: not a signing key: %v", KeyFile, err)
	}
	vkeyRaw, err := os.ReadFile(filepath.Join(dataDir, PubKeyFile))
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w (it is written with the key; restore it from a backup or `mirror audit pubkey` output)", PubKeyFile, err)
	}
	vkey := strings.TrimSpace(string(vkeyRaw))
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: not a verifier key: %v", PubKeyFile, err)
	}
	if verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() {
		return nil, nil, "", fmt.Errorf("%s and %s do not belong together", KeyFile, PubKeyFile)
	}
	return signer, verifier, vkey, nil
}

// LoadVerifier reads the verifier key of a data directory.
func LoadVerifier(dataDir string) (note.Verifier, string, error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, PubKeyFile))
	if err != nil {
		return nil, "", err
	}
	vkey := strings.TrimSpace(string(raw))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("%s: not a verifier key: %v", PubKeyFile, err)
	}
	return v, vkey, nil
}

func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by others (mode %v); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return nil
}

// writeFileAtomic writes a file through a temporary file and a rename, with
// the final mode from the start, and fsyncs it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ErrLocked means another process holds the data directory.
var ErrLocked = errors.New("the data directory is in use by another mirror process")

// lockDir takes an exclusive advisory lock on the data directory so that two
// daemons never write the same log.
func lockDir(dataDir string) (func(), error) {
	path := filepath.Join(dataDir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if p := strings.TrimSpace(string(pid)); p != "" {
			return nil, fmt.Errorf("%w (pid %s holds %s)", ErrLocked, p, path)
		}
		return nil, fmt.Errorf("%w (%s)", ErrLocked, path)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() {
		f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
