package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/policy"
)

// Errors about approvals.
var (
	ErrApprovalNotFound = errors.New("approval not found")
	ErrNotPending       = errors.New("approval is not pending")
	ErrForbidden        = errors.New("forbidden")
)

// Approval is an approval as the API shows it.
type Approval struct {
	ID          string          `json:"id"`
	State       string          `json:"state"`
	Request     json.RawMessage `json:"request"`
	RequestHash string          `json:"request_hash"`
	Reasons     json.RawMessage `json:"reasons"`
	RequestedBy string          `json:"requested_by"`
	Agent       string          `json:"agent,omitempty"`
	Created     time.Time       `json:"created"`
	ExpiresAt   time.Time       `json:"expires_at"`
	DecidedBy   string          `json:"decided_by,omitempty"`
	Note        string          `json:"note,omitempty"`
	Decided     *time.Time      `json:"decided,omitempty"`
}

func view(a store.Approval) Approval {
	v := Approval{ID: a.ID, State: a.State, Request: a.Request, RequestHash: fmt.Sprintf("%x", a.RequestHash), Reasons: a.Reasons,
		RequestedBy: a.RequestedBy, Agent: a.Agent, Created: a.Created, ExpiresAt: a.Expires, DecidedBy: a.DecidedBy, Note: a.Note}
	if !a.Decided.IsZero() {
		d := a.Decided
		v.Decided = &d
	}
	return v
}

// Approvals lists approvals in a state ("" for all), newest first.
func (g *Gate) Approvals(ctx context.Context, state string, limit int) ([]Approval, error) {
	var as []store.Approval
	err := g.st.View(ctx, func(tx store.ReadTx) (err error) {
		as, err = tx.Approvals(ctx, state, limit)
		return err
	})
	out := make([]Approval, len(as))
	for i, a := range as {
		out[i] = view(a)
	}
	return out, err
}

// Approval returns one approval; with wait > 0 it waits up to that long
// for a pending one to be decided.
func (g *Gate) Approval(ctx context.Context, id string, wait time.Duration) (Approval, error) {
	deadline := time.Now().Add(wait)
	for {
		ch := g.waitFor(id)
		var a store.Approval
		err := g.st.View(ctx, func(tx store.ReadTx) (err error) {
			a, err = tx.Approval(ctx, id)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			g.stopWaiting(id, ch)
			return Approval{}, fmt.Errorf("%w: %s", ErrApprovalNotFound, id)
		}
		if err != nil || a.State != "pending" || time.Now().After(deadline) {
			g.stopWaiting(id, ch)
			return view(a), err
		}
		t := time.NewTimer(min(time.Until(deadline), time.Second))
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			g.stopWaiting(id, ch)
			return view(a), nil
		}
		t.Stop()
	}
}

func (g *Gate) waitFor(id string) chan struct{} {
	ch := make(chan struct{})
	g.mu.Lock()
	g.waiters[id] = append(g.waiters[id], ch)
	g.mu.Unlock()
	return ch
}

