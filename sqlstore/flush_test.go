package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
)

// TestSQLiteCommitsWaitForAFlushWithoutTheTurn: where commits are made durable by a flush after them,
// a write returns only after a flush that began after its commit, and the flush runs after the
// writer's turn was given up, so the next group's statements need not wait for the disk.
func TestSQLiteCommitsWaitForAFlushWithoutTheTurn(t *testing.T) {
	t.Parallel()
	s := testdb.Store(t, "sqlite")
	ctx := context.Background()
	var mu sync.Mutex
	var flushes int
	var heldTurn bool
	sqlstore.SetFlush(s, func() error {
		mu.Lock()
		defer mu.Unlock()
		flushes++
		if !sqlstore.TurnFree(s) {
			heldTurn = true
		}
		return nil
	})
	u := &ingest.User{Username: "flushed"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if flushes != 1 {
		t.Errorf("one write made %d flushes, want 1", flushes)
	}
	if heldTurn {
		t.Error("the flush ran while the writer's turn was held")
	}
}

// TestAFailedFlushStopsWrites: a flush that fails leaves the writes it covered committed but of
// unknown durability — their callers get ErrOutcomeUnknown, so they undo nothing — and the store
// refuses every later write and reports itself unready.
func TestAFailedFlushStopsWrites(t *testing.T) {
	t.Parallel()
	s := testdb.Store(t, "sqlite")
	ctx := context.Background()
	sqlstore.SetFlush(s, func() error { return errors.New("EIO") })
	first := &ingest.User{Username: "first"}
	err := s.CreateUser(ctx, first)
	if !errors.Is(err, ingest.ErrOutcomeUnknown) || ingest.ErrorCode(err) != ingest.EInternal {
		t.Fatalf("CreateUser with a failing flush = %v, want INTERNAL wrapping ErrOutcomeUnknown", err)
	}
	if _, err := s.User(ctx, first.ID); err != nil {
		t.Errorf("the write whose flush failed is not visible (%v): it committed, so it should be", err)
	}
	sqlstore.SetFlush(s, func() error { return nil })
	second := &ingest.User{Username: "second"}
	if err := s.CreateUser(ctx, second); !errors.Is(err, ingest.ErrOutcomeUnknown) {
		t.Errorf("a write after the failed flush = %v, want it refused with ErrOutcomeUnknown", err)
	}
	if _, err := s.User(ctx, second.ID); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("the refused write's user: %v, want NOT_FOUND", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after a failed flush succeeded; /readyz must report the store")
	}
}
