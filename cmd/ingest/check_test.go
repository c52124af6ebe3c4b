package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

func TestCheckFailsOnAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		r := mustFail(t, "check", "--database-url", url)
		if !strings.Contains(r.stderr, `run "ingest migrate up"`) {
			t.Errorf("want advice to migrate, got %q", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("want nothing on stdout, got %q", r.stdout)
		}
		if got := existingPortalTables(t, dialect, url); len(got) != 0 {
			t.Errorf("check created tables %q", got)
		}
	})
}

func TestCheckDoesNotCreateAnSQLiteFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "ingest.db")
	r := mustFail(t, "check", "--database-url", "sqlite://"+path)
	if want := "ingest: check: no database at " + path + `; run "ingest migrate up" to create it` + "\n"; r.stderr != want {
		t.Errorf("got stderr %q, want %q", r.stderr, want)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("check created %s (stat: %v)", filepath.Dir(path), err)
	}
}

func TestCheckFailsWhenTheDatabaseIsUnreachable(t *testing.T) {
	t.Parallel()
	notADirectory := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADirectory, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable := map[string]struct{ url, want string }{
		// Nothing listens on port 1; the password must not reach the message.
		"postgres": {"postgres://postgres:s3cret@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", "ingest: check: connect to postgres database: "},
		"sqlite":   {"sqlite://" + filepath.Join(notADirectory, "ingest.db"), "ingest: check: create the database directory: "},
	}
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			tc := unreachable[dialect]
			r := mustFail(t, "check", "--database-url", tc.url)
			if !strings.HasPrefix(r.stderr, tc.want) {
				t.Errorf("got stderr %q, want it to start with %q", r.stderr, tc.want)
			}
			if n := strings.Count(r.stderr, "\n"); n != 1 {
				t.Errorf("want one line on stderr, got %d: %q", n, r.stderr)
			}
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("the message shows the password: %q", r.stderr)
			}
		})
	}
}

func TestCheckRejectsAnUnknownURL(t *testing.T) {
	t.Parallel()
	urls := map[string]string{
		"unknown scheme":        "mysql://user:s3cret@db/portal",
		"sqlite without a file": "sqlite://",
		"postgres bad port":     "postgres://user:s3cret@db:port/portal",
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			r := mustFail(t, "check", "--database-url", url)
			if !strings.Contains(r.stderr, "--database-url") {
				t.Errorf("want the flag named, got %q", r.stderr)
			}
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("the message shows the password: %q", r.stderr)
			}
		})
	}
}
