// Package sqlite is the embedded store: SQLite through the pure-Go
// modernc.org/sqlite driver, in WAL mode with synchronous=FULL so that a
// committed transaction has been fsynced.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mirroros/mirror/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options tune how the database is opened.
type Options struct {
	// ReadOnly opens the database without write access; migrations are not
	// applied and every write fails. Used to inspect a data directory.
	ReadOnly bool
	// Readers is the size of the read connection pool (default 4).
	Readers int
}

// DB is a store.Store backed by one SQLite file.
type DB struct {
	path     string
	readOnly bool
	w        *sql.DB // the single writer connection
	r        *sql.DB // read pool
	insert   *sql.Stmt
	insertN  *sql.Stmt // insertChunk rows at once
	spSeq    atomic.Uint64

	// The WAL is checkpointed in the background, never inside a commit.
	ck      *sql.DB       // the checkpointer's own connection
	wrote   atomic.Bool   // a write committed since the last checkpoint
	ckStop  chan struct{} // closed by Close
	ckDone  chan struct{}
	ckCalls atomic.Uint64 // checkpoints run, for tests
}

const (
	// checkpointEvery is how often the background checkpointer copies
	// committed WAL frames back into the database when there were writes.
	checkpointEvery = 200 * time.Millisecond
	// walRestartFrames is the WAL length (4 KiB pages) past which the
	// checkpointer makes writers wait for a RESTART checkpoint: under
	// constant load, PASSIVE checkpoints never find a moment at which the
	// whole WAL is copied and the file could be reused from the start.
	walRestartFrames = 65536
)

var _ store.Store = (*DB)(nil)

// insertChunk is how many entries go into one multi-row INSERT statement.
const insertChunk = 64

// Open opens (and, unless read-only, creates and migrates) the database at path.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	db := &DB{path: path, readOnly: opts.ReadOnly}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	} else {
		// Create the file 0600 before SQLite does, so it never exists with a
		// wider mode.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		f.Close()
	}
	pragmas := []string{"busy_timeout(10000)", "foreign_keys(ON)"}
	if !opts.ReadOnly {
		pragmas = append(pragmas, "journal_mode(WAL)", "synchronous(FULL)")
	}
	dsn := func(extra url.Values) string {
		q := url.Values{}
		for _, p := range pragmas {
			q.Add("_pragma", p)
		}
		for k, vs := range extra {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	var err error
	if opts.ReadOnly {
		db.r, err = sql.Open("sqlite", dsn(url.Values{"mode": {"ro"}}))
		if err != nil {
			return nil, err
		}
		db.r.SetMaxOpenConns(opts.Readers)
		if err := db.checkSchema(ctx); err != nil {
			db.r.Close()
			return nil, err
		}
		return db, nil
	}
	// The writer never checkpoints: a commit that crosses the autocheckpoint
	// threshold would copy the WAL into the database and fsync it before
	// returning, stalling every request waiting on that group commit.
	db.w, err = sql.Open("sqlite", dsn(url.Values{"_txlock": {"immediate"}, "_pragma": {"wal_autocheckpoint(0)"}}))
	if err != nil {
		return nil, err
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetConnMaxIdleTime(0)
	db.w.SetConnMaxLifetime(0)
	if err := db.migrate(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	db.r, err = sql.Open("sqlite", dsn(url.Values{"_pragma": {"query_only(1)"}}))
	if err != nil {
		db.w.Close()
		return nil, err
	}
	db.r.SetMaxOpenConns(opts.Readers)
	if db.insert, err = db.w.PrepareContext(ctx, insertSQL(1)); err != nil {
		db.Close()
		return nil, err
	}
	if db.insertN, err = db.w.PrepareContext(ctx, insertSQL(insertChunk)); err != nil {
		db.Close()
		return nil, err
	}
	if db.ck, err = sql.Open("sqlite", dsn(url.Values{"_pragma": {"wal_autocheckpoint(0)"}})); err != nil {
		db.Close()
		return nil, err
	}
	db.ck.SetMaxOpenConns(1)
	db.ckStop, db.ckDone = make(chan struct{}), make(chan struct{})
	go db.checkpointer()
	return db, nil
}

// checkpointer copies committed WAL frames into the database file in the
// background. PASSIVE checkpoints run beside the writer without blocking
// it; once the whole WAL has been copied, the next write starts the WAL
// file over from the beginning, so it stays small without a truncate.
func (db *DB) checkpointer() {
	defer close(db.ckDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.ckStop:
			return
		case <-t.C:
		}
		if !db.wrote.Swap(false) {
			continue
		}
		mode := "PASSIVE"
		for range 2 {
			var busy, frames, done int64
			err := db.ck.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done)
			db.ckCalls.Add(1)
			if err != nil || frames < walRestartFrames || mode == "RESTART" {
				break
			}
			mode = "RESTART"
		}
	}
}

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ledger_entries(idx, data, leaf) VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?)")
	}
	return b.String()
}

