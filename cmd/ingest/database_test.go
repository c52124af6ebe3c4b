package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// assertFile fails the test unless path is a regular file.
func assertFile(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("want a database at %s: %v", path, err)
	}
	if !info.Mode().IsRegular() {
		t.Fatalf("%s is not a regular file", path)
	}
}

func TestDataDirNamesTheDefaultDatabase(t *testing.T) {
	unsetIngestEnv(t)
	for name, args := range map[string]func(dir string) []string{
		"flag after the subcommand":  func(dir string) []string { return []string{"migrate", "up", "--data-dir", dir} },
		"flag before the subcommand": func(dir string) []string { return []string{"migrate", "--data-dir", dir, "up"} },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			mustSucceed(t, args(dir)...)
			assertFile(t, filepath.Join(dir, "ingest.db"))
			r := mustSucceed(t, "check", "--data-dir", dir)
			if want := checkOK(t, "sqlite"); r.stdout != want {
				t.Errorf("check --data-dir: got %q, want %q", r.stdout, want)
			}
		})
	}
}

func TestDataDirFromTheEnvironment(t *testing.T) {
	unsetIngestEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("INGEST_DATA_DIR", dir)
	mustSucceed(t, "migrate", "up")
	assertFile(t, filepath.Join(dir, "ingest.db"))
	mustSucceed(t, "check")
}

func TestEmptyDataDirIsRefused(t *testing.T) {
	unsetIngestEnv(t)
	t.Setenv("INGEST_DATA_DIR", "")
	r := mustFail(t, "migrate", "up")
	if !strings.Contains(r.stderr, "--data-dir is empty") {
		t.Errorf("got stderr %q", r.stderr)
	}
	if entries, err := os.ReadDir("."); err != nil || len(entries) != 0 {
		t.Errorf("want nothing written to the working directory, got %v (%v)", entries, err)
	}
}

func TestDatabaseURLWinsOverDataDir(t *testing.T) {
	unsetIngestEnv(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		dir := t.TempDir()
		mustSucceed(t, "migrate", "up", "--data-dir", dir, "--database-url", url)
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("want nothing in --data-dir, got %v (%v)", entries, err)
		}
		if got := existingPortalTables(t, dialect, url); len(got) != len(portalTables) {
			t.Errorf("got tables %q in --database-url, want all of %q", got, portalTables)
		}
	})
}

func TestDatabaseURLFromTheEnvironment(t *testing.T) {
	unsetIngestEnv(t)
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			url := testdb.URL(t, dialect)
			t.Setenv("INGEST_DATABASE_URL", url)
			mustFail(t, "check")
			mustSucceed(t, "migrate", "up")
			r := mustSucceed(t, "check")
			if want := checkOK(t, dialect); r.stdout != want {
				t.Errorf("check: got %q, want %q", r.stdout, want)
			}
		})
	}
}

func TestFlushModeIsReadAndChecked(t *testing.T) {
	unsetIngestEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	mustSucceed(t, "migrate", "up", "--data-dir", dir, "--flush", "file")
	t.Setenv("INGEST_FLUSH", "file")
	mustSucceed(t, "check", "--data-dir", dir)
	t.Setenv("INGEST_FLUSH", "sometimes")
	r := mustFail(t, "check", "--data-dir", dir)
	if !strings.Contains(r.stderr, "--flush") || !strings.Contains(r.stderr, `unknown flush mode "sometimes"`) {
		t.Errorf("check with INGEST_FLUSH=sometimes: stderr %q, want it to name --flush and the mode", r.stderr)
	}
}
