// Package testdb gives tests a database of their own: a SQLite file in a temporary directory, or
// a throwaway schema in the PostgreSQL server named by INGEST_TEST_POSTGRES_URL (default: the
// local server at 127.0.0.1:5432, database test, user postgres), and a migrated store on it.
//
// A migrated database is a copy of a template migrated once per test binary, not migrated from
// zero for each test, which cost most of a store test's set-up on PostgreSQL. The SQLite template
// is the bytes of a migrated file, written into each test's directory; the PostgreSQL template is
// pg_dump's script of a migrated schema, run under each test's schema name in one transaction
// (so pg_dump, from postgresql-client, must be on PATH). A database per test made with CREATE
// DATABASE … TEMPLATE was no faster: before PostgreSQL 16, each DROP DATABASE forces a checkpoint
// of the whole server. A migrated PostgreSQL schema whose test has ended is emptied and handed to
// the next test, of this binary or a later one (see schemaPool), which costs the server far less
// than a copy. Tests of the
// migrations themselves take an empty database (URL) and migrate it from zero.
//
// There is deliberately no way to skip the PostgreSQL half: when the server cannot be reached the
// test fails and says how to start it, so a green run always means both databases were tested.
package testdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/ingest-portal/ingest/sqlstore"
)

// DefaultPostgresURL is the server the tests use when INGEST_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects returns the databases every store behaviour is tested on.
func Dialects() []string { return []string{"sqlite", "postgres"} }

// The templates, made once per test binary by the first test that needs one: the package's only
// state, written once by sync.OnceValues and read-only after. A failure is kept too, so every test
// that needs the template fails with its cause.
var (
	sqliteTemplate   = sync.OnceValues(makeSQLiteTemplate)
	postgresTemplate = sync.OnceValues(makePostgresTemplate)
)

// URL returns the URL of a new, empty database of the dialect ("sqlite" or "postgres"), removed
// when the test ends.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return SQLiteURL(t)
	case "postgres":
		return PostgresURL(t)
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

// MigratedURL returns the URL of a new database of the dialect with every migration applied,
// copied from the dialect's template and removed when the test ends.
func MigratedURL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return migratedSQLiteURL(t)
	case "postgres":
		return migratedPostgresURL(t)
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

// Store opens a store on a new database of the dialect with every migration applied (see
// MigratedURL), closed when the test ends.
func Store(t testing.TB, dialect string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), MigratedURL(t, dialect), opts...)
	if err != nil {
		t.Fatalf("testdb: open the store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SQLiteURL returns the URL of a new SQLite database file in the test's temporary directory.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "ingest.db")
}

// migratedSQLiteURL writes the SQLite template into the test's temporary directory.
func migratedSQLiteURL(t testing.TB) string {
	t.Helper()
	template, err := sqliteTemplate()
	if err != nil {
		t.Fatalf("testdb: the migrated SQLite template: %v", err)
	}
	path := filepath.Join(t.TempDir(), "ingest.db")
	if err := os.WriteFile(path, template, 0o600); err != nil {
		t.Fatalf("testdb: copy the SQLite template: %v", err)
	}
	return "sqlite://" + path
}

// makeSQLiteTemplate migrates a SQLite database in a temporary directory and returns its file.
func makeSQLiteTemplate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "ingest-testdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ingest.db")
	if err := migrate("sqlite://"+path, func(db *sql.DB) error {
		// The file must be whole without its write-ahead log, which is not copied.
		_, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		return err
	}); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// migrate applies every migration to the database at url; before, if not nil, runs on the
// database just before the store is closed.
func migrate(url string, before func(*sql.DB) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlstore.Open(ctx, url)
	if err != nil {
		return err
	}
	m, err := s.Migrator()
	if err == nil {
		_, err = m.Up(ctx)
	}
	if err == nil && before != nil {
		err = before(s.DB())
	}
	return errors.Join(err, s.Close())
}

// postgresServer returns the URL of the test server, and the server opened on it after checking
// that it answers, with an error that says how to start it if it does not.
func postgresServer(ctx context.Context) (*url.URL, *sql.DB, error) {
	base := os.Getenv("INGEST_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, nil, errors.New("INGEST_TEST_POSTGRES_URL is not a URL")
	}
	shown := u.Redacted() // the URL may hold a password
	// The schemas a test creates and drops need not wait for the WAL flush either (see inSchema).
	admin := *u
	q := admin.Query()
	q.Set("synchronous_commit", "off")
	admin.RawQuery = q.Encode()
	db, err := sql.Open("pgx", admin.String())
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %v", shown, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("PostgreSQL at %s does not answer (%v); start it "+
			"(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "+
			"or point INGEST_TEST_POSTGRES_URL at one", shown, err)
	}
	return u, db, nil
}

