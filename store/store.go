// Package store defines the persistence contract of the kernel.
//
// A Store is a transactional key space shaped around what the planes need
// (ledger entries, Merkle nodes, checkpoints, tokens, metadata). The embedded
// SQLite implementation lives in store/sqlite; a PostgreSQL implementation
// must pass the same contract suite in store/storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a requested record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a write would break an invariant of the store,
// such as appending ledger entries at an index other than the current size.
var ErrConflict = errors.New("store: conflict")

// Store is a transactional store. Update commits durably before it returns
// nil; View sees one consistent snapshot.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(ReadTx) error) error
	Close() error
}

// LedgerEntry is one stored ledger entry: the exact bytes that were hashed and
// the RFC 6962 leaf hash of those bytes as recorded at append time.
type LedgerEntry struct {
	Index    uint64
	Data     []byte
	LeafHash []byte
}

// LedgerNode is a stored Merkle tree node hash.
type LedgerNode struct {
	Level uint
	Index uint64
	Hash  []byte
}

// Checkpoint is a stored signed checkpoint note.
type Checkpoint struct {
	Size uint64
	Note []byte
}

// Token is an API token, stored by the SHA-256 of its secret only.
type Token struct {
	Hash    []byte // SHA-256 of the token string
	ID      string // public identifier, safe to log
	Kind    string // "owner"; later planes add lease tokens
	Created time.Time
}

// ReadTx reads one consistent snapshot.
type ReadTx interface {
	// LedgerSize is the number of stored ledger entries.
	LedgerSize(ctx context.Context) (uint64, error)
	// LedgerEntries calls fn for entries with from <= index < to, in order.
	// The slices passed to fn are only valid during the call.
	LedgerEntries(ctx context.Context, from, to uint64, fn func(LedgerEntry) error) error
	// LedgerNodes returns the stored hashes of nodes at level with
	// from <= index < to, in order. A missing node is an error.
	LedgerNodes(ctx context.Context, level uint, from, to uint64) ([][]byte, error)
	// LedgerNodesAll calls fn for every stored node, ordered by level, then index.
	LedgerNodesAll(ctx context.Context, fn func(LedgerNode) error) error
	// Checkpoints calls fn for every stored checkpoint in increasing size.
	Checkpoints(ctx context.Context, fn func(Checkpoint) error) error
	// LatestCheckpoint returns the checkpoint with the largest size, or
	// ErrNotFound.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Meta returns a metadata value, or ErrNotFound.
	Meta(ctx context.Context, key string) ([]byte, error)
	// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
}

// Tx is a read-write transaction.
type Tx interface {
	ReadTx
	// AppendLedgerEntries appends entries whose indexes must continue the
	// ledger exactly (the first equals LedgerSize, then consecutive);
	// otherwise it returns ErrConflict.
	AppendLedgerEntries(ctx context.Context, entries []LedgerEntry) error
	// PutLedgerNodes stores node hashes; storing a different hash for an
	// existing node returns ErrConflict.
	PutLedgerNodes(ctx context.Context, nodes []LedgerNode) error
	// PutCheckpoint stores a checkpoint; a different note for a size that
	// already has one returns ErrConflict.
	PutCheckpoint(ctx context.Context, cp Checkpoint) error
	// SetMeta sets a metadata value.
	SetMeta(ctx context.Context, key string, value []byte) error
	// PutToken stores a token; a duplicate hash returns ErrConflict.
	PutToken(ctx context.Context, t Token) error
	// Savepoint runs fn so that, if it returns an error, every write it made
	// is undone while the rest of the transaction stays.
	Savepoint(ctx context.Context, fn func() error) error
}
