package main

// Crash tests: the real "ingest serve" is killed with SIGKILL at the two moments DESIGN.md §3 and
// §6 care about — in the middle of a part's body, and between making the object and committing
// the file — and restarted on the same database and storage, which must then finish the upload
// with the right bytes, hash, counters and event.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// crashChunk is the part size of the crash tests' uploads.
const crashChunk = 1 << 20

// errTestClosedBody is what a request body fails with once the test closes it.
var errTestClosedBody = errors.New("the test closed the request body")

// The parts of the API's JSON the tests read.
type (
	crashSession struct {
		ID                 uuid.UUID `json:"id"`
		FileID             uuid.UUID `json:"file_id"`
		Status             string    `json:"status"`
		ChunkSizeBytes     int64     `json:"chunk_size_bytes"`
		TotalParts         int       `json:"total_parts"`
		ReceivedPartsCount int       `json:"received_parts_count"`
	}
	crashPart struct {
		PartNumber int     `json:"part_number"`
		Status     string  `json:"status"`
		SizeBytes  int64   `json:"size_bytes"`
		CRC32C     *uint32 `json:"crc32c"`
	}
	crashFile struct {
		ID         uuid.UUID `json:"id"`
		Status     string    `json:"status"`
		SHA256     *string   `json:"sha256"`
		SizeBytes  int64     `json:"size_bytes"`
		StorageKey *string   `json:"storage_key"`
	}
	crashBatch struct {
		ID          uuid.UUID `json:"id"`
		Status      string    `json:"status"`
		TotalFiles  int       `json:"total_files"`
		StoredCount int       `json:"stored_count"`
		FailedCount int       `json:"failed_count"`
	}
)

func (r *serveRig) createSession(size int64, batchID *uuid.UUID) crashSession {
	r.t.Helper()
	body := map[string]any{"filename": "crash.bin", "size_bytes": size, "chunk_size_bytes": crashChunk}
	if batchID != nil {
		body["batch_id"] = batchID.String()
	}
	var sess crashSession
	r.call("POST", "/api/v1/uploads", body, http.StatusCreated, &sess)
	if want := int((size + crashChunk - 1) / crashChunk); sess.TotalParts != want || sess.ChunkSizeBytes != crashChunk {
		r.fatalf("session has %d parts of %d bytes, want %d of %d", sess.TotalParts, sess.ChunkSizeBytes, want, crashChunk)
	}
	return sess
}

func (r *serveRig) putPart(sess crashSession, n int, data []byte) crashPart {
	r.t.Helper()
	var p crashPart
	r.call("PUT", fmt.Sprintf("/api/v1/uploads/%s/parts/%d", sess.ID, n), crashPartBytes(data, n), http.StatusOK, &p)
	if p.PartNumber != n || p.Status != "RECEIVED" {
		r.fatalf("PUT part %d answered part %d %s", n, p.PartNumber, p.Status)
	}
	return p
}

func (r *serveRig) session(id uuid.UUID) crashSession {
	r.t.Helper()
	var sess crashSession
	r.call("GET", "/api/v1/uploads/"+id.String(), nil, http.StatusOK, &sess)
	return sess
}

// parts returns the session's parts by number.
func (r *serveRig) parts(id uuid.UUID) map[int]crashPart {
	r.t.Helper()
	var list struct {
		Items []crashPart `json:"items"`
	}
	r.call("GET", "/api/v1/uploads/"+id.String()+"/parts", nil, http.StatusOK, &list)
	byNumber := map[int]crashPart{}
	for _, p := range list.Items {
		byNumber[p.PartNumber] = p
	}
	return byNumber
}

// complete completes the session and checks the answer: the file STORED with data's hash and
// size at its key.
func (r *serveRig) complete(sess crashSession, data []byte) crashFile {
	r.t.Helper()
	var f crashFile
	r.call("POST", "/api/v1/uploads/"+sess.ID.String()+"/complete", nil, http.StatusOK, &f)
	want := crashSHA256(data)
	switch {
	case f.ID != sess.FileID:
		r.fatalf("complete answered file %s, want %s", f.ID, sess.FileID)
	case f.Status != "STORED":
		r.fatalf("complete answered a file %s, want STORED", f.Status)
	case f.SHA256 == nil || *f.SHA256 != want:
		r.fatalf("complete answered sha256 %v, want %s (the input's)", crashDeref(f.SHA256), want)
	case f.SizeBytes != int64(len(data)):
		r.fatalf("complete answered %d bytes, want %d", f.SizeBytes, len(data))
	case f.StorageKey == nil || *f.StorageKey != crashObjectKey(sess.FileID):
		r.fatalf("complete answered storage key %v, want %s", crashDeref(f.StorageKey), crashObjectKey(sess.FileID))
	}
	return f
}