// PostgresURL creates a schema of its own in the test PostgreSQL database and returns a URL whose
// search_path points at it. The schema is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	srv, err := postgresAdmin()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := "ingest_test_" + randomHex(8)
	if _, err := srv.db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := srv.db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	u := *srv.url
	return inSchema(&u, schema)
}

// migratedPostgresURL gives the test a migrated schema in the test PostgreSQL database, an emptied
// one from the pool or a new copy of the template (see schemaPool), and returns a URL whose
// search_path points at it. When the test ends the schema goes back to the pool.
func migratedPostgresURL(t testing.TB) string {
	t.Helper()
	template, err := postgresTemplate()
	if err != nil {
		t.Fatalf("testdb: the migrated PostgreSQL template: %v", err)
	}
	srv, err := postgresAdmin()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	schema, err := srv.pool.take(ctx, template)
	if err != nil {
		t.Fatalf("testdb: a migrated PostgreSQL schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.pool.giveBack(ctx, schema, template); err != nil {
			t.Errorf("testdb: give back schema %s: %v", schema, err)
		}
	})
	u := *srv.url
	return inSchema(&u, schema)
}

// postgresConn is the test server, opened once per test binary for the schemas' set-up and
// clean-up, and the binary's pool of migrated schemas.
type postgresConn struct {
	url  *url.URL
	db   *sql.DB
	pool *schemaPool
}

// postgresAdmin opens the test server once per test binary.
var postgresAdmin = sync.OnceValues(func() (postgresConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, db, err := postgresServer(ctx)
	if err != nil {
		return postgresConn{}, err
	}
	db.SetMaxIdleConns(8)
	pool, err := newSchemaPool(ctx, db)
	if err != nil {
		db.Close()
		return postgresConn{}, err
	}
	return postgresConn{url: u, db: db, pool: pool}, nil
})

// copyTemplate runs the template's script under the schema name.
func copyTemplate(ctx context.Context, db *sql.DB, template postgresScript, schema string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// One statement of many, so one round trip and one transaction; its settings are the
	// session's, undone before the connection goes back to the pool.
	if _, err := conn.ExecContext(ctx, strings.ReplaceAll(template.script, template.schema, schema)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `RESET ALL`)
	return err
}

// inSchema returns u with its sessions in schema. They commit without waiting for the server's
// WAL flush (synchronous_commit off), which a test never needs: what it checks is what its
// sessions see, and a portal it kills is a client, not the server. On a machine busy with other
// writes, that wait was much of a PostgreSQL test's time.
func inSchema(u *url.URL, schema string) string {
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}

// postgresScript is the PostgreSQL template: a script that creates a migrated schema, named
// schema in the script's text; the digest of the schema's definition (shapeOf), and its tables in
// an order they can be emptied in (deleteOrder).
type postgresScript struct {
	script, schema string
	shape          string
	tables         []string
}

// makePostgresTemplate migrates a schema and returns pg_dump's script of it, schema and rows
// (goose's versions), then drops it. pg_dump writes every name qualified with the schema's, which
// is random and so appears nowhere else: a copy is the script with another name in its place.
// pg_dump's own SQL, not the migrations replayed, so a copy is what goose made, its table too.
func makePostgresTemplate() (postgresScript, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, admin, err := postgresServer(ctx)
	if err != nil {
		return postgresScript{}, err
	}
	defer admin.Close()
	schema := "ingest_template_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		return postgresScript{}, fmt.Errorf("create schema: %w", err)
	}
	defer admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
	base := u.String()
	if err := migrate(inSchema(u, schema), nil); err != nil {
		return postgresScript{}, err
	}
	shape, err := templateShape(ctx, admin, schema)
	if err != nil {
		return postgresScript{}, fmt.Errorf("the template's definition: %w", err)
	}
	tables, err := deleteOrder(ctx, admin, schema)
	if err != nil {
		return postgresScript{}, err
	}
	var stderr bytes.Buffer
	dump := exec.CommandContext(ctx, "pg_dump", "--schema="+schema, "--no-owner", "--no-privileges",
		"--inserts", "--dbname="+base)
	dump.Stderr = &stderr
	out, err := dump.Output()
	if err != nil {
		return postgresScript{}, fmt.Errorf("pg_dump (from postgresql-client, to copy the migrated schema): %v: %s", err, stderr.Bytes())
	}
	// Lines such as \restrict are psql's commands, not SQL.
	var script strings.Builder
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, `\`) {
			script.WriteString(line)
		}
	}
	return postgresScript{script: script.String(), schema: schema, shape: shape, tables: tables}, nil
}

// templateShape returns shapeOf the template's schema, read in a transaction of its own.
func templateShape(ctx context.Context, db *sql.DB, schema string) (string, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	return shapeOf(ctx, tx, schema)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
