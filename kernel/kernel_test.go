package kernel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/skill"
	"github.com/mirroros/mirror/trust/lease"
	"github.com/mirroros/mirror/trust/token"
)

func TestInitCreatesPrivateFilesAndIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	res, err := Init(ctx, dir, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || !token.WellFormed(res.OwnerToken) || res.Origin != "mirroros/local" {
		t.Fatalf("init = %+v", res)
	}
	for _, f := range []string{KeyFile, OwnerTokenFile, DBFile, config.FileName} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	tok, _ := os.ReadFile(filepath.Join(dir, OwnerTokenFile))
	if strings.TrimSpace(string(tok)) != res.OwnerToken {
		t.Fatal("owner.token does not hold the printed token")
	}
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		for _, f := range []string{KeyFile, PubKeyFile, OwnerTokenFile, config.FileName} {
			m[f], _ = os.ReadFile(filepath.Join(dir, f))
		}
		return m
	}
	before := snapshot()
	again, err := Init(ctx, dir, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.OwnerToken != "" {
		t.Fatalf("second init = %+v", again)
	}
	for f, b := range snapshot() {
		if !bytes.Equal(b, before[f]) {
			t.Errorf("second init changed %s", f)
		}
	}
}

func TestOpenInitialisesAuthenticatesAndRecordsStartAndStop(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	sys, err := Open(ctx, dir, config.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sys.InitDone == nil {
		t.Fatal("Open on an empty dir did not initialise it")
	}
	p, err := sys.Authenticate(ctx, sys.InitDone.OwnerToken)
	if err != nil || p.Name() != "owner" || p.Lease.ID != lease.RootID {
		t.Fatalf("owner token: %+v, %v", p, err)
	}
	other, _ := token.New()
	for _, bad := range []string{"", "mos_short", other} {
		if _, err := sys.Authenticate(ctx, bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	if _, err := Open(ctx, dir, config.Default(), Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open on a dir in use: %v", err)
	}
	if err := sys.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sys, err = Open(ctx, dir, config.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(ctx)
	if sys.InitDone != nil {
		t.Fatal("second Open initialised again")
	}
	// The first start also installs the built-in skills (once).
	kinds := []string{"kernel.init", "kernel.start", "policy.load"}
	for range skill.BuiltinNames() {
		kinds = append(kinds, "skill.install")
	}
	kinds = append(kinds, "kernel.stop", "kernel.start", "policy.load")
	if n := sys.Ledger.Size(); n != uint64(len(kinds)) {
		t.Fatalf("ledger size %d, want %d", n, len(kinds))
	}
	for i, kind := range kinds {
		b, err := sys.Ledger.Entry(ctx, uint64(i))
		if err != nil || !bytes.Contains(b, []byte(`"kind":"`+kind+`"`)) {
			t.Errorf("entry %d = %s, want %s", i, b, kind)
		}
	}
	if cp, err := sys.Ledger.Checkpoint(); err != nil || cp.Size < 3 {
		t.Fatalf("checkpoint after restart: %+v %v (the final checkpoint should cover kernel.stop)", cp, err)
	}
}

func TestKeyReadableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(context.Background(), dir, config.Default()); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o644)
	_, err := Open(context.Background(), dir, config.Default(), Options{})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("open with a world-readable key: %v", err)
	}
}

func TestPolicyEditsAreReloadedAndInvalidOnesRefused(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	sys, err := Open(ctx, dir, config.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close(ctx)
	start := sys.Gate.Engine().Hash()
	pdir := filepath.Join(dir, PoliciesDir)
	// A valid policy of the owner's is put in force and recorded.
	good := "@id(\"mine.allow-make\")\n@reason(\"make is fine here\")\npermit (principal, action == Action::\"tool:Make\", resource);\n"
	if err := os.WriteFile(filepath.Join(pdir, "mine.cedar"), []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	sys.policies.check(ctx)
	if sys.Gate.Engine().Hash() == start || sys.PolicyError() != nil {
		t.Fatalf("valid policy not in force: %v", sys.PolicyError())
	}
	inForce := sys.Gate.Engine().Hash()
	// An invalid edit is refused with a position, and the set in force stays.
	if err := os.WriteFile(filepath.Join(pdir, "mine.cedar"), []byte("permit (principal, action, resource\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Second)
	os.Chtimes(filepath.Join(pdir, "mine.cedar"), future, future)
	sys.policies.check(ctx)
	if sys.Gate.Engine().Hash() != inForce {
		t.Fatal("an invalid policy set replaced the one in force")
	}
	if err := sys.PolicyError(); err == nil || !strings.Contains(err.Error(), "mine.cedar:") {
		t.Fatalf("refusal does not name file:line: %v", err)
	}
	n := 0
	sys.Ledger.Entries(ctx, 0, 1000, func(_ uint64, data []byte) error {
		if bytes.Contains(data, []byte(`"kind":"policy.load"`)) {
			n++
		}
		return nil
	})
	if n != 2 {
		t.Fatalf("%d policy.load entries, want 2 (start and the valid edit)", n)
	}
}
