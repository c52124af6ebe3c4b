package sqlstore

import (
	"context"
	"database/sql"
	"sync"

	"github.com/ingest-portal/ingest"
)

// stmtCache holds a prepared statement per SQL text, shared by every connection and transaction:
// modernc's SQLite otherwise parses each statement on each call, which cost a sixth of the CPU
// of a small upload. Every SQL text of the store is a constant of its code (lists bind their
// limit), so the cache holds a bounded number of statements.
//
// Only SQLite uses it. On PostgreSQL pgx prepares and caches each statement per connection by
// itself, and this cache would be harmful there: preparing on the pool from inside a transaction
// needs a second connection, and once every pooled connection is held by such a transaction,
// none can get one (a deadlock). A nil *stmtCache runs every statement as it is.
type stmtCache struct {
	db    *sql.DB
	stmts sync.Map // SQL text → *sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
}

// cachedDB runs statements outside a transaction through the cache, if there is one.
type cachedDB struct {
	db *sql.DB
	c  *stmtCache
}

func (d cachedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if d.c == nil {
		return d.db.ExecContext(ctx, query, args...)
	}
	st, err := d.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (d cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if d.c == nil {
		return d.db.QueryContext(ctx, query, args...)
	}
	st, err := d.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if d.c == nil {
		return d.db.QueryRowContext(ctx, query, args...)
	}
	st, err := d.c.get(ctx, query)
	if err != nil {
		// A *sql.Row cannot be made with an error; run the query unprepared, which reports it.
		return d.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// txn is a write transaction whose statements come from the cache, if there is one; the database
// prepares each once per connection and reuses it.
type txn struct {
	tx *sql.Tx
	c  *stmtCache
	// enqueued: the transaction made outbox events due, so this process's relays are woken once
	// it commits (SQLite has no NOTIFY).
	enqueued bool
	// ctx, when set, replaces the context of every statement: that of a transaction shared by a
	// group of writes, which no single caller may cancel (see commitGroup).
	ctx context.Context
	// durableFirst are writes outside the database (objects) that must be durable before the
	// transaction commits. It waits for them only then, after every statement of its group, so that
	// their flushes overlap the statements and the writer's turn is never spent idle between them.
	durableFirst []ingest.Pending
}

// commitAfter makes the transaction wait for p before it commits. A write registers p as its last
// step: a write that failed and was rolled back alone leaves nothing to wait for.
func (t *txn) commitAfter(p ingest.Pending) {
	if p != nil {
		t.durableFirst = append(t.durableFirst, p)
	}
}

// awaitDurable waits for every write registered with commitAfter, and returns the first error.
func (t *txn) awaitDurable() error {
	for _, p := range t.durableFirst {
		if err := p.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// context returns the context a statement runs under.
func (t *txn) context(ctx context.Context) context.Context {
	if t.ctx != nil {
		return t.ctx
	}
	return ctx
}

func (t *txn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := t.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, st), nil
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = t.context(ctx)
	if t.c == nil {
		return t.tx.ExecContext(ctx, query, args...)
	}
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = t.context(ctx)
	if t.c == nil {
		return t.tx.QueryContext(ctx, query, args...)
	}
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = t.context(ctx)
	if t.c == nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	st, err := t.stmt(ctx, query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
