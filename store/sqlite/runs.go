package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/mirroros/mirror/store"
)

const runColumns = `id, COALESCE(parent_run, ''), lease_id, run_lease, agent, goal, skill, skill_version, skill_digest,
	inputs, contract, contract_hash, state, approval_id, output, error, provenance, depth, resumes, created_ns, updated_ns, ended_ns, provenance_index`

const runStepColumns = `run_id, seq, kind, model, input_hash, output, ok, detail, cost_micros, started_ns, ended_ns`

const skillStatColumns = `skill, version, model, successes, failures, status, streak, verified, updated_ns`

// Runs returns defaultRunLimit runs when no limit is given, and never more
// than maxRunLimit.
const (
	defaultRunLimit = 100
	maxRunLimit     = 1000
)

// nullBytes scans a nullable BLOB column so that NULL reads back as a nil
// slice and any stored value, even a zero-length one, as a non-nil slice.
type nullBytes struct{ b *[]byte }

func (n nullBytes) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n.b = nil
	case []byte:
		*n.b = append([]byte{}, v...)
	case string:
		*n.b = append([]byte{}, v...)
	default:
		return fmt.Errorf("store: cannot scan %T into bytes", src)
	}
	return nil
}

// blobArg is the argument that stores b in a nullable BLOB column: NULL for
// a nil slice, the bytes (possibly none) otherwise.
func blobArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// isUniqueViolation reports whether err is SQLite refusing a duplicate key.
func isUniqueViolation(err error) bool {
	return strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY")
}

func scanRun(row scanner) (store.Run, error) {
	var (
		r                       store.Run
		depth, resumes          int64
		created, updated, ended int64
		provIndex               int64
	)
	err := row.Scan(&r.ID, &r.ParentRun, &r.LeaseID, &r.RunLease, &r.Agent, &r.Goal, &r.Skill, &r.SkillVersion, &r.SkillDigest,
		nullBytes{&r.Inputs}, nullBytes{&r.Contract}, nullBytes{&r.ContractHash}, &r.State, &r.ApprovalID,
		nullBytes{&r.Output}, &r.Error, nullBytes{&r.Provenance}, &depth, &resumes, &created, &updated, &ended, &provIndex)
	if err != nil {
		return store.Run{}, err
	}
	r.Depth, r.Resumes, r.ProvenanceIndex = int(depth), int(resumes), uint64(provIndex)
	r.Created, r.Updated, r.Ended = nsTime(created), nsTime(updated), nsTime(ended)
	return r, nil
}

func (t *readTx) Run(ctx context.Context, id string) (store.Run, error) {
	r, err := scanRun(t.q.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Run{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Run{}, fmt.Errorf("store: run: %w", err)
	}
	return r, nil
}

// inList appends the placeholders "(?,?,…)" for vals to q and vals to args.
func inList(q *strings.Builder, args []any, vals []string) []any {
	q.WriteString(" IN (")
	for i, v := range vals {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('?')
		args = append(args, v)
	}
	q.WriteByte(')')
	return args
}

func (t *readTx) Runs(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultRunLimit
	}
	if limit > maxRunLimit {
		limit = maxRunLimit
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + runColumns + ` FROM runs WHERE 1`)
	var args []any
	if len(f.LeaseIDs) > 0 {
		q.WriteString(` AND lease_id`)
		args = inList(&q, args, f.LeaseIDs)
	}
	if len(f.States) > 0 {
		q.WriteString(` AND state`)
		args = inList(&q, args, f.States)
	}
	if f.ParentRun != "" {
		q.WriteString(` AND parent_run = ?`)
		args = append(args, f.ParentRun)
	}
	q.WriteString(` ORDER BY created_ns DESC, id DESC LIMIT ?`)
	args = append(args, limit)
	rows, err := t.q.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("store: runs: %w", err)
	}
	defer rows.Close()
	out := []store.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: runs: %w", err)
	}
	return out, nil
}

