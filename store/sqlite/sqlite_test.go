package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/store/sqlite"
	"github.com/mirroros/mirror/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mirror.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestReadOnlySeesDataAndRefusesWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mirror.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.SetMeta(ctx, "k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	// Read while the writer is still open, then after it closed.
	for _, closeFirst := range []bool{false, true} {
		if closeFirst {
			db.Close()
		}
		ro, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open (writer closed=%v): %v", closeFirst, err)
		}
		err = ro.View(ctx, func(tx store.ReadTx) error {
			_, err := tx.Meta(ctx, "k")
			return err
		})
		if err != nil {
			t.Fatalf("read-only view (writer closed=%v): %v", closeFirst, err)
		}
		if err := ro.Update(ctx, func(tx store.Tx) error { return nil }); err == nil {
			t.Fatal("read-only store accepted an update")
		}
		ro.Close()
	}
}

func TestReadOnlyMissingFile(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "absent.db"), sqlite.Options{ReadOnly: true})
	if err == nil {
		t.Fatal("opened a missing database read-only")
	}
}

// TestWALIsCheckpointedInBackground shows that commits never checkpoint
// inline (the writer has wal_autocheckpoint off) and that the background
// checkpointer keeps the WAL from growing without bound: after the first
// round of writes is copied back, later writes reuse the WAL from its start.
func TestWALIsCheckpointedInBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mirror.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := bytes.Repeat([]byte("x"), 3000)
	write := func(round int) {
		for i := range 400 {
			err := db.Update(ctx, func(tx store.Tx) error {
				return tx.SetMeta(ctx, fmt.Sprintf("k%d-%d", round, i%50), value)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	write(0)
	first := walSize()
	deadline := time.Now().Add(10 * time.Second)
	for db.Checkpoints() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no background checkpoint within 10s of writes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	write(0) // the same keys again: the same amount of WAL
	if got := walSize(); got > first+first/4 {
		t.Fatalf("WAL grew from %d to %d bytes after a checkpoint: it is not being reused", first, got)
	}
}
