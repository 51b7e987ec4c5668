// Package lease is the token shield: capability leases that are scoped,
// time-bound, budgeted, attenuable and revocable as a tree. The owner token
// is the root lease (scope "*"); every other lease is granted from a parent
// and can never hold a scope, a lifetime or a budget its parent lacks. Every
// change commits in the same transaction as its ledger entry.
package lease

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
	"github.com/mirroros/mirror/trust/policy"
	"github.com/mirroros/mirror/trust/token"
)

// RootID is the id of the owner's root lease.
const RootID = "lse_root"

// States of a lease.
const (
	Active  = "active"
	Revoked = "revoked"
	Expired = "expired"
)

// Defaults for grants that leave things out.
const (
	DefaultTTL    = time.Hour
	DefaultMaxTTL = 24 * time.Hour
	// maxDepth bounds every walk up or down the tree, so a corrupted parent
	// pointer (a cycle) can never loop forever.
	maxDepth = 64
)

// Errors. Each maps to one HTTP status in the api package.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrNotFound     = errors.New("lease not found")
	ErrInvalid      = errors.New("invalid lease request")
)

// AttenuationError says which limit of the parent a grant or renewal
// would exceed.
type AttenuationError struct {
	What   string // "scope", "ttl", "max_ttl", "budget", "not_before"
	Reason string
}

func (e *AttenuationError) Error() string { return e.Reason }

// BudgetError says which lease on the chain a reservation would overspend.
type BudgetError struct {
	LeaseID   string
	Name      string
	Remaining int64 // micro-USD (or tokens, for Tokens)
	Wanted    int64
	Tokens    bool
}

func (e *BudgetError) Error() string {
	unit := func(v int64) string { return fmt.Sprintf("$%.6f", float64(v)/1e6) }
	if e.Tokens {
		unit = func(v int64) string { return fmt.Sprintf("%d tokens", v) }
	}
	return fmt.Sprintf("budget of lease %s (%s) has %s left, %s wanted", e.Name, e.LeaseID, unit(e.Remaining), unit(e.Wanted))
}

// Manager grants, renews, revokes and charges leases.
type Manager struct {
	st  store.Store
	led *ledger.Ledger
	now func() time.Time

	// Authentication is on every request's path, so the lease found for a
	// token hash is cached. Any change to a lease's state or lifetime bumps
	// gen, which empties the cache: a revocation takes effect at once.
	gen   atomic.Uint64
	mu    sync.Mutex
	cache map[[32]byte]cachedLease
}

type cachedLease struct {
	lease store.Lease
	gen   uint64
	at    time.Time
}

// authCacheTTL bounds how stale a cached lease may be even without a
// change made through this Manager (another process sharing the store).
const authCacheTTL = 2 * time.Second

// New returns a Manager. now may be nil (time.Now).
func New(st store.Store, led *ledger.Ledger, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{st: st, led: led, now: now}
}

// NewID makes a lease or reservation id with the given prefix.
func NewID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Usable reports why a lease cannot be used now, or nil.
func Usable(l store.Lease, now time.Time) error {
	switch {
	case l.State != Active:
		return fmt.Errorf("%w: lease %s is %s", ErrUnauthorized, l.ID, l.State)
	case !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt):
		return fmt.Errorf("%w: lease %s expired at %s", ErrUnauthorized, l.ID, l.ExpiresAt.Format(time.RFC3339))
	case now.Before(l.NotBefore):
		return fmt.Errorf("%w: lease %s is not valid before %s", ErrUnauthorized, l.ID, l.NotBefore.Format(time.RFC3339))
	}
	return nil
}

