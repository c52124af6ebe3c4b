package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
)

// portalTables are the tables of the portal's schema (DESIGN.md §1); goose's own version table
// is not one of them.
var portalTables = []string{
	"api_tokens", "ingest_files", "portal_event_outbox", "upload_batches", "upload_parts",
	"upload_sessions", "users",
}

// result is what one run of the command line did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// lastLine returns the last line of s, without its newline.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// ingestCLI runs "ingest args…" in this process, as main would, and returns what it did.
func ingestCLI(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"ingest"}, args...), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustSucceed runs "ingest args…" and fails the test unless it exits 0.
func mustSucceed(t *testing.T, args ...string) result {
	t.Helper()
	r := ingestCLI(t, args...)
	if r.code != 0 {
		t.Fatalf("ingest %s: want exit 0, got\n%v", strings.Join(args, " "), r)
	}
	return r
}

// mustFail runs "ingest args…" and fails the test unless it exits 1 with one line on stderr that
// starts with "ingest: ".
func mustFail(t *testing.T, args ...string) result {
	t.Helper()
	r := ingestCLI(t, args...)
	if r.code != 1 {
		t.Fatalf("ingest %s: want exit 1, got\n%v", strings.Join(args, " "), r)
	}
	if got := lastLine(r.stderr); !strings.HasPrefix(got, "ingest: ") {
		t.Fatalf("ingest %s: want the last stderr line to start with %q, got\n%v", strings.Join(args, " "), "ingest: ", r)
	}
	return r
}

// forEachDialect runs test once per database, in subtests named after the dialect, each with a
// database of its own with every migration applied (serve finds nothing to migrate).
func forEachDialect(t *testing.T, test func(t *testing.T, dialect, url string)) {
	t.Helper()
	forEach(t, testdb.MigratedURL, test)
}

// forEachNewDatabase is forEachDialect with each database new and empty, for the commands that
// migrate a database or find it unmigrated.
func forEachNewDatabase(t *testing.T, test func(t *testing.T, dialect, url string)) {
	t.Helper()
	forEach(t, testdb.URL, test)
}

func forEach(t *testing.T, database func(testing.TB, string) string, test func(t *testing.T, dialect, url string)) {
	t.Helper()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			test(t, dialect, database(t, dialect))
		})
	}
}

// openDB opens the database at url directly, bypassing the command line, for assertions.
func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { store.Close() })
	return store.DB()
}

