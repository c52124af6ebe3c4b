// Package sqlstore is the ingest.Store on SQLite (modernc.org/sqlite, no cgo) and PostgreSQL
// (pgx). One SQL text serves both databases wherever they agree, which is almost everywhere: both
// bind $N parameters and both support RETURNING, ON CONFLICT and partial indexes. The schema is
// applied by embedded goose migrations, one folder per dialect; the rest that differs is in
// dialect.go.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
	"github.com/ingest-portal/ingest/readmodel"
)

var _ ingest.Store = (*Store)(nil)

// Dialect names the SQL database behind a Store.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the ingest.Store over database/sql.
type Store struct {
	db      *sql.DB
	dialect *dialect
	now     func() time.Time
	// group queues this process's SQLite write transactions and commits them in groups (nil on
	// PostgreSQL). SQLite has one writer at a time, and a writer that finds it busy sleeps and
	// retries (busy_timeout) instead of queueing: under load, such writers starve and fail with
	// SQLITE_BUSY. Waiting here, in order, they do not. Writers in other processes still meet
	// busy_timeout.
	group *groupCommit
	// flusher makes SQLite commits durable (WithFlusher); flush, if not nil, is its shared flush
	// that makes every commit so far durable, after the group commit has given up the writer's turn.
	flusher *durable.Flusher
	flush   func() error
	// lost is set once a flush failed: commits that others may already have read are perhaps not
	// on disk, so the store refuses every later write and reports itself unready until restarted.
	lost atomic.Pointer[error]
	// stmts caches prepared statements on SQLite (nil on PostgreSQL, where pgx already prepares
	// and caches each statement per connection).
	stmts  *stmtCache
	url    string   // for the LISTEN connection of WatchOutbox
	outbox watchers // this process's outbox watchers, woken after a commit that enqueued events
	notify notifier // PostgreSQL: NOTIFYs the relays of every process after such commits
	// searchWindow bounds the rows a console search reads per page (WithSearchWindow).
	searchWindow int
	// txs, when set (by tests), counts the store's transactions.
	txs *txCounts
}

// txCounts counts transactions: each statement run outside a transaction of the store's is one.
type txCounts struct{ reads, writes atomic.Int64 }

func (c *txCounts) read() {
	if c != nil {
		c.reads.Add(1)
	}
}

func (c *txCounts) write() {
	if c != nil {
		c.writes.Add(1)
	}
}

// Option configures a Store.
type Option func(*Store)

// WithFlusher sets how SQLite commits are made durable (a flusher of its own, of
// durable.DefaultMode, if not given):
//
//   - where the flusher's volume has no shared flush (durable.Files), each commit fsyncs the WAL
//     (synchronous=FULL), holding the writer's turn for it;
//   - where it has one (durable.Filesystem), commits write the WAL without an fsync
//     (synchronous=NORMAL), and the group commit makes them durable after giving up the turn,
//     with a syncfs(2) shared with every other write of the moment to the filesystem — the local
//     blob store's objects among them, when it has the same flusher. One flush then covers both,
//     and the turn is held only for the statements and the WAL's writes.
//
// SQLite stays consistent after a power cut either way. It has no effect on PostgreSQL.
func WithFlusher(f *durable.Flusher) Option {
	return func(s *Store) { s.flusher = f }
}

// WithClock makes the store read the time from now instead of time.Now, so tests can move it.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Open connects to the database at url: sqlite://PATH (the file and its directory are created
// when missing) or postgres://… (postgresql://… too). It does not migrate; see Migrator.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	name, path, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	dialect := dialectOf(name)
	s := &Store{dialect: dialect, now: time.Now, url: url, searchWindow: readmodel.SearchWindow}
	for _, o := range opts {
		o(s)
	}
	if dialect.localFile {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("create the database directory: %w", err)
		}
		if s.flusher == nil {
			s.flusher = durable.Default()
		}
		volume, err := s.flusher.Volume(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("open sqlite database: %w", err)
		}
		s.flush = volume.SharedFlush()
	}
	db, err := openDB(dialect, dialect.dsn(url, path, s.flush != nil))
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", name, err)
	}
	dialect.pool(db)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", name, err)
	}
	s.db = db
	if dialect.groupWrites {
		s.group, s.stmts = newGroupCommit(), &stmtCache{db: db}
	}
	if dialect.notify {
		s.notify.start(s)
	}
	return s, nil
}