// Authenticate finds the active lease a token belongs to.
func (m *Manager) Authenticate(ctx context.Context, tok string) (store.Lease, error) {
	if !token.WellFormed(tok) {
		return store.Lease{}, ErrUnauthorized
	}
	h := token.Hash(tok)
	var key [32]byte
	copy(key[:], h)
	gen := m.gen.Load()
	now := m.now()
	m.mu.Lock()
	c, ok := m.cache[key]
	m.mu.Unlock()
	if ok && c.gen == gen && now.Sub(c.at) < authCacheTTL && now.Sub(c.at) >= 0 {
		if err := Usable(c.lease, now); err != nil {
			return store.Lease{}, err
		}
		return c.lease, nil
	}
	var l store.Lease
	err := m.st.View(ctx, func(tx store.ReadTx) (err error) {
		l, err = tx.LeaseByTokenHash(ctx, h)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Lease{}, ErrUnauthorized
	}
	if err != nil {
		return store.Lease{}, err
	}
	// The index found it by hash; compare in constant time all the same, so
	// that no code path compares secrets byte by byte.
	if subtle.ConstantTimeCompare(l.TokenHash, h) != 1 {
		return store.Lease{}, ErrUnauthorized
	}
	if err := Usable(l, now); err != nil {
		return store.Lease{}, err
	}
	m.mu.Lock()
	if m.cache == nil || len(m.cache) > 10_000 {
		m.cache = map[[32]byte]cachedLease{}
	}
	m.cache[key] = cachedLease{lease: l, gen: gen, at: now}
	m.mu.Unlock()
	return l, nil
}

// changed invalidates cached authentications.
func (m *Manager) changed() { m.gen.Add(1) }

// GrantRequest is what a caller asks for. Zero values take defaults.
type GrantRequest struct {
	Name         string
	Scopes       []string
	TTL          time.Duration // default: DefaultTTL, capped by the parent's remaining time
	MaxTTL       time.Duration // longest lifetime through renewals; default DefaultMaxTTL
	NotBefore    time.Time     // default: now
	BudgetMicros int64         // -1: default (half the parent chain's remaining budget, or none if it has none)
	BudgetTokens int64         // -1: none of its own
	// Options are ORed with the parent's: a child is local-only, or without
	// the identity preamble, whenever its parent is.
	Options store.LeaseOptions
	// ForRun marks a lease the kernel grants for a governed run on the
	// holder's behalf: it needs no lease:grant scope on the parent (every
	// other attenuation rule holds).
	ForRun bool
	// Funded sets the child's whole budget aside on the parent's chain at
	// grant (a reservation held until Unfund, revocation or expiry), so
	// that nothing else can spend it meanwhile; what the child spends is
	// drawn from it. Nothing is set aside where the chain has no budget.
	Funded bool
}

// Remaining is the budget left on a lease's whole chain: the least of
// budget − spent − reserved over it and its ancestors that have a budget,
// up to the first funded lease (whose ancestors have set its budget
// aside). -1 means no budget anywhere on the chain.
func Remaining(chain []store.Lease, tokens bool) int64 {
	rem := int64(-1)
	for _, l := range held(chain) {
		budget, spent, reserved := l.BudgetMicros, l.SpentMicros, l.ReservedMicros
		if tokens {
			budget, spent, reserved = l.BudgetTokens, l.SpentTokens, l.ReservedTokens
		}
		if budget < 0 {
			continue
		}
		r := max(budget-spent-reserved, 0)
		if rem < 0 || r < rem {
			rem = r
		}
	}
	return rem
}

// ChainRemaining is what the lease's whole chain has left to spend, in
// micro-USD; -1 when no lease on the chain has a budget.
func (m *Manager) ChainRemaining(ctx context.Context, id string) (int64, error) {
	var rem int64
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		ch, err := chain(ctx, tx, id)
		rem = Remaining(ch, false)
		return err
	})
	return rem, err
}

// held is the part of a chain whose budgets a reservation on its first
// lease holds: up to and including the first funded lease. Above that,
// the funding reservation already holds the funded lease's whole budget.
func held(ch []store.Lease) []store.Lease {
	for i, l := range ch {
		if l.Options.Funding != "" {
			return ch[:i+1]
		}
	}
	return ch
}

// chain returns the lease and its ancestors, nearest first.
func chain(ctx context.Context, tx store.ReadTx, id string) ([]store.Lease, error) {
	var out []store.Lease
	seen := map[string]bool{}
	for id != "" {
		if seen[id] || len(out) >= maxDepth {
			return nil, fmt.Errorf("lease %s: the parent chain loops or is deeper than %d", id, maxDepth)
		}
		seen[id] = true
		l, err := tx.Lease(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("lease %s: %w", id, err)
		}
		out = append(out, l)
		id = l.Parent
	}
	return out, nil
}

func usd(micros int64) float64 { return float64(micros) / 1e6 }

