package admin

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/reqtext"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
)

// FuzzParseListQuery reads arbitrary query strings of a list page, as the console does after its
// check of the request's text, and runs what it accepts against every list of a SQLite store. A
// refusal is VALIDATION_FAILED; an accepted query written back by the page's links reads the same;
// and the store refuses a query only with VALIDATION_FAILED, never with an internal error.
func FuzzParseListQuery(f *testing.F) {
	store := testdb.Store(f, "sqlite")
	for _, s := range []string{
		"", "q=report&status=STORED&batch=monthly+reports&user=alice&from=2026-01-01&to=2026-01-31&sort=size&order=asc&limit=10",
		"batch=01a251d0-19d7-7202-a2c0-24656b0830f5&after=01a251d0-19d7-7202-a2c0-24656b0830f5",
		"user=%20alice%20&before=01a251d0-19d7-7202-a2c0-24656b0830f5&last=1", "file=nope", "session=&grant=x",
		"from=2026-13-01", "to=2026-02-30", "limit=-1", "limit=99999999999999999999", "limit=0x10",
		"q=%25_%5C", "q=abcdef", "q=source:scanner", "status=ADMIN", "status=EXPIRED&user=bob",
		"event_type=file.stored&status=FAILED", "sort=created&order=desc", "sort=name", "q=%ff", "batch=a;b=c",
	} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, rawQuery string, model uint8) {
		r := httptest.NewRequest("GET", "/admin/files", nil)
		r.URL.RawQuery = rawQuery
		if reqtext.Check(r) != nil {
			return // refused before any page reads it
		}
		q, err := parseListQuery(r)
		if err != nil {
			if code := ingest.ErrorCode(err); code != ingest.EValidation {
				t.Fatalf("parseListQuery(%q): %v (%s), want VALIDATION_FAILED", rawQuery, err, code)
			}
			return
		}
		again := httptest.NewRequest("GET", "/admin/files", nil)
		again.URL.RawQuery = q.values().Encode()
		q2, err := parseListQuery(again)
		if err != nil {
			t.Fatalf("parseListQuery(%q) was accepted, but its link %q is refused: %v", rawQuery, again.URL.RawQuery, err)
		}
		want := q.store
		want.Cursor = readmodel.Cursor{} // a page's links to the query hold no cursor
		if !reflect.DeepEqual(q2.store, want) {
			t.Fatalf("parseListQuery(%q) = %+v, but its link %q reads %+v", rawQuery, want, again.URL.RawQuery, q2.store)
		}
		m := modelLists[int(model)%len(modelLists)].model
		if err := find(context.Background(), store, m, q.store); err != nil && ingest.ErrorCode(err) != ingest.EValidation {
			t.Fatalf("listing %s with %q: %v (%s), want none or VALIDATION_FAILED", m, rawQuery, err, ingest.ErrorCode(err))
		}
	})
}

// find reads one page of the model's list.
func find(ctx context.Context, s *sqlstore.Store, m readmodel.Model, q readmodel.ListQuery) error {
	var err error
	switch m {
	case readmodel.ModelBatches:
		_, err = s.FindBatches(ctx, q)
	case readmodel.ModelFiles:
		_, err = s.FindFiles(ctx, q)
	case readmodel.ModelSessions:
		_, err = s.FindSessions(ctx, q)
	case readmodel.ModelParts:
		_, err = s.FindParts(ctx, q)
	case readmodel.ModelEvents:
		_, err = s.FindEvents(ctx, q)
	case readmodel.ModelUsers:
		_, err = s.FindUsers(ctx, q)
	case readmodel.ModelTokens:
		_, err = s.FindTokens(ctx, q)
	case readmodel.ModelGrants:
		_, err = s.FindGrants(ctx, q)
	}
	return err
}
