package provenance

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func keys(t *testing.T, name string) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestSignOpenRoundTripAndTamper(t *testing.T) {
	s, v := keys(t, "mirroros/test")
	r := Record{Run: "run_1", Lease: "lse_a", ContractHash: strings.Repeat("ab", 32),
		Skill:  Skill{Name: "summarize", Version: "1.0.0", Digest: "sha256:00"},
		Models: []string{"ollama/llama3.2"}, OutputHash: "ff", CostMicros: 12, Steps: 2,
		Verifiers: []Verifier{{Kind: "schema", OK: true}},
		Started:   time.Unix(1, 0).UTC(), Ended: time.Unix(2, 0).UTC()}
	msg, err := Sign(r, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(msg, v)
	if err != nil || got.Run != "run_1" || got.Skill.Digest != "sha256:00" || got.CostMicros != 12 {
		t.Fatalf("open: %+v %v", got, err)
	}
	bad := []byte(strings.Replace(string(msg), `"cost_micros":12`, `"cost_micros":13`, 1))
	if _, err := Open(bad, v); err == nil {
		t.Fatal("a changed record opened")
	}
	_, other := keys(t, "mirroros/test")
	if _, err := Open(msg, other); err == nil {
		t.Fatal("opened with another kernel's key")
	}
	if _, err := Sign(Record{}, s); err == nil {
		t.Fatal("signed an empty record")
	}
}
