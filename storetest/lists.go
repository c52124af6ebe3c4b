package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
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
		var got []uuid.UUID
		page := ingest.Page{Limit: 2}
		for {
			batches, err := f.Store.ListBatches(f.ctx, ingest.BatchFilter{CreatedByID: &alice.ID, Page: page})
			if err != nil {
				t.Fatal(err)
			}
			if len(batches) > 2 {
				t.Fatalf("a page of 2 held %d", len(batches))
			}
			for _, b := range batches {
				got = append(got, b.ID)
			}
			if len(batches) < 2 {
				break
			}
			page.After = &batches[len(batches)-1].ID
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
		complete := ingest.BatchComplete
		done, err := f.Store.ListBatches(f.ctx, ingest.BatchFilter{Status: &complete})
		if err != nil || len(done) != 1 || done[0].ID != mine[0] {
			t.Errorf("COMPLETE batches = %v, %v", done, err)
		}
		all, err := f.Store.ListBatches(f.ctx, ingest.BatchFilter{})
		if err != nil || len(all) != 6 {
			t.Errorf("all batches = %d, %v; want 6", len(all), err)
		}
		_, err = f.Store.ListBatches(f.ctx, ingest.BatchFilter{Page: ingest.Page{Limit: ingest.MaxPageLimit + 2}})
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
		ids := func(files []*ingest.File, err error) []uuid.UUID {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []uuid.UUID
			for _, file := range files {
				out = append(out, file.ID)
			}
			return out
		}
		inBatch := ids(f.Store.ListFiles(f.ctx, ingest.FileFilter{BatchID: &b.ID}))
		if len(inBatch) != 2 || inBatch[0] != uploading.ID || inBatch[1] != stored.ID {
			t.Errorf("files of the batch = %v", inBatch)
		}
		if got := ids(f.Store.ListFiles(f.ctx, ingest.FileFilter{UploadedByID: &alice.ID})); len(got) != 3 {
			t.Errorf("alice's files = %d, want 3", len(got))
		}
		st := ingest.FileStored
		if got := ids(f.Store.ListFiles(f.ctx, ingest.FileFilter{UploadedByID: &alice.ID, Status: &st})); len(got) != 1 || got[0] != stored.ID {
			t.Errorf("alice's STORED files = %v", got)
		}
		if got := ids(f.Store.ListFiles(f.ctx, ingest.FileFilter{UploadedByID: &bob.ID, BatchID: &b.ID})); len(got) != 0 {
			t.Errorf("bob's files in alice's batch = %v", got)
		}
		if got := ids(f.Store.ListFiles(f.ctx, ingest.FileFilter{Page: ingest.Page{After: &uploading.ID}})); len(got) != 1 || got[0] != stored.ID {
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