// assertDownload checks that the file's content is data.
func (r *serveRig) assertDownload(fileID uuid.UUID, data []byte) {
	r.t.Helper()
	raw := r.call("GET", "/api/v1/files/"+fileID.String()+"/content", nil, http.StatusOK, nil)
	if !bytes.Equal(raw, data) {
		r.errorf("the download has %d bytes (sha256 %s), want the %d bytes sent (sha256 %s); first difference at byte %d",
			len(raw), crashSHA256(raw), len(data), crashSHA256(data), crashFirstDifference(raw, data))
	}
}

// database opens the database directly, for assertions and locks.
func (r *serveRig) database() *sql.DB {
	if r.db == nil {
		r.db = openDB(r.t, r.dbURL)
	}
	return r.db
}

// queryInt runs a query of one integer.
func (r *serveRig) queryInt(query string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.database().QueryRowContext(r.t.Context(), query, args...).Scan(&n); err != nil {
		r.fatalf("%s: %v", query, err)
	}
	return n
}

func (r *serveRig) queryString(query string, args ...any) string {
	r.t.Helper()
	var s string
	if err := r.database().QueryRowContext(r.t.Context(), query, args...).Scan(&s); err != nil {
		r.fatalf("%s: %v", query, err)
	}
	return s
}

// assertStoredHaveObjects checks the invariant a crash must never break: every STORED file's
// object exists in the storage directory, at its size. It returns how many STORED files there are.
func (r *serveRig) assertStoredHaveObjects() int {
	r.t.Helper()
	rows, err := r.database().QueryContext(r.t.Context(),
		`SELECT id, storage_key, size_bytes FROM ingest_files WHERE status = 'STORED'`)
	if err != nil {
		r.fatalf("list stored files: %v", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, key string
		var size int64
		if err := rows.Scan(&id, &key, &size); err != nil {
			r.fatalf("list stored files: %v", err)
		}
		n++
		fi, err := os.Stat(filepath.Join(r.storage, filepath.FromSlash(key)))
		switch {
		case err != nil:
			r.errorf("file %s is STORED but its object %s is not there: %v", id, key, err)
		case !fi.Mode().IsRegular() || fi.Size() != size:
			r.errorf("file %s is STORED with %d bytes but its object %s is %v of %d bytes", id, size, key, fi.Mode(), fi.Size())
		}
	}
	if err := rows.Err(); err != nil {
		r.fatalf("list stored files: %v", err)
	}
	return n
}

// crashInput returns size random bytes.
func crashInput(size int) []byte {
	data := make([]byte, size)
	_, _ = rand.Read(data) // never fails
	return data
}

// crashPartBytes returns part n (from 1) of data.
func crashPartBytes(data []byte, n int) []byte {
	from := (n - 1) * crashChunk
	return data[from:min(from+crashChunk, len(data))]
}

func crashSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// crashObjectKey is where the local store puts a file's object (DESIGN.md §5).
func crashObjectKey(fileID uuid.UUID) string {
	return ingest.ObjectKey("", fileID, ingest.IDTime(fileID))
}

func crashDeref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func crashFirstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// waitFor polls cond every 10 ms until it holds, and fails the test with what after serveWait.
func (r *serveRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(serveWait)
	for !cond() {
		if time.Now().After(deadline) {
			r.fatalf("timed out after %v waiting for %s", serveWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCrashMidPartLosesOnlyThatPart kills the server while a part's body is half sent. The part
// that answered 200 before the kill must survive with its bytes (DESIGN.md §6: a 2xx means the
// bytes and their rows survive); the half-sent one must not be RECEIVED, and sending it again
// must finish the upload with the input's exact bytes and hash.
func TestCrashMidPartLosesOnlyThatPart(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		r := newServeRig(t, bin, dialect, url)
		r.start()
		data := crashInput(3*crashChunk - 1000) // three parts, the last one short
		sess := r.createSession(int64(len(data)), nil)

		part1 := r.putPart(sess, 1, data)
		wantCRC := crc32.Checksum(crashPartBytes(data, 1), crc32.MakeTable(crc32.Castagnoli))
		if part1.CRC32C == nil || *part1.CRC32C != wantCRC {
			r.fatalf("part 1 answered crc32c %v, want %d", part1.CRC32C, wantCRC)
		}

		// Part 2 through a pipe: half of its bytes, then the kill.
		part2 := crashPartBytes(data, 2)
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.CloseWithError(errTestClosedBody) })
		req, err := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/uploads/%s/parts/2", r.srv.url, sess.ID), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(part2))
		req.Header.Set("Authorization", "Bearer "+r.token)
		type answer struct {
			resp *http.Response
			err  error
		}
		answered := make(chan answer, 1)
		go func() {
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			answered <- answer{resp, err}
		}()
		wrote := make(chan error, 1)
		go func() { _, err := pw.Write(part2[:len(part2)/2]); wrote <- err }()
		select {
		case err := <-wrote:
			if err != nil {
				r.fatalf("write half of part 2: %v", err)
			}
		case a := <-answered:
			r.fatalf("PUT part 2 ended before half its body was sent: %v %v", a.resp, a.err)
		case <-time.After(serveWait):
			r.fatalf("half of part 2 was not taken within %v", serveWait)
		}
		// The server has begun the part (a PENDING row is written before the body is read) and
		// is reading its body.
		r.waitFor("part 2 to be PENDING while its body streams", func() bool {
			p, ok := r.parts(sess.ID)[2]
			return ok && p.Status == "PENDING"
		})
		time.Sleep(100 * time.Millisecond)
		select {
		case a := <-answered:
			r.fatalf("PUT part 2 answered with half its body sent: %v %v", a.resp, a.err)
		default:
		}

		r.kill()
		// The client goes on sending the rest of the part, as a real one would, and learns from
		// the network (not from the test closing its body) that the server is gone.
		go func() { _, _ = pw.Write(part2[len(part2)/2:]) }()
		select {
		case a := <-answered:
			if a.err == nil {
				r.fatalf("PUT part 2 answered %s though the server was killed while reading it", a.resp.Status)
			}
			if errors.Is(a.err, errTestClosedBody) {
				r.fatalf("PUT part 2 failed only because the test closed its body: %v", a.err)
			}
			t.Logf("PUT part 2 failed as it should: %v", a.err)
		case <-time.After(serveWait):
			r.fatalf("PUT part 2 did not fail within %v of the server's death", serveWait)
		}
		pw.CloseWithError(errTestClosedBody)

		// Part 1's bytes are on disk, in the session's data file (DESIGN.md §5 layout).
		dataFile := filepath.Join(r.storage, filepath.FromSlash(ingest.UploadPrefix("", sess.ID)), "data")
		f, err := os.Open(dataFile)
		if err != nil {
			r.fatalf("the session's data file after the crash: %v", err)
		}
		onDisk := make([]byte, crashChunk)
		_, err = f.ReadAt(onDisk, 0)
		f.Close()
		if err != nil {
			r.fatalf("read part 1 back from %s: %v", dataFile, err)
		}
		if !bytes.Equal(onDisk, crashPartBytes(data, 1)) {
			r.fatalf("part 1 answered 200 before the crash, but its bytes in %s differ from byte %d",
				dataFile, crashFirstDifference(onDisk, crashPartBytes(data, 1)))
		}

		r.start()
		got := r.session(sess.ID)
		if got.ReceivedPartsCount != 1 || got.Status != "IN_PROGRESS" {
			r.fatalf("after the crash the session is %s with %d parts received, want IN_PROGRESS with 1",
				got.Status, got.ReceivedPartsCount)
		}
		parts := r.parts(sess.ID)
		if p := parts[1]; p.Status != "RECEIVED" || p.CRC32C == nil || *p.CRC32C != wantCRC || p.SizeBytes != crashChunk {
			r.fatalf("part 1 answered 200 before the crash; after it, it is %+v (crc32c %v), want RECEIVED with crc32c %d",
				p, p.CRC32C, wantCRC)
		}
		if p, ok := parts[2]; ok && p.Status == "RECEIVED" {
			r.fatalf("part 2 is RECEIVED though only half its body was sent before the crash")
		}
		if _, ok := parts[3]; ok {
			r.fatalf("part 3 exists though it was never sent: %+v", parts[3])
		}
		var missing struct {
			Error struct {
				Code    string         `json:"code"`
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		r.call("POST", "/api/v1/uploads/"+sess.ID.String()+"/complete", nil, http.StatusConflict, &missing)
		if missing.Error.Code != "MISSING_PARTS" || fmt.Sprint(missing.Error.Details["missing"]) != "[2 3]" {
			r.fatalf("complete with parts 2 and 3 missing answered %+v, want MISSING_PARTS [2 3]", missing.Error)
		}

		r.putPart(sess, 2, data)
		r.putPart(sess, 3, data)
		file := r.complete(sess, data)
		r.assertDownload(file.ID, data)
		if n := r.assertStoredHaveObjects(); n != 1 {
			r.errorf("%d files are STORED, want 1", n)
		}
		if n := r.queryInt(`SELECT count(*) FROM portal_event_outbox WHERE file_id = $1 AND event_type = 'file.stored'`,
			file.ID.String()); n != 1 {
			r.errorf("%d file.stored events for the file, want 1", n)
		}
	})
}

// TestCrashBetweenObjectAndCommitIsRecovered kills the server after it has made the object and
// while its commit waits on a lock the test holds on the batch row. Nothing may be STORED by the
// crash, and the next complete must finish the file exactly once (DESIGN.md §3).
func TestCrashBetweenObjectAndCommitIsRecovered(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		r := newServeRig(t, bin, dialect, url)
		r.start()
		data := crashInput(2*crashChunk + crashChunk/2)
		var batch crashBatch
		r.call("POST", "/api/v1/batches", map[string]any{"name": "crash"}, http.StatusCreated, &batch)
		sess := r.createSession(int64(len(data)), &batch.ID)
		for n := 1; n <= sess.TotalParts; n++ {
			r.putPart(sess, n, data)
		}
		object := filepath.Join(r.storage, filepath.FromSlash(crashObjectKey(sess.FileID)))
		sessionDir := filepath.Join(r.storage, filepath.FromSlash(ingest.UploadPrefix("", sess.ID)))
		if _, err := os.Stat(object); !errors.Is(err, os.ErrNotExist) {
			r.fatalf("the object exists before complete: %v", err)
		}

		// Hold the lock the commit needs first: the batch row (PostgreSQL), the write lock
		// (SQLite: BEGIN IMMEDIATE; the server waits on its busy_timeout of 10 s).
		ctx := t.Context()
		db := r.database()
		conn, err := db.Conn(ctx)
		if err != nil {
			r.fatalf("connect: %v", err)
		}
		defer conn.Close()
		var lockerPID int
		if dialect == "postgres" {
			if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
				r.fatalf("begin: %v", err)
			}
			var id string
			if err := conn.QueryRowContext(ctx, `SELECT id FROM upload_batches WHERE id = $1 FOR UPDATE`, batch.ID.String()).Scan(&id); err != nil {
				r.fatalf("lock the batch row: %v", err)
			}
			if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&lockerPID); err != nil {
				r.fatalf("pg_backend_pid: %v", err)
			}
		} else if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
			r.fatalf("begin immediate: %v", err)
		}
		locked := true
		unlock := func() {
			if locked {
				locked = false
				if _, err := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); err != nil {
					r.errorf("release the lock: %v", err)
				}
			}
		}
		defer unlock()

		type answer struct {
			status int
			body   []byte
			err    error
		}
		answered := make(chan answer, 1)
		srvURL, token := r.srv.url, r.token
		go func() {
			req, _ := http.NewRequest("POST", srvURL+"/api/v1/uploads/"+sess.ID.String()+"/complete", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := (&http.Client{Transport: &http.Transport{}, Timeout: time.Minute}).Do(req)
			if err != nil {
				answered <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			answered <- answer{resp.StatusCode, body, err}
		}()

		// The object at its key and the session's directory gone: CompleteUpload has finished,
		// and what is left before the answer is the hash and the commit.
		r.waitFor("the object to be made and the session's temporary directory removed", func() bool {
			select {
			case a := <-answered:
				r.fatalf("complete answered while its commit should wait on the lock: %d %s %v", a.status, a.body, a.err)
			default:
			}
			_, objErr := os.Stat(object)
			_, dirErr := os.Stat(sessionDir)
			return objErr == nil && errors.Is(dirErr, os.ErrNotExist)
		})
		if dialect == "postgres" {
			r.waitFor("the server's commit to wait on the test's lock of the batch row", func() bool {
				return r.queryInt(`SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, lockerPID) > 0
			})
		} else {
			time.Sleep(200 * time.Millisecond) // the hash, then BEGIN IMMEDIATE, which waits
		}
		select {
		case a := <-answered:
			r.fatalf("complete answered while its commit should wait on the lock: %d %s %v", a.status, a.body, a.err)
		default:
		}

		r.kill()
		select {
		case a := <-answered:
			if a.err == nil {
				r.fatalf("complete answered %d %s though the server was killed before its commit", a.status, a.body)
			}
		case <-time.After(serveWait):
			r.fatalf("complete did not fail within %v of the server's death", serveWait)
		}
		unlock()

		// Before the restart: the crash stored nothing.
		fileID := sess.FileID.String()
		if st := r.queryString(`SELECT status FROM ingest_files WHERE id = $1`, fileID); st != "UPLOADING" {
			r.fatalf("after a crash before the commit the file is %s, want UPLOADING", st)
		}
		if st := r.queryString(`SELECT status FROM upload_sessions WHERE id = $1`, sess.ID.String()); st != "IN_PROGRESS" {
			r.fatalf("after a crash before the commit the session is %s, want IN_PROGRESS", st)
		}
		if n := r.queryInt(`SELECT count(*) FROM portal_event_outbox WHERE file_id = $1`, fileID); n != 0 {
			r.fatalf("after a crash before the commit the outbox has %d rows for the file, want 0", n)
		}
		if n := r.queryInt(`SELECT stored_count FROM upload_batches WHERE id = $1`, batch.ID.String()); n != 0 {
			r.fatalf("after a crash before the commit the batch counts %d stored, want 0", n)
		}
		if n := r.assertStoredHaveObjects(); n != 0 {
			r.fatalf("%d files are STORED after a crash before the commit, want 0", n)
		}
		if _, err := os.Stat(object); err != nil {
			r.fatalf("the object made before the crash is gone: %v", err)
		}

		r.start()
		file := r.complete(sess, data)
		if got := r.session(sess.ID); got.Status != "COMPLETE" {
			r.errorf("after the recovered complete the session is %s, want COMPLETE", got.Status)
		}
		var after crashBatch
		r.call("GET", "/api/v1/batches/"+batch.ID.String(), nil, http.StatusOK, &after)
		if after.TotalFiles != 1 || after.StoredCount != 1 || after.FailedCount != 0 || after.Status != "OPEN" {
			r.errorf("the batch is %+v, want OPEN with total_files 1, stored_count 1, failed_count 0", after)
		}
		if n := r.queryInt(`SELECT count(*) FROM portal_event_outbox WHERE file_id = $1 AND event_type = 'file.stored'`, fileID); n != 1 {
			r.errorf("%d file.stored events for the file, want exactly 1", n)
		}
		r.assertDownload(file.ID, data)

		// Completing once more answers the same file and changes nothing.
		again := r.complete(sess, data)
		if *again.SHA256 != *file.SHA256 {
			r.errorf("a repeated complete answered sha256 %s, the first %s", *again.SHA256, *file.SHA256)
		}
		r.call("GET", "/api/v1/batches/"+batch.ID.String(), nil, http.StatusOK, &after)
		if after.StoredCount != 1 {
			r.errorf("after a repeated complete the batch counts %d stored, want 1", after.StoredCount)
		}
		if n := r.queryInt(`SELECT count(*) FROM portal_event_outbox WHERE file_id = $1`, fileID); n != 1 {
			r.errorf("after a repeated complete there are %d outbox rows for the file, want 1", n)
		}
		if n := r.assertStoredHaveObjects(); n != 1 {
			r.errorf("%d files are STORED, want 1", n)
		}
	})
}
