package storetest

import (
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
)

func testQuotas(t *testing.T, open Opener) {
	t.Run("a user gets no more sessions in progress than the quota allows, and one more once one ends", func(t *testing.T) {
		f := newFixture(t, open)
		u, other := f.user(false), f.user(false)
		q := ingest.UploadQuota{MaxOpenSessions: 2}
		var sessions []*ingest.UploadSession
		for range 2 {
			file, sess := newUpload(f, u, nil, 10, 10)
			if err := f.Store.CreateUpload(f.ctx, file, sess, q); err != nil {
				t.Fatal(err)
			}
			sessions = append(sessions, sess)
		}
		file, sess := newUpload(f, u, nil, 10, 10)
		err := f.Store.CreateUpload(f.ctx, file, sess, q)
		wantCode(t, err, ingest.EQuotaExceeded)
		if d := ingest.ErrorDetails(err); d["limit"] != "max_open_sessions" || d["open_sessions"] != 2 {
			t.Errorf("details = %v, want the sessions limit with 2 open", d)
		}
		if n := f.count(`SELECT count(*) FROM ingest_files WHERE id = $1`, file.ID); n != 0 {
			t.Errorf("the refused upload's file was recorded")
		}
		otherFile, otherSess := newUpload(f, other, nil, 10, 10)
		if err := f.Store.CreateUpload(f.ctx, otherFile, otherSess, q); err != nil {
			t.Errorf("another user is held to the first one's sessions: %v", err)
		}
		if _, err := f.Store.EndUpload(f.ctx, sessions[0].ID, ingest.SessionAborted, ingest.EAborted, "client"); err != nil {
			t.Fatal(err)
		}
		file, sess = newUpload(f, u, nil, 10, 10)
		if err := f.Store.CreateUpload(f.ctx, file, sess, q); err != nil {
			t.Errorf("after an abort: %v", err)
		}
		f.receiveAll(sess, 10)
		if _, err := f.Store.StoreFile(f.ctx, sess.ID, object(10)); err != nil {
			t.Fatal(err)
		}
		file, sess = newUpload(f, u, nil, 10, 10)
		if err := f.Store.CreateUpload(f.ctx, file, sess, q); err != nil {
			t.Errorf("after a completion: %v", err)
		}
	})

	t.Run("the bytes declared by a user's sessions in progress stay within the quota", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		q := ingest.UploadQuota{MaxBytesInFlight: 100}
		for _, size := range []int64{60, 40} {
			file, sess := newUpload(f, u, nil, size, 10)
			if err := f.Store.CreateUpload(f.ctx, file, sess, q); err != nil {
				t.Fatal(err)
			}
		}
		file, sess := newUpload(f, u, nil, 1, 10)
		err := f.Store.CreateUpload(f.ctx, file, sess, q)
		wantCode(t, err, ingest.EQuotaExceeded)
		if d := ingest.ErrorDetails(err); d["limit"] != "max_bytes_in_flight" || d["bytes_in_flight"] != int64(100) {
			t.Errorf("details = %v, want the bytes limit with 100 in flight", d)
		}
		file, sess = newUpload(f, u, nil, 0, 10)
		if err := f.Store.CreateUpload(f.ctx, file, sess, q); err != nil {
			t.Errorf("an empty file over no bytes left: %v", err)
		}
	})

	t.Run("a reservation counts as a session until it is released or runs out", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		q := ingest.UploadQuota{MaxOpenSessions: 2, MaxBytesInFlight: 100}
		first, err := f.Store.ReserveUpload(f.ctx, u.ID, 50, f.Clock.Now().Add(time.Minute), q)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Store.ReserveUpload(f.ctx, u.ID, 51, f.Clock.Now().Add(time.Hour), q)
		wantCode(t, err, ingest.EQuotaExceeded)
		if _, err := f.Store.ReserveUpload(f.ctx, u.ID, 50, f.Clock.Now().Add(time.Hour), q); err != nil {
			t.Fatal(err)
		}
		file, sess := newUpload(f, u, nil, 0, 10)
		wantCode(t, f.Store.CreateUpload(f.ctx, file, sess, q), ingest.EQuotaExceeded)
		if err := f.Store.ReleaseReservation(f.ctx, first); err != nil {
			t.Fatal(err)
		}
		if err := f.Store.ReleaseReservation(f.ctx, first); err != nil {
			t.Errorf("releasing twice: %v", err)
		}
		if err := f.Store.CreateUpload(f.ctx, file, sess, q); err != nil {
			t.Fatalf("after a release: %v", err)
		}
		_, err = f.Store.ReserveUpload(f.ctx, u.ID, 0, f.Clock.Now().Add(time.Hour), q)
		wantCode(t, err, ingest.EQuotaExceeded)
		f.Clock.Advance(2 * time.Hour)
		if _, err := f.Store.ReserveUpload(f.ctx, u.ID, 100, f.Clock.Now().Add(time.Hour), q); err != nil {
			t.Errorf("once the reservation ran out: %v", err)
		}
	})

	t.Run("a deferred length counts when it is declared", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		q := ingest.UploadQuota{MaxBytesInFlight: 100}
		f.upload(u, nil, 60, 10)
		_, sess := f.streamed(u, -1, 10, false)
		if _, err := f.Store.AcquireLease(f.ctx, sess.ID, "w", 0, f.Clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		p := f.progress(0, 0)
		p.Quota, p.Length = q, new(int64(41))
		_, err := f.Store.RecordStream(f.ctx, sess.ID, "w", p)
		wantCode(t, err, ingest.EQuotaExceeded)
		if got := f.getSession(sess.ID); !got.LengthDeferred {
			t.Errorf("a length beyond the quota was recorded")
		}
		p.Length = new(int64(40))
		if _, err := f.Store.RecordStream(f.ctx, sess.ID, "w", p); err != nil {
			t.Errorf("a length within the quota: %v", err)
		}
	})

	t.Run("racing creators of one user, on two instances, never exceed the quota", func(t *testing.T) {
		f := newFixture(t, open)
		if f.OpenSecond == nil {
			t.Fatal("the opener gives no second store on the same database")
		}
		stores := []ingest.Store{f.Store, f.OpenSecond()}
		const racers = 24
		for _, tc := range []struct {
			name  string
			quota ingest.UploadQuota
			want  int
		}{
			{"sessions", ingest.UploadQuota{MaxOpenSessions: 5}, 5},
			{"bytes", ingest.UploadQuota{MaxBytesInFlight: 75}, 7},
		} {
			u := f.user(false)
			errs := race(racers, func(i int) error {
				if i%3 == 0 {
					_, err := stores[i%2].ReserveUpload(f.ctx, u.ID, 10, f.Clock.Now().Add(time.Hour), tc.quota)
					return err
				}
				file, sess := newUpload(f, u, nil, 10, 10)
				return stores[i%2].CreateUpload(f.ctx, file, sess, tc.quota)
			})
			won := 0
			for _, err := range errs {
				switch ingest.ErrorCode(err) {
				case "":
					won++
				case ingest.EQuotaExceeded:
				default:
					t.Errorf("%s: a creation failed with %v", tc.name, err)
				}
			}
			held := f.count(`SELECT count(*) FROM upload_sessions WHERE uploaded_by_id = $1`, u.ID) +
				f.count(`SELECT count(*) FROM upload_reservations WHERE user_id = $1`, u.ID)
			if won != tc.want || held != tc.want {
				t.Errorf("%s: %d creations won, %d sessions and reservations held; want %d", tc.name, won, held, tc.want)
			}
		}
	})
}
