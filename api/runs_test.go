package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/api"
	"github.com/mirroros/mirror/bus/bustest"
	"github.com/mirroros/mirror/config"
	"github.com/mirroros/mirror/kernel"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trace/provenance"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

const fakeSummary = `{"summary":"MirrorOS governs every model call.","key_points":["Every call is audited."]}`

// runOllama is the scripted fake Ollama of the runtime's API tests: the
// summarize skill gets a valid summary (held back while release is open
// for a text that says SLOW), a council vote gets {"choice":"yes"},
// anything else "yes" and a reason.
func runOllama(release <-chan struct{}) *bustest.ScriptedOllama {
	return &bustest.ScriptedOllama{Models: []string{"llama3.2", "qwen3"}, Script: func(c bustest.OllamaCall) (string, bool) {
		switch {
		case c.Skill == "summarize":
			if strings.Contains(c.Prompt, "SLOW") {
				select {
				case <-release:
				case <-c.Ctx.Done():
					return "", false
				}
			}
			return fakeSummary, true
		case strings.Contains(c.System, "recording your vote"):
			return `{"choice":"yes"}`, true
		}
		return "yes\nThe question is answered by its own premise.", true
	}}
}

type runEnv struct {
	t       *testing.T
	dir     string
	url     string
	token   string
	sys     *kernel.System
	fake    *bustest.ScriptedOllama
	release chan struct{} // lets a SLOW summarize answer
}

func newRunEnv(t *testing.T) *runEnv {
	t.Helper()
	release := make(chan struct{})
	fake := runOllama(release)
	ol := httptest.NewServer(fake)
	t.Cleanup(ol.Close)
	t.Setenv("OLLAMA_HOST", ol.URL)
	for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY"} {
		t.Setenv(k, "")
	}
	cfg := config.Default()
	cfg.Aliases = map[string][]string{"default": {"ollama/llama3.2"}, "local": {"ollama/llama3.2"}}
	cfg.Ledger.CheckpointInterval = config.Duration{Duration: 50 * time.Millisecond}
	dir := t.TempDir()
	sys, err := kernel.Open(context.Background(), dir, cfg, kernel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(sys))
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		srv.Close()
		sys.Close(context.Background())
	})
	raw, _ := os.ReadFile(filepath.Join(dir, kernel.OwnerTokenFile))
	return &runEnv{t: t, dir: dir, url: srv.URL, token: strings.TrimSpace(string(raw)), sys: sys, fake: fake, release: release}
}

