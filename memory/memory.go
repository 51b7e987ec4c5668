package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mirroros/mirror/store"
	"github.com/mirroros/mirror/trace/ledger"
)

// Errors. Every error the package returns for a bad request, a missing
// record or a forbidden change wraps one of these, so that a front door can
// map them to a status in one place.
var (
	// ErrInvalid: the request is malformed (a bad kind, an empty statement,
	// a span out of range…).
	ErrInvalid = errors.New("memory: invalid request")
	// ErrNotFound: the evidence, claim or canon version does not exist.
	ErrNotFound = errors.New("memory: not found")
	// ErrConflict: the record exists but is in a state that forbids the
	// change (a demoted claim cannot be promoted, redacted evidence cannot
	// be cited or redacted again).
	ErrConflict = errors.New("memory: conflict")
	// ErrTooLarge: evidence content over MaxEvidenceSize.
	ErrTooLarge = errors.New("memory: too large")
	// ErrCorrupt: stored memory does not match itself (run Verify).
	ErrCorrupt = errors.New("memory: corrupt")
)

// Limits.
const (
	// MaxEvidenceSize is the largest evidence content, in bytes.
	MaxEvidenceSize = 8 << 20
	// MaxStatementSize is the longest claim statement, in bytes.
	MaxStatementSize = 4096
	// MaxSpans is the most spans one claim may cite in one addition.
	MaxSpans = 64
	// MaxContradicts is the most claims one new claim may contradict.
	MaxContradicts = 64
	// MaxExtracted is the most claims one extraction may add.
	MaxExtracted = 256
	// DefaultCorroboration is how many independent pieces of evidence
	// promote a claim into the canon when Options.Corroboration is unset.
	DefaultCorroboration = 2

	maxSubject   = 256
	maxReason    = 1024
	maxMediaType = 255
	maxSource    = 2048
	maxActor     = ledger.MaxActorLen
)

// Ledger entry kinds written by the memory plane.
const (
	EntryEvidence = "memory.evidence"
	EntryRedact   = "memory.redact"
	EntryClaim    = "memory.claim"
	EntryPromote  = "memory.promote"
	EntryDemote   = "memory.demote"
	EntryCanon    = "memory.canon"
)

// Actors the memory plane uses for changes it makes by itself.
const (
	ActorCorroboration = "memory/corroboration"
	ActorExtractor     = "memory/extractor"
)

// Embedder turns texts into embedding vectors, one per text, all of the
// same length. It is optional: without one, search is BM25 only.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Options configure a Memory.
type Options struct {
	// Corroboration is how many independent pieces of evidence (distinct
	// evidence ids) promote a claim into the canon (default 2).
	Corroboration int
	// Embedder, when set, embeds claims as they are added and makes search
	// hybrid (BM25 and cosine similarity fused by reciprocal rank).
	Embedder Embedder
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives warnings such as a failed embedding.
	Logger *slog.Logger
}

// Memory is the memory plane: evidence, claims, the canon and search over
// them, persisted in a store.Store with every write recorded in the ledger
// in the same transaction. It is safe for concurrent use.
type Memory struct {
	st  store.Store
	led *ledger.Ledger
	n   int
	emb Embedder
	now func() time.Time
	log *slog.Logger

	canonMu sync.Mutex
	canons  []*canonSet // recently compiled canon member sets, newest last

	vecMu sync.Mutex
	vecs  vectorIndex
}

// New returns the memory plane over st, recording in led. led must write
// to st.
func New(st store.Store, led *ledger.Ledger, opts Options) *Memory {
	if opts.Corroboration <= 0 {
		opts.Corroboration = DefaultCorroboration
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Memory{st: st, led: led, n: opts.Corroboration, emb: opts.Embedder, now: opts.Now, log: opts.Logger}
}

// Corroboration is the number of independent pieces of evidence that
// promote a claim.
func (m *Memory) Corroboration() int { return m.n }

// newID returns prefix followed by 64 random bits in hex.
func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// notFound turns the store's not-found into the package's.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// checkActor validates who is making a change; the ledger records it.
func checkActor(actor string) error {
	if actor == "" {
		return invalidf("an actor (who makes the change) is required")
	}
	if len(actor) > maxActor || !printable(actor, false) {
		return invalidf("actor must be at most %d bytes of printable UTF-8", maxActor)
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters
// (tabs and newlines allowed when multiline).
func printable(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == 0x7f || (r < 0x20 && !(multiline && (r == '\n' || r == '\t' || r == '\r'))) {
			return false
		}
	}
	return true
}

func checkText(what, s string, max int) error {
	if len(s) > max {
		return invalidf("%s is %d bytes, over the %d limit", what, len(s), max)
	}
	if !printable(s, false) {
		return invalidf("%s must be printable UTF-8 on one line", what)
	}
	return nil
}

// Times must fit in int64 nanoseconds (the store's representation) with
// room to spare.
var (
	minTime = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return invalidf("%s %s is outside %d..%d", what, t.Format(time.RFC3339), minTime.Year(), maxTime.Year())
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// txn is one write to memory: everything it does commits with its ledger
// entries in one ledger.Commit, and the canon changes it makes compile into
// at most one new canon version at the end.
type txn struct {
	m   *Memory
	ctx context.Context
	lt  *ledger.Tx
	st  store.Tx
	now time.Time

	canonAdd    map[string]string // claim id → claim hash
	canonRemove map[string]bool
	events      []store.ClaimEvent
	compiled    *canonSet // the canon version this txn compiled, if any
}

func (m *Memory) newTxn(ctx context.Context, lt *ledger.Tx) *txn {
	return &txn{m: m, ctx: ctx, lt: lt, st: lt.Store(), now: m.now().UTC(),
		canonAdd: map[string]string{}, canonRemove: map[string]bool{}}
}

// commit runs fn in one ledger transaction, then compiles the canon if fn
// changed it. It remembers the compiled canon once durable.
func (m *Memory) commit(ctx context.Context, fn func(t *txn) error) (*txn, error) {
	var done *txn
	err := m.led.Commit(ctx, func(lt *ledger.Tx) error {
		t := m.newTxn(ctx, lt)
		if err := fn(t); err != nil {
			return err
		}
		if err := t.finish(); err != nil {
			return err
		}
		done = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	if done.compiled != nil {
		m.rememberCanon(done.compiled)
	}
	return done, nil
}

// append records a ledger entry in the transaction and returns its index.
func (t *txn) append(kind, actor string, body any) (uint64, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	r, err := t.lt.Append(ledger.Event{Kind: kind, Actor: actor, Body: b})
	if err != nil {
		return 0, fmt.Errorf("memory: record %s: %w", kind, err)
	}
	return r.Index, nil
}

// event journals a step of a claim's history, written when the txn
// finishes so that it can carry the canon version.
func (t *txn) event(e store.ClaimEvent) *store.ClaimEvent {
	t.events = append(t.events, e)
	return &t.events[len(t.events)-1]
}

func (t *txn) finish() error {
	version, err := t.compileCanon()
	if err != nil {
		return err
	}
	for _, e := range t.events {
		if version != 0 && (e.Kind == eventPromoted && t.canonAdd[e.ClaimID] != "" || e.Kind == eventDemoted && t.canonRemove[e.ClaimID]) {
			e.CanonVersion = version
		}
		if err := t.st.PutClaimEvent(t.ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// oneOf reports whether v is one of all.
func oneOf[T ~string](v T, all []T) bool {
	for _, a := range all {
		if v == a {
			return true
		}
	}
	return false
}

func joinKinds[T ~string](all []T) string {
	s := make([]string, len(all))
	for i, a := range all {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
