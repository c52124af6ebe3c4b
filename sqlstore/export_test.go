package sqlstore

import (
	"context"
	"time"
)

// HoldWriters takes the turn to write on SQLite, so that a test can queue writes behind it and
// have them committed as one group when it calls the returned release. On PostgreSQL, which does
// not group writes, it holds nothing.
func HoldWriters(s *Store) (release func()) { return s.lockWriters() }

// QueuedWrites returns how many writes wait for a group transaction (0 on PostgreSQL).
func QueuedWrites(s *Store) int {
	if s.group == nil {
		return 0
	}
	return s.group.queued()
}

// RunWrite runs fn as one write transaction of the store; exec runs a statement in it.
func RunWrite(ctx context.Context, s *Store, fn func(exec func(query string, args ...any) error) error) error {
	return s.inTx(ctx, func(tx *txn) error {
		return fn(func(query string, args ...any) error {
			_, err := tx.ExecContext(ctx, query, args...)
			return err
		})
	})
}

// FlushesAfterCommits says whether s makes SQLite commits durable by a flush after them.
func FlushesAfterCommits(s *Store) bool { return s.flush != nil }

// SetFlush replaces the SQLite store's flush after commits.
func SetFlush(s *Store, flush func() error) { s.flush = flush }

// TurnFree reports whether no writer holds the turn to write on SQLite.
func TurnFree(s *Store) bool {
	select {
	case s.group.turn <- struct{}{}:
		<-s.group.turn
		return true
	default:
		return false
	}
}

// CountTransactions makes s count its transactions from now on, and returns how many it ran so
// far: reads (each statement outside a transaction) and write transactions.
func CountTransactions(s *Store) func() (reads, writes int64) {
	s.txs = &txCounts{}
	return func() (int64, int64) { return s.txs.reads.Load(), s.txs.writes.Load() }
}

// At encodes a time as the store writes it.
func At(t time.Time) string { return at(t) }
