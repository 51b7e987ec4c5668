package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// migrations are applied in order, each in its own transaction, and recorded
// in schema_migrations. Never edit a shipped migration: append a new one.
var migrations = []string{
	// 1: the ledger, its Merkle nodes and checkpoints, metadata and tokens.
	`CREATE TABLE ledger_entries (
		idx  INTEGER PRIMARY KEY,
		data BLOB NOT NULL,
		leaf BLOB NOT NULL
	);
	CREATE TABLE ledger_nodes (
		level INTEGER NOT NULL,
		idx   INTEGER NOT NULL,
		hash  BLOB NOT NULL,
		PRIMARY KEY (level, idx)
	) WITHOUT ROWID;
	CREATE TABLE ledger_checkpoints (
		size       INTEGER PRIMARY KEY,
		note       BLOB NOT NULL,
		created_ns INTEGER NOT NULL
	);
	CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value BLOB NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE tokens (
		hash       BLOB PRIMARY KEY,
		id         TEXT NOT NULL UNIQUE,
		kind       TEXT NOT NULL,
		created_ns INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// 2: capability leases and budget reservations. The owner token becomes
	// the root lease.
	`CREATE TABLE leases (
		id              TEXT PRIMARY KEY,
		parent          TEXT,
		name            TEXT NOT NULL,
		scopes          TEXT NOT NULL,
		token_hash      BLOB NOT NULL UNIQUE,
		not_before_ns   INTEGER NOT NULL,
		expires_at_ns   INTEGER NOT NULL,
		max_ttl_ns      INTEGER NOT NULL,
		budget_micros   INTEGER NOT NULL,
		spent_micros    INTEGER NOT NULL DEFAULT 0,
		reserved_micros INTEGER NOT NULL DEFAULT 0,
		budget_tokens   INTEGER NOT NULL,
		spent_tokens    INTEGER NOT NULL DEFAULT 0,
		reserved_tokens INTEGER NOT NULL DEFAULT 0,
		state           TEXT NOT NULL,
		created_ns      INTEGER NOT NULL,
		ended_ns        INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX leases_parent ON leases(parent, created_ns);
	CREATE INDEX leases_expiry ON leases(state, expires_at_ns);
	CREATE TABLE reservations (
		id         TEXT PRIMARY KEY,
		lease_id   TEXT NOT NULL,
		micros     INTEGER NOT NULL,
		tokens     INTEGER NOT NULL,
		created_ns INTEGER NOT NULL,
		expires_ns INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX reservations_expiry ON reservations(expires_ns);
	INSERT INTO leases(id, parent, name, scopes, token_hash, not_before_ns, expires_at_ns, max_ttl_ns,
	                   budget_micros, budget_tokens, state, created_ns)
		SELECT 'lse_root', NULL, 'owner', '["*"]', hash, created_ns, 0, 0, -1, -1, 'active', created_ns
		FROM tokens WHERE kind = 'owner' LIMIT 1;`,
	// 3: approvals (ASK) and the denied-action ledger.
	`CREATE TABLE approvals (
		id           TEXT PRIMARY KEY,
		request      BLOB NOT NULL,
		request_hash BLOB NOT NULL,
		reasons      BLOB NOT NULL,
		requested_by TEXT NOT NULL,
		agent        TEXT NOT NULL,
		state        TEXT NOT NULL,
		created_ns   INTEGER NOT NULL,
		expires_ns   INTEGER NOT NULL,
		decided_by   TEXT NOT NULL DEFAULT '',
		note         TEXT NOT NULL DEFAULT '',
		decided_ns   INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE INDEX approvals_state ON approvals(state, created_ns);
	CREATE TABLE denials (
		seq         INTEGER PRIMARY KEY,
		time_ns     INTEGER NOT NULL,
		lease_id    TEXT NOT NULL,
		lease_name  TEXT NOT NULL,
		agent       TEXT NOT NULL,
		action      TEXT NOT NULL,
		resource    TEXT NOT NULL,
		decision    TEXT NOT NULL,
		reasons     BLOB NOT NULL,
		audit_index INTEGER NOT NULL
	);
	CREATE INDEX denials_time ON denials(time_ns);`,
	// 4: per-lease options (local-only routing, the identity preamble) and
	// content-addressed blobs (model-call bodies when audit.store_bodies is on).
	`ALTER TABLE leases ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
	CREATE TABLE blobs (
		hash       BLOB PRIMARY KEY,
		data       BLOB NOT NULL,
		created_ns INTEGER NOT NULL
	) WITHOUT ROWID;`,
	// 5: the governed runtime: journaled runs, their completed steps, and
	// the verification record and promotion state of skill versions. Byte
	// columns are NULL when the field is nil; a top-level run has a NULL
	// parent_run.
	`CREATE TABLE runs (
		id            TEXT PRIMARY KEY,
		parent_run    TEXT,
		lease_id      TEXT NOT NULL,
		run_lease     TEXT NOT NULL DEFAULT '',
		agent         TEXT NOT NULL DEFAULT '',
		goal          TEXT NOT NULL,
		skill         TEXT NOT NULL DEFAULT '',
		skill_version TEXT NOT NULL DEFAULT '',
		skill_digest  TEXT NOT NULL DEFAULT '',
		inputs        BLOB,
		contract      BLOB,
		contract_hash BLOB,
		state         TEXT NOT NULL,
		approval_id   TEXT NOT NULL DEFAULT '',
		output        BLOB,
		error         TEXT NOT NULL DEFAULT '',
		provenance    BLOB,
		depth         INTEGER NOT NULL DEFAULT 0,
		resumes       INTEGER NOT NULL DEFAULT 0,
		created_ns    INTEGER NOT NULL,
		updated_ns    INTEGER NOT NULL DEFAULT 0,
		ended_ns      INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX runs_created ON runs(created_ns, id);
	CREATE INDEX runs_lease ON runs(lease_id, created_ns, id);
	CREATE INDEX runs_state ON runs(state, created_ns, id);
	CREATE INDEX runs_parent ON runs(parent_run, created_ns, id);
	CREATE TABLE run_steps (
		run_id      TEXT NOT NULL,
		seq         INTEGER NOT NULL,
		kind        TEXT NOT NULL,
		model       TEXT NOT NULL DEFAULT '',
		input_hash  BLOB,
		output      BLOB,
		ok          INTEGER NOT NULL,
		detail      BLOB,
		cost_micros INTEGER NOT NULL DEFAULT 0,
		started_ns  INTEGER NOT NULL DEFAULT 0,
		ended_ns    INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (run_id, seq)
	);
	CREATE TABLE skill_stats (
		skill      TEXT NOT NULL,
		version    TEXT NOT NULL,
		model      TEXT NOT NULL,
		successes  REAL NOT NULL DEFAULT 0,
		failures   REAL NOT NULL DEFAULT 0,
		status     TEXT NOT NULL DEFAULT '',
		streak     INTEGER NOT NULL DEFAULT 0,
		verified   INTEGER NOT NULL DEFAULT 0,
		updated_ns INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (skill, version, model)
	) WITHOUT ROWID;`,
	// 6: the memory plane: evidence, redactions, claims with provenance and
	// history, embeddings, canon versions, and their FTS5 indexes (see
	// memory.go).
	memoryMigration,
	// 7: where a run's provenance entry is in the ledger, so proving it
	// needs no scan.
	`ALTER TABLE runs ADD COLUMN provenance_index INTEGER NOT NULL DEFAULT 0;`,
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	current, err := schemaVersion(ctx, db.w)
	if err != nil {
		return err
	}
	if current > len(migrations) {
		return fmt.Errorf("store: database schema version %d is newer than this build supports (%d)", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_ns) VALUES (?, ?)`, v, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %d: %w", v, err)
		}
	}
	return nil
}

func (db *DB) checkSchema(ctx context.Context) error {
	v, err := schemaVersion(ctx, db.r)
	if err != nil {
		return err
	}
	if v != len(migrations) {
		return fmt.Errorf("store: database schema version %d, this build needs %d (start the daemon once to migrate)", v, len(migrations))
	}
	return nil
}

func schemaVersion(ctx context.Context, q *sql.DB) (int, error) {
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v.Int64), nil
}
