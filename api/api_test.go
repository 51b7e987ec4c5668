package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/storefault"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

type env struct {
	t     *testing.T
	dir   string
	sys   *kernel.System
	srv   *httptest.Server
	token string
	fault *storefault.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Ledger.CheckpointInterval = config.Duration{Duration: 50 * time.Millisecond}
	e := &env{t: t, dir: t.TempDir()}
	sys, err := kernel.Open(context.Background(), e.dir, cfg, kernel.Options{
		WrapStore: func(s store.Store) store.Store { e.fault = &storefault.Store{Inner: s}; return e.fault },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.sys = sys
	e.srv = httptest.NewServer(api.New(sys))
	t.Cleanup(func() {
		e.srv.Close()
		sys.Close(context.Background())
	})
	raw, err := os.ReadFile(filepath.Join(e.dir, kernel.OwnerTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	e.token = strings.TrimSpace(string(raw))
	return e
}

func (e *env) do(method, path, body string, auth bool) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type apiErr struct {
	Error struct{ Code, Message string } `json:"error"`
}

func errCode(t *testing.T, b []byte) string {
	t.Helper()
	var e apiErr
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not a JSON error body: %s", b)
	}
	return e.Error.Code
}

func (e *env) post(kind string, body string) (uint64, []byte) {
	e.t.Helper()
	resp, b := e.do("POST", "/v1/audit/events", fmt.Sprintf(`{"kind":%q,"actor":"script","body":%s}`, kind, body), true)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("post event: %d %s", resp.StatusCode, b)
	}
	return decodeReceipt(e.t, b)
}

func decodeReceipt(t *testing.T, b []byte) (uint64, []byte) {
	t.Helper()
	var r struct {
		Index    uint64 `json:"index"`
		LeafHash string `json:"leaf_hash"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("receipt %s: %v", b, err)
	}
	leaf, _ := base64.StdEncoding.DecodeString(r.LeafHash)
	return r.Index, leaf
}

func (e *env) verifier() note.Verifier {
	v, _, err := kernel.LoadVerifier(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) waitCheckpoint(size uint64) ledger.Checkpoint {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, b := e.do("GET", "/v1/audit/checkpoint", "", true)
		if resp.StatusCode == 200 {
			cp, err := ledger.OpenCheckpoint(b, e.verifier())
			if err != nil {
				e.t.Fatal(err)
			}
			if cp.Size >= size {
				return cp
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no checkpoint covering %d entries", size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPostedEventIsStoredNamespacedAndServedByteForByte(t *testing.T) {
	e := newEnv(t)
	i, leaf := e.post("backup.finished", `{"files": 12, "ok": true}`)
	resp, b := e.do("GET", fmt.Sprintf("/v1/audit/entries/%d", i), "", true)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("get entry: %d %s", resp.StatusCode, b)
	}
	if h := rfc6962.DefaultHasher.HashLeaf(b); !bytes.Equal(h, leaf) {
		t.Fatal("served bytes do not hash to the acknowledged leaf hash")
	}
	entry, err := ledger.ParseEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Kind != "event.backup.finished" || entry.Actor != "owner/script" || string(entry.Body) != `{"files":12,"ok":true}` {
		t.Fatalf("entry = %+v", entry)
	}
	// A null body is the same as none.
	resp, b = e.do("POST", "/v1/audit/events", `{"kind":"no.body","body":null}`, true)
	if resp.StatusCode != 201 {
		t.Fatalf("null body: %d %s", resp.StatusCode, b)
	}
	// A kind already in the namespace is kept as is.
	j, _ := e.post("event.deploy", `{}`)
	_, b = e.do("GET", fmt.Sprintf("/v1/audit/entries/%d", j), "", true)
	if !bytes.Contains(b, []byte(`"kind":"event.deploy"`)) {
		t.Fatalf("entry %s", b)
	}
}

func TestErrorsAreJSONWithTheRightStatus(t *testing.T) {
	e := newEnv(t)
	big := fmt.Sprintf(`{"kind":"x.y","body":{"a":%q}}`, strings.Repeat("a", 70_000))
	cases := []struct {
		name, method, path, body string
		auth                     bool
		status                   int
		code                     string
	}{
		{"no token", "GET", "/v1/audit/checkpoint", "", false, 401, "unauthorized"},
		{"malformed JSON", "POST", "/v1/audit/events", `{"kind":`, true, 400, "malformed_json"},
		{"unknown field", "POST", "/v1/audit/events", `{"kind":"a.b","colour":"red"}`, true, 400, "malformed_json"},
		{"two objects", "POST", "/v1/audit/events", `{"kind":"a.b"}{"kind":"a.b"}`, true, 400, "malformed_json"},
		{"missing kind", "POST", "/v1/audit/events", `{"actor":"a"}`, true, 400, "invalid_event"},
		{"upper-case kind", "POST", "/v1/audit/events", `{"kind":"UPPER"}`, true, 400, "invalid_event"},
		{"array body", "POST", "/v1/audit/events", `{"kind":"a.b","body":[1]}`, true, 400, "invalid_event"},
		{"actor with newline", "POST", "/v1/audit/events", `{"kind":"a.b","actor":"a\nb"}`, true, 400, "invalid_event"},
		{"body over the limit", "POST", "/v1/audit/events", big, true, 413, "body_too_large"},
		{"unknown path", "GET", "/nope", "", false, 404, "not_found"},
		{"entry beyond the log", "GET", "/v1/audit/entries/999999", "", true, 404, "not_found"},
		{"bad index", "GET", "/v1/audit/entries/-1", "", true, 400, "invalid_parameter"},
		{"wrong method", "DELETE", "/v1/audit/events", "", true, 405, "method_not_allowed"},
		{"proof without index", "GET", "/v1/audit/proof/inclusion", "", true, 400, "invalid_parameter"},
		{"proof index past size", "GET", "/v1/audit/proof/inclusion?index=5&size=2", "", true, 400, "invalid_parameter"},
		{"proof size past the log", "GET", "/v1/audit/proof/inclusion?index=0&size=99999", "", true, 404, "not_found"},
		{"consistency backwards", "GET", "/v1/audit/proof/consistency?from=3&to=1", "", true, 400, "invalid_parameter"},
		{"page limit too large", "GET", "/v1/audit/entries?limit=5000", "", true, 400, "invalid_parameter"},
		{"malformed tile path", "GET", "/tlog/tile/0/1", "", false, 404, "not_found"},
		{"entry bundle without token", "GET", "/tlog/tile/entries/000.p/1", "", false, 401, "unauthorized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.do(c.method, c.path, c.body, c.auth)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if got := errCode(t, b); got != c.code {
				t.Fatalf("code %q, want %q", got, c.code)
			}
			if c.status == 405 && resp.Header.Get("Allow") != "POST" {
				t.Fatalf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
	t.Run("a wrong token of the right shape", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer mos_"+strings.Repeat("A", 43))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestProofsFromTheAPIVerifyAgainstTheSignedCheckpoint(t *testing.T) {
	e := newEnv(t)
	var leaves [][]byte
	for k := 0; k < 40; k++ {
		_, leaf := e.post("proof.test", fmt.Sprintf(`{"k":%d}`, k))
		leaves = append(leaves, leaf)
	}
	size := e.sys.Ledger.Size()
	cp := e.waitCheckpoint(size)
	first := size - 40
	for k, leaf := range leaves {
		i := first + uint64(k)
		var p struct{ Hashes [][]byte }
		resp, b := e.do("GET", fmt.Sprintf("/v1/audit/proof/inclusion?index=%d", i), "", true)
		if resp.StatusCode != 200 || json.Unmarshal(b, &p) != nil {
			t.Fatalf("inclusion: %d %s", resp.StatusCode, b)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, leaf, p.Hashes, cp.Root); err != nil {
			t.Fatalf("inclusion of %d: %v", i, err)
		}
	}
	// Consistency between an early signed root and the latest.
	early, err := e.sys.Ledger.RootAt(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Hashes [][]byte }
	_, b := e.do("GET", fmt.Sprintf("/v1/audit/proof/consistency?from=5&to=%d", cp.Size), "", true)
	json.Unmarshal(b, &c)
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 5, cp.Size, c.Hashes, early, cp.Root); err != nil {
		t.Fatal(err)
	}
	// The public key endpoint serves the key the checkpoint verifies with.
	_, pk := e.do("GET", "/v1/audit/pubkey", "", true)
	if _, err := note.NewVerifier(strings.TrimSpace(string(pk))); err != nil {
		t.Fatalf("pubkey %q: %v", pk, err)
	}
}

func TestEntriesPageIsJSONLinesOfStoredBytes(t *testing.T) {
	e := newEnv(t)
	for k := 0; k < 5; k++ {
		e.post("page.test", `{}`)
	}
	resp, b := e.do("GET", "/v1/audit/entries?from=1&limit=3", "", true)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ledger-Size") == "" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %s", len(lines), b)
	}
	for k, line := range lines {
		_, one := e.do("GET", fmt.Sprintf("/v1/audit/entries/%d", 1+k), "", true)
		if line != string(one) {
			t.Fatalf("line %d = %s, entry = %s", k, line, one)
		}
	}
}

func TestTlogTilesServeCheckpointHashesAndEntryBundles(t *testing.T) {
	e := newEnv(t)
	for k := 0; k < 300; k++ {
		e.post("tile.test", fmt.Sprintf(`{"k":%d}`, k))
	}
	size := e.sys.Ledger.Size()
	cp := e.waitCheckpoint(size)
	resp, b := e.do("GET", "/tlog/checkpoint", "", false)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "mirroros/local\n") {
		t.Fatalf("checkpoint: %d %s", resp.StatusCode, b)
	}
	// A full level-0 tile: 256 leaf hashes; its hashes rebuild the level-8 node.
	resp, tile := e.do("GET", "/tlog/tile/0/000", "", false)
	if resp.StatusCode != 200 || len(tile) != 256*32 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("tile: %d, %d bytes", resp.StatusCode, len(tile))
	}
	root256, _ := e.sys.Ledger.RootAt(context.Background(), 256)
	var hs [][]byte
	for k := 0; k < 256; k++ {
		hs = append(hs, tile[32*k:32*k+32])
	}
	for len(hs) > 1 {
		var next [][]byte
		for k := 0; k < len(hs); k += 2 {
			next = append(next, rfc6962.DefaultHasher.HashChildren(hs[k], hs[k+1]))
		}
		hs = next
	}
	if !bytes.Equal(hs[0], root256) {
		t.Fatal("level-0 tile does not hash up to the root of the first 256 entries")
	}
	resp, l1 := e.do("GET", "/tlog/tile/1/000.p/1", "", false)
	if resp.StatusCode != 200 || !bytes.Equal(l1, root256) {
		t.Fatalf("level-1 partial tile: %d %x", resp.StatusCode, l1)
	}
	// The entry bundle of the partial second tile, with the token.
	w := cp.Size - 256
	resp, bundle := e.do("GET", fmt.Sprintf("/tlog/tile/entries/001.p/%d", w), "", true)
	if resp.StatusCode != 200 {
		t.Fatalf("bundle: %d %s", resp.StatusCode, bundle)
	}
	for k := uint64(0); k < w; k++ {
		n := binary.BigEndian.Uint16(bundle)
		data := bundle[2 : 2+n]
		bundle = bundle[2+n:]
		_, one := e.do("GET", fmt.Sprintf("/v1/audit/entries/%d", 256+k), "", true)
		if !bytes.Equal(data, one) {
			t.Fatalf("bundle entry %d differs", 256+k)
		}
	}
	if len(bundle) != 0 {
		t.Fatalf("%d trailing bytes in bundle", len(bundle))
	}
}

func TestFailClosedWhenTheStoreCannotWriteAndRecovery(t *testing.T) {
	e := newEnv(t)
	before, _ := e.post("before.failure", `{}`)
	ioErr := errors.New("disk I/O error (injected)")
	e.fault.Fail(ioErr)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = map[uint64][]byte{}
		codes = map[int]int{}
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				resp, b := e.do("POST", "/v1/audit/events", fmt.Sprintf(`{"kind":"during.failure","body":{"w":%d,"k":%d}}`, w, k), true)
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.StatusCode == 201 {
					var r struct {
						Index    uint64 `json:"index"`
						LeafHash string `json:"leaf_hash"`
					}
					json.Unmarshal(b, &r)
					leaf, _ := base64.StdEncoding.DecodeString(r.LeafHash)
					acked[r.Index] = leaf
				} else if resp.StatusCode == 503 && errCode(t, b) != "ledger_unavailable" {
					t.Errorf("503 with code %s", b)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if codes[503] == 0 {
		t.Fatalf("no request was refused while the store failed: %v", codes)
	}
	resp, b := e.do("GET", "/healthz", "", false)
	if resp.StatusCode != 503 || !strings.Contains(string(b), `"status":"degraded"`) || !strings.Contains(string(b), "injected") {
		t.Fatalf("healthz while failing: %d %s", resp.StatusCode, b)
	}

	e.fault.Fail(nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := e.do("GET", "/healthz", "", false)
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("did not recover within 5s after the store healed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	i, _ := e.post("after.failure", `{}`)
	for idx, leaf := range acked {
		_, data := e.do("GET", fmt.Sprintf("/v1/audit/entries/%d", idx), "", true)
		if !bytes.Equal(rfc6962.DefaultHasher.HashLeaf(data), leaf) {
			t.Fatalf("acknowledged entry %d is missing or different", idx)
		}
	}
	// Nothing refused made it into the log: only acknowledged ones are there.
	// Between before.failure and after.failure there are exactly the acknowledged entries.
	if got := i - before - 1; got != uint64(len(acked)) {
		_, page := e.do("GET", fmt.Sprintf("/v1/audit/entries?from=%d&limit=1000", before+1), "", true)
		t.Fatalf("%d entries between, %d acknowledged: %s", got, len(acked), page)
	}
}

func TestHealthAndStatusAndMetrics(t *testing.T) {
	e := newEnv(t)
	resp, b := e.do("GET", "/healthz", "", false)
	var h struct {
		Status     string `json:"status"`
		LedgerSize uint64 `json:"ledger_size"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &h) != nil || h.Status != "ok" || h.LedgerSize < 2 {
		t.Fatalf("healthz: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/v1/status", "", true)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"origin":"mirroros/local"`) {
		t.Fatalf("status: %d %s", resp.StatusCode, b)
	}
	e.post("metrics.test", `{}`)
	_, m := e.do("GET", "/metrics", "", false)
	for _, name := range []string{"mirror_ledger_appends_total", "mirror_ledger_batch_entries", "mirror_ledger_commit_seconds", "mirror_ledger_size", "mirror_ledger_checkpoint_age_seconds", "mirror_http_requests_total"} {
		if !strings.Contains(string(m), name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

func TestTokenIsStoredOnlyAsAHash(t *testing.T) {
	e := newEnv(t)
	e.sys.Close(context.Background())
	db, err := os.ReadFile(filepath.Join(e.dir, kernel.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(e.token)) {
		t.Fatal("the owner token is stored in plain text")
	}
	h := sha256.Sum256([]byte(e.token))
	if !bytes.Contains(db, h[:]) {
		t.Fatal("the owner token hash is not in the store")
	}
}