// call makes an authenticated request with the owner token (or tok).
func (e *runEnv) call(method, path, body string, tok ...string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	token := e.token
	if len(tok) > 0 {
		token = tok[0]
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *runEnv) mustJSON(method, path, body string, want int, out any) {
	e.t.Helper()
	code, b := e.call(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

// follow reads GET /v1/runs/{id}?follow=1 to its end.
func (e *runEnv) follow(id string) []sseEvent {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/v1/runs/"+id+"?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("follow: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var events []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.name != "" {
				events = append(events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil {
		e.t.Fatalf("follow: %v (events so far: %v)", err, events)
	}
	return events
}

func TestRunAPISummarizeEndToEnd(t *testing.T) {
	e := newRunEnv(t)
	const text = "MirrorOS is a local AI kernel. It audits every model call in a signed ledger."

	// Run with wait: the answer is the whole run.
	var run api.RunView
	e.mustJSON("POST", "/v1/runs", fmt.Sprintf(`{"skill":"summarize","inputs":{"text":%q},"agent":"test","wait":true}`, text), 200, &run)
	if run.State != kernel.RunSucceeded || !strings.Contains(string(run.Output), "governs every model call") {
		t.Fatalf("run: %+v", run)
	}
	if run.Skill != "summarize" || run.SkillVersion == "" || !strings.HasPrefix(run.SkillDigest, "sha256:") ||
		run.ContractSHA256 == "" || len(run.Contract) == 0 || run.Provenance == "" || run.Agent != "test" || run.Ended == "" {
		t.Fatalf("run view lacks fields: %+v", run)
	}
	kinds := []string{}
	for _, st := range run.Steps {
		kinds = append(kinds, st.Kind)
	}
	if len(run.Steps) < 2 || run.Steps[0].Kind != "intent" || !strings.Contains(strings.Join(kinds, " "), "execute") {
		t.Fatalf("steps %v", kinds)
	}
	for _, st := range run.Steps {
		if st.Kind == "execute" && (st.Model != "ollama/llama3.2" || !st.OK || !json.Valid(st.Output) || st.Output[0] != '{') {
			t.Fatalf("execute step: %+v", st)
		}
	}

	// GET answers the same run.
	var got api.RunView
	e.mustJSON("GET", "/v1/runs/"+run.ID, "", 200, &got)
	if got.ID != run.ID || got.State != run.State || got.Provenance != run.Provenance || len(got.Steps) != len(run.Steps) {
		t.Fatalf("GET: %+v", got)
	}
	var list struct{ Runs []api.RunView }
	e.mustJSON("GET", "/v1/runs?state=succeeded&limit=10", "", 200, &list)
	if len(list.Runs) != 1 || list.Runs[0].ID != run.ID {
		t.Fatalf("list: %+v", list)
	}
	e.mustJSON("GET", "/v1/runs?state=failed", "", 200, &list)
	if len(list.Runs) != 0 {
		t.Fatalf("failed runs: %+v", list)
	}
	if code, b := e.call("GET", "/v1/runs?state=bogus", ""); code != 400 || errCode(t, b) != "invalid_parameter" {
		t.Fatalf("bad state: %d %s", code, b)
	}

	// Following an ended run: its view, then the end.
	events := e.follow(run.ID)
	if len(events) != 2 || events[0].name != "run" || events[1].name != "end" || !strings.Contains(events[1].data, `"succeeded"`) {
		t.Fatalf("events of an ended run: %+v", events)
	}

	// Provenance: the signed note, the ledger entry, a checkpoint and an
	// inclusion proof — all checked here without trusting the kernel.
	var pv api.ProvenanceView
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, b := e.call("GET", "/v1/runs/"+run.ID+"/provenance", "")
		if code == 200 {
			if err := json.Unmarshal(b, &pv); err != nil {
				t.Fatal(err)
			}
			break
		}
		if code != 409 || errCode(t, b) != "not_yet_checkpointed" || time.Now().After(deadline) {
			t.Fatalf("provenance: %d %s", code, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	verifyProvenance(t, e.dir, run.ID, pv)
}

// verifyProvenance checks a provenance answer the way an outsider would:
// with the kernel's public key, note.Open and an RFC 6962 inclusion proof.
func verifyProvenance(t *testing.T, dir, runID string, pv api.ProvenanceView) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, kernel.PubKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := provenance.Open([]byte(pv.Note), v)
	if err != nil {
		t.Fatalf("provenance note: %v", err)
	}
	if rec.Run != runID || rec.Skill.Name != "summarize" || rec.Skill.Signer != "mirroros-builtin" || len(rec.Models) != 1 || rec.Run != pv.Record.Run {
		t.Fatalf("record: %+v", rec)
	}
	cpNote, err := note.Open([]byte(pv.Checkpoint), note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	lines := strings.Split(cpNote.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		t.Fatalf("checkpoint text %q", cpNote.Text)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || size != pv.TreeSize {
		t.Fatalf("checkpoint size %q, tree_size %d", lines[1], pv.TreeSize)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	entry, err := base64.StdEncoding.DecodeString(pv.Entry)
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for _, h := range pv.InclusionProof {
		b, err := base64.StdEncoding.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, b)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, pv.LedgerIndex, size, leaf, hashes, root); err != nil {
		t.Fatalf("inclusion: %v", err)
	}
	e, err := ledger.ParseEntry(entry)
	if err != nil || e.Kind != "run.provenance" || e.Index != pv.LedgerIndex {
		t.Fatalf("entry %+v: %v", e, err)
	}
	var body provenance.Entry
	if err := json.Unmarshal(e.Body, &body); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(body.Record)
	b, _ := json.Marshal(rec)
	if body.Run != runID || body.Note != pv.Note || !bytes.Equal(a, b) {
		t.Fatalf("the entry's record differs from the note's:\n%s\n%s", a, b)
	}
	// A tampered entry does not verify.
	bad := bytes.Replace(entry, []byte(runID), []byte(runID[:len(runID)-1]+"X"), 1)
	if proof.VerifyInclusion(rfc6962.DefaultHasher, pv.LedgerIndex, size, rfc6962.DefaultHasher.HashLeaf(bad), hashes, root) == nil {
		t.Fatal("a tampered entry verified")
	}
}

func TestRunAPIFollowLiveRun(t *testing.T) {
	e := newRunEnv(t)
	var started struct {
		ID    string
		State string
		Links map[string]string
	}
	e.mustJSON("POST", "/v1/runs", `{"skill":"summarize","inputs":{"text":"SLOW text to summarize."}}`, 202, &started)
	if started.ID == "" || started.Links["self"] != "/v1/runs/"+started.ID {
		t.Fatalf("202 body: %+v", started)
	}
	go func() {
		// Let the follower see the run before it ends.
		deadline := time.Now().Add(10 * time.Second)
		for e.fake.Calls("summarize") == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		close(e.release)
	}()
	events := e.follow(started.ID)
	if len(events) < 3 || events[len(events)-1].name != "end" {
		t.Fatalf("events: %+v", events)
	}
	var first, last api.RunView
	json.Unmarshal([]byte(events[0].data), &first)
	json.Unmarshal([]byte(events[len(events)-2].data), &last)
	if kernel.Terminal(first.State) || last.State != kernel.RunSucceeded || len(last.Output) == 0 {
		t.Fatalf("first %s, last %s: %+v", first.State, last.State, events)
	}
}

func TestRunAPIRefusals(t *testing.T) {
	e := newRunEnv(t)
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown field", `{"skill":"summarize","inputs":{"text":"x"},"bogus":1}`, 400, "malformed_json"},
		{"unknown chain field", `{"skill":"summarize","inputs":{"text":"x"},"chain":[{"skill":"translate","x":1}]}`, 400, "malformed_json"},
		{"no skill nor goal", `{}`, 400, "invalid_run"},
		{"unknown skill", `{"skill":"nope"}`, 404, "skill_not_found"},
		{"bad inputs", `{"skill":"summarize","inputs":{"txt":"x"}}`, 400, "invalid_inputs"},
	}
	for _, c := range cases {
		code, b := e.call("POST", "/v1/runs", c.body)
		if code != c.status || errCode(t, b) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, b, c.status, c.code)
		}
	}
	if code, b := e.call("GET", "/v1/runs/run_nope", ""); code != 404 || errCode(t, b) != "not_found" {
		t.Errorf("unknown run: %d %s", code, b)
	}

	// A lease sees only its own subtree's runs, and needs the scopes.
	var run api.RunView
	e.mustJSON("POST", "/v1/runs", `{"skill":"summarize","inputs":{"text":"Owner's text."},"wait":true}`, 200, &run)
	var child struct{ Token string }
	e.mustJSON("POST", "/v1/leases", `{"name":"reader","scopes":["runs:read"],"ttl":"1h"}`, 201, &child)
	if code, b := e.call("GET", "/v1/runs/"+run.ID, "", child.Token); code != 404 {
		t.Errorf("a child lease reads its parent's run: %d %s", code, b)
	}
	var list struct{ Runs []api.RunView }
	code, b := e.call("GET", "/v1/runs", "", child.Token)
	if json.Unmarshal(b, &list); code != 200 || len(list.Runs) != 0 {
		t.Errorf("a child lease lists its parent's runs: %d %s", code, b)
	}
	if code, b := e.call("POST", "/v1/runs", `{"skill":"summarize","inputs":{"text":"x"}}`, child.Token); code != 403 || errCode(t, b) != "forbidden" {
		t.Errorf("runs:read starts a run: %d %s", code, b)
	}
	if code, b := e.call("GET", "/v1/skills", "", child.Token); code != 403 {
		t.Errorf("runs:read lists skills: %d %s", code, b)
	}
}

func TestSkillAPI(t *testing.T) {
	e := newRunEnv(t)
	var list struct {
		Skills  []api.SkillView
		Refused []api.RefusedSkill
	}
	e.mustJSON("GET", "/v1/skills", "", 200, &list)
	byName := map[string]api.SkillView{}
	for _, s := range list.Skills {
		byName[s.Name] = s
	}
	sum, tr := byName["summarize"], byName["translate"]
	if sum.Signer != "mirroros-builtin" || sum.Unsigned || sum.Status != "canary" || !strings.HasPrefix(sum.Digest, "sha256:") || len(sum.Keywords) == 0 || len(list.Refused) != 0 {
		t.Fatalf("skills: %+v", list)
	}

	var show struct {
		Name     string
		Versions []api.SkillView
	}
	e.mustJSON("GET", "/v1/skills/summarize", "", 200, &show)
	if len(show.Versions) != 1 || len(show.Versions[0].InputSchema) == 0 || len(show.Versions[0].OutputSchema) == 0 {
		t.Fatalf("show: %+v", show)
	}
	if code, b := e.call("GET", "/v1/skills/nope", ""); code != 404 || errCode(t, b) != "skill_not_found" {
		t.Fatalf("unknown skill: %d %s", code, b)
	}

	// An unsigned bundle is refused.
	manifest := `name = "greet"
version = "0.1.0"
description = "Greet someone."
scopes = ["model:chat:*"]

[input_schema]
type = "object"
required = ["name"]
[input_schema.properties.name]
type = "string"

[output_schema]
type = "object"
required = ["greeting"]
[output_schema.properties.greeting]
type = "string"
`
	body, _ := json.Marshal(map[string]string{"manifest": manifest, "template": "Greet {{.name}}.\n"})
	code, b := e.call("POST", "/v1/skills", string(body))
	if code != 403 || errCode(t, b) != "skill_unsigned" {
		t.Fatalf("unsigned install: %d %s", code, b)
	}
	body, _ = json.Marshal(map[string]string{"manifest": "name = 1", "template": "x"})
	if code, b := e.call("POST", "/v1/skills", string(body)); code != 400 || errCode(t, b) != "invalid_skill" {
		t.Fatalf("bad manifest: %d %s", code, b)
	}

	// Revoking a built-in's digest stops it at once.
	if code, b := e.call("POST", "/v1/skills/revocations", `{"kind":"digest","value":"sha256:nothex","reason":"x"}`); code != 400 || errCode(t, b) != "invalid_revocation" {
		t.Fatalf("bad revocation: %d %s", code, b)
	}
	var rv struct{ Refused []api.RefusedSkill }
	e.mustJSON("POST", "/v1/skills/revocations", fmt.Sprintf(`{"kind":"digest","value":%q,"reason":"test"}`, tr.Digest), 200, &rv)
	if len(rv.Refused) != 1 || rv.Refused[0].Name != "translate" || rv.Refused[0].Kind != "revoked" {
		t.Fatalf("after revocation: %+v", rv)
	}
	code, b = e.call("POST", "/v1/runs", `{"skill":"translate","inputs":{"text":"Hallo","target_language":"English"}}`)
	if code != 403 || errCode(t, b) != "skill_refused" {
		t.Fatalf("a revoked skill runs: %d %s", code, b)
	}
	e.mustJSON("GET", "/v1/skills", "", 200, &list)
	for _, s := range list.Skills {
		if s.Name == "translate" {
			t.Fatal("a revoked skill is listed as served")
		}
	}
	if len(list.Refused) != 1 || list.Refused[0].Digest != tr.Digest {
		t.Fatalf("refused: %+v", list.Refused)
	}
}

func TestCouncilAPI(t *testing.T) {
	e := newRunEnv(t)
	var res api.CouncilView
	body := `{"question":"Is the sky blue on a clear day?","models":["ollama/llama3.2","ollama/qwen3"],"mode":"vote","choices":["yes","no"],"skip_claim_check":true}`
	e.mustJSON("POST", "/v1/council", body, 200, &res)
	if res.Mode != "vote" || res.Winner != "yes" || res.Final != "yes" || len(res.Answers) != 2 || len(res.Calls) == 0 {
		t.Fatalf("council: %+v", res)
	}
	if code, b := e.call("POST", "/v1/council", `{"question":"x","models":["ollama/llama3.2"]}`); code != 400 || errCode(t, b) != "invalid_question" {
		t.Fatalf("one member: %d %s", code, b)
	}
	if code, b := e.call("POST", "/v1/council", `{"question":"x","models":["ollama/a","ollama/b"],"bogus":true}`); code != 400 || errCode(t, b) != "malformed_json" {
		t.Fatalf("unknown field: %d %s", code, b)
	}
}
