package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
)

// tamperLogSize gives the log two level-8 nodes, (8, 0) and (8, 1).
const tamperLogSize = 600

// buildTamperLog writes a closed log of tamperLogSize entries with a signed
// checkpoint after every 100 (each appendN batch carries one), and returns
// its database path and keys.
func buildTamperLog(t *testing.T) (string, keys) {
	t.Helper()
	f := newFixture(t, Options{CheckpointInterval: time.Nanosecond})
	appendN(t, f.l, tamperLogSize)
	f.close() // Close signs a final checkpoint if one is due
	return f.path, f.keys
}

// rawDB opens the database file behind the store's back, as an attacker
// with write access to the data directory would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		t.Fatalf("%s changed no row (%v)", query, err)
	}
}

func entryData(t *testing.T, db *sql.DB, idx int) []byte {
	t.Helper()
	var data []byte
	if err := db.QueryRow(`SELECT data FROM ledger_entries WHERE idx = ?`, idx).Scan(&data); err != nil {
		t.Fatalf("entry %d: %v", idx, err)
	}
	return data
}

func leafOf(data []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, data...))
	return h[:]
}

// rowCounts counts what is stored, so a test can tell that nothing was
// written on top of a tampered log.
type rowCounts struct{ entries, nodes, checkpoints int }

