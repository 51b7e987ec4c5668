package memory

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/store/storefault"
	"github.com/mirroros/mirror/trace/ledger"
	"golang.org/x/mod/sumdb/note"
)

func TestEvidenceIsContentAddressedAndStoredOnce(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	content := []byte("I moved to Berlin last June.")
	in := NewEvidence{Kind: EvidenceTurn, Content: content, MediaType: "text/plain", Source: "agent/claude-code", Actor: actor,
		ObservedAt: t0.Add(-time.Hour)}
	e, added, err := f.m.AddEvidence(ctx, in)
	if err != nil || !added {
		t.Fatalf("first add: %v, added %v", err, added)
	}
	if e.ID != EvidenceID(content) || !strings.HasPrefix(e.ID, "sha256:") || len(e.ID) != 7+64 {
		t.Fatalf("id = %s", e.ID)
	}
	if e.Size != int64(len(content)) || !e.Text || e.Actor != actor || e.Source != "agent/claude-code" || !e.ObservedAt.Equal(in.ObservedAt) {
		t.Errorf("evidence = %+v", e)
	}
	size := f.led.Size()
	in.Actor, in.Source = "lease/lse_other", "elsewhere"
	again, added, err := f.m.AddEvidence(ctx, in)
	if err != nil || added || again.ID != e.ID || again.Actor != actor {
		t.Fatalf("second add: %+v, added %v, %v; want the stored evidence", again, added, err)
	}
	if f.led.Size() != size {
		t.Errorf("adding the same content again wrote %d ledger entries", f.led.Size()-size)
	}
	got, err := f.m.Evidence(ctx, e.ID)
	if err != nil || !bytes.Equal(got.Content, content) {
		t.Fatalf("evidence = %q, %v", got.Content, err)
	}
	es := f.entries(t)
	if len(es) != 1 || es[0].Kind != EntryEvidence || es[0].Actor != actor {
		t.Fatalf("ledger = %v", kinds(es))
	}
	b := body[evidenceBody](t, es[0])
	if b.ID != e.ID || b.Size != e.Size || b.Kind != "turn" {
		t.Errorf("entry body = %+v", b)
	}
	if bytes.Contains(es[0].Body, []byte("Berlin")) {
		t.Error("the ledger entry carries the evidence content")
	}
	if _, err := f.m.Evidence(ctx, EvidenceID([]byte("never added"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing evidence: %v", err)
	}
}

func TestEvidenceValidation(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	ok := NewEvidence{Kind: EvidenceText, Content: []byte("x"), Actor: actor}
	for _, tt := range []struct {
		name string
		edit func(*NewEvidence)
		want error
	}{
		{"an unknown kind", func(in *NewEvidence) { in.Kind = "email" }, ErrInvalid},
		{"no content", func(in *NewEvidence) { in.Content = nil }, ErrInvalid},
		{"no actor", func(in *NewEvidence) { in.Actor = "" }, ErrInvalid},
		{"an actor with a newline", func(in *NewEvidence) { in.Actor = "a\nb" }, ErrInvalid},
		{"a source on two lines", func(in *NewEvidence) { in.Source = "a\nb" }, ErrInvalid},
		{"an observation in 1700", func(in *NewEvidence) { in.ObservedAt = time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrInvalid},
		{"content over 8 MiB", func(in *NewEvidence) { in.Content = make([]byte, MaxEvidenceSize+1) }, ErrTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			_, _, err := f.m.AddEvidence(ctx, in)
			wantErr(t, err, tt.want)
		})
	}
	big := bytes.Repeat([]byte("a"), MaxEvidenceSize)
	if _, _, err := f.m.AddEvidence(ctx, NewEvidence{Kind: EvidenceFile, Content: big, Actor: actor}); err != nil {
		t.Errorf("exactly 8 MiB: %v", err)
	}
}

func TestOnlyTextEvidenceIsSearchable(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	for _, tt := range []struct {
		content, mediaType string
		text               bool
	}{
		{"plain words", "", true},
		{"# heading", "text/markdown; charset=utf-8", true},
		{`{"a":1}`, "application/json", true},
		{"PNG\x00\x01", "", false},
		{"\xff\xfe", "", false},
		{"looks like text", "image/png", false},
	} {
		e, _, err := f.m.AddEvidence(ctx, NewEvidence{Kind: EvidenceFile, Content: []byte(tt.content), MediaType: tt.mediaType, Actor: actor})
		if err != nil {
			t.Fatal(err)
		}
		if e.Text != tt.text {
			t.Errorf("%q (%s): text = %v, want %v", tt.content, tt.mediaType, e.Text, tt.text)
		}
	}
}

func TestRedactionHidesContentAndKeepsTheRecord(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	secret := f.evidence(t, "my passport number is X1234567 and I live in Lyon", time.Time{})
	other := f.evidence(t, "I live in Lyon", time.Time{})
	c := f.claim(t, NewClaim{Statement: "The user lives in Lyon", Spans: []Span{{EvidenceID: secret.ID, Start: 39, End: 48}, {EvidenceID: other.ID, Start: 0, End: 14}}})
	f.clk.advance(time.Hour)
	r, err := f.m.Redact(ctx, secret.ID, "lease/lse_root", "contains a passport number")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Redacted() || r.Content != nil || r.Redaction.Actor != "lease/lse_root" || r.Redaction.Reason != "contains a passport number" ||
		!r.Redaction.At.Equal(f.clk.now()) {
		t.Fatalf("redacted = %+v", r)
	}
	got, err := f.m.Evidence(ctx, secret.ID)
	if err != nil || got.Content != nil || got.ID != secret.ID || got.Size != secret.Size || !got.Redacted() {
		t.Fatalf("after redaction: %+v, %v", got, err)
	}
	res, err := f.m.Search(ctx, Query{Text: "passport", Evidence: true})
	if err != nil || len(res.Evidence) != 0 {
		t.Errorf("redacted evidence still found: %+v, %v", res.Evidence, err)
	}
	// The claim stays; new claims cannot cite the erased content.
	if cl, err := f.m.Claim(ctx, c.Claim.ID); err != nil || cl.Status != StatusCanon {
		t.Errorf("claim after redaction: %+v, %v", cl, err)
	}
	_, err = f.m.AddClaim(ctx, NewClaim{Statement: "The user has a passport", Spans: whole(secret), Actor: actor})
	wantErr(t, err, ErrConflict)
	_, err = f.m.Redact(ctx, secret.ID, actor, "again")
	wantErr(t, err, ErrConflict)
	_, err = f.m.Redact(ctx, other.ID, actor, " ")
	wantErr(t, err, ErrInvalid)
	_, err = f.m.Redact(ctx, EvidenceID([]byte("nothing")), actor, "why")
	wantErr(t, err, ErrNotFound)

	es := f.entries(t)
	last := es[len(es)-1]
	if last.Kind != EntryRedact || last.Actor != "lease/lse_root" || body[redactBody](t, last).ID != secret.ID {
		t.Errorf("last entry = %s by %s: %s", last.Kind, last.Actor, last.Body)
	}
	rep, err := f.m.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Redacted != 1 || rep.Evidence != 2 {
		t.Errorf("verify after a redaction: %+v", rep)
	}
	// Erasing content without a redaction record is tampering.
	f.tamper(t, `UPDATE memory_evidence SET content = NULL WHERE id = ?`, other.ID)
	rep, _ = f.m.Verify(ctx)
	if !hasProblem(rep, tableEvidence, other.ID, "no redaction record") || len(rep.Problems) != 1 {
		t.Errorf("content erased by hand: %v", rep.Problems)
	}
}

// When the ledger cannot record, nothing is written: no audit, no action.
func TestNothingIsWrittenWhenTheLedgerCannotRecord(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir()+"/m.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &storefault.Store{Inner: db}
	skey, vkey, _ := ledger.GenerateKey("mirroros/test")
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	led, err := ledger.Open(ctx, fs, s, v, ledger.Options{ProbeInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(ctx); db.Close() })
	m := New(fs, led, Options{})
	fs.Fail(errors.New("disk full"))
	_, _, err = m.AddEvidence(ctx, NewEvidence{Kind: EvidenceText, Content: []byte("lost"), Actor: actor})
	wantErr(t, err, ledger.ErrUnavailable)
	fs.Fail(nil)
	deadline := time.Now().Add(5 * time.Second)
	for !led.Health().OK && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := m.Evidence(ctx, EvidenceID([]byte("lost"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("evidence written without its ledger entry: %v", err)
	}
	list, err := m.EvidenceList(ctx, EvidenceFilter{})
	if err != nil || len(list) != 0 {
		t.Errorf("evidence list = %v, %v", list, err)
	}
}

func TestEvidenceListPages(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	var want []string
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		want = append(want, f.evidence(t, s, time.Time{}).ID)
	}
	var got []string
	var after int64
	for {
		page, err := f.m.EvidenceList(ctx, EvidenceFilter{AfterSeq: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Content != nil {
				t.Error("a list carries content")
			}
			got = append(got, e.ID)
			after = e.Seq
		}
		if len(page) < 2 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
}

func hasProblem(rep Report, table, id, what string) bool {
	for _, p := range rep.Problems {
		if p.Table == table && p.ID == id && strings.Contains(p.Problem, what) {
			return true
		}
	}
	return false
}
