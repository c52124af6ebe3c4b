package sqlstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
)

// TestANameSearchReadsOneWindowOfRowsAPage checks the bound on a search no index serves: each page
// reads at most the window's rows, and says where the next one resumes.
func TestANameSearchReadsOneWindowOfRowsAPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s := testdb.Store(t, dialect, sqlstore.WithSearchWindow(3))
			u := &ingest.User{Username: "u"}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			// Newest first the files read other-7 … other-1, match-b, match-a.
			ids := map[string]uuid.UUID{}
			for _, name := range []string{"match-a", "match-b", "other-1", "other-2", "other-3", "other-4", "other-5", "other-6", "other-7"} {
				f := &ingest.File{SizeBytes: 1, OriginalFilename: name, UploadedByID: u.ID}
				sess := &ingest.UploadSession{ChunkSizeBytes: 1, TotalParts: 1, UploadedByID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}
				if err := s.CreateUpload(ctx, f, sess, ingest.UploadQuota{}); err != nil {
					t.Fatal(err)
				}
				ids[name] = f.ID
			}
			var pages [][]uuid.UUID
			var cursor readmodel.Cursor
			for range 5 {
				l, err := s.FindFiles(ctx, readmodel.ListQuery{Search: "MATCH", Limit: 10, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				var page []uuid.UUID
				for _, f := range l.Items {
					page = append(page, f.ID)
				}
				pages = append(pages, page)
				if !l.More {
					break
				}
				if l.Resume == nil {
					t.Fatalf("a page that was not full says more follows but not where")
				}
				cursor = readmodel.Cursor{After: l.Resume}
			}
			// Windows of three rows: other-7..5, other-4..2, other-1 + match-b + match-a.
			want := [][]uuid.UUID{nil, nil, {ids["match-b"], ids["match-a"]}}
			if !slices.EqualFunc(pages, want, slices.Equal) {
				t.Errorf("pages = %v, want %v", pages, want)
			}
		})
	}
}
