package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/mirroros/mirror/store"
)

// Tile names a C2SP tlog-tiles resource: a hash tile at Level, or the entry
// bundle of level-0 tile Index when Entries is set. Width is the number of
// hashes or entries: TileWidth for a full tile, less for a partial one.
type Tile struct {
	Level   uint
	Index   uint64
	Width   uint
	Entries bool
}

// ParseTilePath parses a path relative to the tlog-tiles prefix:
// "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]", with <N> in the
// zero-padded three-digit groups of the spec ("x001/x234/067").
func ParseTilePath(path string) (Tile, error) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return Tile{}, fmt.Errorf("tile path %q does not start with tile/", path)
	}
	var t Tile
	first, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Tile{}, fmt.Errorf("tile path %q has no index", path)
	}
	if first == "entries" {
		t.Entries = true
	} else {
		l, err := strconv.ParseUint(first, 10, 8)
		if err != nil || l > 63 || (len(first) > 1 && first[0] == '0') {
			return Tile{}, fmt.Errorf("tile level %q is not a number from 0 to 63", first)
		}
		t.Level = uint(l)
	}
	t.Width = TileWidth
	if i := strings.Index(rest, ".p/"); i >= 0 {
		w, err := strconv.ParseUint(rest[i+3:], 10, 16)
		if err != nil || w < 1 || w >= TileWidth || rest[i+3] == '0' {
			return Tile{}, fmt.Errorf("partial tile width %q is not a number from 1 to %d", rest[i+3:], TileWidth-1)
		}
		t.Width = uint(w)
		rest = rest[:i]
	}
	groups := strings.Split(rest, "/")
	if len(groups) > 7 {
		return Tile{}, fmt.Errorf("tile index %q is too long", rest)
	}
	for i, g := range groups {
		if i < len(groups)-1 {
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return Tile{}, fmt.Errorf("tile index group %q must start with x", groups[i])
			}
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return Tile{}, fmt.Errorf("tile index group %q must be three digits", groups[i])
		}
		n, _ := strconv.ParseUint(g, 10, 64)
		if i == 0 && n == 0 && len(groups) > 1 {
			return Tile{}, fmt.Errorf("tile index %q has a leading zero group", rest)
		}
		hi, lo := t.Index*1000, n
		if t.Index > (1<<63)/1000 {
			return Tile{}, fmt.Errorf("tile index %q is too large", rest)
		}
		t.Index = hi + lo
	}
	return t, nil
}

// Path is the tile's path in the tlog-tiles layout.
func (t Tile) Path() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Entries {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.FormatUint(uint64(t.Level), 10))
	}
	b.WriteByte('/')
	n := strconv.FormatUint(t.Index, 10)
	for len(n)%3 != 0 {
		n = "0" + n
	}
	for i := 0; i < len(n); i += 3 {
		if i+3 < len(n) {
			b.WriteString("x")
			b.WriteString(n[i : i+3])
			b.WriteByte('/')
		} else {
			b.WriteString(n[i:])
		}
	}
	if t.Width < TileWidth {
		fmt.Fprintf(&b, ".p/%d", t.Width)
	}
	return b.String()
}

// ReadTile returns the contents of a tile: concatenated 32-byte hashes, or
// for an entry bundle each entry as a big-endian uint16 length and its bytes.
// A tile reaching beyond the acknowledged log is ErrNotFound.
func (l *Ledger) ReadTile(ctx context.Context, t Tile) ([]byte, error) {
	size := l.Size()
	// The number of complete nodes at the tile's level in the current tree.
	avail := size >> (TileHeight * t.Level)
	if t.Entries {
		avail = size
	}
	first := t.Index * TileWidth
	if t.Index > (1<<64-1)/TileWidth || uint64(t.Width) > avail || first > avail-uint64(t.Width) {
		return nil, fmt.Errorf("%s: %w (size %d)", t.Path(), ErrNotFound, size)
	}
	var out []byte
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		if t.Entries {
			return tx.LedgerEntries(ctx, first, first+uint64(t.Width), func(e store.LedgerEntry) error {
				out = binary.BigEndian.AppendUint16(out, uint16(len(e.Data)))
				out = append(out, e.Data...)
				return nil
			})
		}
		hs, err := storedHashes(ctx, tx, t.Level*TileHeight, first, first+uint64(t.Width))
		if err != nil {
			return err
		}
		out = make([]byte, 0, 32*len(hs))
		for _, h := range hs {
			out = append(out, h...)
		}
		return nil
	})
	return out, err
}
