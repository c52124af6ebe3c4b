package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Version int64
	Name    string
	Applied bool
}

// Migrator applies the embedded schema migrations of the store's dialect.
type Migrator struct {
	provider *goose.Provider
	sources  fs.FS        // the dialect's migration files
	db       *sql.DB      // for Losses
	flush    func() error // the store's flush after commits, nil if its commits fsync
}

// Migrator returns the store's migrator. On PostgreSQL it holds a session advisory lock while it
// migrates, so several instances starting at once apply each migration once.
func (s *Store) Migrator() (*Migrator, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect.name))
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	if s.dialect.lockMigrations {
		id, err := s.migrationLockID()
		if err != nil {
			return nil, err
		}
		// The lock guards one schema's migrations: goose's default is one id for the whole
		// database, so migrations of unrelated schemas (a deployment's, each test's) queued behind
		// each other and, probing every 5 s, took long enough to fail a test's start-up deadline.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.dialect.goose, s.db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{provider: p, sources: sub, db: s.db, flush: s.flush}, nil
}

// migrationLockID is the advisory lock id of the migrations of the current schema: a hash of its
// name, so that instances migrating one schema take turns and other schemas are not held up.
func (s *Store) migrationLockID() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var schema string
	if err := s.db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return 0, fmt.Errorf("read the schema to migrate: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("ingest-portal migrations " + schema))
	return int64(h.Sum64()), nil
}

// Up applies every pending migration and returns the versions it applied.
func (m *Migrator) Up(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Up(ctx)
	return versions(res), m.durable(err)
}

// DownTo rolls back every migration above version (0 removes the whole schema) and returns the
// versions it rolled back.
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]int64, error) {
	res, err := m.provider.DownTo(ctx, version)
	return versions(res), m.durable(err)
}

// durable makes the migrations' commits durable where the store's commits do not fsync
// themselves, even after a failed migration: those before it committed. It returns err, or the
// flush's error.
func (m *Migrator) durable(err error) error {
	if m.flush == nil {
		return err
	}
	if ferr := m.flush(); ferr != nil {
		return errors.Join(err, fmt.Errorf("make the migrations durable: %w", ferr))
	}
	return err
}

// Loss is data that rolling back migrations would destroy: the rows of a table they drop, or the
// rows holding a value in a column they drop.
type Loss struct {
	Table  string
	Column string // "" when the whole table goes
	Rows   int64
}

func (l Loss) String() string {
	rows := fmt.Sprintf("%d rows", l.Rows)
	if l.Rows == 1 {
		rows = "1 row"
	}
	if l.Column == "" {
		return fmt.Sprintf("table %s (%s)", l.Table, rows)
	}
	return fmt.Sprintf("column %s.%s (a value in %s)", l.Table, l.Column, rows)
}

var (
	dropTable  = regexp.MustCompile(`(?is)^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)`)
	alterTable = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(\w+)`)
	dropColumn = regexp.MustCompile(`(?is)DROP\s+COLUMN\s+(?:IF\s+EXISTS\s+)?(\w+)`)
	sqlComment = regexp.MustCompile(`(?m)--.*$`)
)

// Losses returns the data that rolling back every applied migration above version would destroy,
// read from the tables and columns their down sections drop: only what holds data is listed.
func (m *Migrator) Losses(ctx context.Context, version int64) ([]Loss, error) {
	current, err := m.Version(ctx)
	if err != nil {
		return nil, err
	}
	var tables []string
	columns := map[string][]string{}
	for _, src := range m.provider.ListSources() {
		if src.Version <= version || src.Version > current {
			continue
		}
		text, err := fs.ReadFile(m.sources, path.Base(src.Path))
		if err != nil {
			return nil, fmt.Errorf("read migration %d: %w", src.Version, err)
		}
		_, down, _ := strings.Cut(string(text), "-- +goose Down")
		for _, stmt := range strings.Split(sqlComment.ReplaceAllString(down, ""), ";") {
			if t := dropTable.FindStringSubmatch(stmt); t != nil {
				tables = append(tables, t[1])
			} else if t := alterTable.FindStringSubmatch(stmt); t != nil {
				for _, c := range dropColumn.FindAllStringSubmatch(stmt, -1) {
					columns[t[1]] = append(columns[t[1]], c[1])
				}
			}
		}
	}
	var losses []Loss
	count := func(l Loss, query string) error {
		if err := m.db.QueryRowContext(ctx, query).Scan(&l.Rows); err != nil {
			return fmt.Errorf("count what %s holds: %w", l, err)
		}
		if l.Rows > 0 {
			losses = append(losses, l)
		}
		return nil
	}
	for _, t := range tables {
		if err := count(Loss{Table: t}, `SELECT count(*) FROM `+t); err != nil {
			return nil, err
		}
		delete(columns, t) // the table's rows say it all
	}
	for _, t := range slices.Sorted(maps.Keys(columns)) {
		for _, c := range columns[t] {
			if err := count(Loss{Table: t, Column: c}, `SELECT count(*) FROM `+t+` WHERE `+c+` IS NOT NULL`); err != nil {
				return nil, err
			}
		}
	}
	return losses, nil
}

// Version returns the newest applied migration, 0 for none.
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	return m.provider.GetDBVersion(ctx)
}

// Latest returns the newest migration this binary knows.
func (m *Migrator) Latest() int64 {
	sources := m.provider.ListSources()
	if len(sources) == 0 {
		return 0
	}
	return sources[len(sources)-1].Version
}

// Status lists every known migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	res, err := m.provider.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, len(res))
	for i, r := range res {
		out[i] = MigrationStatus{Version: r.Source.Version, Name: r.Source.Path, Applied: r.State == goose.StateApplied}
	}
	return out, nil
}

// Pending reports whether some known migration is not applied.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	return m.provider.HasPending(ctx)
}

func versions(res []*goose.MigrationResult) []int64 {
	out := make([]int64, 0, len(res))
	for _, r := range res {
		if r.Error == nil {
			out = append(out, r.Source.Version)
		}
	}
	return out
}
