package token

import (
	"strings"
	"testing"
)

func TestNewTokensAreWellFormedAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		tok, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if !WellFormed(tok) || len(tok) != len(Prefix)+bodyLen {
			t.Fatalf("malformed token %q", tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestWellFormedRejects(t *testing.T) {
	good, _ := New()
	for _, s := range []string{"", "mos_", good[:len(good)-1], good + "a", "sk_" + good[4:], strings.Replace(good, good[5:6], "-", 1)} {
		if WellFormed(s) {
			t.Errorf("WellFormed(%q) = true", s)
		}
	}
}

func TestHashAndIDAreStableAndDoNotRevealTheToken(t *testing.T) {
	tok, _ := New()
	if string(Hash(tok)) != string(Hash(tok)) || len(Hash(tok)) != 32 {
		t.Fatal("hash not stable")
	}
	if id := ID(tok); !strings.HasPrefix(id, "tok_") || strings.Contains(tok, id[4:]) {
		t.Fatalf("ID %q", id)
	}
}
