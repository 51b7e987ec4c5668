package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mirroros/mirror/store"
)

// CanonMember is one member of a canon version as hashed: a claim id and
// the claim's ClaimHash.
type CanonMember struct {
	ClaimID   string `json:"claim_id"`
	ClaimHash string `json:"claim_hash"`
}

// CanonHash returns the hash of a canon version with the given members:
// "sha256:" and the hex SHA-256 of, for each member in increasing byte
// order of claim id, the claim id, one space (0x20), the member's
// ClaimHash ("sha256:" and 64 hex digits) and a newline (0x0A). The empty
// canon hashes the empty string.
func CanonHash(members []CanonMember) string {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b CanonMember) int { return strings.Compare(a.ClaimID, b.ClaimID) })
	return canonHashSorted(ms)
}

func canonHashSorted(ms []CanonMember) string {
	h := sha256.New()
	buf := make([]byte, 0, 4096)
	for _, m := range ms {
		buf = append(buf, m.ClaimID...)
		buf = append(buf, ' ')
		buf = append(buf, m.ClaimHash...)
		buf = append(buf, '\n')
		if len(buf) > 3072 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// canonSet is a compiled canon version: its members sorted by claim id. It
// is never modified once built, so it is shared without locks.
type canonSet struct {
	version int64
	hash    string
	members []CanonMember
}

// keptCanons is how many recently compiled canon sets are kept in memory,
// so that a new version is compiled without reading every member back.
const keptCanons = 4

func (m *Memory) cachedCanon(hash string) *canonSet {
	m.canonMu.Lock()
	defer m.canonMu.Unlock()
	for _, c := range m.canons {
		if c.hash == hash {
			return c
		}
	}
	return nil
}

// rememberCanon keeps a compiled set. A set is found by its hash, which
// covers every member and claim hash, so a set that never committed can
// only ever match an identical one.
func (m *Memory) rememberCanon(c *canonSet) {
	m.canonMu.Lock()
	defer m.canonMu.Unlock()
	for _, x := range m.canons {
		if x.hash == c.hash {
			return
		}
	}
	m.canons = append(m.canons, c)
	if len(m.canons) > keptCanons {
		m.canons = slices.Delete(m.canons, 0, len(m.canons)-keptCanons)
	}
}

// loadCanon returns the latest canon version's member set, from memory if
// it was compiled or loaded before. It fails with ErrCorrupt when the
// stored members do not hash to the stored hash: no new version is
// compiled on top of a canon that does not match itself.
func (m *Memory) loadCanon(ctx context.Context, tx store.ReadTx) (*canonSet, error) {
	latest, err := tx.CanonVersion(ctx, 0)
	if errors.Is(err, store.ErrNotFound) {
		return &canonSet{hash: canonHashSorted(nil)}, nil
	}
	if err != nil {
		return nil, err
	}
	if c := m.cachedCanon(latest.Hash); c != nil {
		return &canonSet{version: latest.Version, hash: c.hash, members: c.members}, nil
	}
	ids, err := tx.CanonMembers(ctx, latest.Version)
	if err != nil {
		return nil, err
	}
	var claims []store.Claim
	if len(ids) > 0 { // no ids would mean no filter
		if claims, err = tx.Claims(ctx, store.ClaimFilter{IDs: ids}); err != nil {
			return nil, err
		}
	}
	hashes := make(map[string]string, len(claims))
	for _, c := range claims {
		hashes[c.ID] = c.ContentHash
	}
	c := &canonSet{version: latest.Version, members: make([]CanonMember, len(ids))}
	for i, id := range ids {
		h, ok := hashes[id]
		if !ok {
			return nil, fmt.Errorf("%w: canon version %d names claim %s, which does not exist (run verify)", ErrCorrupt, latest.Version, id)
		}
		c.members[i] = CanonMember{ClaimID: id, ClaimHash: h}
	}
	slices.SortFunc(c.members, func(a, b CanonMember) int { return strings.Compare(a.ClaimID, b.ClaimID) })
	c.hash = canonHashSorted(c.members)
	if c.hash != latest.Hash {
		return nil, fmt.Errorf("%w: the members of canon version %d hash to %s, not the stored %s (run verify)", ErrCorrupt, latest.Version, c.hash, latest.Hash)
	}
	m.rememberCanon(c)
	return c, nil
}

// warmCanon loads the latest canon set outside the ledger's group commit,
// so that compiling the next version inside it stays quick. It is only a
// warm-up: a canon that fails to load fails the write that would compile
// on top of it, inside the commit, and no other write.
func (m *Memory) warmCanon(ctx context.Context) {
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		_, err := m.loadCanon(ctx, tx)
		return err
	})
	if err != nil {
		m.log.Warn("memory: loading the canon", "err", err)
	}
}