// Grant creates a child of parent. The child's scopes must each be covered
// by one of the parent's, its lifetime must end no later than the parent's,
// and its budget must fit in what the parent's chain has left.
func (m *Manager) Grant(ctx context.Context, parent store.Lease, req GrantRequest) (store.Lease, string, error) {
	if !req.ForRun && !policy.ScopesCover(parent.Scopes, "lease:grant") {
		return store.Lease{}, "", fmt.Errorf("%w: lease %s has no lease:grant scope", ErrForbidden, parent.Name)
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 128 || strings.ContainsAny(req.Name, "\x00\n\r\t") {
		return store.Lease{}, "", fmt.Errorf("%w: name must be 1 to 128 printable characters", ErrInvalid)
	}
	if len(req.Scopes) == 0 || len(req.Scopes) > 64 {
		return store.Lease{}, "", fmt.Errorf("%w: between 1 and 64 scopes are required", ErrInvalid)
	}
	for _, s := range req.Scopes {
		if err := policy.ValidScope(s); err != nil {
			return store.Lease{}, "", fmt.Errorf("%w: scope %q: %v", ErrInvalid, s, err)
		}
		covered := false
		for _, p := range parent.Scopes {
			if policy.PatternCovers(p, s) {
				covered = true
				break
			}
		}
		if !covered {
			return store.Lease{}, "", &AttenuationError{What: "scope", Reason: fmt.Sprintf("scope %q is not covered by the parent lease's scopes %v", s, parent.Scopes)}
		}
	}
	if req.TTL < 0 || req.MaxTTL < 0 {
		return store.Lease{}, "", fmt.Errorf("%w: ttl and max_ttl must be positive", ErrInvalid)
	}
	tok, err := token.New()
	if err != nil {
		return store.Lease{}, "", err
	}
	var child store.Lease
	err = m.led.Commit(ctx, func(tx *ledger.Tx) error {
		now := m.now().UTC()
		ch, err := chain(ctx, tx.Store(), parent.ID)
		if err != nil {
			return err
		}
		p := ch[0]
		if err := Usable(p, now); err != nil {
			return err
		}
		c := store.Lease{
			ID: NewID("lse_"), Parent: p.ID, Name: req.Name, Scopes: req.Scopes, TokenHash: token.Hash(tok),
			NotBefore: now, MaxTTL: req.MaxTTL, BudgetMicros: req.BudgetMicros, BudgetTokens: req.BudgetTokens,
			State: Active, Created: now,
			Options: store.LeaseOptions{
				LocalOnly:  req.Options.LocalOnly || p.Options.LocalOnly,
				NoIdentity: req.Options.NoIdentity || p.Options.NoIdentity,
				Memory:     req.Options.Memory || p.Options.Memory,
			},
		}
		if !req.NotBefore.IsZero() {
			c.NotBefore = req.NotBefore.UTC()
		}
		if c.MaxTTL == 0 {
			c.MaxTTL = DefaultMaxTTL
			if p.MaxTTL > 0 {
				c.MaxTTL = min(c.MaxTTL, p.MaxTTL)
			}
		}
		if p.MaxTTL > 0 && c.MaxTTL > p.MaxTTL {
			return &AttenuationError{What: "max_ttl", Reason: fmt.Sprintf("max_ttl %s exceeds the parent's max_ttl %s", c.MaxTTL, p.MaxTTL)}
		}
		ttl := req.TTL
		if ttl == 0 {
			ttl = DefaultTTL
			if !p.ExpiresAt.IsZero() {
				ttl = min(ttl, p.ExpiresAt.Sub(now))
			}
		}
		if ttl > c.MaxTTL {
			return &AttenuationError{What: "ttl", Reason: fmt.Sprintf("ttl %s exceeds max_ttl %s", ttl, c.MaxTTL)}
		}
		c.ExpiresAt = now.Add(ttl)
		if !p.ExpiresAt.IsZero() && c.ExpiresAt.After(p.ExpiresAt) {
			return &AttenuationError{What: "ttl", Reason: fmt.Sprintf("ttl %s would outlive the parent lease, which expires in %s", ttl, p.ExpiresAt.Sub(now).Round(time.Second))}
		}
		if !c.NotBefore.Before(c.ExpiresAt) {
			return &AttenuationError{What: "not_before", Reason: "not_before is not before the lease would expire"}
		}
		rem := Remaining(ch, false)
		switch {
		case c.BudgetMicros < 0 && rem >= 0:
			c.BudgetMicros = rem / 2 // a spawned child gets half of what is left
		case c.BudgetMicros >= 0 && rem >= 0 && c.BudgetMicros > rem:
			return &AttenuationError{What: "budget", Reason: fmt.Sprintf("budget $%.6f exceeds the parent chain's remaining $%.6f", usd(c.BudgetMicros), usd(rem))}
		}
		remTok := Remaining(ch, true)
		switch {
		case c.BudgetTokens < 0 && remTok >= 0:
			c.BudgetTokens = remTok / 2
		case c.BudgetTokens >= 0 && remTok >= 0 && c.BudgetTokens > remTok:
			return &AttenuationError{What: "budget", Reason: fmt.Sprintf("token budget %d exceeds the parent chain's remaining %d", c.BudgetTokens, remTok)}
		}
		if req.Funded {
			// Set the child's budget aside on the parent's chain now.
			fm, ft := max(c.BudgetMicros, 0), max(c.BudgetTokens, 0)
			if rem < 0 {
				fm = 0
			}
			if remTok < 0 {
				ft = 0
			}
			if fm > 0 || ft > 0 {
				f, err := m.ReserveTx(ctx, tx, p.ID, fm, ft, c.MaxTTL)
				if err != nil {
					return err
				}
				c.Options.Funding = f.ID
			}
		}
		if err := tx.Store().PutLease(ctx, c); err != nil {
			return err
		}
		body, _ := json.Marshal(leaseBody(c))
		if _, err := tx.Append(ledger.Event{Kind: "lease.grant", Actor: actor(p), Body: body}); err != nil {
			return err
		}
		child = c
		return nil
	})
	if err != nil {
		return store.Lease{}, "", err
	}
	return child, tok, nil
}

// leaseBody is how a lease appears in ledger entries: never its token.
func leaseBody(l store.Lease) map[string]any {
	b := map[string]any{"id": l.ID, "parent": l.Parent, "name": l.Name, "scopes": l.Scopes, "state": l.State,
		"not_before": l.NotBefore.Format(time.RFC3339Nano), "max_ttl": l.MaxTTL.String()}
	if !l.ExpiresAt.IsZero() {
		b["expires_at"] = l.ExpiresAt.Format(time.RFC3339Nano)
	}
	if l.BudgetMicros >= 0 {
		b["budget_usd"] = usd(l.BudgetMicros)
	}
	if l.BudgetTokens >= 0 {
		b["budget_tokens"] = l.BudgetTokens
	}
	if l.Options != (store.LeaseOptions{}) {
		b["options"] = l.Options
	}
	return b
}

func actor(l store.Lease) string { return "lease/" + l.ID }

// inSubtree reports whether id is root or one of its descendants.
func inSubtree(ctx context.Context, tx store.ReadTx, root, id string) (bool, error) {
	ch, err := chain(ctx, tx, id)
	if err != nil {
		return false, err
	}
	for _, l := range ch {
		if l.ID == root {
			return true, nil
		}
	}
	return false, nil
}

// visible returns ErrNotFound unless id is root or one of its descendants:
// a lease outside the caller's subtree does not exist for the caller.
func visible(ctx context.Context, tx store.ReadTx, root, id string) error {
	ok, err := inSubtree(ctx, tx, root, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !ok) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return err
}

// Get returns a lease in the caller's subtree.
func (m *Manager) Get(ctx context.Context, caller store.Lease, id string) (store.Lease, error) {
	var l store.Lease
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		if err := visible(ctx, tx, caller.ID, id); err != nil {
			return err
		}
		var err error
		l, err = tx.Lease(ctx, id)
		return err
	})
	return l, err
}

