package main

// Crash test: SIGKILL the kernel under concurrent writes and check that
// every acknowledged append survived, byte for byte.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirroros/mirror/trace/ledger"
)

var (
	crashCycles = flag.Int("crash-cycles", 5, "SIGKILL/restart cycles in TestCrashRecovery")
	crashSeed   = flag.Int64("crash-seed", 0, "random seed for TestCrashRecovery (0: from the clock)")
)

const crashWriters = 16

// ack is one acknowledged append and what was sent for it.
type ack struct {
	cycle  int
	index  uint64
	leaf   []byte
	kind   string // as sent
	actor  string // as sent
	body   []byte // as sent
	writer int
}

func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	seed := *crashSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -crash-seed=%d), %d cycles", seed, seed, *crashCycles)
	rng := rand.New(rand.NewSource(seed))

	dir := newDataDir(t)
	d := startDaemon(t, dir)
	var all []ack
	byIndex := map[uint64]int{} // index → position in all

	for cycle := 1; cycle <= *crashCycles; cycle++ {
		delay := 100*time.Millisecond + time.Duration(rng.Int63n(int64(1400*time.Millisecond)))
		acks, rejected := hammer(t, d, cycle, delay, rng.Int63(), func() { d.kill(t) })
		for _, r := range rejected {
			t.Errorf("cycle %d: a live kernel refused an append: %s", cycle, r)
		}
		for _, a := range acks {
			if prev, dup := byIndex[a.index]; dup {
				t.Errorf("cycle %d: index %d acknowledged twice (writer %d, and writer %d in cycle %d)",
					cycle, a.index, a.writer, all[prev].writer, all[prev].cycle)
				continue
			}
			byIndex[a.index] = len(all)
			all = append(all, a)
		}

		// The data directory as the crash left it verifies offline.
		t.Run(fmt.Sprintf("cycle %d verify after SIGKILL", cycle), func(t *testing.T) {
			out, errOut, code := runCLI(t, dir, "", "audit", "verify")
			if code != 0 {
				t.Errorf("verify on the crashed data dir: exit %d\n%s%s", code, out, errOut)
			}
		})

		d = startDaemon(t, dir)
		status, _, body := d.request(t, http.MethodGet, "/healthz", nil, false)
		var h statusBody
		json.Unmarshal(body, &h)
		if status != http.StatusOK || h.Status != "ok" {
			t.Fatalf("cycle %d: after restart /healthz = %d %s, want 200 ok", cycle, status, body)
		}
		t.Logf("cycle %d: SIGKILL after %v: %d appends acknowledged; log size after restart %d",
			cycle, delay.Round(time.Millisecond), len(acks), h.LedgerSize)

		// This cycle's acknowledgements one by one, as a client would.
		checkAcksIndividually(t, d, acks)
		// Every acknowledgement so far against the whole log.
		checkAcksInLog(t, d, all)
		if t.Failed() {
			t.FailNow()
		}
	}
	if len(all) == 0 {
		t.Fatal("no append was acknowledged in any cycle: the test proved nothing")
	}

	// A graceful stop after the crashes leaves a log that verifies whole.
	size := d.status(t).LedgerSize
	if code := d.stop(t); code != 0 {
		t.Fatalf("mirror up exit %d after SIGTERM, want 0; stderr:\n%s", code, d.stderr.String())
	}
	if n := verifyCount(t, dir); n != size+1 {
		t.Errorf("verify: %d entries, want %d (the log before the stop + kernel.stop)", n, size+1)
	}
	t.Logf("%d appends acknowledged over %d cycles, all present; final log %d entries", len(all), *crashCycles, size+1)
}

