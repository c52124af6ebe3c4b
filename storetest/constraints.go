package storetest

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// The tests in this file bypass the store: they prove the database refuses rows that break the
// invariants, whoever writes them. Each refused statement is paired with a control statement that
// differs only in the offending value and is accepted, so a refusal cannot come from a typo.

const insertPart = `INSERT INTO upload_parts (id, created_at, updated_at, session_id, part_number, status, temp_key, size_bytes, crc32c)
	VALUES ($1, $2, $2, $3, $4, $5, 'k', 4, $6)`

const insertEvent = `INSERT INTO portal_event_outbox (id, created_at, updated_at, event_type, event_id, idempotency_key,
	payload, status, next_attempt_at, attempt_count, file_id, delivered_at)
	VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $2, 0, $8, $9)`

const insertBatch = `INSERT INTO upload_batches (id, created_at, updated_at, status, name, created_by_id, total_files,
	stored_count, failed_count, sealed_at) VALUES ($1, $2, $2, $3, '', $4, $5, $6, $7, $8)`

const insertSession = `INSERT INTO upload_sessions (id, created_at, updated_at, file_id, status, chunk_size_bytes, total_parts,
	received_parts_count, idempotency_key, uploaded_by_id, expires_at, hashed_parts, completed_at)
	VALUES ($1, $2, $2, $3, $4, 4, $5, $6, $7, $8, $2, $9, $10)`

const insertFile = `INSERT INTO ingest_files (id, created_at, updated_at, status, size_bytes, original_filename, uploaded_by_id, sha256)
	VALUES ($1, $2, $2, 'UPLOADING', 1, 'f', $3, $4)`