// Checkpoints is how many WAL checkpoints the background checkpointer has run.
func (db *DB) Checkpoints() uint64 { return db.ckCalls.Load() }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes every connection.
func (db *DB) Close() error {
	var errs []error
	if db.ckStop != nil {
		close(db.ckStop)
		<-db.ckDone
		errs = append(errs, db.ck.Close())
	}
	for _, s := range []*sql.Stmt{db.insert, db.insertN} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// Update runs fn in one IMMEDIATE transaction on the writer connection.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	if db.readOnly {
		return errors.New("store: opened read-only")
	}
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &tx{readTx: readTx{q: sqlTx}, db: db, sqlTx: sqlTx}
	if err := fn(tx); err != nil {
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rbErr))
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	db.wrote.Store(true)
	return nil
}

// View runs fn in a read transaction, which in WAL mode is a snapshot.
func (db *DB) View(ctx context.Context, fn func(store.ReadTx) error) error {
	sqlTx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin read: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(&readTx{q: sqlTx})
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type readTx struct{ q querier }

func (t *readTx) LedgerSize(ctx context.Context) (uint64, error) {
	var n int64
	if err := t.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx)+1, 0) FROM ledger_entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: ledger size: %w", err)
	}
	return uint64(n), nil
}

func (t *readTx) LedgerEntries(ctx context.Context, from, to uint64, fn func(store.LedgerEntry) error) error {
	if to <= from {
		return nil
	}
	rows, err := t.q.QueryContext(ctx, `SELECT idx, data, leaf FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx`, int64(from), int64(to))
	if err != nil {
		return fmt.Errorf("store: ledger entries: %w", err)
	}
	defer rows.Close()
	var (
		idx  int64
		data sql.RawBytes
		leaf sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&idx, &data, &leaf); err != nil {
			return fmt.Errorf("store: ledger entries: %w", err)
		}
		if err := fn(store.LedgerEntry{Index: uint64(idx), Data: data, LeafHash: leaf}); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *readTx) LedgerNodes(ctx context.Context, level uint, from, to uint64) ([][]byte, error) {
	if to <= from {
		return nil, nil
	}
	rows, err := t.q.QueryContext(ctx, `SELECT idx, hash FROM ledger_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx`, int64(level), int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("store: ledger nodes: %w", err)
	}
	defer rows.Close()
	out := make([][]byte, 0, to-from)
	next := from
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, fmt.Errorf("store: ledger nodes: %w", err)
		}
		if uint64(idx) != next {
			break
		}
		out = append(out, h)
		next++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if next != to {
		return nil, fmt.Errorf("store: ledger node (%d, %d): %w", level, next, store.ErrNotFound)
	}
	return out, nil
}

