package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mirroros/mirror/store"
)

const leaseColumns = `id, COALESCE(parent, ''), name, scopes, token_hash, not_before_ns, expires_at_ns, max_ttl_ns,
	budget_micros, spent_micros, reserved_micros, budget_tokens, spent_tokens, reserved_tokens, state, created_ns, ended_ns, options`

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func timeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

type scanner interface{ Scan(dest ...any) error }

func scanLease(row scanner) (store.Lease, error) {
	var (
		l                                   store.Lease
		scopes, options                     string
		notBefore, expires, maxTTL, created int64
		ended                               int64
	)
	err := row.Scan(&l.ID, &l.Parent, &l.Name, &scopes, &l.TokenHash, &notBefore, &expires, &maxTTL,
		&l.BudgetMicros, &l.SpentMicros, &l.ReservedMicros, &l.BudgetTokens, &l.SpentTokens, &l.ReservedTokens,
		&l.State, &created, &ended, &options)
	if err != nil {
		return store.Lease{}, err
	}
	if err := json.Unmarshal([]byte(scopes), &l.Scopes); err != nil {
		return store.Lease{}, fmt.Errorf("store: lease %s scopes: %w", l.ID, err)
	}
	if err := json.Unmarshal([]byte(options), &l.Options); err != nil {
		return store.Lease{}, fmt.Errorf("store: lease %s options: %w", l.ID, err)
	}
	l.NotBefore, l.ExpiresAt, l.Created, l.Ended = nsTime(notBefore), nsTime(expires), nsTime(created), nsTime(ended)
	l.MaxTTL = time.Duration(maxTTL)
	return l, nil
}

func (t *readTx) leaseWhere(ctx context.Context, where string, args ...any) (store.Lease, error) {
	l, err := scanLease(t.q.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM leases WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Lease{}, store.ErrNotFound
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("store: lease: %w", err)
	}
	return l, nil
}

func (t *readTx) leasesWhere(ctx context.Context, where string, args ...any) ([]store.Lease, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+leaseColumns+` FROM leases WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: leases: %w", err)
	}
	defer rows.Close()
	var out []store.Lease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, fmt.Errorf("store: leases: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func (t *readTx) Lease(ctx context.Context, id string) (store.Lease, error) {
	return t.leaseWhere(ctx, `id = ?`, id)
}

func (t *readTx) LeaseByTokenHash(ctx context.Context, hash []byte) (store.Lease, error) {
	return t.leaseWhere(ctx, `token_hash = ?`, hash)
}

func (t *readTx) LeaseChildren(ctx context.Context, id string) ([]store.Lease, error) {
	return t.leasesWhere(ctx, `parent = ? ORDER BY created_ns, id`, id)
}

func (t *readTx) LeasesExpiringBefore(ctx context.Context, at time.Time) ([]store.Lease, error) {
	return t.leasesWhere(ctx, `state = 'active' AND expires_at_ns > 0 AND expires_at_ns < ? ORDER BY expires_at_ns`, at.UnixNano())
}

func scanReservation(row scanner) (store.Reservation, error) {
	var r store.Reservation
	var created, expires int64
	if err := row.Scan(&r.ID, &r.LeaseID, &r.Micros, &r.Tokens, &created, &expires); err != nil {
		return store.Reservation{}, err
	}
	r.Created, r.Expires = nsTime(created), nsTime(expires)
	return r, nil
}

func (t *readTx) Reservation(ctx context.Context, id string) (store.Reservation, error) {
	r, err := scanReservation(t.q.QueryRowContext(ctx, `SELECT id, lease_id, micros, tokens, created_ns, expires_ns FROM reservations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Reservation{}, store.ErrNotFound
	}
	if err != nil {
		return store.Reservation{}, fmt.Errorf("store: reservation: %w", err)
	}
	return r, nil
}

func (t *readTx) ExpiredReservations(ctx context.Context, at time.Time) ([]store.Reservation, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT id, lease_id, micros, tokens, created_ns, expires_ns FROM reservations WHERE expires_ns < ? ORDER BY expires_ns`, at.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: reservations: %w", err)
	}
	defer rows.Close()
	var out []store.Reservation
	for rows.Next() {
		r, err := scanReservation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (t *tx) PutLease(ctx context.Context, l store.Lease) error {
	scopes, err := json.Marshal(l.Scopes)
	if err != nil {
		return err
	}
	options, err := json.Marshal(l.Options)
	if err != nil {
		return err
	}
	var parent any
	if l.Parent != "" {
		parent = l.Parent
	}
	_, err = t.sqlTx.ExecContext(ctx, `INSERT INTO leases(id, parent, name, scopes, token_hash, not_before_ns, expires_at_ns, max_ttl_ns,
		budget_micros, spent_micros, reserved_micros, budget_tokens, spent_tokens, reserved_tokens, state, created_ns, ended_ns, options)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		l.ID, parent, l.Name, string(scopes), l.TokenHash, timeNS(l.NotBefore), timeNS(l.ExpiresAt), int64(l.MaxTTL),
		l.BudgetMicros, l.SpentMicros, l.ReservedMicros, l.BudgetTokens, l.SpentTokens, l.ReservedTokens, l.State, timeNS(l.Created), timeNS(l.Ended), string(options))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
			return fmt.Errorf("%w: lease %s or its token already exists", store.ErrConflict, l.ID)
		}
		return fmt.Errorf("store: put lease: %w", err)
	}
	return nil
}

func (t *tx) UpdateLease(ctx context.Context, l store.Lease) error {
	options, err := json.Marshal(l.Options)
	if err != nil {
		return fmt.Errorf("store: lease options: %w", err)
	}
	res, err := t.sqlTx.ExecContext(ctx, `UPDATE leases SET expires_at_ns = ?, spent_micros = ?, reserved_micros = ?,
		spent_tokens = ?, reserved_tokens = ?, state = ?, ended_ns = ?, options = ? WHERE id = ?`,
		timeNS(l.ExpiresAt), l.SpentMicros, l.ReservedMicros, l.SpentTokens, l.ReservedTokens, l.State, timeNS(l.Ended), string(options), l.ID)
	if err != nil {
		return fmt.Errorf("store: update lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("lease %s: %w", l.ID, store.ErrNotFound)
	}
	return nil
}

func (t *tx) PutReservation(ctx context.Context, r store.Reservation) error {
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO reservations(id, lease_id, micros, tokens, created_ns, expires_ns) VALUES (?,?,?,?,?,?)`,
		r.ID, r.LeaseID, r.Micros, r.Tokens, timeNS(r.Created), timeNS(r.Expires))
	if err != nil {
		return fmt.Errorf("store: put reservation: %w", err)
	}
	return nil
}

func (t *tx) UpdateReservation(ctx context.Context, r store.Reservation) error {
	res, err := t.sqlTx.ExecContext(ctx, `UPDATE reservations SET micros = ?, tokens = ? WHERE id = ?`, r.Micros, r.Tokens, r.ID)
	if err != nil {
		return fmt.Errorf("store: update reservation: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: update reservation: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: reservation %s", store.ErrNotFound, r.ID)
	}
	return nil
}

func (t *tx) DeleteReservation(ctx context.Context, id string) error {
	res, err := t.sqlTx.ExecContext(ctx, `DELETE FROM reservations WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete reservation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("reservation %s: %w", id, store.ErrNotFound)
	}
	return nil
}