func testConstraints(t *testing.T, open Opener) {
	t.Run("a second part with the same number in a session", func(t *testing.T) {
		f := newFixture(t, open)
		_, sess := f.upload(f.user(false), nil, 12, 4)
		now := sqlTime(f.Clock.Now())
		f.exec(insertPart, uuid.New(), now, sess.ID, 1, "PENDING", nil)
		f.exec(insertPart, uuid.New(), now, sess.ID, 2, "PENDING", nil)
		f.refused(insertPart, uuid.New(), now, sess.ID, 1, "PENDING", nil)
		_, err := f.DB.ExecContext(f.ctx, insertPart, uuid.New(), now, sess.ID, 2, "FAILED", nil)
		if err == nil {
			t.Fatal("a duplicate part in another status was accepted")
		}
		f.refused(insertPart, uuid.New(), now, sess.ID, 0, "PENDING", nil)
		f.refused(insertPart, uuid.New(), now, sess.ID, 3, "RECEIVED", nil) // RECEIVED without a CRC32C
		f.exec(insertPart, uuid.New(), now, sess.ID, 3, "RECEIVED", 42)
	})

	t.Run("an unknown status in any table", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		b := f.batch(u)
		file, sess := f.upload(u, b, 8, 4)
		f.receive(sess, 1, 4)
		_, e := f.storedEvent(u)
		for _, tc := range []struct {
			table string
			id    uuid.UUID
			valid string
		}{
			{"upload_batches", b.ID, "CANCELLED"},
			{"ingest_files", file.ID, "UPLOADING"},
			{"upload_sessions", sess.ID, "IN_PROGRESS"},
			{"portal_event_outbox", e.ID, "SENDING"},
		} {
			for _, bad := range []string{"BOGUS", strings.ToLower(tc.valid), ""} {
				f.refused(`UPDATE `+tc.table+` SET status = $1 WHERE id = $2`, bad, tc.id)
			}
			f.exec(`UPDATE `+tc.table+` SET status = $1 WHERE id = $2`, tc.valid, tc.id)
		}
		f.refused(`UPDATE upload_parts SET status = 'DONE' WHERE session_id = $1`, sess.ID)
		f.exec(`UPDATE upload_parts SET status = 'FAILED' WHERE session_id = $1`, sess.ID)
	})

	t.Run("a STORED file without its hash, size or pointer", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		now := sqlTime(f.Clock.Now())
		const store = `UPDATE ingest_files SET status = 'STORED', sha256 = $1, storage_backend = $2, storage_bucket = $3,
			storage_key = $4, stored_at = $5 WHERE id = $6`
		sha := hashOf("x")
		for name, args := range map[string][]any{
			"no sha256":            {nil, "local", nil, "k", now},
			"no backend":           {sha, nil, nil, "k", now},
			"no key":               {sha, "local", nil, nil, now},
			"empty key":            {sha, "local", nil, "", now},
			"no stored_at":         {sha, "local", nil, "k", nil},
			"s3 without bucket":    {sha, "s3", nil, "k", now},
			"gcs without bucket":   {sha, "gcs", nil, "k", now},
			"azure without bucket": {sha, "azure", "", "k", now},
			"unknown backend":      {sha, "ftp", nil, "k", now},
			"upper-case sha256":    {strings.ToUpper(sha), "local", nil, "k", now},
			"short sha256":         {sha[:63], "local", nil, "k", now},
		} {
			file, _ := f.upload(u, nil, 1, 4)
			if _, err := f.DB.ExecContext(f.ctx, store, append(args, file.ID)...); err == nil {
				t.Errorf("%s: the database accepted a STORED file", name)
			}
			if got := f.getFile(file.ID).Status; got != ingest.FileUploading {
				t.Errorf("%s: file is %s", name, got)
			}
		}
		file, _ := f.upload(u, nil, 1, 4)
		f.refused(`UPDATE ingest_files SET status = 'STORED', size_bytes = NULL, sha256 = $1, storage_backend = 'local',
			storage_key = 'k', stored_at = $2 WHERE id = $3`, sha, now, file.ID)
		f.exec(store, sha, "s3", "bucket", "k", now, file.ID)
		for _, backend := range []string{"gcs", "azure"} {
			file, _ := f.upload(u, nil, 1, 4)
			f.exec(store, sha, backend, "bucket", "k", now, file.ID)
		}
	})

	t.Run("a file leaves STORED or FAILED", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		stored := f.store(u, nil, 3)
		_, sess := f.upload(u, nil, 3, 4)
		ended, err := f.Store.EndUpload(f.ctx, sess.ID, ingest.SessionFailed, ingest.ESessionExpired, "expired")
		if err != nil {
			t.Fatal(err)
		}
		f.refused(`UPDATE ingest_files SET status = 'UPLOADING' WHERE id = $1`, stored.ID)
		f.refused(`UPDATE ingest_files SET status = 'FAILED', failure_code = 'ABORTED', failure_reason = 'x' WHERE id = $1`, stored.ID)
		f.refused(`UPDATE ingest_files SET status = 'UPLOADING' WHERE id = $1`, ended.FileID)
		f.exec(`UPDATE ingest_files SET content_type = 'text/plain' WHERE id = $1`, stored.ID)
		uploading := f.newUploadingFile(u)
		f.refused(`UPDATE ingest_files SET status = 'FAILED', failure_code = 'SESSION_EXPIRED' WHERE id = $1`, uploading) // FAILED needs a reason
		f.exec(`UPDATE ingest_files SET status = 'FAILED', failure_code = 'SESSION_EXPIRED', failure_reason = 'expired' WHERE id = $1`, uploading)
	})

	t.Run("a failed file has a failure code, one of the list, and no other file has one", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		const fail = `UPDATE ingest_files SET status = 'FAILED', failure_code = $1, failure_reason = 'r' WHERE id = $2`
		for _, code := range ingest.FailureCodes() {
			uploading := f.newUploadingFile(u)
			f.refused(fail, nil, uploading)
			f.refused(fail, strings.ToLower(string(code)), uploading)
			f.exec(fail, code, uploading)
		}
		uploading := f.newUploadingFile(u)
		f.refused(fail, ingest.EMissingParts, uploading)
		f.refused(`UPDATE ingest_files SET failure_code = 'ABORTED' WHERE id = $1`, uploading) // UPLOADING
		f.exec(`UPDATE ingest_files SET failure_code = NULL WHERE id = $1`, uploading)
		stored := f.store(u, nil, 3)
		f.refused(`UPDATE ingest_files SET failure_code = 'ABORTED' WHERE id = $1`, stored.ID)
		failed := f.newUploadingFile(u)
		f.exec(fail, ingest.EAborted, failed)
		f.refused(`UPDATE ingest_files SET failure_code = NULL WHERE id = $1`, failed)
		f.refused(`UPDATE ingest_files SET failure_code = 'EXPIRED' WHERE id = $1`, failed)
		f.exec(`UPDATE ingest_files SET failure_code = 'SESSION_EXPIRED' WHERE id = $1`, failed)
	})

	t.Run("an outbox row for a file that is not STORED", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		now := sqlTime(f.Clock.Now())
		uploading, _ := f.upload(u, nil, 3, 4)
		_, sess := f.upload(u, nil, 3, 4)
		failed, err := f.Store.EndUpload(f.ctx, sess.ID, ingest.SessionAborted, ingest.EAborted, "aborted")
		if err != nil {
			t.Fatal(err)
		}
		stored := f.store(u, nil, 3)
		for _, fileID := range []uuid.UUID{uploading.ID, failed.FileID, uuid.New()} {
			f.refused(insertEvent, uuid.New(), now, "file.stored", uuid.New(), "k-"+fileID.String(), `{}`, "PENDING", fileID, nil)
		}
		f.exec(insertEvent, uuid.New(), now, "file.checked", uuid.New(), "k", `{}`, "PENDING", stored.ID, nil)
		e := f.eventOf(stored)
		f.refused(`UPDATE portal_event_outbox SET file_id = $1 WHERE id = $2`, uploading.ID, e.ID)
		if n := f.count(`SELECT count(*) FROM portal_event_outbox WHERE file_id <> $1`, stored.ID); n != 0 {
			t.Errorf("%d events for files that are not STORED", n)
		}
	})

	t.Run("a second outbox row with the same type and idempotency key", func(t *testing.T) {
		f := newFixture(t, open)
		stored := f.store(f.user(false), nil, 3)
		now := sqlTime(f.Clock.Now())
		f.refused(insertEvent, uuid.New(), now, "file.stored", uuid.New(), stored.ID.String(), `{}`, "PENDING", stored.ID, nil)
		f.exec(insertEvent, uuid.New(), now, "file.stored", uuid.New(), "another key", `{}`, "PENDING", stored.ID, nil)
		f.refused(insertEvent, uuid.New(), now, "file.stored", uuid.New(), "k3", `{not json`, "PENDING", stored.ID, nil)
		f.refused(insertEvent, uuid.New(), now, "file.stored", uuid.New(), "k4", `{}`, "DELIVERED", stored.ID, nil)
		f.exec(insertEvent, uuid.New(), now, "file.stored", uuid.New(), "k4", `{}`, "DELIVERED", stored.ID, now)
		e := f.eventOf(stored)
		f.refused(`UPDATE portal_event_outbox SET attempt_count = -1 WHERE id = $1`, e.ID)
		f.refused(`UPDATE portal_event_outbox SET event_id = (SELECT event_id FROM portal_event_outbox WHERE idempotency_key = 'k4') WHERE id = $1`, e.ID)
	})

	t.Run("batch counters out of bounds", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		now := sqlTime(f.Clock.Now())
		for name, args := range map[string][]any{
			"negative total":              {"OPEN", -1, 0, 0, nil},
			"negative stored":             {"OPEN", 1, -1, 0, nil},
			"negative failed":             {"OPEN", 1, 0, -1, nil},
			"more ended than registered":  {"OPEN", 2, 2, 1, nil},
			"COMPLETE with a failure":     {"COMPLETE", 2, 1, 1, now},
			"COMPLETE with files unended": {"COMPLETE", 2, 1, 0, now},
			"PARTIAL with nothing failed": {"PARTIAL", 2, 2, 0, now},
			"FAILED with a stored file":   {"FAILED", 2, 1, 1, now},
			"FAILED with no files":        {"FAILED", 0, 0, 0, now},
			"SEALED without a seal time":  {"SEALED", 1, 0, 0, nil},
		} {
			if _, err := f.DB.ExecContext(f.ctx, insertBatch, append([]any{uuid.New(), now, args[0], u.ID}, args[1:]...)...); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		for _, args := range [][]any{
			{"OPEN", 3, 1, 1, nil}, {"COMPLETE", 2, 2, 0, now}, {"PARTIAL", 2, 1, 1, now},
			{"FAILED", 2, 0, 2, now}, {"CANCELLED", 3, 0, 1, nil}, {"SEALED", 1, 0, 0, now},
		} {
			f.exec(insertBatch, append([]any{uuid.New(), now, args[0], u.ID}, args[1:]...)...)
		}
	})

	t.Run("session part counts and uniqueness", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		now := sqlTime(f.Clock.Now())
		for name, args := range map[string][]any{
			"received more than total":    {"IN_PROGRESS", 2, 3, nil, 0, nil},
			"negative received":           {"IN_PROGRESS", 2, -1, nil, 0, nil},
			"more than 10000 parts":       {"INIT", 10001, 0, nil, 0, nil},
			"hashed more than received":   {"IN_PROGRESS", 3, 1, nil, 2, nil},
			"COMPLETE without completion": {"COMPLETE", 1, 1, nil, 0, nil},
			"COMPLETE with parts missing": {"COMPLETE", 2, 1, nil, 0, now},
			"empty idempotency key":       {"INIT", 1, 0, "", 0, nil},
		} {
			fileID := f.newUploadingFile(u)
			full := []any{uuid.New(), now, fileID, args[0], args[1], args[2], args[3], u.ID, args[4], args[5]}
			if _, err := f.DB.ExecContext(f.ctx, insertSession, full...); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		fileID := f.newUploadingFile(u)
		f.exec(insertSession, uuid.New(), now, fileID, "IN_PROGRESS", 3, 2, "key", u.ID, 2, nil)
		f.refused(insertSession, uuid.New(), now, fileID, "INIT", 1, 0, nil, u.ID, 0, nil) // a second session of the file
		f.refused(insertSession, uuid.New(), now, f.newUploadingFile(u), "INIT", 1, 0, "key", u.ID, 0, nil)
		f.exec(insertSession, uuid.New(), now, f.newUploadingFile(u), "INIT", 1, 0, "key", f.user(false).ID, 0, nil)
		f.exec(insertSession, uuid.New(), now, f.newUploadingFile(u), "COMPLETE", 1, 1, nil, u.ID, 1, now)
	})

	t.Run("rows that point nowhere", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		now := sqlTime(f.Clock.Now())
		f.refused(insertFile, uuid.New(), now, uuid.New(), nil)
		f.refused(insertBatch, uuid.New(), now, "OPEN", uuid.New(), 0, 0, 0, nil)
		f.refused(insertPart, uuid.New(), now, uuid.New(), 1, "PENDING", nil)
		f.exec(insertFile, uuid.New(), now, u.ID, nil)
		f.refused(insertFile, uuid.New(), now, u.ID, "not-a-hash")
	})

	t.Run("metadata that is not a JSON object", func(t *testing.T) {
		f := newFixture(t, open)
		id := f.newUploadingFile(f.user(false))
		const set = `UPDATE ingest_files SET metadata = $1 WHERE id = $2`
		for _, bad := range []string{`["a"]`, `"text"`, `42`, `null`, `{"a":`} {
			f.refused(set, bad, id)
		}
		f.refused(`UPDATE ingest_files SET metadata = NULL WHERE id = $1`, id)
		f.exec(set, `{"a":"b"}`, id)
	})
}

// newUploadingFile inserts a bare UPLOADING file with raw SQL and returns its id.
func (f *fixture) newUploadingFile(u *ingest.User) uuid.UUID {
	f.t.Helper()
	id := uuid.New()
	f.exec(insertFile, id, sqlTime(f.Clock.Now()), u.ID, nil)
	return id
}
