package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ingest-portal/ingest"
)

// maxGroup bounds how many writes share one transaction, so that no caller waits behind an
// unbounded queue of others' statements.
const maxGroup = 64

// errGroupPanicked is what the other writes of a group get when one of them panicked: the group's
// transaction was rolled back, so none of them happened.
var errGroupPanicked = errors.New("another write of the same group commit panicked; this write was rolled back")

// groupCommit runs this process's SQLite write transactions, several at a time: the writes that
// queue while a transaction commits share the next one, each in a savepoint of its own, and so
// share its WAL writes and the flush that makes them durable.
//
// Nothing is acknowledged before the shared commit succeeds and is durable: a write's caller gets
// its result only then, and a failed commit fails every write of the group. A write that fails on
// its own is rolled back to its savepoint alone; the others still commit. A write that panics
// rolls back the whole group: its caller gets the panic again, the others an error.
//
// Holding turn is the right to write. Callers queue their write and then wait either for the turn
// or for a leader to have done their write; the one holding the turn takes the queue (up to
// maxGroup), commits it and gives the turn up. Where the store flushes after the commit
// (Store.flush), the leader then waits for that flush, without the turn, so that the next group's
// statements run meanwhile, and only then hands out the results.
//
// A write may need an object outside the database to be durable before it commits (commitAfter):
// the leader waits for those objects once every write's statements have run, just before the
// commit, and an object whose flush fails fails the whole group, as a failed commit does.
//
// A commit is visible to readers before that flush ends. Nothing outside the process learns of it
// from this store before then but through a read: a relay claims events in a write of its own, so
// it sends none before a flush that covers their commit too.
type groupCommit struct {
	turn  chan struct{} // capacity 1
	mu    sync.Mutex    // guards queue and the taken flags
	queue []*groupWrite
}

// groupWrite is one caller's write transaction waiting in the queue.
type groupWrite struct {
	ctx   context.Context
	fn    func(tx *txn) error
	done  chan writeResult // buffered: the leader never waits for the caller
	taken bool             // a leader has taken it from the queue; guarded by groupCommit.mu
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

// runGrouped queues fn, and returns once a transaction holding it has committed (and been made
// durable) or failed.
func (s *Store) runGrouped(ctx context.Context, fn func(tx *txn) error) error {
	if err := s.lostDurability(); err != nil {
		return err
	}
	g := s.group
	w := &groupWrite{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	g.mu.Unlock()
	for {
		select {
		case r := <-w.done:
			return r.get()
		case g.turn <- struct{}{}:
		}
		g.mu.Lock()
		if w.taken {
			// Another leader's group holds w: its result comes once that group is durable.
			g.mu.Unlock()
			<-g.turn
			return (<-w.done).get()
		}
		batch := g.queue[:min(len(g.queue), maxGroup)]
		g.queue = g.queue[len(batch):]
		if len(g.queue) == 0 {
			g.queue = nil // let the backing array go
		}
		for _, b := range batch {
			b.taken = true
		}
		g.mu.Unlock()
		s.lead(batch)
		// w was in the batch unless more than maxGroup writes were queued before it.
	}
}

// lead commits batch while holding the turn, gives the turn up, waits for the commit to be
// durable and hands out the results.
func (s *Store) lead(batch []*groupWrite) {
	results := make([]writeResult, len(batch))
	held := true
	release := func() {
		if held {
			held = false
			<-s.group.turn
		}
	}
	defer release() // should commitGroup itself panic
	committed, err := s.commitGroup(batch, results)
	release()
	if err == nil && committed && s.flush != nil {
		if ferr := s.flush(); ferr != nil {
			err = s.loseDurability(ferr)
		}
	}
	if err != nil {
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

// get returns the write's error, or panics again with its value in the caller's goroutine.
func (r writeResult) get() error {
	if r.panicked {
		panic(r.value)
	}
	return r.err
}

// commitGroup runs batch in one transaction and commits it, leaving each write's own outcome in
// results. It reports whether anything committed, and returns an error when the transaction as a
// whole failed: then nothing did.
//
// Statements run under a context no caller can cancel: SQLite rolls back the whole transaction
// when a statement in it is interrupted, which would take the other writes with it. A write whose
// caller has already gone is skipped instead.
func (s *Store) commitGroup(batch []*groupWrite, results []writeResult) (bool, error) {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, s.translate(fmt.Errorf("begin: %w", err))
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
			if _, err := t.ExecContext(ctx, `SAVEPOINT grouped_write`); err != nil {
				return false, fmt.Errorf("savepoint: %w", err)
			}
		}
		results[i] = callWrite(w.fn, t)
		if results[i].panicked {
			return false, errGroupPanicked
		}
		switch {
		case !shared:
		case results[i].err != nil:
			if _, err := t.ExecContext(ctx, `ROLLBACK TO grouped_write`); err != nil {
				return false, fmt.Errorf("roll back to savepoint: %w", err)
			}
			fallthrough
		default:
			if _, err := t.ExecContext(ctx, `RELEASE grouped_write`); err != nil {
				return false, fmt.Errorf("release savepoint: %w", err)
			}
		}
		if results[i].err == nil {
			committed++
		}
	}
	if committed == 0 {
		return false, nil // every write failed on its own; the deferred rollback undoes what they did
	}
	if err := t.awaitDurable(); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, s.translate(fmt.Errorf("commit: %w", err))
	}
	s.committed(t)
	return true, nil
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

// loseDurability records that a flush failed and returns the error the writes it covered get:
// they committed, so readers may have seen them, but they may not be on disk. Their callers must
// not undo what they recorded (ingest.ErrOutcomeUnknown).
func (s *Store) loseDurability(flushErr error) error {
	err := &ingest.Error{Code: ingest.EInternal,
		Message: "the database could not make its latest writes durable: the disk failed to flush; check it and restart",
		Err:     fmt.Errorf("%w: %w", ingest.ErrOutcomeUnknown, flushErr)}
	var lost error = err
	s.lost.CompareAndSwap(nil, &lost)
	return err
}

// lostDurability returns the error of the failed flush that stopped the store's writes, or nil.
func (s *Store) lostDurability() error {
	if p := s.lost.Load(); p != nil {
		return *p
	}
	return nil
}
