package memory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mirroros/mirror/store"
)

// EvidenceKind is what a piece of evidence is.
type EvidenceKind string

// Evidence kinds.
const (
	EvidenceText      EvidenceKind = "text"       // a note or a document's text
	EvidenceFile      EvidenceKind = "file"       // a file's bytes
	EvidenceTurn      EvidenceKind = "turn"       // one turn of a conversation
	EvidenceRunOutput EvidenceKind = "run_output" // what a run produced
)

var evidenceKinds = []EvidenceKind{EvidenceText, EvidenceFile, EvidenceTurn, EvidenceRunOutput}

// Evidence is a content-addressed, immutable record of something observed.
// Its id is "sha256:" and the hex SHA-256 of its content. It is never
// edited or deleted; a redaction erases its content and keeps the rest.
type Evidence struct {
	Seq         int64        `json:"seq"` // position in the order evidence was added
	ID          string       `json:"id"`
	Kind        EvidenceKind `json:"kind"`
	MediaType   string       `json:"media_type,omitempty"`
	Source      string       `json:"source,omitempty"` // a URI, a path or an agent
	Actor       string       `json:"actor"`            // who added it
	ObservedAt  time.Time    `json:"observed_at"`
	CreatedAt   time.Time    `json:"created_at"`
	Size        int64        `json:"size"`
	Text        bool         `json:"text"` // the content is text and searchable
	LedgerIndex uint64       `json:"ledger_index"`
	Redaction   *Redaction   `json:"redaction,omitempty"`
	// Content is the evidence itself; nil once redacted, and in lists and
	// search results.
	Content []byte `json:"-"`
}

// Redacted reports whether the evidence's content has been erased.
func (e Evidence) Redacted() bool { return e.Redaction != nil }