// Node is a lease in a tree listing.
type Node struct {
	store.Lease
	Depth int
}

// Subtree lists the caller's lease and its descendants, depth first.
func (m *Manager) Subtree(ctx context.Context, caller store.Lease) ([]Node, error) {
	var out []Node
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		out, err = subtree(ctx, tx, caller.ID)
		return err
	})
	return out, err
}

func subtree(ctx context.Context, tx store.ReadTx, id string) ([]Node, error) {
	root, err := tx.Lease(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []Node{{Lease: root}}
	seen := map[string]bool{id: true}
	var walk func(id string, depth int) error
	walk = func(id string, depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("lease tree under %s is deeper than %d", id, maxDepth)
		}
		kids, err := tx.LeaseChildren(ctx, id)
		if err != nil {
			return err
		}
		for _, k := range kids {
			if seen[k.ID] {
				continue // a cycle in corrupted data: visit each lease once
			}
			seen[k.ID] = true
			out = append(out, Node{Lease: k, Depth: depth})
			if err := walk(k.ID, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(id, 1)
}

// Renew extends a lease in the caller's subtree to now+ttl, never past its
// max_ttl from creation or its parent's expiry.
func (m *Manager) Renew(ctx context.Context, caller store.Lease, id string, ttl time.Duration) (store.Lease, error) {
	if ttl <= 0 {
		return store.Lease{}, fmt.Errorf("%w: ttl must be positive", ErrInvalid)
	}
	var out store.Lease
	err := m.led.Commit(ctx, func(tx *ledger.Tx) error {
		now := m.now().UTC()
		if err := visible(ctx, tx.Store(), caller.ID, id); err != nil {
			return err
		}
		ch, err := chain(ctx, tx.Store(), id)
		if err != nil {
			return err
		}
		l := ch[0]
		if l.ID == RootID {
			return fmt.Errorf("%w: the root lease does not expire", ErrInvalid)
		}
		if err := Usable(l, now); err != nil {
			return err
		}
		exp := now.Add(ttl)
		if limit := l.Created.Add(l.MaxTTL); exp.After(limit) {
			return &AttenuationError{What: "max_ttl", Reason: fmt.Sprintf("renewing for %s would pass the lease's max_ttl %s (limit %s)", ttl, l.MaxTTL, limit.Format(time.RFC3339))}
		}
		if p := ch[1]; !p.ExpiresAt.IsZero() && exp.After(p.ExpiresAt) {
			return &AttenuationError{What: "ttl", Reason: fmt.Sprintf("renewing for %s would outlive the parent lease, which expires at %s", ttl, p.ExpiresAt.Format(time.RFC3339))}
		}
		l.ExpiresAt = exp
		if err := tx.Store().UpdateLease(ctx, l); err != nil {
			return err
		}
		body, _ := json.Marshal(map[string]any{"id": l.ID, "expires_at": exp.Format(time.RFC3339Nano)})
		if _, err := tx.Append(ledger.Event{Kind: "lease.renew", Actor: actor(caller), Body: body}); err != nil {
			return err
		}
		out = l
		return nil
	})
	m.changed() // after the commit: a lookup that read the old state is discarded
	return out, err
}

// Revoke revokes a lease in the caller's subtree and, in the same
// transaction, every one of its descendants. It returns the revoked ids.
func (m *Manager) Revoke(ctx context.Context, caller store.Lease, id string) ([]string, error) {
	if id == RootID {
		return nil, fmt.Errorf("%w: the root lease cannot be revoked (it is the owner token)", ErrInvalid)
	}
	var ids []string
	err := m.led.Commit(ctx, func(tx *ledger.Tx) error {
		ids = nil
		now := m.now().UTC()
		if err := visible(ctx, tx.Store(), caller.ID, id); err != nil {
			return err
		}
		nodes, err := subtree(ctx, tx.Store(), id)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			// Read afresh: giving back a funding changes its ancestors.
			cur, err := tx.Store().Lease(ctx, n.ID)
			if err != nil {
				return err
			}
			if cur.State != Active {
				continue
			}
			cur.State, cur.Ended = Revoked, now
			if err := tx.Store().UpdateLease(ctx, cur); err != nil {
				return err
			}
			if err := m.unfundTx(ctx, tx, cur.ID); err != nil {
				return err
			}
			ids = append(ids, cur.ID)
		}
		body, _ := json.Marshal(map[string]any{"id": id, "revoked": ids})
		_, err = tx.Append(ledger.Event{Kind: "lease.revoke", Actor: actor(caller), Body: body})
		return err
	})
	m.changed() // after the commit: a lookup that read the old state is discarded
	return ids, err
}

// Reserve holds micros (and tokens) on the lease and every ancestor for an
// action in flight. It fails with *BudgetError if any budget on the chain
// would be overspent; concurrent reservations are serialised by the group
// commit, so they can never overspend together either.
func (m *Manager) Reserve(ctx context.Context, leaseID string, micros, tokens int64, hold time.Duration) (store.Reservation, error) {
	if micros < 0 || tokens < 0 {
		return store.Reservation{}, fmt.Errorf("%w: a reservation cannot be negative", ErrInvalid)
	}
	if hold <= 0 {
		hold = 10 * time.Minute
	}
	var res store.Reservation
	err := m.led.Commit(ctx, func(tx *ledger.Tx) (err error) {
		res, err = m.ReserveTx(ctx, tx, leaseID, micros, tokens, hold)
		return err
	})
	return res, err
}

// ReserveTx is Reserve inside a transaction the caller commits: a model
// call reserves its budget in the same group commit as its policy
// decision, so the request path waits for one fsync, not two. A
// *BudgetError is returned before anything is written.
func (m *Manager) ReserveTx(ctx context.Context, tx *ledger.Tx, leaseID string, micros, tokens int64, hold time.Duration) (store.Reservation, error) {
	if micros < 0 || tokens < 0 {
		return store.Reservation{}, fmt.Errorf("%w: a reservation cannot be negative", ErrInvalid)
	}
	if hold <= 0 {
		hold = 10 * time.Minute
	}
	now := m.now().UTC()
	ch, err := chain(ctx, tx.Store(), leaseID)
	if err != nil {
		return store.Reservation{}, err
	}
	for _, l := range ch {
		if err := Usable(l, now); err != nil {
			return store.Reservation{}, err
		}
	}
	ch = held(ch)
	if top := ch[len(ch)-1]; top.Options.Funding != "" {
		_, ferr := tx.Store().Reservation(ctx, top.Options.Funding)
		if top.Options.FundingClosed || errors.Is(ferr, store.ErrNotFound) {
			return store.Reservation{}, fmt.Errorf("%w: lease %s has given its budget back (its run has ended)", ErrInvalid, top.Name)
		}
		if ferr != nil {
			return store.Reservation{}, ferr
		}
	}
	for _, l := range ch {
		if l.BudgetMicros >= 0 && l.SpentMicros+l.ReservedMicros+micros > l.BudgetMicros {
			return store.Reservation{}, &BudgetError{LeaseID: l.ID, Name: l.Name, Remaining: max(l.BudgetMicros-l.SpentMicros-l.ReservedMicros, 0), Wanted: micros}
		}
		if l.BudgetTokens >= 0 && l.SpentTokens+l.ReservedTokens+tokens > l.BudgetTokens {
			return store.Reservation{}, &BudgetError{LeaseID: l.ID, Name: l.Name, Remaining: max(l.BudgetTokens-l.SpentTokens-l.ReservedTokens, 0), Wanted: tokens, Tokens: true}
		}
	}
	for _, l := range ch {
		l.ReservedMicros += micros
		l.ReservedTokens += tokens
		if err := tx.Store().UpdateLease(ctx, l); err != nil {
			return store.Reservation{}, err
		}
	}
	res := store.Reservation{ID: NewID("rsv_"), LeaseID: leaseID, Micros: micros, Tokens: tokens, Created: now, Expires: now.Add(hold)}
	if err := tx.Store().PutReservation(ctx, res); err != nil {
		return store.Reservation{}, err
	}
	body, _ := json.Marshal(map[string]any{"reservation": res.ID, "lease": leaseID, "usd": usd(micros), "tokens": tokens})
	if _, err := tx.Append(ledger.Event{Kind: "spend.reserve", Actor: "lease/" + leaseID, Body: body}); err != nil {
		return store.Reservation{}, err
	}
	return res, nil
}

// Settle releases a reservation and charges what was actually spent to the
// lease and every ancestor. The actual cost is recorded even if it exceeds
// the reservation (the money is spent); a budget it crosses is recorded as
// lease.exhausted.
func (m *Manager) Settle(ctx context.Context, reservationID string, micros, tokens int64) error {
	if micros < 0 || tokens < 0 {
		return fmt.Errorf("%w: spend cannot be negative", ErrInvalid)
	}
	return m.led.Commit(ctx, func(tx *ledger.Tx) error {
		return m.SettleTx(ctx, tx, reservationID, micros, tokens)
	})
}

// SettleTx is Settle inside a ledger commit the caller runs, so that the
// spend is recorded in the same transaction as, say, the call it paid for.
func (m *Manager) SettleTx(ctx context.Context, tx *ledger.Tx, reservationID string, micros, tokens int64) error {
	if micros < 0 || tokens < 0 {
		return fmt.Errorf("%w: spend cannot be negative", ErrInvalid)
	}
	return m.release(ctx, tx, reservationID, micros, tokens, "spend.settle")
}

func (m *Manager) release(ctx context.Context, tx *ledger.Tx, reservationID string, micros, tokens int64, kind string) error {
	res, err := tx.Store().Reservation(ctx, reservationID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: reservation %s (already settled or expired)", ErrNotFound, reservationID)
	}
	if err != nil {
		return err
	}
	ch, err := chain(ctx, tx.Store(), res.LeaseID)
	if err != nil {
		return err
	}
	relM, relT := res.Micros, res.Tokens // what this reservation holds at each level
	var closed []store.Lease             // funded leases whose funding is closed: trimmed after
	for _, l := range ch {
		before := l.SpentMicros
		beforeTok := l.SpentTokens
		l.ReservedMicros = max(l.ReservedMicros-relM, 0)
		l.ReservedTokens = max(l.ReservedTokens-relT, 0)
		l.SpentMicros = satAdd(l.SpentMicros, micros)
		l.SpentTokens = satAdd(l.SpentTokens, tokens)
		if err := tx.Store().UpdateLease(ctx, l); err != nil {
			return err
		}
		crossed := (l.BudgetMicros >= 0 && before < l.BudgetMicros && l.SpentMicros >= l.BudgetMicros) ||
			(l.BudgetTokens >= 0 && beforeTok < l.BudgetTokens && l.SpentTokens >= l.BudgetTokens)
		if crossed {
			body, _ := json.Marshal(map[string]any{"id": l.ID, "name": l.Name, "spent_usd": usd(l.SpentMicros), "spent_tokens": l.SpentTokens})
			if _, err := tx.Append(ledger.Event{Kind: "lease.exhausted", Actor: "kernel", Body: body}); err != nil {
				return err
			}
		}
		if l.Options.Funding == "" {
			continue
		}
		// Above a funded lease nothing of this reservation was held; what
		// was spent is drawn from the funding the ancestors hold instead.
		f, err := tx.Store().Reservation(ctx, l.Options.Funding)
		switch {
		case errors.Is(err, store.ErrNotFound):
			relM, relT = 0, 0
		case err != nil:
			return err
		default:
			relM, relT = min(micros, f.Micros), min(tokens, f.Tokens)
			f.Micros, f.Tokens = f.Micros-relM, f.Tokens-relT
			if err := tx.Store().UpdateReservation(ctx, f); err != nil {
				return err
			}
			if l.Options.FundingClosed {
				closed = append(closed, l)
			}
		}
	}
	for _, l := range closed {
		cur, err := tx.Store().Lease(ctx, l.ID)
		if err != nil {
			return err
		}
		if _, err := m.trimClosed(ctx, tx, cur); err != nil {
			return err
		}
	}
	if err := tx.Store().DeleteReservation(ctx, res.ID); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"reservation": res.ID, "lease": res.LeaseID, "reserved_usd": usd(res.Micros), "spent_usd": usd(micros), "spent_tokens": tokens})
	_, err = tx.Append(ledger.Event{Kind: kind, Actor: "lease/" + res.LeaseID, Body: body})
	return err
}

