package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"golang.org/x/mod/sumdb/note"
)

// A fixed key pair for fuzzing VerifyExport, so that seed exports signed with
// it stay valid across runs. It protects nothing.
const (
	fuzzSignerKey   = "PRIVATE+KEY+mirroros/fuzz+9a0f9565+Aa6ep4fdmvh96TaW/F4xChp2PExtMELJYN+iEw9IJ+09"
	fuzzVerifierKey = "mirroros/fuzz+9a0f9565+AbZPJVRABpRuQjdurEh5rHjy+Li/tvryQOAEbYcqtlVy"
)

func fuzzKeys(t testing.TB) keys {
	t.Helper()
	s, err := note.NewSigner(fuzzSignerKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(fuzzVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	return keys{s, v}
}

var fuzzTime = time.Date(2025, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

// seedEntry encodes an event the way the ledger's sequencer does.
func seedEntry(t testing.TB, e Event, index uint64, at time.Time) []byte {
	t.Helper()
	p, err := e.prepare()
	if err != nil {
		t.Fatal(err)
	}
	return p.encode(nil, index, at)
}

func seedEvents() []Event {
	return []Event{
		{Kind: "kernel.start", Actor: "kernel"},
		{Kind: "event.test", Actor: "tester", Body: json.RawMessage(`{"n":1}`)},
		{Kind: "lease.grant", Actor: "owner <me@example.org>", Body: json.RawMessage(`{ "z": 1, "a": {"y": [1, 2.50, "<&>"], "b": null} }`)},
		{Kind: "event.x_y-z.3", Actor: "ünïcødé \u2028 actor", Body: json.RawMessage(`{"s":"a\"b\\c\u0000\u001f","e":1e-7,"i":",\"index\":5,"}`)},
	}
}

// seedExport is an export of entries with a checkpoint line after the
// entries at each size in cpAt, signed with k.
func seedExport(t testing.TB, k keys, entries [][]byte, cpAt ...int) []byte {
	t.Helper()
	var out bytes.Buffer
	rng := factory.NewEmptyRange(0)
	writeCP := func() {
		root, err := rootOf(rng)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := signCheckpoint(k.signer, rng.End(), root)
		if err != nil {
			t.Fatal(err)
		}
		line, err := json.Marshal(ExportLine{Checkpoint: string(cp.Note)})
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	for i := 0; i <= len(entries); i++ {
		for _, at := range cpAt {
			if at == i {
				writeCP()
			}
		}
		if i == len(entries) {
			break
		}
		if err := rng.Append(hasher.HashLeaf(entries[i]), nil); err != nil {
			t.Fatal(err)
		}
		out.Write(entries[i])
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func seedLog(t testing.TB, n int) [][]byte {
	evs := seedEvents()
	out := make([][]byte, n)
	for i := range out {
		out[i] = seedEntry(t, evs[i%len(evs)], uint64(i), fuzzTime.Add(time.Duration(i)*time.Millisecond))
	}
	return out
}

func FuzzParseEntry(f *testing.F) {
	for i, e := range seedEvents() {
		entry := seedEntry(f, e, uint64(i)*1000, fuzzTime)
		f.Add(entry)
		f.Add(bytes.Replace(entry, []byte(`,"`), []byte(`, "`), 1))                      // not canonical
		f.Add(bytes.Replace(entry, []byte(`"index":`), []byte(`"index":0`), 1))          // leading zero
		f.Add(bytes.Replace(entry, []byte(`.600000000Z`), []byte(`.6Z`), 1))             // short fraction
		f.Add(bytes.Replace(entry, []byte(`"}`), []byte(`","extra":1}`), 1))             // sixth field
		f.Add(entry[:len(entry)-1])                                                      // truncated
		f.Add(bytes.Replace(entry, []byte(`"kind":"`), []byte(`"kind":"X`), 1))          // bad kind
		f.Add(bytes.Replace(entry, []byte(`{"actor"`), []byte(`{"index":1,"actor"`), 1)) // duplicate key
	}
	f.Add([]byte(`{"actor":"a","body":{},"index":18446744073709551615,"kind":"a.b","time":"9999-12-31T23:59:59.999999999Z"}`))
	f.Add([]byte(`{"actor":"a","body":{},"index":18446744073709551616,"kind":"a.b","time":"2025-01-02T03:04:05.000000000Z"}`))
	f.Add([]byte(`{"actor":"a","body":null,"index":0,"kind":"a.b","time":"2025-01-02T03:04:05.000000000Z"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, idxOK := entryIndex(data) // must not panic on anything
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		if !idxOK || idx != e.Index {
			t.Fatalf("ParseEntry says index %d, entryIndex says %d, %v", e.Index, idx, idxOK)
		}
		if !json.Valid(data) {
			t.Fatalf("ParseEntry accepted invalid JSON %q", data)
		}
		p, err := Event{Kind: e.Kind, Actor: e.Actor, Body: e.Body}.prepare()
		if err != nil {
			t.Fatalf("a parsed entry's fields do not prepare: %v", err)
		}
		if again := p.encode(nil, e.Index, e.Time); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding a parsed entry gives\n%q\nnot\n%q", again, data)
		}
	})
}

func FuzzCanonicalObject(f *testing.F) {
	for _, s := range []string{
		`{}`,
		` { } `,
		`{"z":1,"a":[1,2.50,"<&>"],"m":{"b":null,"a":true}}`,
		`{"a":1,"a":2}`,
		`{"a":1,"\u0061":2}`,
		`{"s":"\u2028\u2029\ud800\u00e9\t\"\\/"}`,
		`{"n":-0,"e":1E+400,"f":0.000}`,
		`{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
		`{"a":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`,
		`[1]`,
		`"x"`,
		`null`,
		`{} {}`,
		`{}x`,
		`{"a":}`,
		`{"a":1,}`,
		"{\"\xff\":\"\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := CanonicalObject(raw)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("CanonicalObject(%q) = %q, not valid JSON", raw, out)
		}
		again, err := CanonicalObject(out)
		if err != nil {
			t.Fatalf("CanonicalObject rejects its own output %q: %v", out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %q -> %q -> %q", raw, out, again)
		}
		// The canonical body makes an entry that parses back to it.
		p, err := Event{Kind: "event.fuzz", Actor: "fuzz", Body: out}.prepare()
		if errors.Is(err, ErrEntryTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("a canonical body is refused: %v", err)
		}
		entry := p.encode(nil, 42, fuzzTime)
		e, err := ParseEntry(entry)
		if err != nil {
			t.Fatalf("an entry with body %q does not parse: %v", out, err)
		}
		if !bytes.Equal(e.Body, out) {
			t.Fatalf("entry body %q, want %q", e.Body, out)
		}
	})
}

// Data after the object is refused, not dropped. (The encoding/json based
// CanonicalObject this replaced returned {} for "{}x" with no error.)
func TestCanonicalObjectRejectsTrailingData(t *testing.T) {
	for _, raw := range []string{`{} {}`, `{} 1`, `{}x`, `{"a":1} garbage`, `{}]`, `{}}`, `{},`} {
		t.Run(raw+" is rejected", func(t *testing.T) {
			if out, err := CanonicalObject([]byte(raw)); err == nil {
				t.Fatalf("CanonicalObject(%q) = %q, want an error", raw, out)
			}
		})
	}
}

func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{
		"tile/0/000",
		"tile/0/x001/x234/067",
		"tile/1/000.p/2",
		"tile/63/999.p/255",
		"tile/entries/002.p/88",
		"tile/entries/x072/x057/x594/x037/x927/935",
		"tile/0/x000/001",
		"tile/0/01",
		"tile/0/000.p/0",
		"tile/0/000.p/256",
		"tile/64/000",
		"tile/8/0/000",
		"tile/0/x018/x446/x744/x073/x709/x551/615",
		"tile/0/000.p/",
		"tile/",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tile, err := ParseTilePath(path)
		if err != nil {
			return
		}
		if tile.Width < 1 || tile.Width > TileWidth || tile.Level > 63 || (tile.Entries && tile.Level != 0) {
			t.Fatalf("ParseTilePath(%q) = %+v, out of range", path, tile)
		}
		p := tile.Path()
		if p != path {
			t.Fatalf("ParseTilePath(%q).Path() = %q: two paths name one tile", path, p)
		}
		again, err := ParseTilePath(p)
		if err != nil {
			t.Fatalf("ParseTilePath(%q) (from %q): %v", p, path, err)
		}
		if again != tile {
			t.Fatalf("ParseTilePath(%q) = %+v, want %+v", p, again, tile)
		}
	})
}

func FuzzVerifyExport(f *testing.F) {
	k := fuzzKeys(f)
	log := seedLog(f, 12)
	good := seedExport(f, k, log, 1, 5, 12)
	f.Add(good)
	f.Add(seedExport(f, k, log, 0, 12))                                       // a checkpoint of the empty log first
	f.Add(seedExport(f, k, log[:5], 5))                                       // one checkpoint at the end
	f.Add(seedExport(f, k, log, 5))                                           // entries after the last checkpoint
	f.Add(seedExport(f, k, log))                                              // no checkpoint
	f.Add(seedExport(f, newKeys(f, "mirroros/fuzz"), log, 12))                // another key
	f.Add(bytes.Replace(good, []byte(`"n":1`), []byte(`"n":2`), 1))           // a changed entry
	f.Add(bytes.Replace(good, []byte(`\n—`), []byte(`\n-`), 1))               // a broken signature line
	f.Add(bytes.Replace(good, []byte("\n"), []byte("\r\n"), -1))              // CRLF line ends
	f.Add(bytes.Replace(good, []byte(`"index":3,`), []byte(`"index":4,`), 1)) // a wrong index
	lines := bytes.Split(good, []byte("\n"))
	f.Add(bytes.Join(append([][]byte{lines[1], lines[0]}, lines[2:]...), []byte("\n"))) // swapped lines
	f.Add([]byte(`{"checkpoint":"mirroros/fuzz\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"}`))
	f.Add([]byte(`{"checkpoint":1}`))
	f.Add([]byte(`{"checkpoint":`))
	f.Add(append(bytes.Repeat([]byte("a"), MaxEntrySize+1<<12+1), '\n'))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte{})

	rep, err := VerifyExport(bytes.NewReader(good), k.verifier, VerifyOptions{})
	if err != nil {
		f.Fatalf("the seed export does not verify: %v", err)
	}
	saved := *rep.Latest
	saved5 := Checkpoint{Origin: saved.Origin, Size: 5, Root: rootOfEntries(f, log[:5])}

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []VerifyOptions{{}, {Against: []Checkpoint{saved5, saved}}} {
			rep, err := VerifyExport(bytes.NewReader(data), k.verifier, opts)
			if err != nil {
				var verr *VerifyError
				if !errors.As(err, &verr) {
					t.Fatalf("VerifyExport error %v (%T) is not a *VerifyError", err, err)
				}
				continue
			}
			if rep.Latest == nil || rep.Checkpoints == 0 || rep.Latest.Size > rep.Size {
				t.Fatalf("VerifyExport passed with report %+v", rep)
			}
			if len(rep.Root) != 32 {
				t.Fatalf("report root %x", rep.Root)
			}
		}
	})
}

func rootOfEntries(t testing.TB, entries [][]byte) []byte {
	t.Helper()
	rng := factory.NewEmptyRange(0)
	for _, e := range entries {
		if err := rng.Append(hasher.HashLeaf(e), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := rootOf(rng)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestVerifyExportCatchesAlteredExports(t *testing.T) {
	k := fuzzKeys(t)
	log := seedLog(t, 12)
	good := seedExport(t, k, log, 1, 5, 12)
	lines := bytes.Split(good, []byte("\n"))
	saved5 := Checkpoint{Origin: k.signer.Name(), Size: 5, Root: rootOfEntries(t, log[:5])}
	changed := bytes.Replace(good, []byte(`"n":1`), []byte(`"n":2`), 1)
	for _, tc := range []struct {
		name    string
		export  []byte
		against []Checkpoint
		index   int64  // -1 for a log-level failure
		reason  string // empty when the export must verify
	}{
		{name: "an honest export verifies", export: good},
		{name: "a checkpoint of the empty log verifies", export: seedExport(t, k, log, 0, 12)},
		{name: "CRLF line ends verify", export: bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n"))},
		{name: "an honest export verifies against an earlier saved checkpoint", export: good, against: []Checkpoint{saved5}},
		{name: "an export without checkpoints is refused", export: seedExport(t, k, log), index: -1, reason: "no checkpoint"},
		{name: "an empty export is refused", export: []byte{}, index: -1, reason: "no checkpoint"},
		{name: "a checkpoint signed with another key is refused", export: seedExport(t, newKeys(t, "mirroros/fuzz"), log, 12), index: -1, reason: "line 13"},
		{name: "a changed entry is caught by the next checkpoint", export: changed, index: -1, reason: "checkpoint at size 5"},
		{name: "a changed entry is caught against a saved checkpoint", export: changed, against: []Checkpoint{saved5}, index: -1, reason: "does not extend the saved checkpoint"},
		{name: "a broken signature line is refused", export: bytes.Replace(good, []byte(`\n—`), []byte(`\n-`), 1), index: -1, reason: "not a well-formed signed note"},
		{name: "an entry with a wrong index is caught at that entry", export: bytes.Replace(good, []byte(`"index":3,`), []byte(`"index":4,`), 1), index: 3, reason: "index field says 4"},
		{name: "a checkpoint moved before its entries is refused", export: bytes.Join(append([][]byte{lines[1], lines[0]}, lines[2:]...), []byte("\n")), index: -1, reason: "checkpoint for size 1 follows 0 entries"},
		{name: "a dropped entry is caught", export: bytes.Join(append(append([][]byte{}, lines[:3]...), lines[4:]...), []byte("\n")), index: 2, reason: "index field says 3"},
		{name: "a line longer than any entry is refused", export: append(bytes.Repeat([]byte("a"), MaxEntrySize+1<<12+1), '\n'), index: -1, reason: "longer than any entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := VerifyExport(bytes.NewReader(tc.export), k.verifier, VerifyOptions{Against: tc.against})
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if rep.Size != uint64(len(log)) || rep.Latest == nil || rep.Latest.Size != rep.Size {
					t.Fatalf("report %+v", rep)
				}
				return
			}
			var verr *VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("VerifyExport = %+v, %v; want a *VerifyError", rep, err)
			}
			if verr.Index != tc.index || !strings.Contains(verr.Reason, tc.reason) {
				t.Fatalf("VerifyError = {%d, %q}, want {%d, …%q…}", verr.Index, verr.Reason, tc.index, tc.reason)
			}
		})
	}
}

// Entries after the last checkpoint line are counted in the report but not
// vouched for by any signature; the report says how far the latest reaches.
func TestVerifyExportReportsEntriesPastTheLastCheckpoint(t *testing.T) {
	k := fuzzKeys(t)
	rep, err := VerifyExport(bytes.NewReader(seedExport(t, k, seedLog(t, 12), 5)), k.verifier, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 12 || rep.Latest == nil || rep.Latest.Size != 5 {
		t.Fatalf("report %+v, want 12 entries with the latest checkpoint at 5", rep)
	}
}

func TestExportVerifiesAndStopsAtTheLatestCheckpoint(t *testing.T) {
	ctx := context.Background()
	f := openFixture(t, filepath.Join(t.TempDir(), "m.db"), fuzzKeys(t), Options{CheckpointInterval: time.Hour})
	appendN(t, f.l, 5) // the first batch carries a checkpoint
	appendN(t, f.l, 5) // the next ones wait for the interval
	var buf bytes.Buffer
	var n uint64
	err := f.st.View(ctx, func(tx store.ReadTx) (err error) {
		n, err = Export(ctx, tx, &buf, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("exported %d entries, want the 5 the checkpoint covers", n)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 6 || !bytes.HasPrefix(lines[5], []byte(`{"checkpoint":`)) {
		t.Fatalf("export has %d lines, want 5 entries and a checkpoint line:\n%s", len(lines), buf.Bytes())
	}
	for i, line := range lines[:5] {
		want, err := f.l.Entry(ctx, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(line, want) {
			t.Fatalf("line %d = %s, want entry %d = %s", i, line, i, want)
		}
	}
	rep, err := VerifyExport(bytes.NewReader(buf.Bytes()), f.keys.verifier, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := f.l.RootAt(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 5 || !bytes.Equal(rep.Root, root) || rep.Latest == nil || rep.Latest.Size != 5 {
		t.Fatalf("report %+v, want size 5 and root %x", rep, root)
	}
}
