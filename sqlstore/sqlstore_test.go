package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/storetest"
)

// TestStore runs the store behaviour suite on SQLite and on PostgreSQL.
func TestStore(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, clock *storetest.Clock) *storetest.Env {
				url := testdb.MigratedURL(t, dialect)
				s := mustOpen(t, url, sqlstore.WithClock(clock.Now))
				second := func() ingest.Store { return mustOpen(t, url, sqlstore.WithClock(clock.Now)) }
				return &storetest.Env{Store: s, DB: s.DB(), Clock: clock, Dialect: dialect, OpenSecond: second}
			})
		})
	}
}

// mustOpen opens the store at url, closed when the test ends.
func mustOpen(t *testing.T, url string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenRefusesUnknownURLs(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"mysql://x", "", "sqlite://", "sqlite://a.db?mode=memory", "/tmp/x.db"} {
		if s, err := sqlstore.Open(context.Background(), url); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

func TestURLErrorsDoNotRepeatPasswords(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"postgress://app:hunter2@db/portal", "postgres://app:hunter2@db:port/portal", "mysql://app:hunter2@db"} {
		_, err := sqlstore.Open(context.Background(), url)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v, want an error without the password", url, err)
		}
	}
}

func TestSQLiteIsDurable(t *testing.T) {
	t.Parallel()
	// synchronous=NORMAL (1) where a flush of the filesystem after the commit makes each group
	// durable before it is acknowledged (TestSQLiteCommitsWaitForAFlushWithoutTheTurn), FULL (2)
	// where each commit fsyncs the WAL itself.
	modes := map[durable.Mode]string{durable.Files: "2"}
	if durable.FSSupported {
		modes[durable.Filesystem] = "1"
	}
	for mode, synchronous := range modes {
		t.Run(string(mode), func(t *testing.T) {
			flusher, err := durable.New(mode)
			if err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, testdb.SQLiteURL(t), sqlstore.WithFlusher(flusher))
			for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": synchronous, "foreign_keys": "1", "busy_timeout": "10000", "temp_store": "2"} {
				var got string
				if err := s.DB().QueryRow(`PRAGMA ` + pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
				}
			}
			if got, want := sqlstore.FlushesAfterCommits(s), mode == durable.Filesystem; got != want {
				t.Errorf("flushes after commits: %v, want %v", got, want)
			}
		})
	}
}