// Redaction is the tombstone that hides a piece of evidence.
type Redaction struct {
	Actor       string    `json:"actor"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
	LedgerIndex uint64    `json:"ledger_index"`
}

// NewEvidence is evidence to add.
type NewEvidence struct {
	Kind       EvidenceKind
	Content    []byte
	MediaType  string    // e.g. "text/markdown"; "" for plain text
	Source     string    // where it came from: a URI, a path or an agent
	Actor      string    // who adds it, e.g. "lease/lse_…"; required
	ObservedAt time.Time // when it was seen; zero means now
}

// EvidenceID returns the id of content: "sha256:" and its hex SHA-256.
func EvidenceID(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// isText reports whether content is searchable text: valid UTF-8 without
// NUL bytes, under a media type that is text (or none).
func isText(content []byte, mediaType string) bool {
	if !utf8.Valid(content) || bytes.IndexByte(content, 0) >= 0 {
		return false
	}
	mt := strings.ToLower(strings.TrimSpace(strings.SplitN(mediaType, ";", 2)[0]))
	switch {
	case mt == "", strings.HasPrefix(mt, "text/"):
		return true
	}
	for _, s := range []string{"json", "xml", "yaml", "toml", "javascript", "markdown", "csv"} {
		if strings.Contains(mt, s) {
			return true
		}
	}
	return false
}

// AddEvidence stores content as evidence and records it in the ledger. If
// the same bytes are already stored it records nothing and returns the
// stored evidence with added false.
func (m *Memory) AddEvidence(ctx context.Context, in NewEvidence) (ev Evidence, added bool, err error) {
	if !oneOf(in.Kind, evidenceKinds) {
		return Evidence{}, false, invalidf("evidence kind %q is not one of %s", in.Kind, joinKinds(evidenceKinds))
	}
	if len(in.Content) == 0 {
		return Evidence{}, false, invalidf("evidence content is empty")
	}
	if len(in.Content) > MaxEvidenceSize {
		return Evidence{}, false, fmt.Errorf("%w: evidence is %d bytes, over the %d limit", ErrTooLarge, len(in.Content), MaxEvidenceSize)
	}
	if err := checkActor(in.Actor); err != nil {
		return Evidence{}, false, err
	}
	if err := checkText("media type", in.MediaType, maxMediaType); err != nil {
		return Evidence{}, false, err
	}
	if err := checkText("source", in.Source, maxSource); err != nil {
		return Evidence{}, false, err
	}
	if err := checkTime("observed_at", in.ObservedAt); err != nil {
		return Evidence{}, false, err
	}
	id := EvidenceID(in.Content)
	// Most repeats are caught here, without a trip through the ledger.
	var stored []store.Evidence
	err = m.st.View(ctx, func(tx store.ReadTx) error {
		return tx.EvidenceList(ctx, store.EvidenceFilter{IDs: []string{id}, Limit: 1}, func(e store.Evidence) error {
			stored = append(stored, e)
			return nil
		})
	})
	if err != nil {
		return Evidence{}, false, err
	}
	if len(stored) > 0 {
		return evidenceOf(stored[0]), false, nil
	}
	var out store.Evidence
	_, err = m.commit(ctx, func(t *txn) error {
		added = false
		if e, err := t.st.Evidence(ctx, id); err == nil {
			out = e
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		e := store.Evidence{
			ID: id, Kind: string(in.Kind), MediaType: in.MediaType, Source: in.Source, Actor: in.Actor,
			ObservedAt: in.ObservedAt.UTC(), Created: t.now, Size: int64(len(in.Content)), Content: in.Content,
			Text: isText(in.Content, in.MediaType),
		}
		if e.ObservedAt.IsZero() {
			e.ObservedAt = t.now
		}
		idx, err := t.append(EntryEvidence, in.Actor, evidenceBody{
			ID: id, Kind: e.Kind, Size: e.Size, MediaType: e.MediaType, Text: e.Text, ObservedAt: formatTime(e.ObservedAt),
		})
		if err != nil {
			return err
		}
		e.LedgerIndex = idx
		if err := t.st.PutEvidence(ctx, e); err != nil {
			return err
		}
		out, added = e, true
		return nil
	})
	if err != nil {
		return Evidence{}, false, err
	}
	return withoutContent(evidenceOf(out)), added, nil
}

func withoutContent(e Evidence) Evidence {
	e.Content = nil
	return e
}

// Evidence returns a piece of evidence with its content (nil if redacted).
func (m *Memory) Evidence(ctx context.Context, id string) (Evidence, error) {
	var e store.Evidence
	err := m.st.View(ctx, func(tx store.ReadTx) (err error) {
		e, err = tx.Evidence(ctx, id)
		return err
	})
	if err != nil {
		return Evidence{}, notFound(err)
	}
	return evidenceOf(e), nil
}

// Redact erases the content of a piece of evidence, for a reason, and
// records who did it. The evidence keeps its id, metadata and the claims
// citing it; it no longer appears in search, and Verify reports it as
// redacted rather than tampered. Claims citing it are left as they are:
// demote those whose statements repeat what was erased. Redacting twice
// is a conflict.
func (m *Memory) Redact(ctx context.Context, id, by, reason string) (Evidence, error) {
	if err := checkActor(by); err != nil {
		return Evidence{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Evidence{}, invalidf("a redaction needs a reason")
	}
	if err := checkText("reason", reason, maxReason); err != nil {
		return Evidence{}, err
	}
	var out store.Evidence
	_, err := m.commit(ctx, func(t *txn) error {
		e, err := t.st.Evidence(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if e.Redaction != nil {
			return fmt.Errorf("%w: evidence %s was redacted at %s", ErrConflict, id, e.Redaction.At.Format(time.RFC3339))
		}
		idx, err := t.append(EntryRedact, by, redactBody{ID: id, Reason: reason, At: formatTime(t.now)})
		if err != nil {
			return err
		}
		r := store.Redaction{EvidenceID: id, Actor: by, Reason: reason, At: t.now, LedgerIndex: idx}
		if err := t.st.Redact(ctx, r); err != nil {
			return err
		}
		e.Content, e.Redaction = nil, &r
		out = e
		return nil
	})
	if err != nil {
		return Evidence{}, err
	}
	return evidenceOf(out), nil
}

// EvidenceFilter selects evidence to list.
type EvidenceFilter struct {
	Kinds    []EvidenceKind
	AfterSeq int64 // for paging: evidence stored after this position
	Limit    int   // default 100, at most 1000
}

// EvidenceList lists evidence, without content, in the order it was added.
func (m *Memory) EvidenceList(ctx context.Context, f EvidenceFilter) ([]Evidence, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	sf := store.EvidenceFilter{AfterSeq: f.AfterSeq, Limit: limit}
	for _, k := range f.Kinds {
		sf.Kinds = append(sf.Kinds, string(k))
	}
	var out []Evidence
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		return tx.EvidenceList(ctx, sf, func(e store.Evidence) error {
			out = append(out, evidenceOf(e))
			return nil
		})
	})
	return out, err
}

func evidenceOf(e store.Evidence) Evidence {
	out := Evidence{
		Seq: e.Seq, ID: e.ID, Kind: EvidenceKind(e.Kind), MediaType: e.MediaType, Source: e.Source, Actor: e.Actor,
		ObservedAt: e.ObservedAt, CreatedAt: e.Created, Size: e.Size, Text: e.Text, LedgerIndex: e.LedgerIndex,
		Content: e.Content,
	}
	if r := e.Redaction; r != nil {
		out.Redaction = &Redaction{Actor: r.Actor, Reason: r.Reason, At: r.At, LedgerIndex: r.LedgerIndex}
		out.Content = nil
	}
	return out
}
