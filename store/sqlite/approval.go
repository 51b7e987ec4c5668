package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mirroros/mirror/store"
)

const approvalColumns = `id, request, request_hash, reasons, requested_by, agent, state, created_ns, expires_ns, decided_by, note, decided_ns`

func scanApproval(row scanner) (store.Approval, error) {
	var a store.Approval
	var created, expires, decided int64
	err := row.Scan(&a.ID, &a.Request, &a.RequestHash, &a.Reasons, &a.RequestedBy, &a.Agent, &a.State, &created, &expires, &a.DecidedBy, &a.Note, &decided)
	if err != nil {
		return store.Approval{}, err
	}
	a.Created, a.Expires, a.Decided = nsTime(created), nsTime(expires), nsTime(decided)
	return a, nil
}

func (t *readTx) approvals(ctx context.Context, where string, args ...any) ([]store.Approval, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: approvals: %w", err)
	}
	defer rows.Close()
	var out []store.Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, fmt.Errorf("store: approvals: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (t *readTx) Approval(ctx context.Context, id string) (store.Approval, error) {
	a, err := scanApproval(t.q.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Approval{}, store.ErrNotFound
	}
	if err != nil {
		return store.Approval{}, fmt.Errorf("store: approval: %w", err)
	}
	return a, nil
}

func (t *readTx) Approvals(ctx context.Context, state string, limit int) ([]store.Approval, error) {
	if limit <= 0 {
		limit = 100
	}
	if state == "" {
		return t.approvals(ctx, `1 ORDER BY created_ns DESC LIMIT ?`, limit)
	}
	return t.approvals(ctx, `state = ? ORDER BY created_ns DESC LIMIT ?`, state, limit)
}

func (t *readTx) PendingApprovalsExpiringBefore(ctx context.Context, at time.Time) ([]store.Approval, error) {
	return t.approvals(ctx, `state = 'pending' AND expires_ns < ? ORDER BY expires_ns`, at.UnixNano())
}

func (t *readTx) Denials(ctx context.Context, f store.DenialFilter) ([]store.Denial, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT time_ns, lease_id, lease_name, agent, action, resource, decision, reasons, audit_index FROM denials WHERE time_ns >= ?`
	args := []any{timeNS(f.Since)}
	if f.Agent != "" {
		q += ` AND (lease_name = ? OR agent = ?)`
		args = append(args, f.Agent, f.Agent)
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := t.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: denials: %w", err)
	}
	defer rows.Close()
	var out []store.Denial
	for rows.Next() {
		var d store.Denial
		var ts, idx int64
		if err := rows.Scan(&ts, &d.LeaseID, &d.LeaseName, &d.Agent, &d.Action, &d.Resource, &d.Decision, &d.Reasons, &idx); err != nil {
			return nil, fmt.Errorf("store: denials: %w", err)
		}
		d.Time, d.AuditIndex = nsTime(ts), uint64(idx)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *tx) PutApproval(ctx context.Context, a store.Approval) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO approvals(`+approvalColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		a.ID, a.Request, a.RequestHash, a.Reasons, a.RequestedBy, a.Agent, a.State, timeNS(a.Created), timeNS(a.Expires), a.DecidedBy, a.Note, timeNS(a.Decided))
	if err != nil {
		return fmt.Errorf("store: put approval: %w", err)
	}
	return nil
}

func (t *tx) UpdateApproval(ctx context.Context, a store.Approval) error {
	res, err := t.sqlTx.ExecContext(ctx, `UPDATE approvals SET state = ?, decided_by = ?, note = ?, decided_ns = ? WHERE id = ?`,
		a.State, a.DecidedBy, a.Note, timeNS(a.Decided), a.ID)
	if err != nil {
		return fmt.Errorf("store: update approval: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("approval %s: %w", a.ID, store.ErrNotFound)
	}
	return nil
}

func (t *tx) PutDenial(ctx context.Context, d store.Denial) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO denials(time_ns, lease_id, lease_name, agent, action, resource, decision, reasons, audit_index) VALUES (?,?,?,?,?,?,?,?,?)`,
		timeNS(d.Time), d.LeaseID, d.LeaseName, d.Agent, d.Action, d.Resource, d.Decision, d.Reasons, int64(d.AuditIndex))
	if err != nil {
		return fmt.Errorf("store: put denial: %w", err)
	}
	return nil
}