// hammer runs crashWriters writers against d, calls halt (which must stop
// the process and wait for it) after delay while they write, and returns the
// acknowledged appends and any answers other than 201.
func hammer(t *testing.T, d *daemon, cycle int, delay time.Duration, seed int64, halt func()) ([]ack, []string) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: crashWriters * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}

	stop := make(chan struct{})
	var stopOnce sync.Once
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		acks     []ack
		rejected []string
		liveErrs []string
		killed   atomic.Bool
	)
	// Whatever happens below, the writers end before hammer returns.
	defer func() {
		stopOnce.Do(func() { close(stop) })
		wg.Wait()
	}()
	for w := 0; w < crashWriters; w++ {
		wg.Add(1)
		go func(w int, seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			var mine []ack
			defer func() {
				mu.Lock()
				acks = append(acks, mine...)
				mu.Unlock()
			}()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				a := ack{
					cycle:  cycle,
					writer: w,
					kind:   fmt.Sprintf("crash.w%d", w),
					actor:  fmt.Sprintf("writer-%d", w),
				}
				a.body, _ = json.Marshal(map[string]any{
					"cycle": cycle, "writer": w, "seq": seq,
					"pad":  strings.Repeat("x", rng.Intn(300)),
					"text": "ü <&> \"quoted\" \\ \t",
					"list": []any{seq, "a", true, nil},
				})
				payload, _ := json.Marshal(eventReq{Kind: a.kind, Actor: a.actor, Body: a.body})
				status, body, err := postEventRaw(client, d.base(), d.token, payload)
				if err != nil {
					if !killed.Load() {
						mu.Lock()
						liveErrs = append(liveErrs, err.Error())
						mu.Unlock()
					}
					// The kernel died under us: not acknowledged.
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				if status != http.StatusCreated {
					mu.Lock()
					rejected = append(rejected, fmt.Sprintf("%d %s", status, bytes.TrimSpace(body)))
					mu.Unlock()
					continue
				}
				var r eventResp
				if err := json.Unmarshal(body, &r); err != nil {
					mu.Lock()
					rejected = append(rejected, fmt.Sprintf("201 with a bad body %q", body))
					mu.Unlock()
					continue
				}
				a.index = r.Index
				if a.leaf, err = base64.StdEncoding.DecodeString(r.LeafHash); err != nil || len(a.leaf) != 32 {
					mu.Lock()
					rejected = append(rejected, fmt.Sprintf("201 with a bad leaf hash %q", r.LeafHash))
					mu.Unlock()
					continue
				}
				mine = append(mine, a)
			}
		}(w, seed+int64(w))
	}
	time.Sleep(delay)
	killed.Store(true)
	halt()
	stopOnce.Do(func() { close(stop) })
	wg.Wait()
	if len(liveErrs) > 0 {
		t.Logf("cycle %d: %d requests failed in transport before the halt (not acknowledged), first: %s", cycle, len(liveErrs), liveErrs[0])
	}
	return acks, rejected
}

// checkAck checks entry bytes against what was acknowledged and sent.
func checkAck(a ack, data []byte) error {
	if got := leafHash(data); !bytes.Equal(got, a.leaf) {
		return fmt.Errorf("entry %d: bytes hash to %s, the acknowledged leaf hash is %s: %s",
			a.index, base64.StdEncoding.EncodeToString(got), base64.StdEncoding.EncodeToString(a.leaf), data)
	}
	e, err := ledger.ParseEntry(data)
	if err != nil {
		return fmt.Errorf("entry %d: %v: %s", a.index, err, data)
	}
	if e.Index != a.index || e.Kind != "event."+a.kind || e.Actor != "owner/"+a.actor {
		return fmt.Errorf("entry %d: index/kind/actor %d/%s/%s, sent %s/%s: %s", a.index, e.Index, e.Kind, e.Actor, a.kind, a.actor, data)
	}
	canon, err := ledger.CanonicalObject(a.body)
	if err != nil {
		return err
	}
	if !bytes.Equal(e.Body, canon) {
		return fmt.Errorf("entry %d: body %s, sent %s", a.index, e.Body, a.body)
	}
	var sent, stored any
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	dec.Decode(&sent)
	dec = json.NewDecoder(bytes.NewReader(e.Body))
	dec.UseNumber()
	dec.Decode(&stored)
	if !reflect.DeepEqual(sent, stored) {
		return fmt.Errorf("entry %d: body %s does not mean what was sent, %s", a.index, e.Body, a.body)
	}
	return nil
}

