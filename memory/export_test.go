package memory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

func TestExportWritesEverythingAsJSONLines(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	e1 := f.evidence(t, "first note", time.Time{})
	e2 := f.evidence(t, "second note with a secret", time.Time{})
	bin, _, err := f.m.AddEvidence(ctx, NewEvidence{Kind: EvidenceFile, Content: []byte{0, 1, 2, 0xff}, MediaType: "application/octet-stream", Actor: actor})
	if err != nil {
		t.Fatal(err)
	}
	c := f.claim(t, NewClaim{Statement: "Two notes exist", Spans: []Span{{e1.ID, 0, 5}, {e2.ID, 0, 6}}})
	if _, err := f.m.Redact(ctx, e2.ID, actor, "secret"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.m.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var rec struct {
			Type          string   `json:"type"`
			ID            string   `json:"id"`
			ContentBase64 string   `json:"content_base64"`
			Redacted      bool     `json:"redacted"`
			Statement     string   `json:"statement"`
			Version       int64    `json:"version"`
			Hash          string   `json:"hash"`
			Members       []string `json:"members"`
			Redaction     *struct {
				Reason string `json:"reason"`
			} `json:"redaction"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		counts[rec.Type]++
		switch rec.Type {
		case ExportEvidence:
			content, err := base64.StdEncoding.DecodeString(rec.ContentBase64)
			if err != nil {
				t.Fatal(err)
			}
			switch rec.ID {
			case e2.ID:
				if !rec.Redacted || rec.ContentBase64 != "" || rec.Redaction == nil || rec.Redaction.Reason != "secret" {
					t.Errorf("redacted evidence exported as %s", sc.Text())
				}
			case e1.ID, bin.ID:
				if EvidenceID(content) != rec.ID || rec.Redacted {
					t.Errorf("evidence %s exported with content %q", rec.ID, content)
				}
			}
		case ExportClaim:
			if rec.ID != c.Claim.ID || rec.Statement != "Two notes exist" {
				t.Errorf("claim line %s", sc.Text())
			}
		case ExportCanon:
			if rec.Version != 1 || rec.Hash != CanonHash([]CanonMember{{c.Claim.ID, c.Claim.Hash}}) || len(rec.Members) != 1 {
				t.Errorf("canon line %s", sc.Text())
			}
		}
	}
	if counts[ExportEvidence] != 3 || counts[ExportClaim] != 1 || counts[ExportCanon] != 1 {
		t.Errorf("lines by type = %v", counts)
	}
}
