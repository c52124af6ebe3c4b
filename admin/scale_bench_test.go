package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
)

// scaleFiles is how many files BenchmarkListPagesAtScale seeds; INGEST_BENCH_FILES overrides it
// (a smaller number for a quick look).
const scaleFiles = 1_000_000

// BenchmarkListPagesAtScale measures the console's list pages, rendered whole by the handler, on a
// database seeded with a million files (each with its session, and an event for each stored one):
// the first, a middle and the last page, filtered by status, searched, and sorted by size. The
// seeding is bulk SQL at benchmark time; docs/performance.md has the figures and the command.
func BenchmarkListPagesAtScale(b *testing.B) {
	files := scaleFiles
	if s := os.Getenv("INGEST_BENCH_FILES"); s != "" {
		var err error
		if files, err = strconv.Atoi(s); err != nil || files < 1000 {
			b.Fatalf("INGEST_BENCH_FILES=%q: want a number of at least 1000", s)
		}
	}
	for _, dialect := range testdb.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			ctx := context.Background()
			store := testdb.Store(b, dialect)
			root := &ingest.User{Username: "root", IsAdmin: true}
			if err := store.CreateUser(ctx, root); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			seed(ctx, b, store, root, seedShape{files: files, batchSize: 100, step: 100 * time.Millisecond})
			b.Logf("%s: seeded %d files, their sessions and events in %v", dialect, files, time.Since(start).Round(time.Millisecond))

			_, h := newConsole(b, store)
			s, cookie := ingest.NewConsoleSession(root.ID, time.Now().Add(time.Hour))
			if err := store.CreateConsoleSession(ctx, s); err != nil {
				b.Fatal(err)
			}
			for _, p := range scalePages(b, store, files) {
				b.Run(p.name, func(b *testing.B) {
					req := httptest.NewRequest("GET", p.path, nil)
					req.AddCookie(&http.Cookie{Name: "ingest_admin_session", Value: cookie})
					for b.Loop() {
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						body := rec.Body.String()
						if rec.Code != http.StatusOK || !strings.Contains(body, p.want) || strings.Contains(body, `class="empty"`) != p.empty {
							b.Fatalf("GET %s: %d, want 200 showing %q (and rows: %v):\n%s", p.path, rec.Code, p.want, !p.empty, body)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
				})
			}
		})
	}
}

// scalePage is one list page the benchmark asks for.
type scalePage struct {
	name, path string
	want       string // text the page must show besides rows: a fast page must not be an empty one
	empty      bool   // the page shows no rows, by design
}

// scalePages returns the pages to measure. A middle page starts after the row half-way down the
// list, which the benchmark finds once with OFFSET (slow, and why the console does not page so).
func scalePages(b *testing.B, store *sqlstore.Store, files int) []scalePage {
	b.Helper()
	middle := func(table, where, order string, rows int) string {
		var id string
		q := fmt.Sprintf("SELECT id FROM %s %s ORDER BY %s LIMIT 1 OFFSET %d", table, where, order, rows/2)
		if err := store.DB().QueryRowContext(context.Background(), q).Scan(&id); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
		return id
	}
	page := func(path string, kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	midFile := middle("ingest_files", "", "id DESC", files)
	midFailed := middle("ingest_files", "WHERE status = 'FAILED'", "id DESC", files/20)
	midSize := middle("ingest_files", "", "size_bytes DESC, id DESC", files)
	midSession := middle("upload_sessions", "", "id DESC", files)
	midEvent := middle("portal_event_outbox", "", "id DESC", files*9/10)
	midBatch := middle("upload_batches", "", "id DESC", files/100)
	// The SHA-256 prefix and the id of a file in the middle of the list, and the name of a recent
	// one: a search for part of a name reads a window of readmodel.SearchWindow rows a page, newest
	// first, so an older name is found only pages later (files/search/name-absent measures one
	// such page: a whole window read in vain).
	var sha, shaName, name string
	db := store.DB()
	if err := db.QueryRowContext(context.Background(),
		"SELECT sha256, original_filename FROM ingest_files WHERE status = 'STORED' AND id < $1 ORDER BY id DESC LIMIT 1", midFile).Scan(&sha, &shaName); err != nil {
		b.Fatal(err)
	}
	recent := middle("ingest_files", "", "id DESC", min(files/10, readmodel.SearchWindow))
	if err := db.QueryRowContext(context.Background(),
		"SELECT original_filename FROM ingest_files WHERE status = 'STORED' AND id < $1 ORDER BY id DESC LIMIT 1", recent).Scan(&name); err != nil {
		b.Fatal(err)
	}
	return []scalePage{
		{"files/first", page("/admin/files"), "", false},
		{"files/middle", page("/admin/files", "after", midFile), "", false},
		{"files/last", page("/admin/files", "last", "1"), "", false},
		{"files/status/first", page("/admin/files", "status", "FAILED"), "", false},
		{"files/status/middle", page("/admin/files", "status", "FAILED", "after", midFailed), "", false},
		{"files/status/last", page("/admin/files", "status", "FAILED", "last", "1"), "", false},
		{"files/size/first", page("/admin/files", "sort", "size"), "", false},
		{"files/size/middle", page("/admin/files", "sort", "size", "after", midSize), "", false},
		{"files/size/last", page("/admin/files", "sort", "size", "last", "1"), "", false},
		{"files/search/name", page("/admin/files", "q", name), name, false},
		{"files/search/name-absent", page("/admin/files", "q", "no-such-name"), "", true},
		{"files/search/sha256-prefix", page("/admin/files", "q", sha[:12]), shaName, false},
		{"files/search/id", page("/admin/files", "q", midFile), midFile, false},
		{"files/search/name-and-status", page("/admin/files", "q", name, "status", "STORED"), name, false},
		{"sessions/first", page("/admin/sessions"), "", false},
		{"sessions/middle", page("/admin/sessions", "after", midSession), "", false},
		{"sessions/last", page("/admin/sessions", "last", "1"), "", false},
		{"sessions/status/first", page("/admin/sessions", "status", "IN_PROGRESS"), "", false},
		{"events/first", page("/admin/events"), "", false},
		{"events/middle", page("/admin/events", "after", midEvent), "", false},
		{"events/last", page("/admin/events", "last", "1"), "", false},
		{"events/status/first", page("/admin/events", "status", "FAILED"), "", false},
		{"batches/first", page("/admin/batches"), "", false},
		{"batches/middle", page("/admin/batches", "after", midBatch), "", false},
		{"batches/last", page("/admin/batches", "last", "1"), "", false},
		{"batches/files-of-one", page("/admin/files", "batch", midBatch), "", false},
	}
}
