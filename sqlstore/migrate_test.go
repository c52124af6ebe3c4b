package sqlstore_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
)

var update = flag.Bool("update", false, "rewrite the golden schema dumps in testdata/")

var portalTables = []string{"admin_sessions", "api_tokens", "ingest_files", "portal_event_outbox", "upload_batches", "upload_grants", "upload_parts", "upload_reservations", "upload_sessions", "uppy_part_sizes", "users"}

// tables lists the tables of the store's schema, leaving out goose's own.
func tables(t *testing.T, s *sqlstore.Store) []string {
	t.Helper()
	query := `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name`
	if s.Dialect() == sqlstore.Postgres {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
			AND table_name <> 'goose_db_version' ORDER BY table_name`
	}
	rows, err := s.DB().Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s := mustOpen(t, testdb.URL(t, dialect))
			m, err := s.Migrator()
			if err != nil {
				t.Fatal(err)
			}
			if pending, err := m.Pending(ctx); err != nil || !pending {
				t.Fatalf("a new database has pending migrations = %v, %v; want true", pending, err)
			}
			for round := 1; round <= 2; round++ {
				applied, err := m.Up(ctx)
				if err != nil {
					t.Fatalf("up, round %d: %v", round, err)
				}
				if len(applied) == 0 || applied[len(applied)-1] != m.Latest() {
					t.Errorf("up applied %v, want up to %d", applied, m.Latest())
				}
				if got := tables(t, s); !slices.Equal(got, portalTables) {
					t.Fatalf("tables after up = %v, want %v", got, portalTables)
				}
				if v, err := m.Version(ctx); err != nil || v != m.Latest() {
					t.Errorf("version = %d, %v; want %d", v, err, m.Latest())
				}
				if pending, err := m.Pending(ctx); err != nil || pending {
					t.Errorf("pending after up = %v, %v", pending, err)
				}
				if _, err := m.DownTo(ctx, 0); err != nil {
					t.Fatalf("down to 0, round %d: %v", round, err)
				}
				if got := tables(t, s); len(got) != 0 {
					t.Fatalf("tables left after down to 0: %v", got)
				}
				if v, err := m.Version(ctx); err != nil || v != 0 {
					t.Errorf("version after down = %d, %v; want 0", v, err)
				}
			}
		})
	}
}

// TestSchemaMatchesGolden is the schema drift check (Django's `makemigrations --check`): the
// migrated schema, as the database describes it, must equal the committed dump. After a deliberate
// schema change, rewrite the dumps with `go test ./sqlstore -run TestSchemaMatchesGolden -update`
// and review the diff. The schema is migrated from zero here; the template the other tests' databases
// are copied from (testdb.MigratedURL) must match the same dump.
func TestSchemaMatchesGolden(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s := mustOpen(t, testdb.URL(t, dialect))
			m, err := s.Migrator()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Up(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, err := s.DumpSchema(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			copied, err := testdb.Store(t, dialect).DumpSchema(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if copied != got {
				t.Errorf("the %s template differs from the schema migrated from zero:\n%s", dialect, lineDiff(got, copied))
			}
			path := filepath.Join("testdata", "schema."+dialect+".sql")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("the migrated %s schema differs from %s; if the change is intended, run "+
					"go test ./sqlstore -run TestSchemaMatchesGolden -update and commit the dump.\n%s",
					dialect, path, lineDiff(string(want), got))
			}
		})
	}
}

// TestFailureCodesAreBackfilledFromReasons migrates files that failed before failure codes were
// stored: each gets the code its reason stood for, the only place a code is read from a reason.
func TestFailureCodesAreBackfilledFromReasons(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			url := testdb.URL(t, dialect)
			s := mustOpen(t, url)
			m, err := s.Migrator()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Up(ctx); err != nil {
				t.Fatal(err)
			}
			u := &ingest.User{Username: "backfill"}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			upload := func() (*ingest.File, *ingest.UploadSession) {
				t.Helper()
				f := &ingest.File{SizeBytes: 4, OriginalFilename: "f.bin", UploadedByID: u.ID}
				sess := &ingest.UploadSession{ChunkSizeBytes: 4, TotalParts: 1, UploadedByID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}
				if err := s.CreateUpload(ctx, f, sess, ingest.UploadQuota{}); err != nil {
					t.Fatal(err)
				}
				return f, sess
			}
			// Each file ends with a code that is wrong on purpose: the column is dropped below, and
			// the backfill must find the code from the reason and the session alone.
			cases := []struct {
				to     ingest.SessionStatus
				reason string
				want   ingest.Code
			}{
				{ingest.SessionFailed, "expired", ingest.ESessionExpired},
				{ingest.SessionFailed, "checksum mismatch: declared sha256 a, received bytes hash to b", ingest.EChecksumMismatch},
				{ingest.SessionFailed, "the storage no longer holds the upload's data", ingest.ESessionNotActive},
				{ingest.SessionFailed, "upload failed", ingest.ESessionNotActive},
				{ingest.SessionFailed, "Expired", ingest.ESessionNotActive},
				{ingest.SessionAborted, "aborted by the client", ingest.EAborted},
				{ingest.SessionAborted, "upload aborted", ingest.EAborted},
				{ingest.SessionAborted, "batch cancelled", ingest.EBatchCancelled},
			}
			files := make([]uuid.UUID, len(cases))
			for i, tc := range cases {
				f, sess := upload()
				code := ingest.ESessionNotActive
				if tc.to == ingest.SessionAborted {
					code = ingest.EAborted
				}
				if tc.want == code {
					code = map[ingest.SessionStatus]ingest.Code{ingest.SessionFailed: ingest.ESessionExpired, ingest.SessionAborted: ingest.EBatchCancelled}[tc.to]
				}
				if _, err := s.EndUpload(ctx, sess.ID, tc.to, code, tc.reason); err != nil {
					t.Fatal(err)
				}
				files[i] = f.ID
			}
			uploading, _ := upload()
			if _, err := m.DownTo(ctx, 6); err != nil {
				t.Fatalf("down to 6: %v", err)
			}
			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("up from 6: %v", err)
			}
			// A store opened afresh, so that no statement prepared before the migrations is reused.
			again := mustOpen(t, url)
			for i, tc := range cases {
				f, err := again.File(ctx, files[i])
				if err != nil {
					t.Fatal(err)
				}
				if f.FailureCode != tc.want || f.FailureReason != tc.reason {
					t.Errorf("a file that failed with %q has the code %q, want %s", tc.reason, f.FailureCode, tc.want)
				}
			}
			if f, err := again.File(ctx, uploading.ID); err != nil || f.FailureCode != "" {
				t.Errorf("an uploading file has the failure code %q (%v), want none", f.FailureCode, err)
			}
		})
	}
}
