package ledger

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// reference is the canonical form as encoding/json produces it.
func reference(raw []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if len(bytes.Trim(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, false
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, false
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}

var canonicalSeeds = []string{
	`{}`,
	` { "b" : 1 , "a" : [ true, false, null, -0.5e+10, "x" ] } `,
	`{"s":"\u00e9\u2028<&>\"\\\/\b\f\n\r\t\u0001\ud83d\ude00"}`,
	`{"nested":{"z":{"y":{"x":[[],{}]}}}}`,
	`{"dup":1,"dup":2}`,
	`{"a":01}`,
	`{"a":"\ud800"}`,
	"{\"a\":\"\xff\"}",
	`[1]`,
	`{"a":1}x`,
}

func TestCanonicalObjectAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range canonicalSeeds {
		checkCanonical(t, []byte(s))
	}
}

func FuzzCanonicalAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkCanonical)
}

func checkCanonical(t *testing.T, raw []byte) {
	got, err := CanonicalObject(raw)
	want, ok := reference(raw)
	switch {
	case err == nil && !ok:
		t.Fatalf("CanonicalObject(%q) = %s, but encoding/json rejects it", raw, got)
	case err == nil && !bytes.Equal(got, want):
		t.Fatalf("CanonicalObject(%q) = %s, encoding/json gives %s", raw, got, want)
	case err != nil && ok:
		// Stricter than encoding/json only where it must be: duplicate keys
		// (which encoding/json silently drops), invalid UTF-8 or lone
		// surrogates (which it replaces), and excessive nesting.
		msg := err.Error()
		if !strings.Contains(msg, "duplicate key") && !strings.Contains(msg, "UTF-8") &&
			!strings.Contains(msg, "surrogate") && !strings.Contains(msg, "nested deeper") {
			t.Fatalf("CanonicalObject(%q) failed (%v) but encoding/json accepts it", raw, err)
		}
	}
	if err == nil {
		again, err := CanonicalObject(got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("not a fixed point: %s → %s, %v", got, again, err)
		}
		if !utf8.Valid(got) {
			t.Fatalf("output is not UTF-8: %q", got)
		}
	}
}
