package ledger

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mirroros/mirror/store"
)

// Export writes the log as JSON Lines: every entry up to the latest stored
// checkpoint, exactly as stored, then that checkpoint as a line
// {"checkpoint":"<signed note>"}. Entries after the checkpoint wait for the
// next export, so that everything exported is vouched for by a signature.
// It returns the number of entries written.
func Export(ctx context.Context, tx store.ReadTx, w io.Writer, progress func(done, total uint64)) (uint64, error) {
	cp, err := tx.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return 0, errors.New("export: no checkpoint has been signed yet")
	}
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var n uint64
	const page = 1 << 14
	for from := uint64(0); from < cp.Size; from += page {
		err := tx.LedgerEntries(ctx, from, min(from+page, cp.Size), func(e store.LedgerEntry) error {
			if e.Index != n {
				return fmt.Errorf("export: entry %d is missing", n)
			}
			bw.Write(e.Data)
			n++
			return bw.WriteByte('\n')
		})
		if err != nil {
			return n, err
		}
		if progress != nil {
			progress(n, cp.Size)
		}
	}
	if n != cp.Size {
		return n, fmt.Errorf("export: the log has %d entries but its checkpoint covers %d", n, cp.Size)
	}
	line, _ := json.Marshal(ExportLine{Checkpoint: string(cp.Note)})
	bw.Write(line)
	bw.WriteByte('\n')
	return n, bw.Flush()
}
