package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// sumdbPath is the path golang.org/x/mod/sumdb/tlog gives the same tile,
// translated to the C2SP layout (no height segment, "entries" for "data").
// It cross-checks the index grouping with an independent implementation.
func sumdbPath(t Tile) string {
	l := int(t.Level)
	if t.Entries {
		l = -1
	}
	p := tlog.Tile{H: TileHeight, L: l, N: int64(t.Index), W: int(t.Width)}.Path()
	p = strings.Replace(p, "tile/8/", "tile/", 1)
	return strings.Replace(p, "tile/data/", "tile/entries/", 1)
}

func TestTilePathRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		tile Tile
		path string
	}{
		{"the first full hash tile is 000", Tile{Level: 0, Index: 0, Width: TileWidth}, "tile/0/000"},
		{"a small index is zero-padded to three digits", Tile{Level: 0, Index: 7, Width: TileWidth}, "tile/0/007"},
		{"index 999 still fits one group", Tile{Level: 2, Index: 999, Width: TileWidth}, "tile/2/999"},
		{"index 1000 takes an x group", Tile{Level: 0, Index: 1000, Width: TileWidth}, "tile/0/x001/000"},
		{"a large index splits into x groups", Tile{Level: 0, Index: 1234067, Width: TileWidth}, "tile/0/x001/x234/067"},
		{"a partial tile has a .p/ suffix", Tile{Level: 1, Index: 0, Width: 2}, "tile/1/000.p/2"},
		{"a partial tile of width 5", Tile{Level: 0, Index: 3, Width: 5}, "tile/0/003.p/5"},
		{"the widest partial tile is 255", Tile{Level: 0, Index: 1, Width: 255}, "tile/0/001.p/255"},
		{"the top level is 63", Tile{Level: 63, Index: 0, Width: 1}, "tile/63/000.p/1"},
		{"a full entry bundle", Tile{Entries: true, Index: 0, Width: TileWidth}, "tile/entries/000"},
		{"a partial entry bundle", Tile{Entries: true, Index: 2, Width: 88}, "tile/entries/002.p/88"},
		{"an entry bundle with x groups", Tile{Entries: true, Index: 1234067, Width: 1}, "tile/entries/x001/x234/067.p/1"},
		{"the last level-0 tile of a 2^64 log", Tile{Level: 0, Index: 1<<56 - 1, Width: TileWidth}, "tile/0/x072/x057/x594/x037/x927/935"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tile.Path(); got != tc.path {
				t.Errorf("%+v.Path() = %q, want %q", tc.tile, got, tc.path)
			}
			if got := sumdbPath(tc.tile); got != tc.path {
				t.Errorf("sumdb/tlog lays %+v out as %q, want %q", tc.tile, got, tc.path)
			}
			got, err := ParseTilePath(tc.path)
			if err != nil {
				t.Fatalf("ParseTilePath(%q): %v", tc.path, err)
			}
			if got != tc.tile {
				t.Fatalf("ParseTilePath(%q) = %+v, want %+v", tc.path, got, tc.tile)
			}
		})
	}
}

func TestParseTilePathRejectsMalformedPaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
	}{
		{"an empty path", ""},
		{"a path without the tile/ prefix", "0/000"},
		{"a path with another prefix", "tiles/0/000"},
		{"a path with no index", "tile/0"},
		{"a path with an empty index", "tile/0/"},
		{"an entries path with no index", "tile/entries"},
		{"a leading x000 group", "tile/0/x000/001"},
		{"a two-digit group", "tile/0/01"},
		{"a four-digit group", "tile/0/0001"},
		{"a two-digit x group", "tile/0/x01/000"},
		{"an inner group without the x prefix", "tile/0/001/234"},
		{"an x on the last group", "tile/0/x001/x234"},
		{"a trailing slash", "tile/0/x001/"},
		{"a non-digit group", "tile/0/0a1"},
		{"a signed group", "tile/0/+01"},
		{"a partial width of 0", "tile/0/000.p/0"},
		{"a partial width of 256", "tile/0/000.p/256"},
		{"a partial width with a leading zero", "tile/0/000.p/05"},
		{"an empty partial width", "tile/0/000.p/"},
		{"a negative partial width", "tile/0/000.p/-1"},
		{"a partial width with a path after it", "tile/0/000.p/5/6"},
		{"level 64", "tile/64/000"},
		{"level 256", "tile/256/000"},
		{"a level with a leading zero", "tile/01/000"},
		{"a negative level", "tile/-1/000"},
		{"a named level other than entries", "tile/data/000"},
		{"the sumdb layout with a height segment", "tile/8/0/000"},
		{"too many groups", "tile/0/x001/x001/x001/x001/x001/x001/x001/000"},
		{"an index past 2^63", "tile/0/x018/x446/x744/x073/x709/x551/615"},
		{"garbage", "tile/\x00/\xff"},
		{"a URL-escaped slash", "tile/0%2F000"},
	} {
		t.Run(tc.name+" is rejected", func(t *testing.T) {
			if got, err := ParseTilePath(tc.path); err == nil {
				t.Fatalf("ParseTilePath(%q) = %+v, want an error", tc.path, got)
			}
		})
	}
}

// perfectRoot folds a power-of-two number of hashes into their subtree hash
// with sumdb/tlog's RFC 6962 NodeHash, independently of the ledger's code.
func perfectRoot(t *testing.T, hs [][]byte) []byte {
	t.Helper()
	level := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		copy(level[i][:], h)
	}
	for len(level) > 1 {
		if len(level)%2 != 0 {
			t.Fatalf("perfectRoot of %d hashes", len(level))
		}
		next := make([]tlog.Hash, len(level)/2)
		for i := range next {
			next[i] = tlog.NodeHash(level[2*i], level[2*i+1])
		}
		level = next
	}
	return level[0][:]
}

