package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestDiskFullFailsClosedAndRecovers runs the kernel on a real, small tmpfs
// and fills it: appends must get 503 ledger_unavailable (never a 201 for an
// entry that is not stored), health must turn degraded, and once space is
// freed the kernel must take appends again by itself. It needs permission to
// mount (root); elsewhere it is skipped, and the injected-failure tests
// cover the same path.
func TestDiskFullFailsClosedAndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a filesystem")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	dir := filepath.Join(mnt, "data")
	cfg := config.Default()
	cfg.Ledger.CheckpointInterval = config.Duration{Duration: 50 * time.Millisecond}
	sys, err := kernel.Open(context.Background(), dir, cfg, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(sys))
	t.Cleanup(func() { srv.Close(); sys.Close(context.Background()) })
	e := &env{t: t, dir: dir, sys: sys, srv: srv}
	raw, _ := os.ReadFile(filepath.Join(dir, kernel.OwnerTokenFile))
	e.token = strings.TrimSpace(string(raw))

	// Fill the filesystem.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0xAB}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			break
		}
	}
	// Leave a little room, so that some appends succeed before the disk is full.
	if fi, err := f.Stat(); err == nil && fi.Size() > 512<<10 {
		f.Truncate(fi.Size() - 512<<10)
	}
	f.Close()

	acked := map[uint64][]byte{}
	refused := 0
	payload := strings.Repeat("x", 20_000)
	for k := 0; k < 200 && refused < 5; k++ {
		resp, b := e.do("POST", "/v1/audit/events", fmt.Sprintf(`{"kind":"disk.fill","body":{"k":%d,"pad":%q}}`, k, payload), true)
		switch resp.StatusCode {
		case http.StatusCreated:
			idx, leaf := decodeReceipt(t, b)
			acked[idx] = leaf
		case http.StatusServiceUnavailable:
			if code := errCode(t, b); code != "ledger_unavailable" {
				t.Fatalf("503 with code %q", code)
			}
			refused++
		default:
			t.Fatalf("unexpected %d %s", resp.StatusCode, b)
		}
	}
	if refused == 0 {
		t.Fatalf("the disk never filled up (%d appends acknowledged)", len(acked))
	}
	resp, b := e.do("GET", "/healthz", "", false)
	if resp.StatusCode != 503 || !strings.Contains(string(b), "degraded") {
		t.Fatalf("healthz on a full disk: %d %s", resp.StatusCode, b)
	}
	t.Logf("disk full after %d acknowledged appends; %d refused; health: %s", len(acked), refused, bytes.TrimSpace(b))

	os.Remove(filler)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, _ := e.do("GET", "/healthz", "", false); resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the kernel did not recover within 10s after space was freed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.post("disk.freed", `{}`)
	for idx, leaf := range acked {
		_, data := e.do("GET", fmt.Sprintf("/v1/audit/entries/%d", idx), "", true)
		if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(data), leaf) {
			t.Fatalf("acknowledged entry %d is missing or changed", idx)
		}
	}
	err = sys.Store.View(context.Background(), func(tx store.ReadTx) error {
		_, err := ledger.VerifyStore(context.Background(), tx, e.verifier(), ledger.VerifyOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("verify after recovery: %v", err)
	}
}