func (t *readTx) RunSteps(ctx context.Context, runID string) ([]store.RunStep, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+runStepColumns+` FROM run_steps WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("store: run steps: %w", err)
	}
	defer rows.Close()
	out := []store.RunStep{}
	for rows.Next() {
		var (
			s              store.RunStep
			seq            int64
			ok             bool
			started, ended int64
		)
		err := rows.Scan(&s.RunID, &seq, &s.Kind, &s.Model, nullBytes{&s.InputHash}, nullBytes{&s.Output}, &ok,
			nullBytes{&s.Detail}, &s.CostMicros, &started, &ended)
		if err != nil {
			return nil, fmt.Errorf("store: run steps: %w", err)
		}
		s.Seq, s.OK = int(seq), ok
		s.Started, s.Ended = nsTime(started), nsTime(ended)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: run steps: %w", err)
	}
	return out, nil
}

func (t *readTx) SkillStats(ctx context.Context, skill, version string) ([]store.SkillStat, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+skillStatColumns+` FROM skill_stats WHERE skill = ? AND version = ? ORDER BY model`, skill, version)
	if err != nil {
		return nil, fmt.Errorf("store: skill stats: %w", err)
	}
	defer rows.Close()
	out := []store.SkillStat{}
	for rows.Next() {
		var (
			s       store.SkillStat
			streak  int64
			updated int64
		)
		err := rows.Scan(&s.Skill, &s.Version, &s.Model, &s.Successes, &s.Failures, &s.Status, &streak, &s.Verified, &updated)
		if err != nil {
			return nil, fmt.Errorf("store: skill stats: %w", err)
		}
		s.Streak, s.Updated = int(streak), nsTime(updated)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: skill stats: %w", err)
	}
	return out, nil
}

func (t *tx) PutRun(ctx context.Context, r store.Run) error {
	var parent any
	if r.ParentRun != "" {
		parent = r.ParentRun
	}
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO runs(id, parent_run, lease_id, run_lease, agent, goal, skill, skill_version, skill_digest,
		inputs, contract, contract_hash, state, approval_id, output, error, provenance, depth, resumes, created_ns, updated_ns, ended_ns,
		provenance_index)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, parent, r.LeaseID, r.RunLease, r.Agent, r.Goal, r.Skill, r.SkillVersion, r.SkillDigest,
		blobArg(r.Inputs), blobArg(r.Contract), blobArg(r.ContractHash), r.State, r.ApprovalID,
		blobArg(r.Output), r.Error, blobArg(r.Provenance), r.Depth, r.Resumes, timeNS(r.Created), timeNS(r.Updated), timeNS(r.Ended),
		int64(r.ProvenanceIndex))
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: run %s already exists", store.ErrConflict, r.ID)
		}
		return fmt.Errorf("store: put run: %w", err)
	}
	return nil
}

func (t *tx) UpdateRun(ctx context.Context, r store.Run) error {
	res, err := t.sqlTx.ExecContext(ctx, `UPDATE runs SET run_lease = ?, agent = ?, skill = ?, skill_version = ?, skill_digest = ?,
		inputs = ?, contract = ?, contract_hash = ?, state = ?, approval_id = ?, output = ?, error = ?, provenance = ?,
		resumes = ?, updated_ns = ?, ended_ns = ?, provenance_index = ? WHERE id = ?`,
		r.RunLease, r.Agent, r.Skill, r.SkillVersion, r.SkillDigest,
		blobArg(r.Inputs), blobArg(r.Contract), blobArg(r.ContractHash), r.State, r.ApprovalID, blobArg(r.Output), r.Error, blobArg(r.Provenance),
		r.Resumes, timeNS(r.Updated), timeNS(r.Ended), int64(r.ProvenanceIndex), r.ID)
	if err != nil {
		return fmt.Errorf("store: update run: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("run %s: %w", r.ID, store.ErrNotFound)
	}
	return nil
}

func (t *tx) PutRunStep(ctx context.Context, s store.RunStep) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO run_steps(`+runStepColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		s.RunID, s.Seq, s.Kind, s.Model, blobArg(s.InputHash), blobArg(s.Output), s.OK, blobArg(s.Detail),
		s.CostMicros, timeNS(s.Started), timeNS(s.Ended))
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: step %d of run %s already journaled", store.ErrConflict, s.Seq, s.RunID)
		}
		return fmt.Errorf("store: put run step: %w", err)
	}
	return nil
}

func (t *tx) PutSkillStat(ctx context.Context, s store.SkillStat) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO skill_stats(`+skillStatColumns+`) VALUES (?,?,?,?,?,?,?,?,?)
		ON CONFLICT(skill, version, model) DO UPDATE SET successes = excluded.successes, failures = excluded.failures,
		status = excluded.status, streak = excluded.streak, verified = excluded.verified, updated_ns = excluded.updated_ns`,
		s.Skill, s.Version, s.Model, s.Successes, s.Failures, s.Status, s.Streak, s.Verified, timeNS(s.Updated))
	if err != nil {
		return fmt.Errorf("store: put skill stat: %w", err)
	}
	return nil
}