func (g *Gate) stopWaiting(id string, ch chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ws := g.waiters[id]
	for i, w := range ws {
		if w == ch {
			g.waiters[id] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(g.waiters[id]) == 0 {
		delete(g.waiters, id)
	}
}

func (g *Gate) wake(id string) {
	g.mu.Lock()
	ws := g.waiters[id]
	delete(g.waiters, id)
	g.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// Decide approves or denies a pending approval. The approver needs the
// approve scope and must not be the requesting lease or one of its
// descendants: nobody approves their own request.
func (g *Gate) Decide(ctx context.Context, approver store.Lease, id string, approve bool, note string) (Approval, error) {
	if !policy.ScopesCover(approver.Scopes, "approve") {
		return Approval{}, fmt.Errorf("%w: lease %s has no approve scope", ErrForbidden, approver.Name)
	}
	if len(note) > 1024 || strings.ContainsRune(note, 0) {
		return Approval{}, fmt.Errorf("%w: a note is at most 1024 characters", ErrInvalid)
	}
	var out store.Approval
	err := g.led.Commit(ctx, func(tx *ledger.Tx) error {
		now := g.now().UTC()
		a, err := tx.Store().Approval(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrApprovalNotFound, id)
		}
		if err != nil {
			return err
		}
		if a.State != "pending" {
			return fmt.Errorf("%w: %s is %s", ErrNotPending, id, a.State)
		}
		if !now.Before(a.Expires) {
			return fmt.Errorf("%w: %s expired at %s", ErrNotPending, id, a.Expires.Format(time.RFC3339))
		}
		own, err := descendsFrom(ctx, tx.Store(), approver.ID, a.RequestedBy)
		if err != nil {
			return err
		}
		if own {
			return fmt.Errorf("%w: lease %s cannot decide a request made by itself or a lease above it (%s)", ErrForbidden, approver.Name, a.RequestedBy)
		}
		a.DecidedBy, a.Note, a.Decided = approver.ID, note, now
		kind := "approval.approve"
		a.State = "approved"
		if !approve {
			kind, a.State = "approval.deny", "denied"
		}
		if err := tx.Store().UpdateApproval(ctx, a); err != nil {
			return err
		}
		body, _ := json.Marshal(map[string]any{"id": a.ID, "request_hash": fmt.Sprintf("%x", a.RequestHash), "requested_by": a.RequestedBy, "approver": approver.ID, "approver_name": approver.Name, "note": note})
		rec, err := tx.Append(ledger.Event{Kind: kind, Actor: "lease/" + approver.ID, Body: body})
		if err != nil {
			return err
		}
		if !approve {
			if err := putDenial(ctx, tx, a, "DENIED", rec.Index, now); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	if err != nil {
		return Approval{}, err
	}
	g.wake(id)
	return view(out), nil
}

// descendsFrom reports whether lease id is anc or one of its descendants.
func descendsFrom(ctx context.Context, tx store.ReadTx, id, anc string) (bool, error) {
	seen := map[string]bool{}
	for id != "" && !seen[id] && len(seen) < 64 {
		if id == anc {
			return true, nil
		}
		seen[id] = true
		l, err := tx.Lease(ctx, id)
		if err != nil {
			return false, err
		}
		id = l.Parent
	}
	return false, nil
}

func putDenial(ctx context.Context, tx *ledger.Tx, a store.Approval, decision string, index uint64, now time.Time) error {
	var req struct {
		Action   string `json:"action"`
		Resource string `json:"resource"`
	}
	json.Unmarshal(a.Request, &req)
	name := a.RequestedBy
	if l, err := tx.Store().Lease(ctx, a.RequestedBy); err == nil {
		name = l.Name
	}
	return tx.Store().PutDenial(ctx, store.Denial{
		Time: now, LeaseID: a.RequestedBy, LeaseName: name, Agent: a.Agent, Action: req.Action, Resource: req.Resource,
		Decision: decision, Reasons: a.Reasons, AuditIndex: index,
	})
}

// Sweep expires pending approvals past their time: each becomes a denial.
func (g *Gate) Sweep(ctx context.Context) (int, error) {
	now := g.now().UTC()
	var stale []store.Approval
	if err := g.st.View(ctx, func(tx store.ReadTx) (err error) {
		stale, err = tx.PendingApprovalsExpiringBefore(ctx, now)
		return err
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range stale {
		err := g.led.Commit(ctx, func(tx *ledger.Tx) error {
			a, err := tx.Store().Approval(ctx, s.ID)
			if err != nil || a.State != "pending" {
				return err
			}
			a.State, a.Decided = "expired", now
			if err := tx.Store().UpdateApproval(ctx, a); err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"id": a.ID, "requested_by": a.RequestedBy, "expired_at": a.Expires.Format(time.RFC3339Nano)})
			rec, err := tx.Append(ledger.Event{Kind: "approval.expire", Actor: "kernel", Body: body})
			if err != nil {
				return err
			}
			return putDenial(ctx, tx, a, "EXPIRED", rec.Index, now)
		})
		if err != nil {
			return n, err
		}
		g.wake(s.ID)
		n++
	}
	return n, nil
}

// Denial is a row of the denied-action ledger as the API shows it.
type Denial struct {
	Time       time.Time       `json:"time"`
	Lease      string          `json:"lease"`
	LeaseName  string          `json:"lease_name"`
	Agent      string          `json:"agent,omitempty"`
	Action     string          `json:"action"`
	Resource   string          `json:"resource,omitempty"`
	Decision   string          `json:"decision"`
	Reasons    json.RawMessage `json:"reasons"`
	AuditIndex uint64          `json:"audit_index"`
}

// Denials lists the denied-action ledger, newest first.
func (g *Gate) Denials(ctx context.Context, f store.DenialFilter) ([]Denial, error) {
	var ds []store.Denial
	err := g.st.View(ctx, func(tx store.ReadTx) (err error) {
		ds, err = tx.Denials(ctx, f)
		return err
	})
	out := make([]Denial, len(ds))
	for i, d := range ds {
		out[i] = Denial{Time: d.Time, Lease: d.LeaseID, LeaseName: d.LeaseName, Agent: d.Agent, Action: d.Action,
			Resource: d.Resource, Decision: d.Decision, Reasons: d.Reasons, AuditIndex: d.AuditIndex}
	}
	return out, err
}
