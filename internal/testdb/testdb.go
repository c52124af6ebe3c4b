// Package testdb gives tests a database of their own: a SQLite file in a temporary directory, or
// a throwaway schema in the PostgreSQL server named by INGEST_TEST_POSTGRES_URL (default: the
// local server at 127.0.0.1:5432, database test, user postgres), and a migrated store on it.
//
// There is deliberately no way to skip the PostgreSQL half: when the server cannot be reached the
// test fails and says how to start it, so a green run always means both databases were tested.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/ingest-portal/ingest/sqlstore"
)

// DefaultPostgresURL is the server the tests use when INGEST_TEST_POSTGRES_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects lists the databases every store behaviour is tested on.
var Dialects = []string{"sqlite", "postgres"}

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

// SQLiteURL returns the URL of a new SQLite database file in the test's temporary directory.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "ingest.db")
}

// PostgresURL creates a schema of its own in the test PostgreSQL database and returns a URL whose
// search_path points at it. The schema is dropped when the test ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("INGEST_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: INGEST_TEST_POSTGRES_URL is not a URL")
	}
	shown := u.Redacted() // the URL may hold a password
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", shown, err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("testdb: PostgreSQL at %s does not answer (%v); start it "+
			"(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "+
			"or point INGEST_TEST_POSTGRES_URL at one", shown, err)
	}
	schema := "ingest_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Store opens a store on a new database of the dialect with every migration applied, closed when
// the test ends.
func Store(t testing.TB, dialect string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, URL(t, dialect), opts...)
	if err != nil {
		t.Fatalf("testdb: open the store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	m, err := s.Migrator()
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("testdb: migrate: %v", err)
	}
	return s
}