// existingPortalTables returns which of the portal's tables exist in the database at url, sorted.
func existingPortalTables(t *testing.T, dialect, url string) []string {
	t.Helper()
	query := `SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ($1, $2, $3, $4, $5, $6, $7) ORDER BY name`
	if dialect == "postgres" {
		query = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name IN ($1, $2, $3, $4, $5, $6, $7)
			ORDER BY table_name`
	}
	args := make([]any, len(portalTables))
	for i, name := range portalTables {
		args[i] = name
	}
	rows, err := openDB(t, url).QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	tables := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return tables
}

// unsetIngestEnv removes the INGEST_* variables of the database flags for the test, so that a
// developer's environment cannot change what the flags default to, and moves the test into an
// empty working directory, so that a default ./ingest-data never lands in the source tree.
func unsetIngestEnv(t *testing.T) {
	t.Helper()
	for _, key := range []string{"INGEST_DATA_DIR", "INGEST_DATABASE_URL", "INGEST_FLUSH"} {
		t.Setenv(key, "") // restores the old value when the test ends
		os.Unsetenv(key)
	}
	t.Chdir(t.TempDir())
}

func TestVersionPrintsIngestAndGoVersion(t *testing.T) {
	t.Parallel()
	r := mustSucceed(t, "version")
	if !strings.HasPrefix(r.stdout, "ingest ") {
		t.Errorf("want stdout to start with %q, got %q", "ingest ", r.stdout)
	}
	if !strings.Contains(r.stdout, " (go1.") {
		t.Errorf("want the Go version in %q", r.stdout)
	}
	if n := strings.Count(r.stdout, "\n"); n != 1 {
		t.Errorf("want one line, got %d in %q", n, r.stdout)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	t.Parallel()
	mustFail(t, "no-such-command")
}

func TestVersionFlagPrintsWhatVersionPrints(t *testing.T) {
	t.Parallel()
	if flag, cmd := mustSucceed(t, "--version"), mustSucceed(t, "version"); flag.stdout != cmd.stdout {
		t.Errorf("ingest --version printed %q, ingest version %q", flag.stdout, cmd.stdout)
	}
}

// TestAMistypedFlagIsOneLineWithAHint: a flag that does not exist is said on one line that names
// the command's help, without the help itself.
func TestAMistypedFlagIsOneLineWithAHint(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--bogus"}, {"serve", "--bogus"}, {"files", "ls", "--bogus"}} {
		r := ingestCLI(t, args...)
		help := strings.Join(append([]string{"ingest"}, args[:len(args)-1]...), " ") + " --help"
		if r.code != 1 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "-bogus") || !strings.Contains(r.stderr, help) {
			t.Errorf("ingest %s: %v; want exit 1 and one line naming -bogus and %q", strings.Join(args, " "), r, help)
		}
	}
}

// TestAPortalThatIsDownIsSaidAtOnce: a command for a portal that does not answer says so in one
// line, rather than retrying.
func TestAPortalThatIsDownIsSaidAtOnce(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	r := ingestCLI(t, "files", "ls", "--server", down, "--token", "ingest_x")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the portal at "+down+`: is "ingest serve" running?`) {
		t.Errorf("files ls against a portal that is down: %v", r)
	}
}

var latestOnce struct {
	sync.Once
	versions []int64
	err      error
}

// latest returns the newest migration this binary knows, so that the tests' expected output
// follows the migrations instead of naming a version.
func latest(t *testing.T) int64 {
	v := versions(t)
	return v[len(v)-1]
}

// versions returns the versions of the migrations this binary knows, oldest first. They need not
// be consecutive: a migration number may be taken by work not merged yet.
func versions(t *testing.T) []int64 {
	t.Helper()
	latestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ingest-latest")
		if err != nil {
			latestOnce.err = err
			return
		}
		defer os.RemoveAll(dir)
		store, err := sqlstore.Open(context.Background(), "sqlite://"+dir+"/probe.db")
		if err != nil {
			latestOnce.err = err
			return
		}
		defer store.Close()
		m, err := store.Migrator()
		if err != nil {
			latestOnce.err = err
			return
		}
		statuses, err := m.Status(context.Background())
		if err != nil {
			latestOnce.err = err
			return
		}
		for _, st := range statuses {
			latestOnce.versions = append(latestOnce.versions, st.Version)
		}
	})
	if latestOnce.err != nil {
		t.Fatal(latestOnce.err)
	}
	return latestOnce.versions
}

// previous returns the version below v among the known ones, 0 below the first.
func previous(t *testing.T, v int64) int64 {
	prev := int64(0)
	for _, w := range versions(t) {
		if w < v {
			prev = w
		}
	}
	return prev
}

// appliedAll is what "migrate up" prints on an empty database.
func appliedAll(t *testing.T) string {
	var b strings.Builder
	for _, v := range versions(t) {
		fmt.Fprintf(&b, "applied migration %d\n", v)
	}
	return b.String()
}

// rolledBackAll is what "migrate down --to 0" prints on an up-to-date database.
func rolledBackAll(t *testing.T) string {
	var b strings.Builder
	for _, v := range slices.Backward(versions(t)) {
		fmt.Fprintf(&b, "rolled back migration %d\n", v)
	}
	return b.String() + "database at version 0\n"
}

// checkOK is what "check" prints on an up-to-date database.
func checkOK(t *testing.T, dialect string) string {
	return fmt.Sprintf("ok: %s database at version %d, no pending migration\n", dialect, latest(t))
}

// allPending is the error of command on an empty database.
func allPending(t *testing.T, command string) string {
	n := len(versions(t))
	return fmt.Sprintf(`ingest: %s: %d %s pending (database at version 0, binary knows %d); run "ingest migrate up"`+"\n",
		command, n, plural(n, "migration", "migrations"), latest(t))
}
