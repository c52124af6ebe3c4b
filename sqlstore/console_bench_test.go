package sqlstore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
)

// consoleBenchFiles is how many files BenchmarkConsoleQueries seeds.
const consoleBenchFiles = 1_000_000

// BenchmarkConsoleQueries times the console's store reads on a million files, seeded with one
// INSERT … SELECT (1 % FAILED, 0.1 % UPLOADING, the rest STORED; sizes cycle through 100,000
// values): list pages at the start, middle and end, sorted and filtered, the searches, the capped
// counts and the dashboard.
//
//	go test ./sqlstore -run '^$' -bench BenchmarkConsoleQueries -benchtime 20x -timeout 30m
func BenchmarkConsoleQueries(b *testing.B) {
	ctx := context.Background()
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			s := testdb.Store(b, dialect)
			u := seedFiles(b, s, consoleBenchFiles)
			mid := uuid.MustParse(fmt.Sprintf("01900000-0000-7000-8000-%012x", consoleBenchFiles/2+3))
			var sha string
			if err := s.DB().QueryRowContext(ctx, `SELECT sha256 FROM ingest_files WHERE id = $1`, mid).Scan(&sha); err != nil {
				b.Fatal(err)
			}
			from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			for _, c := range []struct {
				name string
				q    readmodel.ListQuery
			}{
				{"first", readmodel.ListQuery{}},
				{"middle", readmodel.ListQuery{Cursor: readmodel.Cursor{After: &mid}}},
				{"last", readmodel.ListQuery{Cursor: readmodel.Cursor{Last: true}}},
				{"failed/first", readmodel.ListQuery{Status: "FAILED"}},
				{"failed/middle", readmodel.ListQuery{Status: "FAILED", Cursor: readmodel.Cursor{After: &mid}}},
				{"uploading/last", readmodel.ListQuery{Status: "UPLOADING", Cursor: readmodel.Cursor{Last: true}}},
				{"size/first", readmodel.ListQuery{Sort: "size"}},
				{"size/middle", readmodel.ListQuery{Sort: "size", Cursor: readmodel.Cursor{After: &mid}}},
				{"size/last", readmodel.ListQuery{Sort: "size", Cursor: readmodel.Cursor{Last: true}}},
				{"uploader", readmodel.ListQuery{UserID: &u.ID}},
				{"date", readmodel.ListQuery{CreatedFrom: &from}},
				{"search/sha256", readmodel.ListQuery{Search: sha[:8]}},
				{"search/id", readmodel.ListQuery{Search: mid.String()}},
				{"search/name-none", readmodel.ListQuery{Search: "nothing-like-it"}},
				{"search/name-rare", readmodel.ListQuery{Search: "file-999999.csv"}},
			} {
				c.q.Limit = ingest.DefaultPageLimit
				b.Run("files/"+c.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := s.FindFiles(ctx, c.q); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run("counts", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.CountByStatus(ctx, readmodel.ModelFiles, 10_000); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("dashboard", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Dashboard(ctx, time.Now().Add(-23*time.Hour)); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// seedFiles inserts n files of one user in one statement, ids time-ordered like UUIDv7s, and
// returns the user.
func seedFiles(b *testing.B, s *sqlstore.Store, n int) *ingest.User {
	b.Helper()
	ctx := context.Background()
	u := &ingest.User{Username: "seed"}
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	// The same row for both databases but for the series, hex and hash functions.
	rows := `WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ` + strconv.Itoa(n) + `)
		SELECT printf('01900000-0000-7000-8000-%012x', n) AS id, lower(hex(randomblob(32))) AS sum, n FROM c`
	if s.Dialect() == sqlstore.Postgres {
		rows = `SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid AS id,
			md5(n::text) || md5((n + 1)::text) AS sum, n FROM generate_series(1, ` + strconv.Itoa(n) + `) AS n`
	}
	stored := `n % 100 <> 0 AND n % 1000 <> 1`
	t := `'2026-12-01T00:00:00.000000Z'`
	if s.Dialect() == sqlstore.Postgres {
		t = "timestamptz " + t
	}
	_, err := s.DB().ExecContext(ctx, `
		INSERT INTO ingest_files (id, created_at, updated_at, status, sha256, size_bytes, storage_backend, storage_key,
		                          original_filename, uploaded_by_id, stored_at, failure_code, failure_reason)
		SELECT id, `+t+`, `+t+`,
		       CASE WHEN n % 100 = 0 THEN 'FAILED' WHEN n % 1000 = 1 THEN 'UPLOADING' ELSE 'STORED' END,
		       CASE WHEN `+stored+` THEN sum END, n % 100000,
		       CASE WHEN `+stored+` THEN 'local' END, CASE WHEN `+stored+` THEN 'k' || n END,
		       'file-' || n || '.csv', $1, CASE WHEN `+stored+` THEN `+t+` END,
		       CASE WHEN n % 100 = 0 THEN 'SESSION_NOT_ACTIVE' END, CASE WHEN n % 100 = 0 THEN 'x' END
		FROM (`+rows+`) AS seed`, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	if s.Dialect() == sqlstore.Postgres {
		if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	return u
}