// Unfund gives back what a funded lease has not spent: the funding keeps
// only what is in flight under the lease (settled as it completes), the
// rest returns to the parent's chain, and nothing new may be reserved under
// the lease. The kernel calls it when a run ends; revocation and expiry do
// it too. A lease that is not funded is left as it is.
func (m *Manager) Unfund(ctx context.Context, leaseID string) error {
	return m.led.Commit(ctx, func(tx *ledger.Tx) error { return m.unfundTx(ctx, tx, leaseID) })
}

func (m *Manager) unfundTx(ctx context.Context, tx *ledger.Tx, leaseID string) error {
	l, err := tx.Store().Lease(ctx, leaseID)
	if err != nil {
		return err
	}
	if l.Options.Funding == "" || l.Options.FundingClosed {
		return nil
	}
	l.Options.FundingClosed = true
	if err := tx.Store().UpdateLease(ctx, l); err != nil {
		return err
	}
	t, err := m.trimClosed(ctx, tx, l)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"reservation": l.Options.Funding, "lease": l.Parent, "funded_lease": l.ID,
		"released_usd": usd(t.giveM), "released_tokens": t.giveT, "in_flight_usd": usd(t.keepM), "in_flight_tokens": t.keepT})
	_, err = tx.Append(ledger.Event{Kind: "spend.unfund", Actor: "lease/" + l.ID, Body: body})
	return err
}