func TestReadTileServesTheStoredTree(t *testing.T) {
	f := newFixture(t, Options{})
	const n = 600
	rs := appendN(t, f.l, n)
	ctx := context.Background()
	leaves := make([][]byte, n)
	for i, r := range rs {
		leaves[i] = r.LeafHash
	}

	t.Run("receipt leaf hashes are RFC 6962 record hashes of the entries", func(t *testing.T) {
		for _, i := range []uint64{0, 255, 256, 599} {
			data, err := f.l.Entry(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			if rh := tlog.RecordHash(data); !bytes.Equal(rh[:], leaves[i]) {
				t.Fatalf("entry %d: receipt leaf hash %x, tlog.RecordHash %x", i, leaves[i], rh)
			}
		}
	})

	t.Run("a full level-0 tile is the 256 leaf hashes", func(t *testing.T) {
		got, err := f.l.ReadTile(ctx, Tile{Level: 0, Index: 0, Width: TileWidth})
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Join(leaves[:256], nil); !bytes.Equal(got, want) {
			t.Fatalf("tile/0/000 is %d bytes and differs from the leaf hashes 0..255 (%d bytes)", len(got), len(want))
		}
	})

	t.Run("a partial level-0 tile is the leaf hashes of the last entries", func(t *testing.T) {
		got, err := f.l.ReadTile(ctx, Tile{Level: 0, Index: 2, Width: 88})
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.Join(leaves[512:600], nil); !bytes.Equal(got, want) {
			t.Fatalf("tile/0/002.p/88 differs from the leaf hashes 512..599")
		}
	})

	t.Run("a partial level-1 tile is the level-8 node hashes", func(t *testing.T) {
		got, err := f.l.ReadTile(ctx, Tile{Level: 1, Index: 0, Width: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2*32 {
			t.Fatalf("tile/1/000.p/2 is %d bytes, want 64", len(got))
		}
		node0, node1 := got[:32], got[32:]
		root256, err := f.l.RootAt(ctx, 256)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(node0, root256) {
			t.Errorf("node (8, 0) = %x, want RootAt(256) = %x", node0, root256)
		}
		if want := perfectRoot(t, leaves[:256]); !bytes.Equal(node0, want) {
			t.Errorf("node (8, 0) = %x, want %x from tlog.NodeHash", node0, want)
		}
		if want := perfectRoot(t, leaves[256:512]); !bytes.Equal(node1, want) {
			t.Errorf("node (8, 1) = %x, want %x from tlog.NodeHash over leaves 256..511", node1, want)
		}
		root512, err := f.l.RootAt(ctx, 512)
		if err != nil {
			t.Fatal(err)
		}
		if want := tlog.NodeHash(tlog.Hash(node0), tlog.Hash(node1)); !bytes.Equal(root512, want[:]) {
			t.Errorf("RootAt(512) = %x, want NodeHash(node (8, 0), node (8, 1)) = %x", root512, want)
		}
	})

	t.Run("an entry bundle holds length-prefixed stored entries", func(t *testing.T) {
		got, err := f.l.ReadTile(ctx, Tile{Entries: true, Index: 2, Width: 88})
		if err != nil {
			t.Fatal(err)
		}
		rest := got
		for i := uint64(0); i < 88; i++ {
			if len(rest) < 2 {
				t.Fatalf("bundle ends before record %d", i)
			}
			size := int(binary.BigEndian.Uint16(rest))
			rest = rest[2:]
			if len(rest) < size {
				t.Fatalf("record %d claims %d bytes, %d left", i, size, len(rest))
			}
			want, err := f.l.Entry(ctx, 512+i)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rest[:size], want) {
				t.Fatalf("record %d = %q, want Entry(%d) = %q", i, rest[:size], 512+i, want)
			}
			rest = rest[size:]
		}
		if len(rest) != 0 {
			t.Fatalf("%d bytes after the 88th record", len(rest))
		}
	})

	for _, tc := range []struct {
		name string
		tile Tile
	}{
		{"a full level-0 tile past the end", Tile{Level: 0, Index: 2, Width: TileWidth}},
		{"a partial level-0 tile one hash too wide", Tile{Level: 0, Index: 2, Width: 89}},
		{"a level-0 tile after the last", Tile{Level: 0, Index: 3, Width: 1}},
		{"a level-1 tile one node too wide", Tile{Level: 1, Index: 0, Width: 3}},
		{"a level-2 tile of a log without level-16 nodes", Tile{Level: 2, Index: 0, Width: 1}},
		{"a level-63 tile", Tile{Level: 63, Index: 0, Width: 1}},
		{"an entry bundle past the end", Tile{Entries: true, Index: 3, Width: 1}},
		{"a partial entry bundle one entry too wide", Tile{Entries: true, Index: 2, Width: 89}},
		{"a tile whose first index overflows", Tile{Level: 0, Index: 1 << 60, Width: TileWidth}},
	} {
		t.Run(tc.name+" is not found", func(t *testing.T) {
			got, err := f.l.ReadTile(ctx, tc.tile)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ReadTile(%s) = %d bytes, %v; want ErrNotFound", tc.tile.Path(), len(got), err)
			}
		})
	}
}

// The last full tile index that ParseTilePath accepts at level 0 reaches the
// end of the uint64 index space: its end, first+TileWidth, wraps to 0.
func TestReadTileRejectsTheLastIndexOfTheIndexSpace(t *testing.T) {
	f := newFixture(t, Options{})
	appendN(t, f.l, 10)
	for _, path := range []string{
		"tile/0/x072/x057/x594/x037/x927/935",
		"tile/1/x072/x057/x594/x037/x927/935",
		"tile/entries/x072/x057/x594/x037/x927/935",
	} {
		t.Run(path+" is not found", func(t *testing.T) {
			tile, err := ParseTilePath(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.l.ReadTile(context.Background(), tile)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ReadTile(%s) = %d bytes, %v; want ErrNotFound", path, len(got), err)
			}
		})
	}
}
