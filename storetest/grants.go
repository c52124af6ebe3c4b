package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// grant stores a grant of owner made from req and returns it with its secret.
func (f *fixture) grant(owner *ingest.User, req ingest.GrantRequest) (*ingest.UploadGrant, string) {
	f.t.Helper()
	g, secret, err := ingest.NewUploadGrant(owner.ID, req, f.Clock.Now())
	if err != nil {
		f.t.Fatalf("NewUploadGrant: %v", err)
	}
	if err := f.Store.CreateGrant(f.ctx, g); err != nil {
		f.t.Fatalf("CreateGrant: %v", err)
	}
	return g, secret
}

func bytesOf(n int64) *int64 { return &n }

func testGrants(t *testing.T, open Opener) {
	t.Run("a grant reads back as it was made, and lists newest first by creator", func(t *testing.T) {
		f := newFixture(t, open)
		u, other := f.user(false), f.user(false)
		b := f.batch(u)
		g, _ := f.grant(u, ingest.GrantRequest{BatchID: &b.ID, GrantLimits: ingest.GrantLimits{MaxFiles: 3,
			MaxFileBytes: bytesOf(10), MaxTotalBytes: bytesOf(25), ContentTypes: []string{"image/*"}},
			Metadata: map[string]string{"order": "42"}, ExpiresIn: time.Minute})
		got, err := f.Store.Grant(f.ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CreatedByID != u.ID || *got.BatchID != b.ID || got.MaxFiles != 3 || *got.MaxFileBytes != 10 ||
			*got.MaxTotalBytes != 25 || !slices.Equal(got.ContentTypes, []string{"image/*"}) || got.Metadata["order"] != "42" ||
			!got.ExpiresAt.Equal(f.Clock.Now().Add(time.Minute)) || got.TokenHash != g.TokenHash || got.RevokedAt != nil ||
			got.FilesUsed != 0 || got.BytesUsed != 0 {
			t.Errorf("Grant = %+v, want %+v", got, g)
		}
		second, _ := f.grant(u, ingest.GrantRequest{})
		f.grant(other, ingest.GrantRequest{})
		list, err := f.Store.Grants(f.ctx, u.ID, nil, 10)
		if err != nil || len(list) != 2 || list[0].ID != second.ID || list[1].ID != g.ID {
			t.Fatalf("Grants = %v, %v; want the creator's two, newest first", list, err)
		}
		if list[0].ContentTypes == nil || len(list[0].ContentTypes) != 0 || list[0].MaxFileBytes != nil {
			t.Errorf("a grant without limits reads %+v", list[0])
		}
		next, err := f.Store.Grants(f.ctx, u.ID, &second.ID, 10)
		if err != nil || len(next) != 1 || next[0].ID != g.ID {
			t.Errorf("Grants after the newest = %v, %v", next, err)
		}
		_, err = f.Store.Grant(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("a grant needs an existing creator and batch and a hash of its own", func(t *testing.T) {
		f := newFixture(t, open)
		g, _, _ := ingest.NewUploadGrant(uuid.New(), ingest.GrantRequest{}, f.Clock.Now())
		wantCode(t, f.Store.CreateGrant(f.ctx, g), ingest.ENotFound)
		u := f.user(false)
		missing := uuid.New()
		g, _, _ = ingest.NewUploadGrant(u.ID, ingest.GrantRequest{BatchID: &missing}, f.Clock.Now())
		wantCode(t, f.Store.CreateGrant(f.ctx, g), ingest.ENotFound)
		first, _ := f.grant(u, ingest.GrantRequest{})
		g, _, _ = ingest.NewUploadGrant(u.ID, ingest.GrantRequest{}, f.Clock.Now())
		g.TokenHash = first.TokenHash
		wantCode(t, f.Store.CreateGrant(f.ctx, g), ingest.EConflict)
	})

	t.Run("a grant authenticates its creator until it is revoked or expires", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		g, secret := f.grant(u, ingest.GrantRequest{ExpiresIn: time.Hour})
		got, who, err := f.Store.AuthenticateGrant(f.ctx, ingest.HashToken(secret))
		if err != nil || got.ID != g.ID || who.ID != u.ID {
			t.Fatalf("AuthenticateGrant = %v, %v, %v", got, who, err)
		}
		_, _, err = f.Store.AuthenticateGrant(f.ctx, ingest.HashToken(secret+"x"))
		wantCode(t, err, ingest.EUnauthenticated)

		f.Clock.Advance(time.Hour)
		_, _, err = f.Store.AuthenticateGrant(f.ctx, ingest.HashToken(secret))
		wantCode(t, err, ingest.EUnauthenticated)
		_, err = f.Store.ReserveGrant(f.ctx, g.ID, 1, "text/plain")
		wantCode(t, err, ingest.EUnauthenticated)

		g2, secret2 := f.grant(u, ingest.GrantRequest{})
		revoked, err := f.Store.RevokeGrant(f.ctx, g2.ID)
		if err != nil || revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(f.Clock.Now()) {
			t.Fatalf("RevokeGrant = %+v, %v", revoked, err)
		}
		_, err = f.Store.RevokeGrant(f.ctx, g2.ID)
		wantTransitionError(t, err, "REVOKED", ingest.EInvalidTransition)
		_, err = f.Store.RevokeGrant(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
		_, _, err = f.Store.AuthenticateGrant(f.ctx, ingest.HashToken(secret2))
		wantCode(t, err, ingest.EUnauthenticated)
		_, err = f.Store.ReserveGrant(f.ctx, g2.ID, 1, "text/plain")
		wantCode(t, err, ingest.EUnauthenticated)

		_, secret3 := f.grant(u, ingest.GrantRequest{})
		if _, err := f.console().DisableUser(f.ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Store.AuthenticateGrant(f.ctx, ingest.HashToken(secret3))
		wantCode(t, err, ingest.EForbidden)
	})

	t.Run("reservations count files and bytes within every limit", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		g, _ := f.grant(u, ingest.GrantRequest{GrantLimits: ingest.GrantLimits{MaxFiles: 3,
			MaxFileBytes: bytesOf(10), MaxTotalBytes: bytesOf(15), ContentTypes: []string{"text/csv"}}})
		_, err := f.Store.ReserveGrant(f.ctx, g.ID, 11, "text/csv")
		wantCode(t, err, ingest.EPayloadTooLarge)
		_, err = f.Store.ReserveGrant(f.ctx, g.ID, 1, "image/png")
		wantCode(t, err, ingest.EValidation)
		got, err := f.Store.ReserveGrant(f.ctx, g.ID, 10, "text/csv; charset=utf-8")
		if err != nil || got.FilesUsed != 1 || got.BytesUsed != 10 {
			t.Fatalf("ReserveGrant = %+v, %v; want 1 file, 10 bytes (refusals count nothing)", got, err)
		}
		_, err = f.Store.ReserveGrant(f.ctx, g.ID, 6, "text/csv")
		wantCode(t, err, ingest.EGrantLimitReached)
		if _, err := f.Store.ReserveGrant(f.ctx, g.ID, 5, "text/csv"); err != nil {
			t.Fatal(err)
		}
		if err := f.Store.ReleaseGrant(f.ctx, g.ID, 5); err != nil {
			t.Fatal(err)
		}
		for _, size := range []int64{0, 5} {
			if _, err := f.Store.ReserveGrant(f.ctx, g.ID, size, "text/csv"); err != nil {
				t.Fatalf("reserve %d: %v", size, err)
			}
		}
		_, err = f.Store.ReserveGrant(f.ctx, g.ID, 0, "text/csv")
		wantCode(t, err, ingest.EGrantLimitReached)
		got, _ = f.Store.Grant(f.ctx, g.ID)
		if got.FilesUsed != 3 || got.BytesUsed != 15 {
			t.Errorf("after the reservations: %d files, %d bytes; want 3, 15", got.FilesUsed, got.BytesUsed)
		}
		_, err = f.Store.ReserveGrant(f.ctx, uuid.New(), 1, "text/csv")
		wantCode(t, err, ingest.ENotFound)
		wantCode(t, f.Store.ReleaseGrant(f.ctx, uuid.New(), 1), ingest.ENotFound)
		wantCode(t, f.Store.ReleaseGrant(f.ctx, g.ID, 16), ingest.EValidation)
	})

	t.Run("a deferred length's bytes count against a file already reserved", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		g, _ := f.grant(u, ingest.GrantRequest{GrantLimits: ingest.GrantLimits{MaxFiles: 2,
			MaxFileBytes: bytesOf(10), MaxTotalBytes: bytesOf(15)}})
		_, err := f.Store.ReserveGrantBytes(f.ctx, g.ID, 5)
		wantCode(t, err, ingest.EValidation) // no file reserved yet
		for range 2 {
			if _, err := f.Store.ReserveGrant(f.ctx, g.ID, 0, "text/plain"); err != nil {
				t.Fatal(err)
			}
		}
		_, err = f.Store.ReserveGrantBytes(f.ctx, g.ID, 11)
		wantCode(t, err, ingest.EPayloadTooLarge)
		got, err := f.Store.ReserveGrantBytes(f.ctx, g.ID, 10)
		if err != nil || got.FilesUsed != 2 || got.BytesUsed != 10 {
			t.Fatalf("ReserveGrantBytes = %+v, %v; want 2 files, 10 bytes", got, err)
		}
		_, err = f.Store.ReserveGrantBytes(f.ctx, g.ID, 6)
		wantCode(t, err, ingest.EGrantLimitReached)
		if err := f.Store.ReleaseGrantBytes(f.ctx, g.ID, 10); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.Store.Grant(f.ctx, g.ID); got.FilesUsed != 2 || got.BytesUsed != 0 {
			t.Errorf("after giving the bytes back: %d files, %d bytes; want 2, 0 (the files keep theirs)", got.FilesUsed, got.BytesUsed)
		}
		wantCode(t, f.Store.ReleaseGrantBytes(f.ctx, g.ID, 1), ingest.EValidation)
		_, err = f.Store.ReserveGrantBytes(f.ctx, uuid.New(), 1)
		wantCode(t, err, ingest.ENotFound)
		wantCode(t, f.Store.ReleaseGrantBytes(f.ctx, uuid.New(), 1), ingest.ENotFound)
	})

	t.Run("the read model lists grants by state, creator and prefix, and the files of a grant", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u, other := f.user(false), f.user(false)
		short, _ := f.grant(u, ingest.GrantRequest{ExpiresIn: time.Minute})
		revoked, _ := f.grant(u, ingest.GrantRequest{})
		active, secret := f.grant(u, ingest.GrantRequest{})
		others, _ := f.grant(other, ingest.GrantRequest{})
		if _, err := f.Store.RevokeGrant(f.ctx, revoked.ID); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(2 * time.Minute)
		grantID := func(g *ingest.UploadGrant) uuid.UUID { return g.ID }
		all, err := cs.FindGrants(f.ctx, readmodel.ListQuery{})
		wantIDs(t, "every grant, newest first", ids(all, err, grantID)(t), []uuid.UUID{others.ID, active.ID, revoked.ID, short.ID})
		for state, want := range map[ingest.TokenState][]uuid.UUID{ingest.TokenActive: {active.ID},
			ingest.TokenExpired: {short.ID}, ingest.TokenRevoked: {revoked.ID}} {
			l, err := cs.FindGrants(f.ctx, readmodel.ListQuery{Status: string(state), UserID: &u.ID})
			wantIDs(t, string(state)+" grants of the creator", ids(l, err, grantID)(t), want)
		}
		byPrefix, err := cs.FindGrants(f.ctx, readmodel.ListQuery{Search: strings.ToUpper(secret[len("ingest_grant_"):][:6])})
		wantIDs(t, "grants by prefix", ids(byPrefix, err, grantID)(t), []uuid.UUID{active.ID})
		counts, err := cs.CountByStatus(f.ctx, readmodel.ModelGrants, 10)
		if err != nil || counts[string(ingest.TokenActive)] != 2 || counts[string(ingest.TokenExpired)] != 1 || counts[string(ingest.TokenRevoked)] != 1 {
			t.Errorf("grant counts = %v, %v; want 2 active, 1 expired, 1 revoked", counts, err)
		}

		file, sess := newUpload(f, u, nil, 8, 4)
		file.GrantID = &active.ID
		if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
			t.Fatal(err)
		}
		f.store(u, nil, 3)
		files, err := cs.FindFiles(f.ctx, readmodel.ListQuery{GrantID: &active.ID})
		wantIDs(t, "files of the grant", ids(files, err, fileID)(t), []uuid.UUID{file.ID})
		_, err = cs.FindBatches(f.ctx, readmodel.ListQuery{GrantID: &active.ID})
		wantCode(t, err, ingest.EValidation)
	})

	t.Run("the database holds the counters within the limits", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		g, _ := f.grant(u, ingest.GrantRequest{GrantLimits: ingest.GrantLimits{MaxFiles: 2, MaxTotalBytes: bytesOf(10)}})
		f.refused(`UPDATE upload_grants SET files_used = 3 WHERE id = $1`, g.ID.String())
		f.refused(`UPDATE upload_grants SET bytes_used = 11 WHERE id = $1`, g.ID.String())
		f.refused(`UPDATE upload_grants SET files_used = -1 WHERE id = $1`, g.ID.String())
		f.exec(`UPDATE upload_grants SET files_used = 2, bytes_used = 10 WHERE id = $1`, g.ID.String())
	})

	t.Run("a file records the grant it was uploaded with", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		g, _ := f.grant(u, ingest.GrantRequest{})
		file, sess := newUpload(f, u, nil, 8, 4)
		file.GrantID = &g.ID
		if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err != nil {
			t.Fatal(err)
		}
		if got := f.getFile(file.ID); got.GrantID == nil || *got.GrantID != g.ID {
			t.Errorf("the file's grant = %v, want %s", got.GrantID, g.ID)
		}
		if got := f.store(u, nil, 3); got.GrantID != nil {
			t.Errorf("a file uploaded without a grant has grant %v", got.GrantID)
		}
		missing := uuid.New()
		file, sess = newUpload(f, u, nil, 8, 4)
		file.GrantID = &missing
		if err := f.Store.CreateUpload(f.ctx, file, sess, ingest.UploadQuota{}); err == nil {
			t.Errorf("a file of a grant that does not exist was recorded")
		}
	})

	t.Run("racing reservations from two instances never exceed the limits", func(t *testing.T) {
		f := newFixture(t, open)
		if f.OpenSecond == nil {
			t.Fatal("the opener gives no second store on the same database")
		}
		stores := []ingest.Store{f.Store, f.OpenSecond()}
		u := f.user(false)
		const racers = 24
		for _, tc := range []struct {
			name          string
			limits        ingest.GrantLimits
			wantFiles     int
			wantBytesUsed int64
			deferred      bool // files reserved first, their bytes raced (ReserveGrantBytes)
		}{
			{"files", ingest.GrantLimits{MaxFiles: 5}, 5, 50, false},
			{"total bytes", ingest.GrantLimits{MaxFiles: racers, MaxTotalBytes: bytesOf(75)}, 7, 70, false},
			{"deferred lengths", ingest.GrantLimits{MaxFiles: racers, MaxTotalBytes: bytesOf(75)}, 7, 70, true},
		} {
			g, _ := f.grant(u, ingest.GrantRequest{GrantLimits: tc.limits})
			if tc.deferred {
				for range racers {
					if _, err := f.Store.ReserveGrant(f.ctx, g.ID, 0, "text/plain"); err != nil {
						t.Fatal(err)
					}
				}
			}
			errs := race(racers, func(i int) error {
				if tc.deferred {
					_, err := stores[i%2].ReserveGrantBytes(f.ctx, g.ID, 10)
					return err
				}
				_, err := stores[i%2].ReserveGrant(f.ctx, g.ID, 10, "text/plain")
				return err
			})
			won := 0
			for _, err := range errs {
				switch ingest.ErrorCode(err) {
				case "":
					won++
				case ingest.EGrantLimitReached:
				default:
					t.Errorf("%s: a reservation failed with %v", tc.name, err)
				}
			}
			got, err := f.Store.Grant(f.ctx, g.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantFilesUsed := tc.wantFiles
			if tc.deferred {
				wantFilesUsed = racers
			}
			if won != tc.wantFiles || got.FilesUsed != wantFilesUsed || got.BytesUsed != tc.wantBytesUsed {
				t.Errorf("%s: %d reservations won, the grant counts %d files and %d bytes; want %d, %d",
					tc.name, won, got.FilesUsed, got.BytesUsed, wantFilesUsed, tc.wantBytesUsed)
			}
		}
	})
}
