package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// consoleStore is what a store of the portal has beyond ingest.Store: the read model of the
// lists and the dashboard, and the console's access control.
type consoleStore interface {
	readmodel.Store
	ingest.AccessStore
}

// console returns the store's console methods; a store of the portal must have them.
func (f *fixture) console() consoleStore {
	f.t.Helper()
	cs, ok := f.Store.(consoleStore)
	if !ok {
		f.t.Fatalf("%T has no read model or access methods", f.Store)
	}
	return cs
}

// ids returns the ids of a listing's items.
func ids[T any](l *readmodel.Listing[T], err error, id func(T) uuid.UUID) func(t *testing.T) []uuid.UUID {
	return func(t *testing.T) []uuid.UUID {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]uuid.UUID, len(l.Items))
		for i, it := range l.Items {
			out[i] = id(it)
		}
		return out
	}
}

func fileID(f *ingest.File) uuid.UUID { return f.ID }

func wantIDs(t *testing.T, what string, got, want []uuid.UUID) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func testConsole(t *testing.T, open Opener) {
	t.Run("files filter by status, batch, uploader and date", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		alice, bob := f.user(false), f.user(false)
		b := f.batch(alice)
		stored := f.store(alice, b, 10)
		f.Clock.Advance(48 * time.Hour)
		uploading, _ := f.upload(bob, nil, 10, 4)
		find := func(q readmodel.ListQuery) []uuid.UUID {
			t.Helper()
			l, err := cs.FindFiles(f.ctx, q)
			return ids(l, err, fileID)(t)
		}
		wantIDs(t, "all", find(readmodel.ListQuery{}), []uuid.UUID{uploading.ID, stored.ID})
		wantIDs(t, "STORED", find(readmodel.ListQuery{Status: "STORED"}), []uuid.UUID{stored.ID})
		wantIDs(t, "in batch", find(readmodel.ListQuery{BatchID: &b.ID}), []uuid.UUID{stored.ID})
		wantIDs(t, "bob's", find(readmodel.ListQuery{UserID: &bob.ID}), []uuid.UUID{uploading.ID})
		wantIDs(t, "in the batches of a name", find(readmodel.ListQuery{BatchName: b.Name}), []uuid.UUID{stored.ID})
		wantIDs(t, "in the batches of a name no batch has", find(readmodel.ListQuery{BatchName: "other"}), []uuid.UUID{})
		wantIDs(t, "bob's by username", find(readmodel.ListQuery{Username: bob.Username}), []uuid.UUID{uploading.ID})
		batches, err := cs.FindBatches(f.ctx, readmodel.ListQuery{Username: alice.Username})
		wantIDs(t, "alice's batches by username", ids(batches, err, func(b *ingest.Batch) uuid.UUID { return b.ID })(t), []uuid.UUID{b.ID})
		_, err = cs.FindParts(f.ctx, readmodel.ListQuery{BatchName: b.Name})
		wantCode(t, err, ingest.EValidation)
		since := f.Clock.Now().Add(-time.Hour)
		wantIDs(t, "created in the last hour", find(readmodel.ListQuery{CreatedFrom: &since}), []uuid.UUID{uploading.ID})
		wantIDs(t, "created before", find(readmodel.ListQuery{CreatedTo: &since}), []uuid.UUID{stored.ID})
		_, err = cs.FindFiles(f.ctx, readmodel.ListQuery{Status: "DONE"})
		wantCode(t, err, ingest.EValidation)
		_, err = cs.FindFiles(f.ctx, readmodel.ListQuery{SessionID: &b.ID})
		wantCode(t, err, ingest.EValidation)
		_, err = cs.FindFiles(f.ctx, readmodel.ListQuery{Sort: "original_filename"})
		wantCode(t, err, ingest.EValidation)
		_, err = cs.FindFiles(f.ctx, readmodel.ListQuery{Limit: ingest.MaxPageLimit + 1})
		wantCode(t, err, ingest.EValidation)
	})

	t.Run("file search reads an id, a sha256 prefix or a part of the name", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(false)
		a := f.store(u, nil, 10)
		bFile, bSess := newUpload(f, u, nil, 10, 4)
		bFile.OriginalFilename = "Quarterly_100%.PDF"
		if err := f.Store.CreateUpload(f.ctx, bFile, bSess, ingest.UploadQuota{}); err != nil {
			t.Fatal(err)
		}
		find := func(term string) []uuid.UUID {
			t.Helper()
			l, err := cs.FindFiles(f.ctx, readmodel.ListQuery{Search: term})
			return ids(l, err, fileID)(t)
		}
		wantIDs(t, "by id", find(a.ID.String()), []uuid.UUID{a.ID})
		wantIDs(t, "by sha256 prefix", find(a.SHA256[:8]), []uuid.UUID{a.ID})
		wantIDs(t, "by the whole sha256", find(a.SHA256), []uuid.UUID{a.ID})
		wantIDs(t, "by name, any case", find("quarterly"), []uuid.UUID{bFile.ID})
		wantIDs(t, "a % is literal", find("100%."), []uuid.UUID{bFile.ID})
		wantIDs(t, "an _ is literal", find("y_1"), []uuid.UUID{bFile.ID})
		wantIDs(t, "no match", find("100%x"), []uuid.UUID{})

		cFile, cSess := newUpload(f, u, nil, 10, 4)
		cFile.OriginalFilename = "scan.tif"
		cFile.Metadata = map[string]string{"relative_path": "Archive/Größe 100%/scan.tif", "source": "Scanner-7"}
		if err := f.Store.CreateUpload(f.ctx, cFile, cSess, ingest.UploadQuota{}); err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "by part of a metadata value, any ASCII case", find("scanner-7"), []uuid.UUID{cFile.ID})
		wantIDs(t, "by a UTF-8 metadata value", find("Größe 100%"), []uuid.UUID{cFile.ID})
		wantIDs(t, "by key:value", find("source:scanner"), []uuid.UUID{cFile.ID})
		wantIDs(t, "by key:value with a path", find("relative_path:archive/"), []uuid.UUID{cFile.ID})
		wantIDs(t, "key:value of another key", find("relative_path:scanner"), []uuid.UUID{})
		wantIDs(t, "metadata keys alone are not values", find("relative_path"), []uuid.UUID{})
		wantIDs(t, "a name still matches beside metadata", find("scan"), []uuid.UUID{cFile.ID})
	})

	t.Run("keyset pages walk a sorted list both ways", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(false)
		// Sizes 30, 10, 20, 10: by size descending (ties newest first) the order is
		// 30, 10(b), 10(a)... with the tie broken by id.
		var files []*ingest.File
		for _, size := range []int64{30, 10, 20, 10} {
			file, _ := f.upload(u, nil, size, 4)
			files = append(files, file)
		}
		bySizeDesc := []uuid.UUID{files[0].ID, files[2].ID, files[3].ID, files[1].ID}
		page := func(c readmodel.Cursor, asc bool) (*readmodel.Listing[*ingest.File], []uuid.UUID) {
			t.Helper()
			l, err := cs.FindFiles(f.ctx, readmodel.ListQuery{Sort: "size", Asc: asc, Cursor: c, Limit: 2})
			return l, ids(l, err, fileID)(t)
		}
		first, got := page(readmodel.Cursor{}, false)
		wantIDs(t, "first page", got, bySizeDesc[:2])
		if !first.More {
			t.Errorf("the first page says nothing follows")
		}
		second, got := page(readmodel.Cursor{After: &bySizeDesc[1]}, false)
		wantIDs(t, "second page", got, bySizeDesc[2:])
		if second.More {
			t.Errorf("the last page says more follows")
		}
		back, got := page(readmodel.Cursor{Before: &bySizeDesc[2]}, false)
		wantIDs(t, "back to the first page", got, bySizeDesc[:2])
		if back.More {
			t.Errorf("the first page, read backwards, says more precedes it")
		}
		_, got = page(readmodel.Cursor{Last: true}, false)
		wantIDs(t, "last page", got, bySizeDesc[2:])
		asc := slices.Clone(bySizeDesc)
		slices.Reverse(asc)
		_, got = page(readmodel.Cursor{}, true)
		wantIDs(t, "ascending", got, asc[:2])
		_, got = page(readmodel.Cursor{After: &asc[1]}, true)
		wantIDs(t, "ascending, second page", got, asc[2:])

		// By creation: newest first, and the same cursors.
		l, err := cs.FindFiles(f.ctx, readmodel.ListQuery{Cursor: readmodel.Cursor{After: &files[2].ID}})
		wantIDs(t, "created before the third", ids(l, err, fileID)(t), []uuid.UUID{files[1].ID, files[0].ID})
	})

	t.Run("every model lists, filters and searches", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(true)
		b := f.batch(u)
		stored := f.store(u, b, 10)
		_, sess := f.upload(u, b, 10, 4)
		f.receive(sess, 2, 4)
		tok, _ := ingest.NewAPIToken(u.ID, "ci-runner")
		if err := f.Store.CreateAPIToken(f.ctx, tok); err != nil {
			t.Fatal(err)
		}

		batches, err := cs.FindBatches(f.ctx, readmodel.ListQuery{Status: "OPEN", UserID: &u.ID})
		wantIDs(t, "open batches", ids(batches, err, func(b *ingest.Batch) uuid.UUID { return b.ID })(t), []uuid.UUID{b.ID})
		sessions, err := cs.FindSessions(f.ctx, readmodel.ListQuery{Status: "IN_PROGRESS"})
		wantIDs(t, "sessions in progress", ids(sessions, err, func(s *ingest.UploadSession) uuid.UUID { return s.ID })(t), []uuid.UUID{sess.ID})
		parts, err := cs.FindParts(f.ctx, readmodel.ListQuery{SessionID: &sess.ID, Status: "RECEIVED"})
		if got := ids(parts, err, func(p *ingest.Part) uuid.UUID { return p.SessionID })(t); len(got) != 1 || got[0] != sess.ID {
			t.Errorf("received parts of the session = %v", got)
		}
		events, err := cs.FindEvents(f.ctx, readmodel.ListQuery{FileID: &stored.ID, EventType: ingest.EventFileStored, Status: "PENDING"})
		evIDs := ids(events, err, func(e *ingest.OutboxEvent) uuid.UUID { return e.ID })(t)
		if len(evIDs) != 1 {
			t.Fatalf("pending file.stored events of the file = %v, want one", evIDs)
		}
		byEventID, err := cs.FindEvents(f.ctx, readmodel.ListQuery{Search: events.Items[0].EventID.String()})
		wantIDs(t, "event by its event id", ids(byEventID, err, func(e *ingest.OutboxEvent) uuid.UUID { return e.ID })(t), evIDs)
		users, err := cs.FindUsers(f.ctx, readmodel.ListQuery{Status: readmodel.UserAdmin, Search: u.Username[5:]})
		wantIDs(t, "admins by name", ids(users, err, func(u *ingest.User) uuid.UUID { return u.ID })(t), []uuid.UUID{u.ID})
		tokens, err := cs.FindTokens(f.ctx, readmodel.ListQuery{Status: string(ingest.TokenActive), UserID: &u.ID, Search: "RUNNER"})
		wantIDs(t, "active tokens by name", ids(tokens, err, func(t *ingest.APIToken) uuid.UUID { return t.ID })(t), []uuid.UUID{tok.ID})
		sessByID, err := cs.FindSessions(f.ctx, readmodel.ListQuery{Search: "not an id"})
		wantIDs(t, "sessions searched by a name", ids(sessByID, err, func(s *ingest.UploadSession) uuid.UUID { return s.ID })(t), []uuid.UUID{})
	})

	t.Run("counts by status stop at the limit", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(false)
		for range 3 {
			f.store(u, nil, 1)
		}
		f.upload(u, nil, 1, 4)
		counts, err := cs.CountByStatus(f.ctx, readmodel.ModelFiles, 2)
		if err != nil {
			t.Fatal(err)
		}
		if counts["STORED"] != 3 || counts["UPLOADING"] != 1 || counts["FAILED"] != 0 {
			t.Errorf("counts with limit 2 = %v, want STORED 3 (more than 2), UPLOADING 1, FAILED 0", counts)
		}
		users, err := cs.CountByStatus(f.ctx, readmodel.ModelUsers, 100)
		if err != nil || users[readmodel.UserActive] != 1 || users[readmodel.UserAdmin] != 0 {
			t.Errorf("user counts = %v, %v", users, err)
		}
		_, err = cs.CountByStatus(f.ctx, readmodel.ModelParts, 10)
		wantCode(t, err, ingest.EValidation)
	})

	t.Run("a token is revoked once", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(false)
		tok, secret := ingest.NewAPIToken(u.ID, "ci")
		if err := f.Store.CreateAPIToken(f.ctx, tok); err != nil {
			t.Fatal(err)
		}
		// Two operators revoke at once: one wins, the other is told it is already revoked.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { _, errs[i] = cs.RevokeAPIToken(f.ctx, tok.ID) })
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("racing revokes = %v, %v; want exactly one to win", errs[0], errs[1])
		}
		lost := errs[0]
		if lost == nil {
			lost = errs[1]
		}
		wantTransitionError(t, lost, "REVOKED", ingest.EInvalidTransition)
		got, err := cs.APIToken(f.ctx, tok.ID)
		if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(f.Clock.Now()) || got.State(f.Clock.Now()) != ingest.TokenRevoked {
			t.Errorf("revoked token = %+v, %v", got, err)
		}
		_, err = f.Store.Authenticate(f.ctx, ingest.HashToken(secret))
		wantCode(t, err, ingest.EUnauthenticated)
		_, err = cs.RevokeAPIToken(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
		_, err = cs.APIToken(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("a user is disabled once, and their console sessions end", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(true)
		tok, secret := ingest.NewAPIToken(u.ID, "ci")
		if err := f.Store.CreateAPIToken(f.ctx, tok); err != nil {
			t.Fatal(err)
		}
		s, cookie := ingest.NewConsoleSession(u.ID, f.Clock.Now().Add(time.Hour))
		if err := cs.CreateConsoleSession(f.ctx, s); err != nil {
			t.Fatal(err)
		}
		disabled, err := cs.DisableUser(f.ctx, u.ID)
		if err != nil || disabled.DisabledAt == nil || !disabled.DisabledAt.Equal(f.Clock.Now()) {
			t.Fatalf("DisableUser = %+v, %v", disabled, err)
		}
		_, err = cs.DisableUser(f.ctx, u.ID)
		wantTransitionError(t, err, "DISABLED", ingest.EInvalidTransition)
		_, err = f.Store.Authenticate(f.ctx, ingest.HashToken(secret))
		wantCode(t, err, ingest.EForbidden)
		_, _, err = cs.ConsoleSession(f.ctx, ingest.HashToken(cookie))
		wantCode(t, err, ingest.EUnauthenticated)
		_, err = cs.DisableUser(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("console sessions are found by the hash of their secret until they expire", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(true)
		s, cookie := ingest.NewConsoleSession(u.ID, f.Clock.Now().Add(time.Hour))
		if err := cs.CreateConsoleSession(f.ctx, s); err != nil {
			t.Fatal(err)
		}
		if got := f.count(`SELECT count(*) FROM admin_sessions WHERE secret_hash = $1`, cookie); got != 0 {
			t.Errorf("the cookie's secret itself is stored")
		}
		got, user, err := cs.ConsoleSession(f.ctx, ingest.HashToken(cookie))
		if err != nil || got.ID != s.ID || got.CSRFToken != s.CSRFToken || user.ID != u.ID || !got.ExpiresAt.Equal(s.ExpiresAt) {
			t.Fatalf("ConsoleSession = %+v, %+v, %v", got, user, err)
		}
		_, _, err = cs.ConsoleSession(f.ctx, ingest.HashToken("another secret"))
		wantCode(t, err, ingest.EUnauthenticated)
		other, otherCookie := ingest.NewConsoleSession(u.ID, f.Clock.Now().Add(2*time.Hour))
		if err := cs.CreateConsoleSession(f.ctx, other); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Hour)
		_, _, err = cs.ConsoleSession(f.ctx, ingest.HashToken(cookie))
		wantCode(t, err, ingest.EUnauthenticated)
		// Signing out removes that session and every expired one.
		if err := cs.DeleteConsoleSession(f.ctx, ingest.HashToken(otherCookie)); err != nil {
			t.Fatal(err)
		}
		if n := f.count(`SELECT count(*) FROM admin_sessions`); n != 0 {
			t.Errorf("sessions left = %d, want 0", n)
		}
		orphan, _ := ingest.NewConsoleSession(uuid.New(), f.Clock.Now().Add(time.Hour))
		wantCode(t, cs.CreateConsoleSession(f.ctx, orphan), ingest.ENotFound)
	})

	t.Run("passwords are stored as given and read back by username", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(true)
		got, hash, err := cs.UserPassword(f.ctx, u.Username)
		if err != nil || got.ID != u.ID || hash != "" {
			t.Fatalf("UserPassword before = %+v, %q, %v", got, hash, err)
		}
		const encoded = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
		if err := cs.SetPassword(f.ctx, u.ID, encoded); err != nil {
			t.Fatal(err)
		}
		if _, hash, err = cs.UserPassword(f.ctx, u.Username); err != nil || hash != encoded {
			t.Errorf("UserPassword after = %q, %v", hash, err)
		}
		f.refused(`UPDATE users SET password_hash = 'plain text' WHERE id = $1`, u.ID)
		wantCode(t, cs.SetPassword(f.ctx, uuid.New(), encoded), ingest.ENotFound)
		_, _, err = cs.UserPassword(f.ctx, "nobody")
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("the dashboard counts the last hours, the backlog and the failures", func(t *testing.T) {
		f := newFixture(t, open)
		cs := f.console()
		u := f.user(false)
		since := f.Clock.Now().Add(-2 * time.Hour)
		f.store(u, nil, 100)
		f.Clock.Advance(time.Hour)
		f.store(u, nil, 20)
		f.store(u, nil, 3)
		_, active := f.upload(u, nil, 10, 4)
		if _, err := f.Store.EndUpload(f.ctx, active.ID, ingest.SessionFailed, ingest.EChecksumMismatch, "checksum mismatch"); err != nil {
			t.Fatal(err)
		}
		failedFile := active.FileID
		f.upload(u, nil, 10, 4)
		claimed, err := f.Store.ClaimEvents(f.ctx, 1, time.Minute)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("ClaimEvents = %v, %v", claimed, err)
		}
		if err := f.Store.MarkFailed(f.ctx, claimed[0].ID, claimed[0].AttemptCount, "gone"); err != nil {
			t.Fatal(err)
		}

		d, err := cs.Dashboard(f.ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Hours) != 4 {
			t.Fatalf("hours = %d, want 4 (since's hour to now's)", len(d.Hours))
		}
		for i, want := range []readmodel.HourlyIngest{{Files: 0}, {Files: 0}, {Files: 1, Bytes: 100}, {Files: 2, Bytes: 23}} {
			if got := d.Hours[i]; got.Files != want.Files || got.Bytes != want.Bytes || !got.Hour.Equal(since.Truncate(time.Hour).Add(time.Duration(i)*time.Hour)) {
				t.Errorf("hour %d = %+v, want %d files, %d bytes", i, got, want.Files, want.Bytes)
			}
		}
		if d.ActiveSessions != 1 {
			t.Errorf("active sessions = %d, want 1", d.ActiveSessions)
		}
		if d.Backlog[ingest.OutboxPending] != 2 || d.Backlog[ingest.OutboxFailed] != 1 || d.Backlog[ingest.OutboxSending] != 0 {
			t.Errorf("backlog = %v, want 2 PENDING, 1 FAILED", d.Backlog)
		}
		if d.OldestUndelivered == nil || d.OldestUndelivered.ID != claimed[0].ID {
			t.Errorf("oldest undelivered = %+v, want the first event", d.OldestUndelivered)
		}
		if len(d.RecentFailedFiles) != 1 || d.RecentFailedFiles[0].ID != failedFile || len(d.RecentFailedEvents) != 1 {
			t.Errorf("recent failures = %d files, %d events", len(d.RecentFailedFiles), len(d.RecentFailedEvents))
		}
		sess, err := cs.SessionOfFile(f.ctx, failedFile)
		if err != nil || sess.ID != active.ID {
			t.Errorf("SessionOfFile = %+v, %v", sess, err)
		}
		_, err = cs.SessionOfFile(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
	})
}
