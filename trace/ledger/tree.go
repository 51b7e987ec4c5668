package ledger

import (
	"context"
	"fmt"

	"github.com/mirroros/mirror/store"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TileHeight is the C2SP tlog-tiles tile height. The store keeps the leaf
// hashes (level 0) and the nodes at every level that is a multiple of it;
// every other node is recomputed from at most 2^(TileHeight-1) of those.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile.
const TileWidth = 1 << TileHeight

var (
	hasher  = rfc6962.DefaultHasher
	factory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// storedLevel reports whether nodes at level are kept in the node table.
func storedLevel(level uint) bool { return level > 0 && level%TileHeight == 0 }

// leafHashes reads the recorded leaf hashes of entries [from, to).
func leafHashes(ctx context.Context, tx store.ReadTx, from, to uint64) ([][]byte, error) {
	out := make([][]byte, 0, to-from)
	err := tx.LedgerEntries(ctx, from, to, func(e store.LedgerEntry) error {
		if e.Index != from+uint64(len(out)) {
			return fmt.Errorf("ledger entry %d is missing", from+uint64(len(out)))
		}
		out = append(out, append([]byte(nil), e.LeafHash...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if uint64(len(out)) != to-from {
		return nil, fmt.Errorf("ledger entry %d is missing", from+uint64(len(out)))
	}
	return out, nil
}

// storedHashes reads hashes at a level that the store keeps (0 or a multiple
// of TileHeight), for indexes [from, to).
func storedHashes(ctx context.Context, tx store.ReadTx, level uint, from, to uint64) ([][]byte, error) {
	if level == 0 {
		return leafHashes(ctx, tx, from, to)
	}
	return tx.LedgerNodes(ctx, level, from, to)
}

// nodeHash returns the hash of a complete node, recomputing it from the
// nearest stored level below when it is not stored itself.
func nodeHash(ctx context.Context, tx store.ReadTx, id compact.NodeID) ([]byte, error) {
	base := id.Level - id.Level%TileHeight
	if base == id.Level {
		h, err := storedHashes(ctx, tx, id.Level, id.Index, id.Index+1)
		if err != nil {
			return nil, err
		}
		return h[0], nil
	}
	shift := id.Level - base
	from := id.Index << shift
	hs, err := storedHashes(ctx, tx, base, from, from+1<<shift)
	if err != nil {
		return nil, err
	}
	// Treat the base-level hashes as the leaves of a perfect subtree.
	r := factory.NewEmptyRange(0)
	for _, h := range hs {
		if err := r.Append(h, nil); err != nil {
			return nil, err
		}
	}
	return r.GetRootHash(nil)
}

func nodeHashes(ctx context.Context, tx store.ReadTx, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := nodeHash(ctx, tx, id)
		if err != nil {
			return nil, fmt.Errorf("node (%d, %d): %w", id.Level, id.Index, err)
		}
		out[i] = h
	}
	return out, nil
}

// loadRange rebuilds the compact range [0, size) from stored hashes.
func loadRange(ctx context.Context, tx store.ReadTx, size uint64) (*compact.Range, error) {
	hs, err := nodeHashes(ctx, tx, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	return factory.NewRange(0, size, hs)
}

// rootOf returns the root hash of a compact range starting at 0.
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

func inclusionProof(ctx context.Context, tx store.ReadTx, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	return buildProof(ctx, tx, nodes, err)
}

func consistencyProof(ctx context.Context, tx store.ReadTx, from, to uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(from, to)
	return buildProof(ctx, tx, nodes, err)
}

// buildProof reads the nodes a proof needs and folds them into its hashes.
func buildProof(ctx context.Context, tx store.ReadTx, nodes proof.Nodes, err error) ([][]byte, error) {
	if err != nil {
		return nil, err
	}
	hs, err := nodeHashes(ctx, tx, nodes.IDs)
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hs, hasher.HashChildren)
}

// rootAt computes the root hash of the tree of the given size from stored hashes.
func rootAt(ctx context.Context, tx store.ReadTx, size uint64) ([]byte, error) {
	r, err := loadRange(ctx, tx, size)
	if err != nil {
		return nil, err
	}
	return rootOf(r)
}

// cloneRange copies a compact range so that appends to the copy leave the
// original untouched.
func cloneRange(r *compact.Range) *compact.Range {
	hs := make([][]byte, len(r.Hashes()))
	copy(hs, r.Hashes())
	c, err := factory.NewRange(r.Begin(), r.End(), hs)
	if err != nil {
		panic(err) // unreachable: the hashes come from a valid range
	}
	return c
}