func countRows(t *testing.T, path string) rowCounts {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	var c rowCounts
	for q, dst := range map[string]*int{
		`SELECT COUNT(*) FROM ledger_entries`:     &c.entries,
		`SELECT COUNT(*) FROM ledger_nodes`:       &c.nodes,
		`SELECT COUNT(*) FROM ledger_checkpoints`: &c.checkpoints,
	} {
		if err := db.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// verifyFile runs VerifyStore on a fresh read-only open of the file, the way
// an operator inspects a data directory.
func verifyFile(t *testing.T, path string, k keys, opts VerifyOptions) (Report, error) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rep Report
	err = st.View(context.Background(), func(tx store.ReadTx) (err error) {
		rep, err = VerifyStore(context.Background(), tx, k.verifier, opts)
		return err
	})
	return rep, err
}

func forgedCheckpoint(t *testing.T, size uint64, root []byte) []byte {
	t.Helper()
	other := newKeys(t, "mirroros/test") // same origin, another key
	cp, err := signCheckpoint(other.signer, size, root)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Note
}

func randomRoot(t *testing.T) []byte {
	t.Helper()
	root := make([]byte, 32)
	if _, err := rand.Read(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// copyLog copies a closed database into a new directory.
func copyLog(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestTamperingIsDetectedAndRefused(t *testing.T) {
	template, k := buildTamperLog(t)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, k keys)
		index  int64    // the VerifyError's Index
		reason []string // substrings of its Reason
	}{
		{
			name: "one byte changed in an entry's data is caught at that entry",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				data := entryData(t, db, 300)
				data[len(data)/2] ^= 0x01
				mustExec(t, db, `UPDATE ledger_entries SET data = ? WHERE idx = 300`, data)
			},
			index:  300,
			reason: []string{"recorded leaf hash", "changed"},
		},
		{
			name: "a changed entry with its leaf hash recomputed is caught by the next checkpoint",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				data := entryData(t, db, 300)
				changed := bytes.Replace(data, []byte(`{"n":300}`), []byte(`{"n":301}`), 1)
				if bytes.Equal(changed, data) {
					t.Fatalf("entry 300 has no body {\"n\":300}: %s", data)
				}
				mustExec(t, db, `UPDATE ledger_entries SET data = ?, leaf = ? WHERE idx = 300`, changed, leafOf(changed))
			},
			index:  -1,
			reason: []string{"checkpoint at size 400", "[300, 400)"},
		},
		{
			name: "a row deleted in the middle is reported missing",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				mustExec(t, db, `DELETE FROM ledger_entries WHERE idx = 300`)
			},
			index:  300,
			reason: []string{"missing"},
		},
		{
			name: "two rows swapped with their leaf hashes are caught at the first",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				a, b := entryData(t, db, 10), entryData(t, db, 20)
				mustExec(t, db, `UPDATE ledger_entries SET data = ?, leaf = ? WHERE idx = 10`, b, leafOf(b))
				mustExec(t, db, `UPDATE ledger_entries SET data = ?, leaf = ? WHERE idx = 20`, a, leafOf(a))
			},
			index:  10,
			reason: []string{"index field says 20", "swapped"},
		},
		{
			name: "a truncated log falls short of its checkpoint",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				mustExec(t, db, `DELETE FROM ledger_entries WHERE idx >= 550`)
			},
			index:  -1,
			reason: []string{"550 entries", "checkpoint covers 600", "truncated"},
		},
		{
			name: "a changed level-8 node is named",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				mustExec(t, db, `UPDATE ledger_nodes SET hash = ? WHERE level = 8 AND idx = 1`, randomRoot(t))
			},
			index:  -1,
			reason: []string{"level 8, index 1"},
		},
		{
			name: "a deleted level-8 node is reported missing",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				mustExec(t, db, `DELETE FROM ledger_nodes WHERE level = 8 AND idx = 0`)
			},
			index:  -1,
			reason: []string{"level 8, index 0", "missing"},
		},
		{
			name: "a checkpoint forged with another key for a larger size is refused",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				mustExec(t, db, `INSERT INTO ledger_checkpoints(size, note, created_ns) VALUES (700, ?, 0)`, forgedCheckpoint(t, 700, randomRoot(t)))
			},
			index:  -1,
			reason: []string{"checkpoint stored for size 700"},
		},
		{
			name: "the latest checkpoint replaced by one forged with another key is refused",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				mustExec(t, db, `UPDATE ledger_checkpoints SET note = ? WHERE size = 600`, forgedCheckpoint(t, 600, randomRoot(t)))
			},
			index:  -1,
			reason: []string{"checkpoint stored for size 600"},
		},
		{
			name: "a checkpoint whose root was edited under its signature is refused",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				var note []byte
				if err := db.QueryRow(`SELECT note FROM ledger_checkpoints WHERE size = 500`).Scan(&note); err != nil {
					t.Fatal(err)
				}
				lines := strings.SplitN(string(note), "\n", 4)
				lines[2] = b64(randomRoot(t))
				mustExec(t, db, `UPDATE ledger_checkpoints SET note = ? WHERE size = 500`, strings.Join(lines, "\n"))
			},
			index:  -1,
			reason: []string{"checkpoint stored for size 500", "forged or altered"},
		},
		{
			name: "a checkpoint moved to another size is refused",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				mustExec(t, db, `UPDATE ledger_checkpoints SET size = 550 WHERE size = 500`)
			},
			index:  -1,
			reason: []string{"stored for size 550 says size 500"},
		},
		{
			name: "the latest checkpoint re-signed with the right key over a wrong root is caught",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				cp, err := signCheckpoint(k.signer, 600, randomRoot(t))
				if err != nil {
					t.Fatal(err)
				}
				mustExec(t, db, `UPDATE ledger_checkpoints SET note = ? WHERE size = 600`, cp.Note)
			},
			index:  -1,
			reason: []string{"checkpoint at size 600", "differs from the recomputed root", "[500, 600)"},
		},
		{
			name: "a checkpoint signed with the right key over a wrong root at a new earlier size is caught",
			tamper: func(t *testing.T, db *sql.DB, k keys) {
				cp, err := signCheckpoint(k.signer, 250, randomRoot(t))
				if err != nil {
					t.Fatal(err)
				}
				mustExec(t, db, `INSERT INTO ledger_checkpoints(size, note, created_ns) VALUES (250, ?, 0)`, cp.Note)
			},
			index:  -1,
			reason: []string{"checkpoint at size 250", "[200, 250)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := copyLog(t, template)
			db := rawDB(t, path)
			tc.tamper(t, db, k)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			before := countRows(t, path)

			_, err := verifyFile(t, path, k, VerifyOptions{})
			var verr *VerifyError
			if !errors.As(err, &verr) {
				t.Fatalf("VerifyStore = %v, want a *VerifyError", err)
			}
			if verr.Index != tc.index {
				t.Errorf("VerifyError.Index = %d, want %d (%v)", verr.Index, tc.index, verr)
			}
			for _, s := range tc.reason {
				if !strings.Contains(verr.Reason, s) {
					t.Errorf("VerifyError.Reason %q does not mention %q", verr.Reason, s)
				}
			}

			f := openFixture(t, path, k, Options{CheckpointInterval: time.Nanosecond, ProbeInterval: 10 * time.Millisecond})
			h := f.l.Health()
			if h.OK || h.Reason == "" {
				t.Errorf("Health() = %+v on a tampered log, want not OK with a reason", h)
			}
			if !strings.Contains(h.Reason, verr.Error()) {
				t.Errorf("Health().Reason %q does not carry the verification failure %q", h.Reason, verr.Error())
			}
			if _, err := f.l.Append(context.Background(), ev(1)); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Append on a tampered log = %v, want ErrUnavailable", err)
			}
			err = f.l.Commit(context.Background(), func(tx *Tx) error {
				_, err := tx.Append(ev(2))
				return err
			})
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("Commit on a tampered log = %v, want ErrUnavailable", err)
			}
			f.close() // a final checkpoint must not be signed either
			if after := countRows(t, path); after != before {
				t.Errorf("rows went from %+v to %+v: the ledger wrote on top of a tampered log", before, after)
			}
		})
	}
}

