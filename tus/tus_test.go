package tus_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/tus"
	"github.com/ingest-portal/ingest/upload"
)

const mib = 1 << 20

// TestProtocol runs the tus protocol over real HTTP on every database and storage.
func TestProtocol(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, protocolTests)
}

var locationPattern = regexp.MustCompile(`^/tus/[0-9a-f-]{36}$`)

var protocolTests = map[string]func(t *testing.T, p *portal){
	"OPTIONS answers the server's capabilities without a version or credentials": func(t *testing.T, p *portal) {
		r := p.Do("OPTIONS", tus.Prefix, "", nil, "Tus-Resumable", "")
		if r.Status != http.StatusNoContent {
			t.Fatalf("status %d, want 204", r.Status)
		}
		for name, want := range map[string]string{"Tus-Version": "1.0.0", "Tus-Resumable": "1.0.0",
			"Tus-Extension": tus.Extensions, "Tus-Checksum-Algorithm": "sha1,sha256,md5,crc32c",
			"Tus-Max-Size": strconv.FormatInt(upload.DefaultConfig().MaxFileSize, 10)} {
			if got := r.Header.Get(name); got != want {
				t.Errorf("%s: %q, want %q", name, got, want)
			}
		}
	},
	"a request without Tus-Resumable, or with another version, answers 412 with Tus-Version": func(t *testing.T, p *portal) {
		for _, v := range []string{"", "0.2.2"} {
			r := p.Do("POST", tus.Prefix, p.Alice, nil, "Tus-Resumable", v, "Upload-Length", "1")
			if r.Status != http.StatusPreconditionFailed || r.Header.Get("Tus-Version") != "1.0.0" {
				t.Errorf("Tus-Resumable %q: %d, Tus-Version %q; want 412 with 1.0.0", v, r.Status, r.Header.Get("Tus-Version"))
			}
		}
	},
	"a request without a token answers 401": func(t *testing.T, p *portal) {
		r := p.Do("POST", tus.Prefix, "", nil, "Upload-Length", "1")
		if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" || r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%d %s %q, want 401 UNAUTHENTICATED with WWW-Authenticate", r.Status, r.Code(), r.Header.Get("WWW-Authenticate"))
		}
	},
	"an upload sent in pieces across parts is stored with the server's SHA-256 and its event": func(t *testing.T, p *portal) {
		data := randomBytes(1, 13*mib+123)
		loc := p.Create(p.Alice, int64(len(data)), "Upload-Metadata", "filename "+b64("report.csv")+",filetype "+b64("text/csv")+",team "+b64("ops"))
		if !locationPattern.MatchString(loc) {
			t.Fatalf("Location %q is not /tus/{id}", loc)
		}
		head := p.Do("HEAD", loc, p.Alice, nil)
		if head.Status != 200 || head.Offset() != 0 || head.Header.Get("Upload-Length") != strconv.Itoa(len(data)) ||
			head.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("HEAD of a new upload: %d %v", head.Status, head.Header)
		}
		if _, err := http.ParseTime(head.Header.Get("Upload-Expires")); err != nil {
			t.Errorf("Upload-Expires %q: %v", head.Header.Get("Upload-Expires"), err)
		}
		if md := head.Header.Get("Upload-Metadata"); md != "filename "+b64("report.csv")+",filetype "+b64("text/csv")+",team "+b64("ops") {
			t.Errorf("Upload-Metadata %q, want it as sent", md)
		}
		var last response
		for off := 0; off < len(data); {
			n := min(3*mib+7, len(data)-off)
			last = p.Patch(loc, p.Alice, int64(off), data[off:off+n])
			if last.Status != http.StatusNoContent || last.Offset() != int64(off+n) {
				t.Fatalf("PATCH at %d: %d offset %d %s", off, last.Status, last.Offset(), last.Body)
			}
			off += n
		}
		id := last.Header.Get("Ingest-File-Id")
		if id == "" || last.Header.Get("Repr-Digest") != reprDigest(data) {
			t.Fatalf("the last PATCH: Ingest-File-Id %q, Repr-Digest %q; want the file and %s", id, last.Header.Get("Repr-Digest"), reprDigest(data))
		}
		if got := p.StoredSHA256(p.Alice, id); got != sha(data) {
			t.Fatalf("stored sha256 %s, want %s", got, sha(data))
		}
		head = p.Do("HEAD", loc, p.Alice, nil)
		if head.Offset() != int64(len(data)) || head.Header.Get("Ingest-File-Id") != id || head.Header.Get("Repr-Digest") != reprDigest(data) {
			t.Fatalf("HEAD of a completed upload: %v", head.Header)
		}
		p.expectEvent(t, id, sha(data))
	},
	"a file that differs from its declared sha256 answers 422 and fails; a DELETE of a stored one 403": func(t *testing.T, p *portal) {
		data := randomBytes(11, 1000)
		loc := p.Create(p.Alice, int64(len(data)), "Upload-Metadata", "sha256 "+b64(sha([]byte("other bytes"))))
		if r := p.Patch(loc, p.Alice, 0, data, "Upload-Checksum", checksum("sha256", data)); r.Status != http.StatusUnprocessableEntity || r.Code() != "CHECKSUM_MISMATCH" {
			t.Fatalf("the completing PATCH: %d %s, want 422 CHECKSUM_MISMATCH", r.Status, r.Code())
		}
		if r := p.Patch(loc, p.Alice, int64(len(data)), nil); r.Status != http.StatusUnprocessableEntity || r.Code() != "CHECKSUM_MISMATCH" {
			t.Errorf("a PATCH of the failed upload: %d %s, want the same 422 CHECKSUM_MISMATCH", r.Status, r.Code())
		}
		stored := p.Do("POST", tus.Prefix, p.Alice, bytes.NewReader(data), "Upload-Length", strconv.Itoa(len(data)),
			"Content-Type", "application/offset+octet-stream", "Upload-Metadata", "sha256 "+b64(sha(data)))
		if stored.Status != http.StatusCreated || stored.Header.Get("Ingest-File-Id") == "" {
			t.Fatalf("creation with the whole file: %d %s", stored.Status, stored.Body)
		}
		if r := p.Do("DELETE", stored.Header.Get("Location"), p.Alice, nil); r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" {
			t.Errorf("DELETE of a stored upload: %d %s, want 403 FORBIDDEN", r.Status, r.Code())
		}
		if got := p.StoredSHA256(p.Alice, stored.Header.Get("Ingest-File-Id")); got != sha(data) {
			t.Errorf("the stored file after DELETE: sha256 %q, want %s", got, sha(data))
		}
	},
	"a PATCH at another offset answers 409 and changes nothing": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 100)
		if r := p.Patch(loc, p.Alice, 0, randomBytes(2, 40)); r.Offset() != 40 {
			t.Fatalf("first PATCH: %d %s", r.Status, r.Body)
		}
		for _, off := range []int64{0, 39, 41} {
			if r := p.Patch(loc, p.Alice, off, randomBytes(3, 10)); r.Status != http.StatusConflict || r.Code() != "OFFSET_MISMATCH" {
				t.Errorf("PATCH at %d: %d %s, want 409 OFFSET_MISMATCH", off, r.Status, r.Code())
			}
		}
		if off := p.Do("HEAD", loc, p.Alice, nil).Offset(); off != 40 {
			t.Fatalf("offset %d after refused PATCHes, want 40", off)
		}
	},
	"a PATCH without the tus content type answers 415; without an offset 400": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 10)
		if r := p.Patch(loc, p.Alice, 0, []byte("0123456789"), "Content-Type", "application/octet-stream"); r.Status != http.StatusUnsupportedMediaType {
			t.Errorf("wrong content type: %d, want 415", r.Status)
		}
		if r := p.Patch(loc, p.Alice, 0, []byte("0123456789"), "Upload-Offset", ""); r.Status != http.StatusBadRequest {
			t.Errorf("no Upload-Offset: %d, want 400", r.Status)
		}
	},
	"checksums: a right one counts, a wrong one answers 460 and counts nothing, an unknown algorithm 400": func(t *testing.T, p *portal) {
		data := randomBytes(4, 4000)
		loc := p.Create(p.Alice, int64(len(data)))
		pieces := [][]byte{data[:1000], data[1000:2000], data[2000:3000], data[3000:]}
		sums := []string{checksum("sha1", pieces[0]), checksum("sha256", pieces[1]), checksum("md5", pieces[2]), checksum("crc32c", pieces[3])}
		off := 0
		for i, piece := range pieces {
			wrong := checksum(strings.Fields(sums[i])[0], []byte("other bytes"))
			if r := p.Patch(loc, p.Alice, int64(off), piece, "Upload-Checksum", wrong); r.Status != tus.StatusChecksumMismatch || r.Code() != "CHECKSUM_MISMATCH" {
				t.Fatalf("a wrong %s: %d %s, want 460 CHECKSUM_MISMATCH", wrong, r.Status, r.Code())
			}
			if got := p.Do("HEAD", loc, p.Alice, nil).Offset(); got != int64(off) {
				t.Fatalf("offset %d after a checksum mismatch, want %d", got, off)
			}
			r := p.Patch(loc, p.Alice, int64(off), piece, "Upload-Checksum", sums[i])
			if r.Status != http.StatusNoContent {
				t.Fatalf("a right %s: %d %s", sums[i], r.Status, r.Body)
			}
			off += len(piece)
			if i == len(pieces)-1 && p.StoredSHA256(p.Alice, r.Header.Get("Ingest-File-Id")) != sha(data) {
				t.Fatal("the stored file is not the bytes sent")
			}
		}
		loc = p.Create(p.Alice, 3)
		if r := p.Patch(loc, p.Alice, 0, []byte("abc"), "Upload-Checksum", "sha512 "+base64.StdEncoding.EncodeToString(make([]byte, 64))); r.Status != http.StatusBadRequest {
			t.Errorf("an unknown algorithm: %d, want 400", r.Status)
		}
	},
	"a deferred length is declared by a later PATCH": func(t *testing.T, p *portal) {
		data := randomBytes(5, 11*mib+5)
		loc := p.Create(p.Alice, -1)
		head := p.Do("HEAD", loc, p.Alice, nil)
		if head.Header.Get("Upload-Defer-Length") != "1" || head.Header.Get("Upload-Length") != "" {
			t.Fatalf("HEAD of a deferred upload: %v", head.Header)
		}
		if r := p.Patch(loc, p.Alice, 0, data[:6*mib]); r.Status != http.StatusNoContent || r.Offset() != 6*mib {
			t.Fatalf("first PATCH: %d %s", r.Status, r.Body)
		}
		if r := p.Patch(loc, p.Alice, 6*mib, data[6*mib:7*mib], "Upload-Length", strconv.Itoa(6*mib-1)); r.Status != http.StatusBadRequest {
			t.Fatalf("a length below the offset: %d, want 400", r.Status)
		}
		r := p.Patch(loc, p.Alice, 6*mib, data[6*mib:], "Upload-Length", strconv.Itoa(len(data)))
		if r.Status != http.StatusNoContent || r.Header.Get("Repr-Digest") != reprDigest(data) {
			t.Fatalf("last PATCH: %d %v %s", r.Status, r.Header, r.Body)
		}
		if got := p.StoredSHA256(p.Alice, r.Header.Get("Ingest-File-Id")); got != sha(data) {
			t.Fatalf("stored %s, want %s", got, sha(data))
		}
	},
	"a deferred length declared by a PATCH with no body ends the upload where the bytes did": func(t *testing.T, p *portal) {
		// tus-js-client does this when a stream ends on a chunk boundary; the bytes end inside one
		// of the portal's parts, whose size is only now known.
		data := randomBytes(6, 6*mib+5)
		loc := p.Create(p.Alice, -1)
		if r := p.Patch(loc, p.Alice, 0, data); r.Status != http.StatusNoContent || r.Offset() != int64(len(data)) {
			t.Fatalf("the PATCH of every byte: %d %s", r.Status, r.Body)
		}
		r := p.Patch(loc, p.Alice, int64(len(data)), nil, "Upload-Length", strconv.Itoa(len(data)))
		if r.Status != http.StatusNoContent || r.Header.Get("Repr-Digest") != reprDigest(data) {
			t.Fatalf("the PATCH that declares the length: %d %v %s", r.Status, r.Header, r.Body)
		}
		if got := p.StoredSHA256(p.Alice, r.Header.Get("Ingest-File-Id")); got != sha(data) {
			t.Fatalf("stored %s, want %s", got, sha(data))
		}
	},
	"bytes past the length answer 413": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 10)
		if r := p.Patch(loc, p.Alice, 0, make([]byte, 11)); r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("11 bytes to a 10-byte upload: %d, want 413", r.Status)
		}
		if r := p.Do("POST", tus.Prefix, p.Alice, nil, "Upload-Length", strconv.FormatInt(upload.DefaultConfig().MaxFileSize+1, 10)); r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("an upload over Tus-Max-Size: %d, want 413", r.Status)
		}
	},
	"Upload-Metadata keys other than the mapped ones are the file's metadata, read back through the API": func(t *testing.T, p *portal) {
		want := map[string]any{"caption": "Größe ✓ 日本語 — ok", "relativePath": "photos/2026/ü.jpg", "empty": ""}
		md := "filename " + b64("ü.jpg") + ",filetype " + b64("image/jpeg") + ",caption " + b64("Größe ✓ 日本語 — ok") +
			",relativePath " + b64("photos/2026/ü.jpg") + ",empty"
		data := randomBytes(11, 5000)
		loc := p.Create(p.Alice, int64(len(data)), "Upload-Metadata", md)
		head := p.Do("HEAD", loc, p.Alice, nil)
		if got := head.Header.Get("Upload-Metadata"); !strings.Contains(got, "caption "+b64("Größe ✓ 日本語 — ok")) ||
			!strings.Contains(got, "relativePath "+b64("photos/2026/ü.jpg")) {
			t.Errorf("HEAD Upload-Metadata %q lacks the file's metadata", got)
		}
		last := p.Patch(loc, p.Alice, 0, data)
		id := last.Header.Get("Ingest-File-Id")
		if last.Status != http.StatusNoContent || id == "" {
			t.Fatalf("PATCH: %d %v %s", last.Status, last.Header, last.Body)
		}
		f := p.file(p.Alice, id)
		if got := f["metadata"]; !reflect.DeepEqual(got, want) {
			t.Errorf("the file's metadata = %#v, want %#v", got, want)
		}
		if f["original_filename"] != "ü.jpg" || f["content_type"] != "image/jpeg" {
			t.Errorf("the file's name and type = %v, %v", f["original_filename"], f["content_type"])
		}
		p.expectEvent(t, id, sha(data))
		var payload []byte
		if err := p.Store.DB().QueryRow(`SELECT payload FROM portal_event_outbox WHERE file_id = $1`, id).Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var event struct{ Metadata map[string]any }
		if err := json.Unmarshal(payload, &event); err != nil || !reflect.DeepEqual(event.Metadata, want) {
			t.Errorf("the event's metadata = %#v, %v; want %#v", event.Metadata, err, want)
		}

		// Creation with the whole upload, stored at once.
		r := p.Do("POST", tus.Prefix, p.Alice, bytes.NewReader(data), "Upload-Length", strconv.Itoa(len(data)),
			"Content-Type", "application/offset+octet-stream", "Upload-Metadata", md)
		if r.Status != http.StatusCreated || r.Header.Get("Ingest-File-Id") == "" {
			t.Fatalf("creation with the whole upload: %d %s", r.Status, r.Body)
		}
		if got := p.file(p.Alice, r.Header.Get("Ingest-File-Id"))["metadata"]; !reflect.DeepEqual(got, want) {
			t.Errorf("the metadata of a file stored at creation = %#v, want %#v", got, want)
		}
	},
	"33 metadata keys answer 400 VALIDATION_FAILED and create nothing": func(t *testing.T, p *portal) {
		name := "thirty-three-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".bin"
		pairs := []string{"filename " + b64(name)}
		for i := range 33 {
			pairs = append(pairs, "key"+strconv.Itoa(i)+" "+b64("v"))
		}
		md := strings.Join(pairs, ",")
		for what, hs := range map[string][]string{
			"creation":             {"Upload-Length", "5", "Upload-Metadata", md},
			"creation with upload": {"Upload-Length", "5", "Upload-Metadata", md, "Content-Type", "application/offset+octet-stream"},
			"a deferred length":    {"Upload-Defer-Length", "1", "Upload-Metadata", md},
			"a partial upload":     {"Upload-Length", "5", "Upload-Metadata", md, "Upload-Concat", "partial"},
		} {
			var body io.Reader
			if slices.Contains(hs, "application/offset+octet-stream") {
				body = strings.NewReader("12345")
			}
			r := p.Do("POST", tus.Prefix, p.Alice, body, hs...)
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_FAILED" || !strings.Contains(string(r.Body), "32") {
				t.Errorf("%s: %d %s, want 400 VALIDATION_FAILED naming the limit of 32", what, r.Status, r.Body)
			}
			if r.Header.Get("Location") != "" {
				t.Errorf("%s: a refused creation answered Location %q", what, r.Header.Get("Location"))
			}
		}
		var files, sessions int
		if err := p.Store.DB().QueryRow(`SELECT count(*) FROM ingest_files WHERE original_filename = $1`, name).Scan(&files); err != nil {
			t.Fatal(err)
		}
		if err := p.Store.DB().QueryRow(`SELECT count(*) FROM upload_sessions s JOIN ingest_files f ON f.id = s.file_id
			WHERE f.original_filename = $1`, name).Scan(&sessions); err != nil {
			t.Fatal(err)
		}
		if files+sessions != 0 {
			t.Errorf("refused creations left %d files and %d sessions", files, sessions)
		}
	},
	"bad creation headers answer 400": func(t *testing.T, p *portal) {
		for name, hs := range map[string][]string{
			"no length":             {},
			"a negative length":     {"Upload-Length", "-1"},
			"a length and deferred": {"Upload-Length", "5", "Upload-Defer-Length", "1"},
			"deferred other than 1": {"Upload-Defer-Length", "2"},
			"metadata not base64":   {"Upload-Length", "5", "Upload-Metadata", "filename ***"},
			"a key twice":           {"Upload-Length", "5", "Upload-Metadata", "a " + b64("1") + ",a " + b64("2")},
			"a key with a space":    {"Upload-Length", "5", "Upload-Metadata", "my key " + b64("1")},
			"a bad batch id":        {"Upload-Length", "5", "Upload-Metadata", "batch_id " + b64("nope")},
			"a bad metadata key":    {"Upload-Length", "5", "Upload-Metadata", "a/b " + b64("v")},
			"a long metadata value": {"Upload-Length", "5", "Upload-Metadata", "note " + b64(strings.Repeat("x", 1025))},
			"a bad Upload-Concat":   {"Upload-Length", "5", "Upload-Concat", "whole"},
		} {
			if r := p.Do("POST", tus.Prefix, p.Alice, nil, hs...); r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_FAILED" {
				t.Errorf("%s: %d %s, want 400 VALIDATION_FAILED", name, r.Status, r.Code())
			}
		}
	},
	"a metadata key with a space is named as the fault, not its value": func(t *testing.T, p *portal) {
		// tus-js-client encodes whatever keys it is given, spaces included.
		r := p.Do("POST", tus.Prefix, p.Alice, nil, "Upload-Length", "5", "Upload-Metadata", "filename "+b64("a.txt")+",my key "+b64("1"))
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "keys hold no spaces or commas") {
			t.Fatalf("%d %s, want 400 saying that keys hold no spaces", r.Status, r.Body)
		}
	},
	"creation with upload: the whole file at once, or its first bytes": func(t *testing.T, p *portal) {
		data := randomBytes(6, 300_000)
		r := p.Do("POST", tus.Prefix, p.Alice, strings.NewReader(string(data)), "Upload-Length", strconv.Itoa(len(data)),
			"Content-Type", "application/offset+octet-stream")
		if r.Status != http.StatusCreated || r.Offset() != int64(len(data)) || r.Header.Get("Repr-Digest") != reprDigest(data) {
			t.Fatalf("the whole file: %d %v %s", r.Status, r.Header, r.Body)
		}
		if !locationPattern.MatchString(r.Header.Get("Location")) {
			t.Fatalf("Location %q", r.Header.Get("Location"))
		}
		if head := p.Do("HEAD", r.Header.Get("Location"), p.Alice, nil); head.Offset() != int64(len(data)) || head.Header.Get("Ingest-File-Id") != r.Header.Get("Ingest-File-Id") {
			t.Fatalf("HEAD after the whole file: %d %v", head.Status, head.Header)
		}
		r = p.Do("POST", tus.Prefix, p.Alice, strings.NewReader(string(data[:1000])), "Upload-Length", strconv.Itoa(len(data)),
			"Content-Type", "application/offset+octet-stream")
		if r.Status != http.StatusCreated || r.Offset() != 1000 {
			t.Fatalf("the first bytes: %d offset %d", r.Status, r.Offset())
		}
		last := p.Patch(r.Header.Get("Location"), p.Alice, 1000, data[1000:])
		if p.StoredSHA256(p.Alice, last.Header.Get("Ingest-File-Id")) != sha(data) {
			t.Fatal("the stored file is not the bytes sent")
		}
	},
	"an empty upload is stored at its creation": func(t *testing.T, p *portal) {
		r := p.Do("POST", tus.Prefix, p.Alice, nil, "Upload-Length", "0")
		if r.Status != http.StatusCreated || r.Header.Get("Ingest-File-Id") == "" || r.Offset() != 0 {
			t.Fatalf("%d %v", r.Status, r.Header)
		}
		if got := p.StoredSHA256(p.Alice, r.Header.Get("Ingest-File-Id")); got != sha(nil) {
			t.Fatalf("stored %s, want the hash of nothing", got)
		}
		if again := p.Patch(r.Header.Get("Location"), p.Alice, 0, nil); again.Status != http.StatusNoContent || again.Offset() != 0 {
			t.Fatalf("an empty PATCH of it: %d", again.Status)
		}
	},
	"a PATCH while another is under way answers 423; the first one finishes": func(t *testing.T, p *portal) {
		part := upload.DefaultConfig().DefaultChunk
		data := randomBytes(7, int(part)+mib)
		loc := p.Create(p.Alice, int64(len(data)))
		pr, pw := io.Pipe()
		first := make(chan response, 1)
		go func() {
			first <- p.Do("PATCH", loc, p.Alice, pr, "Upload-Offset", "0", "Content-Type", "application/offset+octet-stream",
				"Content-Length", strconv.Itoa(len(data)))
		}()
		// Once its first part is recorded, the first PATCH holds the lease and waits for the rest.
		if _, err := pw.Write(data[:part+1]); err != nil {
			t.Fatal(err)
		}
		offset := int64(0)
		for deadline := time.Now().Add(10 * time.Second); offset < part && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			offset = p.Do("HEAD", loc, p.Alice, nil).Offset()
		}
		if offset != part {
			t.Fatalf("HEAD while the first PATCH waits: offset %d, want %d", offset, part)
		}
		second := p.Patch(loc, p.Alice, offset, data[offset:])
		if second.Status != http.StatusLocked || second.Code() != "UPLOAD_LOCKED" || second.Header.Get("Retry-After") == "" {
			t.Fatalf("a second PATCH: %d %s, want 423 UPLOAD_LOCKED with Retry-After", second.Status, second.Code())
		}
		if _, err := pw.Write(data[part+1:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		r := <-first
		if r.Status != http.StatusNoContent || p.StoredSHA256(p.Alice, r.Header.Get("Ingest-File-Id")) != sha(data) {
			t.Fatalf("the first PATCH: %d %s", r.Status, r.Body)
		}
	},
	"termination: DELETE answers 204, then the upload is gone": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 100)
		p.Patch(loc, p.Alice, 0, make([]byte, 50))
		if r := p.Do("DELETE", loc, p.Bob, nil); r.Status != http.StatusNotFound {
			t.Errorf("another user's DELETE: %d, want 404", r.Status)
		}
		if r := p.Do("DELETE", loc, p.Alice, nil); r.Status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.Status, r.Body)
		}
		if r := p.Do("HEAD", loc, p.Alice, nil); r.Status != http.StatusNotFound || r.Offset() != -1 {
			t.Errorf("HEAD after DELETE: %d offset %d, want 404 and none", r.Status, r.Offset())
		}
		if r := p.Patch(loc, p.Alice, 50, make([]byte, 50)); r.Status != http.StatusNotFound {
			t.Errorf("PATCH after DELETE: %d, want 404", r.Status)
		}
	},
	"requests are counted in the API's metrics, under /tus/ and /tus/{id}": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 10)
		p.Patch(loc, p.Alice, 3, []byte("abc")) // 409
		metrics := string(p.Do("GET", "/metrics", "", nil).Body)
		for _, want := range []string{
			`ingest_http_requests_total{code="",method="POST",route="/tus/",status="201"}`,
			`ingest_http_requests_total{code="OFFSET_MISMATCH",method="PATCH",route="/tus/{id}",status="409"}`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("the metrics lack %s", want)
			}
		}
	},
	"another user's upload answers 404 with no offset": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 100)
		p.Patch(loc, p.Alice, 0, make([]byte, 30))
		if r := p.Do("HEAD", loc, p.Bob, nil); r.Status != http.StatusNotFound || r.Offset() != -1 {
			t.Errorf("HEAD: %d offset %d", r.Status, r.Offset())
		}
		if r := p.Patch(loc, p.Bob, 30, make([]byte, 70)); r.Status != http.StatusNotFound {
			t.Errorf("PATCH: %d", r.Status)
		}
		if off := p.Do("HEAD", loc, p.Alice, nil).Offset(); off != 30 {
			t.Errorf("the owner's offset is %d after another user's PATCH, want 30", off)
		}
	},
	"X-HTTP-Method-Override on POST acts as the method it names": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 4)
		r := p.Do("POST", loc, p.Alice, strings.NewReader("abcd"), "X-HTTP-Method-Override", "PATCH", "Upload-Offset", "0",
			"Content-Type", "application/offset+octet-stream")
		if r.Status != http.StatusNoContent || r.Offset() != 4 {
			t.Fatalf("POST as PATCH: %d %s", r.Status, r.Body)
		}
		loc = p.Create(p.Alice, 4)
		if r := p.Do("POST", loc, p.Alice, nil, "X-HTTP-Method-Override", "DELETE"); r.Status != http.StatusNoContent {
			t.Fatalf("POST as DELETE: %d", r.Status)
		}
		if r := p.Do("HEAD", loc, p.Alice, nil); r.Status != http.StatusNotFound {
			t.Fatalf("HEAD after POST as DELETE: %d", r.Status)
		}
	},
	"concatenation: partials of the caller become one file; another user's partial is not found": func(t *testing.T, p *portal) {
		carol := p.newUser("carol")
		data := randomBytes(8, 12*mib+3)
		cut := []int{0, 6 * mib, 11 * mib, len(data)}
		var refs []string
		for i := range 3 {
			loc := p.Create(carol, int64(cut[i+1]-cut[i]), "Upload-Concat", "partial")
			if h := p.Do("HEAD", loc, carol, nil); h.Header.Get("Upload-Concat") != "partial" {
				t.Fatalf("HEAD of a partial: Upload-Concat %q", h.Header.Get("Upload-Concat"))
			}
			if r := p.Patch(loc, carol, 0, data[cut[i]:cut[i+1]]); r.Status != http.StatusNoContent || r.Header.Get("Ingest-File-Id") != "" {
				t.Fatalf("a partial's PATCH: %d, file %q (a partial is no file)", r.Status, r.Header.Get("Ingest-File-Id"))
			}
			refs = append(refs, p.URL+loc) // absolute, as tus-js-client sends them
		}
		bobs := p.Create(p.Bob, 1, "Upload-Concat", "partial")
		p.Patch(bobs, p.Bob, 0, []byte("x"))
		if r := p.Do("POST", tus.Prefix, carol, nil, "Upload-Concat", "final;"+refs[0]+" "+bobs); r.Status != http.StatusNotFound {
			t.Errorf("a final with another user's partial: %d, want 404", r.Status)
		}
		unfinished := p.Create(carol, 10, "Upload-Concat", "partial")
		if r := p.Do("POST", tus.Prefix, carol, nil, "Upload-Concat", "final;"+refs[0]+" "+unfinished); r.Status != http.StatusBadRequest {
			t.Errorf("a final with an unfinished partial: %d, want 400", r.Status)
		}
		whole := p.Create(carol, 1)
		p.Patch(whole, carol, 0, []byte("x"))
		if r := p.Do("POST", tus.Prefix, carol, nil, "Upload-Concat", "final;"+refs[0]+" "+whole); r.Status != http.StatusBadRequest {
			t.Errorf("a final with an upload that is not partial: %d, want 400", r.Status)
		}
		r := p.Do("POST", tus.Prefix, carol, nil, "Upload-Concat", "final;"+strings.Join(refs, " "),
			"Upload-Metadata", "filename "+b64("joined.bin"))
		if r.Status != http.StatusCreated || r.Header.Get("Repr-Digest") != reprDigest(data) {
			t.Fatalf("the final: %d %v %s", r.Status, r.Header, r.Body)
		}
		id := r.Header.Get("Ingest-File-Id")
		if got := p.StoredSHA256(carol, id); got != sha(data) {
			t.Fatalf("stored %s, want %s", got, sha(data))
		}
		final := r.Header.Get("Location")
		head := p.Do("HEAD", final, carol, nil)
		if head.Header.Get("Upload-Concat") != "final;"+strings.Join(refs, " ") || head.Offset() != int64(len(data)) ||
			head.Header.Get("Upload-Length") != strconv.Itoa(len(data)) {
			t.Errorf("HEAD of the final: %v, want its Upload-Concat as sent and offset = length = %d", head.Header, len(data))
		}
		if r := p.Patch(final, carol, int64(len(data)), []byte("more")); r.Status != http.StatusForbidden {
			t.Errorf("a PATCH of the final: %d, want 403", r.Status)
		}
		// The protocol lets a client use a partial again, even twice in one final.
		again := p.Do("POST", tus.Prefix, carol, nil, "Upload-Concat", "final;"+refs[2]+" "+refs[2])
		twice := append(append([]byte{}, data[cut[2]:]...), data[cut[2]:]...)
		if again.Status != http.StatusCreated || p.StoredSHA256(carol, again.Header.Get("Ingest-File-Id")) != sha(twice) {
			t.Errorf("a final of one partial twice: %d %s", again.Status, again.Body)
		}
		if files := p.listFiles(carol); len(files) != 3 { // the two finals and the one-byte upload
			t.Errorf("carol lists %d files, want 3: partial uploads are no files", len(files))
		}
		p.expectEvent(t, id, sha(data))
	},
	"CORS: a preflight is answered before authentication; answers expose the tus headers": func(t *testing.T, p *portal) {
		r := p.Do("OPTIONS", "/tus/", "", nil, "Origin", allowedOrigin, "Access-Control-Request-Method", "PATCH",
			"Access-Control-Request-Headers", "authorization,upload-offset,tus-resumable,content-type")
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != allowedOrigin ||
			!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Upload-Offset") ||
			!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
			t.Fatalf("preflight: %d %v", r.Status, r.Header)
		}
		if r := p.Do("OPTIONS", "/tus/", "", nil, "Origin", "http://evil.test", "Access-Control-Request-Method", "PATCH"); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("another origin was allowed: %v", r.Header)
		}
		created := p.Do("POST", tus.Prefix, p.Alice, nil, "Upload-Length", "5", "Origin", allowedOrigin)
		exposed := created.Header.Get("Access-Control-Expose-Headers")
		for _, h := range []string{"Location", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Ingest-File-Id", "Repr-Digest", "Upload-Expires"} {
			if !strings.Contains(exposed, h) {
				t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
			}
		}
	},
	"a tus upload takes no numbered parts": func(t *testing.T, p *portal) {
		loc := p.Create(p.Alice, 10)
		req, _ := http.NewRequest("PUT", p.URL+"/api/v1/uploads/"+strings.TrimPrefix(loc, tus.Prefix)+"/parts/1", strings.NewReader("0123456789"))
		req.Header.Set("Authorization", "Bearer "+p.Alice)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("PUT part of a tus upload: %d, want 400", resp.StatusCode)
		}
	},
}