func (t *readTx) LedgerNodesAll(ctx context.Context, fn func(store.LedgerNode) error) error {
	rows, err := t.q.QueryContext(ctx, `SELECT level, idx, hash FROM ledger_nodes ORDER BY level, idx`)
	if err != nil {
		return fmt.Errorf("store: ledger nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var level, idx int64
		var h []byte
		if err := rows.Scan(&level, &idx, &h); err != nil {
			return fmt.Errorf("store: ledger nodes: %w", err)
		}
		if err := fn(store.LedgerNode{Level: uint(level), Index: uint64(idx), Hash: h}); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *readTx) Checkpoints(ctx context.Context, fn func(store.Checkpoint) error) error {
	rows, err := t.q.QueryContext(ctx, `SELECT size, note FROM ledger_checkpoints ORDER BY size`)
	if err != nil {
		return fmt.Errorf("store: checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var size int64
		var n []byte
		if err := rows.Scan(&size, &n); err != nil {
			return fmt.Errorf("store: checkpoints: %w", err)
		}
		if err := fn(store.Checkpoint{Size: uint64(size), Note: n}); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *readTx) LatestCheckpoint(ctx context.Context) (store.Checkpoint, error) {
	var size int64
	var n []byte
	err := t.q.QueryRowContext(ctx, `SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&size, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Checkpoint{}, store.ErrNotFound
	}
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("store: latest checkpoint: %w", err)
	}
	return store.Checkpoint{Size: uint64(size), Note: n}, nil
}

func (t *readTx) Meta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := t.q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: meta %q: %w", key, err)
	}
	return v, nil
}

func (t *readTx) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	var tok store.Token
	var created int64
	err := t.q.QueryRowContext(ctx, `SELECT hash, id, kind, created_ns FROM tokens WHERE hash = ?`, hash).Scan(&tok.Hash, &tok.ID, &tok.Kind, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("store: token: %w", err)
	}
	tok.Created = time.Unix(0, created).UTC()
	return tok, nil
}

type tx struct {
	readTx
	db    *DB
	sqlTx *sql.Tx
}

func (t *tx) AppendLedgerEntries(ctx context.Context, entries []store.LedgerEntry) error {
	if len(entries) == 0 {
		return nil
	}
	size, err := t.LedgerSize(ctx)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if e.Index != size+uint64(i) {
			return fmt.Errorf("%w: entry index %d, want %d", store.ErrConflict, e.Index, size+uint64(i))
		}
	}
	args := make([]any, 0, 3*insertChunk)
	stmtN := t.sqlTx.StmtContext(ctx, t.db.insertN)
	for len(entries) >= insertChunk {
		args = args[:0]
		for _, e := range entries[:insertChunk] {
			args = append(args, int64(e.Index), e.Data, e.LeafHash)
		}
		if _, err := stmtN.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store: append entries: %w", err)
		}
		entries = entries[insertChunk:]
	}
	stmt1 := t.sqlTx.StmtContext(ctx, t.db.insert)
	for _, e := range entries {
		if _, err := stmt1.ExecContext(ctx, int64(e.Index), e.Data, e.LeafHash); err != nil {
			return fmt.Errorf("store: append entry: %w", err)
		}
	}
	return nil
}

func (t *tx) PutLedgerNodes(ctx context.Context, nodes []store.LedgerNode) error {
	for _, n := range nodes {
		var old []byte
		err := t.sqlTx.QueryRowContext(ctx, `SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?`, int64(n.Level), int64(n.Index)).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := t.sqlTx.ExecContext(ctx, `INSERT INTO ledger_nodes(level, idx, hash) VALUES (?,?,?)`, int64(n.Level), int64(n.Index), n.Hash); err != nil {
				return fmt.Errorf("store: put node: %w", err)
			}
		case err != nil:
			return fmt.Errorf("store: put node: %w", err)
		case !bytes.Equal(old, n.Hash):
			return fmt.Errorf("%w: node (%d, %d) already stored with another hash", store.ErrConflict, n.Level, n.Index)
		}
	}
	return nil
}

func (t *tx) PutCheckpoint(ctx context.Context, cp store.Checkpoint) error {
	var old []byte
	err := t.sqlTx.QueryRowContext(ctx, `SELECT note FROM ledger_checkpoints WHERE size = ?`, int64(cp.Size)).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = t.sqlTx.ExecContext(ctx, `INSERT INTO ledger_checkpoints(size, note, created_ns) VALUES (?,?,?)`, int64(cp.Size), cp.Note, time.Now().UnixNano())
		if err != nil {
			return fmt.Errorf("store: put checkpoint: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("store: put checkpoint: %w", err)
	case bytes.Equal(old, cp.Note):
		return nil
	default:
		return fmt.Errorf("%w: another checkpoint is stored for size %d", store.ErrConflict, cp.Size)
	}
}

func (t *tx) SetMeta(ctx context.Context, key string, value []byte) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("store: set meta %q: %w", key, err)
	}
	return nil
}

func (t *tx) PutToken(ctx context.Context, tok store.Token) error {
	if _, err := t.TokenByHash(ctx, tok.Hash); err == nil {
		return fmt.Errorf("%w: token already stored", store.ErrConflict)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO tokens(hash, id, kind, created_ns) VALUES (?,?,?,?)`, tok.Hash, tok.ID, tok.Kind, tok.Created.UnixNano())
	if err != nil {
		return fmt.Errorf("store: put token: %w", err)
	}
	return nil
}

func (t *tx) Savepoint(ctx context.Context, fn func() error) error {
	name := fmt.Sprintf("sp%d", t.db.spSeq.Add(1))
	if _, err := t.sqlTx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("store: savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rbErr := t.sqlTx.ExecContext(ctx, "ROLLBACK TO "+name+"; RELEASE "+name); rbErr != nil {
			return errors.Join(err, fmt.Errorf("store: rollback to savepoint: %w", rbErr))
		}
		return err
	}
	if _, err := t.sqlTx.ExecContext(ctx, "RELEASE "+name); err != nil {
		return fmt.Errorf("store: release savepoint: %w", err)
	}
	return nil
}
