package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// maxGroup bounds how many writes share one transaction, so that no caller waits behind an
// unbounded queue of others' statements.
const maxGroup = 64

// errGroupPanicked is what the other writes of a group get when one of them panicked: the group's
// transaction was rolled back, so none of them happened.
var errGroupPanicked = errors.New("another write of the same group commit panicked; this write was rolled back")

// groupCommit runs this process's SQLite write transactions, several at a time: the writes that
// queue while a transaction commits share the next one, each in a savepoint of its own, and so
// share its WAL writes and its one fsync. SQLite has a single writer and each commit costs an
// fsync; with 16 small uploads in flight a group holds about 3 writes (docs/performance.md).
//
// Nothing is acknowledged before the shared commit succeeds: a write's caller gets its result only
// then, and a failed commit fails every write of the group. A write that fails on its own is
// rolled back to its savepoint alone; the others still commit. A write that panics rolls back the
// whole group: its caller gets the panic again, the others an error.
//
// Holding turn is the right to write. Callers queue their write and then wait either for the turn
// or for a leader to have done their write; the one holding the turn takes the whole queue.
type groupCommit struct {
	turn  chan struct{} // capacity 1
	mu    sync.Mutex    // guards queue
	queue []*groupWrite
}

// groupWrite is one caller's write transaction waiting in the queue.
type groupWrite struct {
	ctx  context.Context
	fn   func(tx *txn) error
	done chan writeResult // buffered: the leader never waits for the caller
}

// writeResult is how a write ended: its error, or the value it panicked with.
type writeResult struct {
	err      error
	panicked bool
	value    any
}

func newGroupCommit() *groupCommit {
	return &groupCommit{turn: make(chan struct{}, 1)}
}

// lock takes the turn to write, waiting behind the writers before it.
func (g *groupCommit) lock() func() {
	g.turn <- struct{}{}
	return func() { <-g.turn }
}

// queued returns how many writes wait for a transaction.
func (g *groupCommit) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// runGrouped queues fn, and returns once a transaction holding it has committed or failed.
func (s *Store) runGrouped(ctx context.Context, fn func(tx *txn) error) error {
	g := s.group
	w := &groupWrite{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	g.mu.Unlock()
	select {
	case r := <-w.done:
		return r.get()
	case g.turn <- struct{}{}:
	}
	defer func() { <-g.turn }()
	for {
		// A leader delivers every result of its group before it gives up the turn, so a write
		// that is not done now is still queued.
		select {
		case r := <-w.done:
			return r.get()
		default:
		}
		g.mu.Lock()
		batch := g.queue[:min(len(g.queue), maxGroup)]
		g.queue = g.queue[len(batch):]
		if len(g.queue) == 0 {
			g.queue = nil // let the backing array go
		}
		g.mu.Unlock()
		results := make([]writeResult, len(batch))
		if err := s.commitGroup(batch, results); err != nil {
			for i := range results {
				if !results[i].panicked {
					results[i].err = err
				}
			}
		}
		for i, w := range batch {
			w.done <- results[i]
		}
	}
}

// get returns the write's error, or panics again with its value in the caller's goroutine.
func (r writeResult) get() error {
	if r.panicked {
		panic(r.value)
	}
	return r.err
}

// commitGroup runs batch in one transaction and commits it, leaving each write's own outcome in
// results. It returns an error when the transaction as a whole failed: then nothing committed.
//
// Statements run under a context no caller can cancel: SQLite rolls back the whole transaction
// when a statement in it is interrupted, which would take the other writes with it. A write whose
// caller has already gone is skipped instead.
func (s *Store) commitGroup(batch []*groupWrite, results []writeResult) error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.translate(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback() // a no-op after Commit
	t := &txn{tx: tx, c: s.stmts, ctx: ctx}
	shared := len(batch) > 1
	committed := 0
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		if shared {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT grouped_write`); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
		}
		results[i] = callWrite(w.fn, t)
		if results[i].panicked {
			return errGroupPanicked
		}
		switch {
		case !shared:
		case results[i].err != nil:
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO grouped_write`); err != nil {
				return fmt.Errorf("roll back to savepoint: %w", err)
			}
			fallthrough
		default:
			if _, err := tx.ExecContext(ctx, `RELEASE grouped_write`); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
		}
		if results[i].err == nil {
			committed++
		}
	}
	if committed == 0 {
		return nil // every write failed on its own; the deferred rollback undoes what they did
	}
	if err := tx.Commit(); err != nil {
		return s.translate(fmt.Errorf("commit: %w", err))
	}
	s.committed(t)
	return nil
}

// callWrite runs fn, catching a panic so that the leader can end the group and hand the turn on.
func callWrite(fn func(tx *txn) error, t *txn) (r writeResult) {
	defer func() {
		if v := recover(); v != nil {
			r = writeResult{panicked: true, value: v}
		}
	}()
	return writeResult{err: fn(t)}
}