// checksum is an Upload-Checksum value of data.
func checksum(alg string, data []byte) string {
	var sum []byte
	switch alg {
	case "sha1":
		s := sha1.Sum(data)
		sum = s[:]
	case "sha256":
		s := sha256.Sum256(data)
		sum = s[:]
	case "md5":
		s := md5.Sum(data)
		sum = s[:]
	case "crc32c":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	}
	return alg + " " + base64.StdEncoding.EncodeToString(sum)
}

// TestExpiry moves the service's clock, so its portals are its own.
func TestExpiry(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, b, options{})
			loc := p.Create(p.Alice, 10)
			p.Patch(loc, p.Alice, 0, make([]byte, 4))
			p.Clock.Advance(upload.DefaultConfig().SessionTTL + time.Minute)
			if r := p.Do("HEAD", loc, p.Alice, nil); r.Status != http.StatusGone {
				t.Errorf("HEAD: %d, want 410", r.Status)
			}
			if r := p.Patch(loc, p.Alice, 4, make([]byte, 6)); r.Status != http.StatusGone || r.Code() != "SESSION_EXPIRED" {
				t.Errorf("PATCH: %d %s, want 410 SESSION_EXPIRED", r.Status, r.Code())
			}
		})
	}
}

func TestLocationsAreAbsoluteUnderThePublicURL(t *testing.T) {
	t.Parallel()
	p := newPortal(t, backend{"sqlite", "local"}, options{publicURL: "https://upload.example.test/"})
	r := p.Do("POST", tus.Prefix, p.Alice, nil, "Upload-Length", "3")
	if loc := r.Header.Get("Location"); !regexp.MustCompile(`^https://upload\.example\.test/tus/[0-9a-f-]{36}$`).MatchString(loc) {
		t.Fatalf("Location %q", loc)
	}
}