// compileCanon stores the next canon version if the txn changed the canon,
// and records it in the ledger. It returns the new version, or 0.
func (t *txn) compileCanon() (int64, error) {
	if len(t.canonAdd) == 0 && len(t.canonRemove) == 0 {
		return 0, nil
	}
	base, err := t.m.loadCanon(t.ctx, t.st)
	if err != nil {
		return 0, err
	}
	added := make([]string, 0, len(t.canonAdd))
	for id := range t.canonAdd {
		added = append(added, id)
	}
	removed := make([]string, 0, len(t.canonRemove))
	for id := range t.canonRemove {
		removed = append(removed, id)
	}
	slices.Sort(added)
	slices.Sort(removed)
	members := make([]CanonMember, 0, len(base.members)+len(added))
	for _, mb := range base.members {
		if !t.canonRemove[mb.ClaimID] {
			members = append(members, mb)
		}
	}
	for _, id := range added {
		members = append(members, CanonMember{ClaimID: id, ClaimHash: t.canonAdd[id]})
	}
	slices.SortFunc(members, func(a, b CanonMember) int { return strings.Compare(a.ClaimID, b.ClaimID) })
	next := &canonSet{version: base.version + 1, hash: canonHashSorted(members), members: members}
	actor := ActorCorroboration
	for _, e := range t.events {
		if e.Kind == eventPromoted && t.canonAdd[e.ClaimID] != "" || e.Kind == eventDemoted && t.canonRemove[e.ClaimID] {
			actor = e.Actor // whoever made the (last) change that moved the canon
		}
	}
	idx, err := t.append(EntryCanon, actor, canonBody{
		Version: next.version, Hash: next.hash, Count: len(members), Added: added, Removed: removed,
	})
	if err != nil {
		return 0, err
	}
	err = t.st.PutCanonVersion(t.ctx, store.CanonVersion{
		Version: next.version, Hash: next.hash, Count: len(members), Actor: actor, Created: t.now, LedgerIndex: idx,
		Added: added, Removed: removed,
	})
	if err != nil {
		return 0, err
	}
	t.compiled = next
	return next.version, nil
}

// CanonVersion is one compiled version of the canon.
type CanonVersion struct {
	Version     int64     `json:"version"`
	Hash        string    `json:"hash"` // CanonHash of the members
	Count       int       `json:"count"`
	Actor       string    `json:"actor"` // who made the change that compiled it
	CreatedAt   time.Time `json:"created_at"`
	LedgerIndex uint64    `json:"ledger_index"` // the memory.canon entry
	Added       []string  `json:"added"`        // claim ids, sorted
	Removed     []string  `json:"removed"`      // claim ids, sorted
	Members     []string  `json:"members,omitempty"`
}

func canonVersionOf(v store.CanonVersion) CanonVersion {
	if v.Added == nil {
		v.Added = []string{}
	}
	if v.Removed == nil {
		v.Removed = []string{}
	}
	return CanonVersion{Version: v.Version, Hash: v.Hash, Count: v.Count, Actor: v.Actor, CreatedAt: v.Created,
		LedgerIndex: v.LedgerIndex, Added: v.Added, Removed: v.Removed}
}

// Canon returns the latest canon version with its member list (version 0,
// no members, the empty hash, before the first promotion).
func (m *Memory) Canon(ctx context.Context) (CanonVersion, error) {
	v, err := m.canonVersion(ctx, 0)
	if errors.Is(err, ErrNotFound) {
		return CanonVersion{Hash: canonHashSorted(nil)}, nil
	}
	return v, err
}

// CanonVersion returns a canon version (numbered from 1) with its member
// list.
func (m *Memory) CanonVersion(ctx context.Context, version int64) (CanonVersion, error) {
	if version < 1 {
		return CanonVersion{}, invalidf("canon versions are numbered from 1, not %d", version)
	}
	return m.canonVersion(ctx, version)
}

func (m *Memory) canonVersion(ctx context.Context, version int64) (CanonVersion, error) {
	var out CanonVersion
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		v, err := tx.CanonVersion(ctx, version)
		if err != nil {
			return notFound(err)
		}
		out = canonVersionOf(v)
		out.Members, err = tx.CanonMembers(ctx, v.Version)
		return err
	})
	return out, err
}

// CanonVersions lists every canon version, oldest first, with its changes
// but without its member list.
func (m *Memory) CanonVersions(ctx context.Context) ([]CanonVersion, error) {
	var out []CanonVersion
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		return tx.CanonVersions(ctx, func(v store.CanonVersion) error {
			out = append(out, canonVersionOf(v))
			return nil
		})
	})
	return out, err
}

// CanonDiff is what changed in the canon between two versions.
type CanonDiff struct {
	From    int64   `json:"from"`
	To      int64   `json:"to"`
	Added   []Claim `json:"added"`   // members of To that were not members of From
	Removed []Claim `json:"removed"` // members of From that are not members of To
}

// CanonDiff returns the claims added to and removed from the canon between
// versions a and b. Version 0 is the empty canon before the first
// version, so CanonDiff(ctx, 0, v) lists every member of v.
func (m *Memory) CanonDiff(ctx context.Context, a, b int64) (CanonDiff, error) {
	if a < 0 || b < 0 {
		return CanonDiff{}, invalidf("canon versions must not be negative")
	}
	d := CanonDiff{From: a, To: b}
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		members := func(v int64) (map[string]bool, error) {
			set := map[string]bool{}
			if v == 0 {
				return set, nil
			}
			if _, err := tx.CanonVersion(ctx, v); err != nil {
				return nil, notFound(err)
			}
			ids, err := tx.CanonMembers(ctx, v)
			for _, id := range ids {
				set[id] = true
			}
			return set, err
		}
		from, err := members(a)
		if err != nil {
			return err
		}
		to, err := members(b)
		if err != nil {
			return err
		}
		var added, removed []string
		for id := range to {
			if !from[id] {
				added = append(added, id)
			}
		}
		for id := range from {
			if !to[id] {
				removed = append(removed, id)
			}
		}
		load := func(ids []string) ([]Claim, error) {
			if len(ids) == 0 {
				return nil, nil
			}
			cs, err := tx.Claims(ctx, store.ClaimFilter{IDs: ids})
			out := make([]Claim, len(cs))
			for i, c := range cs {
				out[i] = claimOf(c)
			}
			slices.SortFunc(out, func(x, y Claim) int { return strings.Compare(x.ID, y.ID) })
			return out, err
		}
		if d.Added, err = load(added); err != nil {
			return err
		}
		d.Removed, err = load(removed)
		return err
	})
	return d, err
}