type trim struct{ giveM, giveT, keepM, keepT int64 }

// trimClosed shrinks the funding of l, a lease whose funding is closed, to
// what is still in flight under it, and gives the rest back to the chain
// that holds the funding. That chain's top may itself be a closed funded
// lease whose in-flight amount just shrank: it is trimmed in turn.
func (m *Manager) trimClosed(ctx context.Context, tx *ledger.Tx, l store.Lease) (trim, error) {
	var t trim
	if l.Options.Funding == "" || !l.Options.FundingClosed {
		return t, nil
	}
	f, err := tx.Store().Reservation(ctx, l.Options.Funding)
	if errors.Is(err, store.ErrNotFound) {
		return t, nil // already released (swept)
	}
	if err != nil {
		return t, err
	}
	t.keepM, t.keepT = min(l.ReservedMicros, f.Micros), min(l.ReservedTokens, f.Tokens)
	t.giveM, t.giveT = f.Micros-t.keepM, f.Tokens-t.keepT
	if t.giveM == 0 && t.giveT == 0 && (t.keepM > 0 || t.keepT > 0) {
		return t, nil
	}
	ch, err := chain(ctx, tx.Store(), f.LeaseID)
	if err != nil {
		return t, err
	}
	ch = held(ch)
	for _, a := range ch {
		a.ReservedMicros = max(a.ReservedMicros-t.giveM, 0)
		a.ReservedTokens = max(a.ReservedTokens-t.giveT, 0)
		if err := tx.Store().UpdateLease(ctx, a); err != nil {
			return t, err
		}
	}
	f.Micros, f.Tokens = t.keepM, t.keepT
	if t.keepM == 0 && t.keepT == 0 {
		err = tx.Store().DeleteReservation(ctx, f.ID)
	} else {
		err = tx.Store().UpdateReservation(ctx, f)
	}
	if err != nil {
		return t, err
	}
	top, err := tx.Store().Lease(ctx, ch[len(ch)-1].ID)
	if err != nil {
		return t, err
	}
	_, err = m.trimClosed(ctx, tx, top)
	return t, err
}

