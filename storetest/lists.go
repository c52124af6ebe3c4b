package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

func testAuthentication(t *testing.T, open Opener) {
	t.Run("a valid token authenticates its user and records its use", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(true)
		tok, secret := ingest.NewAPIToken(u.ID, "ci")
		if err := f.Store.CreateAPIToken(f.ctx, tok); err != nil {
			t.Fatal(err)
		}
		lastUsed := func() string {
			var s *string
			if err := f.DB.QueryRowContext(f.ctx, `SELECT CAST(last_used_at AS TEXT) FROM api_tokens WHERE id = $1`, tok.ID).Scan(&s); err != nil {
				t.Fatal(err)
			}
			if s == nil {
				return ""
			}
			return *s
		}
		got, err := f.Store.Authenticate(f.ctx, ingest.HashToken(secret))
		if err != nil || got.ID != u.ID || !got.IsAdmin {
			t.Fatalf("Authenticate = %+v, %v", got, err)
		}
		first := lastUsed()
		if first == "" {
			t.Fatal("last_used_at not recorded")
		}
		f.Clock.Advance(30 * time.Second)
		f.Store.Authenticate(f.ctx, ingest.HashToken(secret))
		if lastUsed() != first {
			t.Error("last_used_at written again within a minute")
		}
		f.Clock.Advance(31 * time.Second)
		f.Store.Authenticate(f.ctx, ingest.HashToken(secret))
		if lastUsed() == first {
			t.Error("last_used_at not written after a minute")
		}
	})

	t.Run("unknown, revoked and expired tokens are refused alike, a disabled user is forbidden", func(t *testing.T) {
		f := newFixture(t, open)
		now := sqlTime(f.Clock.Now())
		_, err := f.Store.Authenticate(f.ctx, ingest.HashToken("ingest_unknown"))
		wantCode(t, err, ingest.EUnauthenticated)
		for name, spoil := range map[string]string{
			"revoked":  `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2`,
			"expired":  `UPDATE api_tokens SET expires_at = $1 WHERE id = $2`,
			"disabled": `UPDATE users SET disabled_at = $1 WHERE id = (SELECT user_id FROM api_tokens WHERE id = $2)`,
		} {
			u := f.user(false)
			tok, secret := ingest.NewAPIToken(u.ID, name)
			if err := f.Store.CreateAPIToken(f.ctx, tok); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Store.Authenticate(f.ctx, ingest.HashToken(secret)); err != nil {
				t.Fatalf("%s, before: %v", name, err)
			}
			f.exec(spoil, now, tok.ID)
			_, err := f.Store.Authenticate(f.ctx, ingest.HashToken(secret))
			want := ingest.EUnauthenticated
			if name == "disabled" {
				want = ingest.EForbidden
			}
			if ingest.ErrorCode(err) != want {
				t.Errorf("%s: %v, want %s", name, err, want)
			}
		}
	})
}

func testLists(t *testing.T, open Opener) {
	t.Run("batches page newest first and filter by creator and status", func(t *testing.T) {
		f := newFixture(t, open)
		alice, bob := f.user(false), f.user(false)
		var mine []uuid.UUID
		for range 5 {
			mine = append(mine, f.batch(alice).ID)
		}
		f.batch(bob)
		if _, err := f.Store.SealBatch(f.ctx, mine[0]); err != nil {
			t.Fatal(err)
		}
		lists := f.console()
		var got []uuid.UUID
		q := readmodel.ListQuery{UserID: &alice.ID, Limit: 2}
		for {
			page, err := lists.FindBatches(f.ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) > 2 {
				t.Fatalf("a page of 2 held %d", len(page.Items))
			}
			for _, b := range page.Items {
				got = append(got, b.ID)
			}
			if !page.More {
				break
			}
			q.Cursor.After = &page.Items[len(page.Items)-1].ID
		}
		want := []uuid.UUID{mine[4], mine[3], mine[2], mine[1], mine[0]}
		if len(got) != len(want) {
			t.Fatalf("listed %d of alice's batches, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("order = %v, want newest first %v", got, want)
			}
		}
		done, err := lists.FindBatches(f.ctx, readmodel.ListQuery{Status: string(ingest.BatchComplete)})
		if err != nil || len(done.Items) != 1 || done.Items[0].ID != mine[0] {
			t.Errorf("COMPLETE batches = %v, %v", done, err)
		}
		all, err := lists.FindBatches(f.ctx, readmodel.ListQuery{})
		if err != nil || len(all.Items) != 6 {
			t.Errorf("all batches = %v, %v; want 6", all, err)
		}
		_, err = lists.FindBatches(f.ctx, readmodel.ListQuery{Limit: ingest.MaxPageLimit + 1})
		wantCode(t, err, ingest.EValidation)
	})

	t.Run("files filter by uploader, batch and status", func(t *testing.T) {
		f := newFixture(t, open)
		alice, bob := f.user(false), f.user(false)
		b := f.batch(alice)
		stored := f.store(alice, b, 4)
		uploading, _ := f.upload(alice, b, 4, 4)
		f.upload(alice, nil, 4, 4)
		f.upload(bob, nil, 4, 4)
		lists := f.console()
		find := func(q readmodel.ListQuery) []uuid.UUID {
			t.Helper()
			q.ExcludePartial = true
			l, err := lists.FindFiles(f.ctx, q)
			return ids(l, err, fileID)(t)
		}
		inBatch := find(readmodel.ListQuery{BatchID: &b.ID})
		if len(inBatch) != 2 || inBatch[0] != uploading.ID || inBatch[1] != stored.ID {
			t.Errorf("files of the batch = %v", inBatch)
		}
		if got := find(readmodel.ListQuery{UserID: &alice.ID}); len(got) != 3 {
			t.Errorf("alice's files = %d, want 3", len(got))
		}
		if got := find(readmodel.ListQuery{UserID: &alice.ID, Status: string(ingest.FileStored)}); len(got) != 1 || got[0] != stored.ID {
			t.Errorf("alice's STORED files = %v", got)
		}
		if got := find(readmodel.ListQuery{UserID: &bob.ID, BatchID: &b.ID}); len(got) != 0 {
			t.Errorf("bob's files in alice's batch = %v", got)
		}
		if got := find(readmodel.ListQuery{Cursor: readmodel.Cursor{After: &uploading.ID}}); len(got) != 1 || got[0] != stored.ID {
			t.Errorf("files after the cursor = %v", got)
		}
	})

	t.Run("expired sessions are the active ones past their expiry", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		_, old := f.upload(u, nil, 4, 4)
		_, ended := f.upload(u, nil, 4, 4)
		if _, err := f.Store.EndUpload(f.ctx, ended.ID, ingest.SessionAborted, ingest.EAborted, "client"); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Hour)
		_, fresh := f.upload(u, nil, 4, 4)
		got, err := f.Store.ExpiredSessions(f.ctx, f.Clock.Now().Add(23*time.Hour+time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != old.ID {
			t.Errorf("expired = %v, want only %s (not the ended one, not %s)", got, old.ID, fresh.ID)
		}
		if n, err := f.Store.CountActiveSessions(f.ctx); err != nil || n != 2 {
			t.Errorf("active sessions = %d, %v; want 2", n, err)
		}
	})
}