// checkAcksIndividually fetches every acknowledged entry with
// GET /v1/audit/entries/{i}.
func checkAcksIndividually(t *testing.T, d *daemon, acks []ack) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	work := make(chan ack)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				err := func() error {
					req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/audit/entries/%d", d.base(), a.index), nil)
					req.Header.Set("Authorization", "Bearer "+d.token)
					resp, err := client.Do(req)
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					var buf bytes.Buffer
					if _, err := buf.ReadFrom(resp.Body); err != nil {
						return err
					}
					if resp.StatusCode != http.StatusOK {
						return fmt.Errorf("acknowledged entry %d lost: GET = %d %s", a.index, resp.StatusCode, bytes.TrimSpace(buf.Bytes()))
					}
					return checkAck(a, buf.Bytes())
				}()
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for _, a := range acks {
		work <- a
	}
	close(work)
	wg.Wait()
	for i, e := range errs {
		if i == 20 {
			t.Errorf("... and %d more", len(errs)-20)
			break
		}
		t.Error(e)
	}
}

// checkAcksInLog reads the whole log through GET /v1/audit/entries pages
// and checks every acknowledged append against it.
func checkAcksInLog(t *testing.T, d *daemon, acks []ack) {
	t.Helper()
	var entries [][]byte
	for {
		page := d.get(t, fmt.Sprintf("/v1/audit/entries?from=%d&limit=1000", len(entries)))
		if len(page) == 0 {
			break
		}
		for _, l := range bytes.Split(bytes.TrimSuffix(page, []byte("\n")), []byte("\n")) {
			entries = append(entries, l)
		}
	}
	for i, data := range entries {
		if e, err := ledger.ParseEntry(data); err != nil || e.Index != uint64(i) {
			t.Errorf("log line %d: index %d, %v", i, e.Index, err)
		}
	}
	bad := 0
	for _, a := range acks {
		var err error
		if a.index >= uint64(len(entries)) {
			err = fmt.Errorf("acknowledged entry %d (cycle %d) lost: the log has %d entries", a.index, a.cycle, len(entries))
		} else {
			err = checkAck(a, entries[a.index])
		}
		if err != nil {
			if bad++; bad > 20 {
				continue
			}
			t.Error(err)
		}
	}
	if bad > 20 {
		t.Errorf("... %d acknowledged entries wrong in all", bad)
	}
}

// TestGracefulStopUnderLoad: SIGTERM while writers are busy. Every
// acknowledged append is kept, kernel.stop comes after all of them and the
// final checkpoint covers it.
func TestGracefulStopUnderLoad(t *testing.T) {
	t.Parallel()
	dir := newDataDir(t)
	d := startDaemon(t, dir)
	exit := -1
	acks, rejected := hammer(t, d, 1, 700*time.Millisecond, time.Now().UnixNano(), func() { exit = d.stop(t) })
	for _, r := range rejected {
		t.Errorf("an append was refused during the graceful stop: %s", r)
	}
	if exit != 0 {
		t.Fatalf("mirror up exit %d after SIGTERM under load, want 0; stderr:\n%s", exit, d.stderr.String())
	}
	t.Logf("%d appends acknowledged before the graceful stop", len(acks))
	if len(acks) == 0 {
		t.Fatal("no append was acknowledged")
	}
	n := verifyCount(t, dir)

	out, errOut, code := runCLI(t, dir, "", "audit", "export")
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	entries := lines[:len(lines)-1]
	if uint64(len(entries)) != n {
		t.Errorf("export holds %d entries, verify counted %d: the final checkpoint does not cover the log", len(entries), n)
	}
	last, err := ledger.ParseEntry([]byte(entries[len(entries)-1]))
	if err != nil || last.Kind != "kernel.stop" {
		t.Errorf("the last entry is not kernel.stop: %s", entries[len(entries)-1])
	}
	for _, a := range acks {
		if a.index >= last.Index {
			t.Errorf("acknowledged entry %d is not before kernel.stop (%d)", a.index, last.Index)
			continue
		}
		if err := checkAck(a, []byte(entries[a.index])); err != nil {
			t.Error(err)
		}
	}
}