func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Sweep records leases that have expired and releases reservations held
// past their time, each as a ledger entry.
func (m *Manager) Sweep(ctx context.Context) (expired, released int, err error) {
	now := m.now().UTC()
	var leases []store.Lease
	var stale []store.Reservation
	err = m.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if leases, err = tx.LeasesExpiringBefore(ctx, now); err != nil {
			return err
		}
		stale, err = tx.ExpiredReservations(ctx, now)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	for _, l := range leases {
		err := m.led.Commit(ctx, func(tx *ledger.Tx) error {
			cur, err := tx.Store().Lease(ctx, l.ID)
			if err != nil || cur.State != Active {
				return err
			}
			cur.State, cur.Ended = Expired, cur.ExpiresAt
			if err := tx.Store().UpdateLease(ctx, cur); err != nil {
				return err
			}
			if err := m.unfundTx(ctx, tx, cur.ID); err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"id": cur.ID, "name": cur.Name, "expired_at": cur.ExpiresAt.Format(time.RFC3339Nano)})
			_, err = tx.Append(ledger.Event{Kind: "lease.expire", Actor: "kernel", Body: body})
			return err
		})
		m.changed()
		if err != nil {
			return expired, released, err
		}
		expired++
	}
	for _, r := range stale {
		err := m.led.Commit(ctx, func(tx *ledger.Tx) error {
			err := m.release(ctx, tx, r.ID, 0, 0, "spend.release")
			if errors.Is(err, ErrNotFound) {
				return nil // settled meanwhile
			}
			return err
		})
		if err != nil {
			return expired, released, err
		}
		released++
	}
	return expired, released, nil
}