func TestAnUntamperedLogVerifies(t *testing.T) {
	path, k := buildTamperLog(t)
	rep, err := verifyFile(t, path, k, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != tamperLogSize || rep.Checkpoints != tamperLogSize/100 {
		t.Fatalf("report = %+v, want size %d and %d checkpoints", rep, tamperLogSize, tamperLogSize/100)
	}
	if rep.Latest == nil || rep.Latest.Size != tamperLogSize || !bytes.Equal(rep.Latest.Root, rep.Root) {
		t.Fatalf("latest checkpoint %+v does not cover the log with root %x", rep.Latest, rep.Root)
	}
	f := openFixture(t, path, k, Options{})
	if h := f.l.Health(); !h.OK || h.Size != tamperLogSize || h.CheckpointSize != tamperLogSize {
		t.Fatalf("Health() = %+v", h)
	}
	root, err := f.l.RootAt(context.Background(), tamperLogSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, rep.Root) {
		t.Fatalf("VerifyStore root %x, RootAt %x", rep.Root, root)
	}
	if _, err := f.l.Append(context.Background(), ev(tamperLogSize)); err != nil {
		t.Fatalf("append to a verified log: %v", err)
	}
}

func TestVerifyAgainstSavedCheckpoint(t *testing.T) {
	const saved = 10
	ctx := context.Background()
	k := newKeys(t, "mirroros/test")

	// The honest log: the saved checkpoint, then more entries.
	honest := openFixture(t, filepath.Join(t.TempDir(), "honest.db"), k, Options{CheckpointInterval: time.Nanosecond})
	appendN(t, honest.l, saved)
	old, err := honest.l.Checkpoint()
	if err != nil || old.Size != saved {
		t.Fatalf("checkpoint after %d entries: %+v, %v", saved, old, err)
	}
	old, err = OpenCheckpoint(old.Note, k.verifier) // as a third party would keep it
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, honest.l, 300)
	honest.close()

	// Another log with the same key whose entry 3 differs, grown past the
	// saved size: validly signed throughout, but not an extension.
	rewritten := openFixture(t, filepath.Join(t.TempDir(), "rewritten.db"), k, Options{CheckpointInterval: time.Nanosecond})
	var evs []Event
	for i := 0; i < saved+300; i++ {
		e := ev(i)
		if i == 3 {
			e.Body = json.RawMessage(`{"n":3,"rewritten":true}`)
		}
		evs = append(evs, e)
	}
	for _, batch := range [][]Event{evs[:saved], evs[saved:]} {
		if _, err := rewritten.l.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	rewritten.close()

	t.Run("the honest extension verifies against the saved checkpoint", func(t *testing.T) {
		rep, err := verifyFile(t, honest.path, k, VerifyOptions{Against: []Checkpoint{old}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Size != saved+300 {
			t.Fatalf("size %d", rep.Size)
		}
	})
	t.Run("the saved checkpoint at the very end verifies", func(t *testing.T) {
		rep, err := verifyFile(t, honest.path, k, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifyFile(t, honest.path, k, VerifyOptions{Against: []Checkpoint{old, *rep.Latest}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the rewritten log verifies on its own signatures", func(t *testing.T) {
		if _, err := verifyFile(t, rewritten.path, k, VerifyOptions{}); err != nil {
			t.Fatalf("the rewritten log should be self-consistent: %v", err)
		}
	})
	t.Run("the rewritten log fails against the saved checkpoint", func(t *testing.T) {
		_, err := verifyFile(t, rewritten.path, k, VerifyOptions{Against: []Checkpoint{old}})
		var verr *VerifyError
		if !errors.As(err, &verr) {
			t.Fatalf("VerifyStore = %v, want a *VerifyError", err)
		}
		if verr.Index != -1 || !strings.Contains(verr.Reason, "does not extend the saved checkpoint") || !strings.Contains(verr.Reason, fmt.Sprintf("size %d", saved)) {
			t.Fatalf("VerifyError = %+v", verr)
		}
	})
	t.Run("a log shorter than the saved checkpoint fails as truncated", func(t *testing.T) {
		later := old
		later.Size = saved + 1000
		_, err := verifyFile(t, honest.path, k, VerifyOptions{Against: []Checkpoint{later}})
		var verr *VerifyError
		if !errors.As(err, &verr) || verr.Index != -1 || !strings.Contains(verr.Reason, "truncated") {
			t.Fatalf("VerifyStore = %v, want a truncation VerifyError", err)
		}
	})
}

// Cutting the tail together with the checkpoints that cover it leaves a log
// that is consistent with what remains of its own checkpoints; only a
// checkpoint saved elsewhere can tell. This is why verifiers keep one.
func TestTruncationWithItsCheckpointsIsCaughtAgainstASavedCheckpoint(t *testing.T) {
	path, k := buildTamperLog(t)
	rep, err := verifyFile(t, path, k, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved := *rep.Latest
	db := rawDB(t, path)
	mustExec(t, db, `DELETE FROM ledger_entries WHERE idx >= 550`)
	mustExec(t, db, `DELETE FROM ledger_checkpoints WHERE size > 500`)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyFile(t, path, k, VerifyOptions{}); err != nil {
		t.Logf("verified without a saved checkpoint: %v", err)
	}
	_, err = verifyFile(t, path, k, VerifyOptions{Against: []Checkpoint{saved}})
	var verr *VerifyError
	if !errors.As(err, &verr) || verr.Index != -1 || !strings.Contains(verr.Reason, "truncated") {
		t.Fatalf("VerifyStore against the saved checkpoint = %v, want a truncation VerifyError", err)
	}
}

// Verification runs entries through a pipeline in chunks; a change deep in a
// later chunk is still named exactly, and cancelling stops it.
func TestTamperingInALaterChunkIsNamedExactly(t *testing.T) {
	f := newFixture(t, Options{})
	appendN(t, f.l, 3*chunkEntries+100)
	path := f.path
	f.close()
	db := rawDB(t, path)
	bad := 2*chunkEntries + 17
	data := entryData(t, db, bad)
	data[len(data)-5] ^= 1
	mustExec(t, db, `UPDATE ledger_entries SET data = ? WHERE idx = ?`, data, bad)
	db.Close()
	_, err := verifyFile(t, path, f.keys, VerifyOptions{})
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Index != int64(bad) {
		t.Fatalf("verify = %v, want entry %d named", err, bad)
	}

	st, err := sqlite.Open(context.Background(), path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = st.View(context.Background(), func(tx store.ReadTx) error {
		_, err := VerifyStore(ctx, tx, f.keys.verifier, VerifyOptions{})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled verify = %v, want context.Canceled", err)
	}
}
