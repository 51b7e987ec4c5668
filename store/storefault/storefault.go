// Package storefault wraps a store.Store with injectable write failures, for
// testing that the kernel fails closed when it cannot record.
package storefault

import (
	"context"
	"sync/atomic"

	"github.com/mirroros/mirror/store"
)

// Store passes everything through to Inner until Fail is called.
type Store struct {
	Inner store.Store
	err   atomic.Pointer[error]
}

var _ store.Store = (*Store)(nil)

// Fail makes every Update return err without writing; Fail(nil) heals.
func (s *Store) Fail(err error) {
	if err == nil {
		s.err.Store(nil)
		return
	}
	s.err.Store(&err)
}

// Update fails while a failure is set.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if e := s.err.Load(); e != nil {
		return *e
	}
	return s.Inner.Update(ctx, fn)
}

// View always passes through: reads keep working while writes fail.
func (s *Store) View(ctx context.Context, fn func(store.ReadTx) error) error {
	return s.Inner.View(ctx, fn)
}

// Close closes Inner.
func (s *Store) Close() error { return s.Inner.Close() }
