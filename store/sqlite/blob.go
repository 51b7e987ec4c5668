package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mirroros/mirror/store"
)

func (t *readTx) Blob(ctx context.Context, hash []byte) ([]byte, error) {
	var data []byte
	err := t.q.QueryRowContext(ctx, `SELECT data FROM blobs WHERE hash = ?`, hash).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("blob %x: %w", hash, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: blob: %w", err)
	}
	return data, nil
}

func (t *tx) PutBlob(ctx context.Context, hash, data []byte) error {
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], hash) {
		return fmt.Errorf("store: blob hash %x is not the SHA-256 of its content", hash)
	}
	_, err := t.sqlTx.ExecContext(ctx, `INSERT INTO blobs(hash, data, created_ns) VALUES (?,?,?) ON CONFLICT(hash) DO NOTHING`,
		hash, data, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("store: put blob: %w", err)
	}
	return nil
}