// ParseURL returns the dialect of a database URL and, for SQLite, the file's path. It returns
// EValidation for any other URL; its messages never repeat the URL, which may hold a password.
func ParseURL(url string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" || strings.ContainsAny(path, "?#") {
			return "", "", ingest.Errorf(ingest.EValidation, "the database URL sqlite://%s must name a file, with no ? or #", path)
		}
		return SQLite, path, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		if _, err := neturl.Parse(url); err != nil {
			var urlErr *neturl.Error
			if errors.As(err, &urlErr) {
				err = urlErr.Err // the same error without the URL
			}
			return "", "", ingest.Errorf(ingest.EValidation, "the database URL is not a valid postgres:// URL: %v", err)
		}
		return Postgres, "", nil
	}
	return "", "", ingest.Errorf(ingest.EValidation, "the database URL must be sqlite://PATH or postgres://…")
}

// Close closes the database.
func (s *Store) Close() error {
	s.notify.stop()
	s.stmts.close()
	return s.db.Close()
}

// q runs statements outside a transaction, prepared once.
func (s *Store) q() cachedDB {
	s.txs.read()
	return cachedDB{db: s.db, c: s.stmts}
}

// DB returns the underlying database, for migrations and for tests that must bypass the store.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the store's SQL dialect.
func (s *Store) Dialect() Dialect { return s.dialect.name }

// Ping checks that the database answers and that the store still takes writes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.lostDurability(); err != nil {
		return err
	}
	return s.db.PingContext(ctx)
}

// clock returns the current time as the database stores it.
func (s *Store) clock() time.Time { return ingest.Timestamp(s.now()) }

// inTx runs fn in one write transaction, committing when it returns nil. On SQLite that
// transaction may be shared with other writes (see groupCommit); fn's statements then run under
// the group's context, not ctx.
func (s *Store) inTx(ctx context.Context, fn func(tx *txn) error) error {
	s.txs.write()
	if s.group != nil {
		return s.runGrouped(ctx, fn)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.translate(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	t := &txn{tx: tx, c: s.stmts}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.awaitDurable(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.translate(fmt.Errorf("commit: %w", err))
	}
	s.committed(t)
	return nil
}

// committed wakes this process's relays, and through NOTIFY every other process's, after t
// committed outbox events that are due.
func (s *Store) committed(t *txn) {
	if t.enqueued {
		s.outbox.wake()
		s.notify.signal()
	}
}

// lockWriters takes this process's turn to write to SQLite outside any group, and returns its
// release; on PostgreSQL it holds nothing. Writes made under it must not go through inTx or exec,
// which would wait for the turn it holds.
func (s *Store) lockWriters() func() {
	if s.group == nil {
		return func() {}
	}
	return s.group.lock()
}

// exec runs one statement that writes, outside any transaction of the caller's.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s.txs.write()
	if s.group == nil {
		return cachedDB{db: s.db, c: s.stmts}.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err := s.runGrouped(ctx, func(tx *txn) (err error) {
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// querier is what *sql.DB and *sql.Tx have in common, so read helpers serve both.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// notFound turns sql.ErrNoRows into ENotFound for the named entity and passes other errors through
// translate.
func (s *Store) notFound(err error, entity string, id any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ingest.Errorf(ingest.ENotFound, "%s %v not found", entity, id)
	}
	return s.translate(err)
}

// refused is the error of a compare-and-set that changed nothing, given the domain's verdict on
// the state the row was found in afterwards. When the domain would allow the transition from that
// state, the row moved between the update and the read (another transaction committed in between;
// PostgreSQL runs each statement on a fresh snapshot): that is a conflict to retry, never success.
func refused(verdict error) error {
	if verdict != nil {
		return verdict
	}
	return ingest.Errorf(ingest.EConflict, "the row changed while this request ran; try again")
}

// currentStatus reads the status of the row of table with id: the follow-up of a compare-and-set
// that changed nothing, to tell "not found" from "in another state".
func (s *Store) currentStatus(ctx context.Context, q querier, table, entity string, id uuid.UUID) (string, error) {
	var status string
	err := q.QueryRowContext(ctx, `SELECT status FROM `+table+` WHERE id = $1`, id).Scan(&status)
	if err != nil {
		return "", s.notFound(err, entity, id)
	}
	return status, nil
}

// statusList renders statuses as an SQL list of literals. The values are the domain's constants,
// never input, so they are safe to write into the query; it keeps the state machine the one place
// that says which states may reach which.
func statusList[S ~string](statuses []S) string {
	quoted := make([]string, len(statuses))
	for i, st := range statuses {
		quoted[i] = "'" + string(st) + "'"
	}
	return strings.Join(quoted, ", ")
}
