package tus_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/tus"
)

// TestGrants runs tus uploads of upload grants over real HTTP on every database and storage.
func TestGrants(t *testing.T) {
	t.Parallel()
	onEveryBackend(t, grantTests)
}

var grantTests = map[string]func(t *testing.T, p *portal){
	"a grant uploads in pieces into its batch, with its metadata, and the file records it": func(t *testing.T, p *portal) {
		_, batch := p.api("POST", "/api/v1/batches", p.Alice, `{"name":"inbox"}`)
		g, secret := p.grant(p.Alice, `{"batch_id":"`+batch["id"].(string)+`","max_files":2,"content_types":["text/*"],"metadata":{"order":"42"}}`)
		data := randomBytes(31, 3*mib+17)
		loc := p.Create(secret, int64(len(data)), "Upload-Metadata",
			"filename "+b64("a.csv")+",filetype "+b64("text/csv")+",team "+b64("ops")+",order "+b64("7"))
		if r := p.Patch(loc, secret, 0, data[:mib]); r.Status != http.StatusNoContent || r.Offset() != mib {
			t.Fatalf("first PATCH: %d offset %d %s", r.Status, r.Offset(), r.Body)
		}
		last := p.Patch(loc, secret, mib, data[mib:])
		id := last.Header.Get("Ingest-File-Id")
		if last.Status != http.StatusNoContent || id == "" || last.Header.Get("Repr-Digest") != reprDigest(data) {
			t.Fatalf("last PATCH: %d %v %s", last.Status, last.Header, last.Body)
		}
		f := p.file(secret, id) // a grant reads what it uploaded
		meta, _ := f["metadata"].(map[string]any)
		if f["status"] != "STORED" || f["sha256"] != sha(data) || f["grant_id"] != g || f["batch_id"] != batch["id"] ||
			meta["order"] != "42" || meta["team"] != "ops" || f["content_type"] != "text/csv" {
			t.Fatalf("the grant's file: %v; want STORED, sha256 %s, grant %s, its batch, order 42 (the grant's), team ops", f, sha(data), g)
		}
		if head := p.Do("HEAD", loc, secret, nil); head.Status != 200 || head.Offset() != int64(len(data)) || head.Header.Get("Ingest-File-Id") != id {
			t.Errorf("HEAD of the grant's completed upload: %d %v", head.Status, head.Header)
		}
		if got := p.StoredSHA256(p.Alice, id); got != sha(data) {
			t.Errorf("its creator reads sha256 %s, want %s", got, sha(data))
		}
		p.expectEvent(t, id, sha(data))
		p.wantUsage(g, 1, int64(len(data)))
	},
	"a grant's limits hold on tus: files, bytes per file and content types": func(t *testing.T, p *portal) {
		g, secret := p.grant(p.Alice, `{"max_files":1,"max_file_bytes":100,"content_types":["text/plain"]}`)
		if r := p.Do("POST", tus.Prefix, secret, nil, "Upload-Length", "101"); r.Status != http.StatusRequestEntityTooLarge || r.Code() != "PAYLOAD_TOO_LARGE" {
			t.Errorf("a file over max_file_bytes: %d %s, want 413 PAYLOAD_TOO_LARGE", r.Status, r.Code())
		}
		if r := p.Do("POST", tus.Prefix, secret, nil, "Upload-Length", "10", "Upload-Metadata", "filetype "+b64("image/png")); r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_FAILED" {
			t.Errorf("a content type the grant does not allow: %d %s, want 400 VALIDATION_FAILED", r.Status, r.Code())
		}
		p.wantUsage(g, 0, 0)
		data := randomBytes(32, 100)
		r := p.Do("POST", tus.Prefix, secret, bytes.NewReader(data), "Upload-Length", "100",
			"Content-Type", "application/offset+octet-stream", "Upload-Metadata", "filetype "+b64("text/plain"))
		if r.Status != http.StatusCreated || r.Header.Get("Ingest-File-Id") == "" {
			t.Fatalf("creation with the whole file: %d %s", r.Status, r.Body)
		}
		for name, headers := range map[string][]string{
			"a second file":                        {"Upload-Length", "1"},
			"a second file sent whole at creation": {"Upload-Length", "1", "Content-Type", "application/offset+octet-stream"},
			"a second file of deferred length":     {"Upload-Defer-Length", "1"},
		} {
			var body io.Reader
			if len(headers) > 2 {
				body = strings.NewReader("x")
			}
			headers = append(headers, "Upload-Metadata", "filetype "+b64("text/plain"))
			if r := p.Do("POST", tus.Prefix, secret, body, headers...); r.Status != http.StatusForbidden || r.Code() != "GRANT_LIMIT_REACHED" {
				t.Errorf("%s over max_files: %d %s, want 403 GRANT_LIMIT_REACHED", name, r.Status, r.Code())
			}
		}
		p.wantUsage(g, 1, 100)
	},
	"a revoked grant answers 401 on its upload": func(t *testing.T, p *portal) {
		g, secret := p.grant(p.Alice, `{}`)
		loc := p.Create(secret, 10)
		if r := p.Patch(loc, secret, 0, []byte("01234")); r.Offset() != 5 {
			t.Fatalf("PATCH before revocation: %d %s", r.Status, r.Body)
		}
		if status, _ := p.api("DELETE", "/api/v1/upload-grants/"+g, p.Alice, ""); status != http.StatusNoContent {
			t.Fatalf("revoke: %d", status)
		}
		for _, r := range []response{p.Patch(loc, secret, 5, []byte("56789")), p.Do("HEAD", loc, secret, nil),
			p.Do("POST", tus.Prefix, secret, nil, "Upload-Length", "1")} {
			if r.Status != http.StatusUnauthorized || r.Header.Get("Upload-Offset") != "" {
				t.Errorf("a revoked grant: %d, Upload-Offset %q; want 401 without an offset", r.Status, r.Header.Get("Upload-Offset"))
			}
		}
		if head := p.Do("HEAD", loc, p.Alice, nil); head.Offset() != 5 {
			t.Errorf("the upload after the refused PATCH is at %d, want 5", head.Offset())
		}
	},
	"another user's or another grant's upload answers 404 to a grant": func(t *testing.T, p *portal) {
		_, mine := p.grant(p.Alice, `{"max_files":2}`)
		_, other := p.grant(p.Alice, `{}`)
		locs := map[string]string{"its creator's": p.Create(p.Alice, 10), "another user's": p.Create(p.Bob, 10),
			"another grant's": p.Create(other, 10)}
		for whose, loc := range locs {
			for _, r := range []response{p.Do("HEAD", loc, mine, nil), p.Patch(loc, mine, 0, []byte("0123456789")), p.Do("DELETE", loc, mine, nil)} {
				if r.Status != http.StatusNotFound || r.Header.Get("Upload-Offset") != "" {
					t.Errorf("%s upload: %d, Upload-Offset %q; want 404 without an offset", whose, r.Status, r.Header.Get("Upload-Offset"))
				}
			}
			if head := p.Do("HEAD", loc, p.Alice, nil); whose != "another user's" && head.Offset() != 0 {
				t.Errorf("%s upload was changed: %d offset %d", whose, head.Status, head.Offset())
			}
		}
		if r := p.Do("HEAD", locs["another grant's"], p.Alice, nil); r.Status != http.StatusOK {
			t.Errorf("the creator of a grant HEADs its upload: %d, want 200", r.Status)
		}
		if r := p.Do("HEAD", locs["another grant's"], p.Bob, nil); r.Status != http.StatusNotFound {
			t.Errorf("another user HEADs a grant's upload: %d, want 404", r.Status)
		}
	},
	"a deferred length reserves the file at creation and its bytes when declared": func(t *testing.T, p *portal) {
		g, secret := p.grant(p.Alice, `{"max_files":3,"max_file_bytes":100,"max_total_bytes":150}`)
		loc := p.Create(secret, -1)
		p.wantUsage(g, 1, 0)
		data := randomBytes(33, 80)
		if r := p.Patch(loc, secret, 0, data[:60]); r.Status != http.StatusNoContent || r.Offset() != 60 {
			t.Fatalf("PATCH before the length: %d offset %d %s", r.Status, r.Offset(), r.Body)
		}
		if r := p.Patch(loc, secret, 60, randomBytes(34, 41)); r.Status != http.StatusRequestEntityTooLarge || r.Code() != "PAYLOAD_TOO_LARGE" {
			t.Errorf("bytes past max_file_bytes before the length: %d %s, want 413 PAYLOAD_TOO_LARGE", r.Status, r.Code())
		}
		if r := p.Patch(loc, secret, 60, nil, "Upload-Length", "101"); r.Status != http.StatusRequestEntityTooLarge || r.Code() != "PAYLOAD_TOO_LARGE" {
			t.Errorf("a length over max_file_bytes: %d %s, want 413 PAYLOAD_TOO_LARGE", r.Status, r.Code())
		}
		if head := p.Do("HEAD", loc, secret, nil); head.Offset() != 60 || head.Header.Get("Upload-Defer-Length") != "1" {
			t.Fatalf("after the refusals: offset %d, %v; want 60, still deferred", head.Offset(), head.Header)
		}
		p.wantUsage(g, 1, 0)
		last := p.Patch(loc, secret, 60, data[60:], "Upload-Length", "80")
		id := last.Header.Get("Ingest-File-Id")
		if last.Status != http.StatusNoContent || id == "" {
			t.Fatalf("the PATCH that declares the length: %d %s", last.Status, last.Body)
		}
		if f := p.file(secret, id); f["sha256"] != sha(data) || f["grant_id"] != g || f["status"] != "STORED" {
			t.Fatalf("the deferred file: %v", f)
		}
		p.wantUsage(g, 1, 80)

		second := p.Create(secret, -1)
		if r := p.Patch(second, secret, 0, randomBytes(35, 71)); r.Status != http.StatusForbidden || r.Code() != "GRANT_LIMIT_REACHED" {
			t.Errorf("bytes past max_total_bytes before the length: %d %s, want 403 GRANT_LIMIT_REACHED", r.Status, r.Code())
		}
		if r := p.Patch(second, secret, 0, randomBytes(35, 10), "Upload-Length", "71"); r.Status != http.StatusForbidden || r.Code() != "GRANT_LIMIT_REACHED" {
			t.Errorf("a length over max_total_bytes: %d %s, want 403 GRANT_LIMIT_REACHED", r.Status, r.Code())
		}
		if head := p.Do("HEAD", second, secret, nil); head.Offset() != 0 || head.Header.Get("Upload-Defer-Length") != "1" {
			t.Errorf("after the refused length: offset %d, %v; want 0, still deferred", head.Offset(), head.Header)
		}
		p.wantUsage(g, 2, 80)
		rest := randomBytes(36, 70)
		if r := p.Patch(second, secret, 0, rest, "Upload-Length", "70"); r.Status != http.StatusNoContent || r.Header.Get("Repr-Digest") != reprDigest(rest) {
			t.Fatalf("the length that fits: %d %s", r.Status, r.Body)
		}
		p.wantUsage(g, 2, 150)
	},
	"concatenation is refused to a grant with 403, reserving nothing": func(t *testing.T, p *portal) {
		g, secret := p.grant(p.Alice, `{}`)
		if r := p.Do("POST", tus.Prefix, secret, nil, "Upload-Length", "5", "Upload-Concat", "partial"); r.Status != http.StatusForbidden ||
			r.Code() != "FORBIDDEN" || !bytes.Contains(r.Body, []byte("upload_grant_concatenation")) {
			t.Errorf("a partial upload: %d %s, want 403 FORBIDDEN, reason upload_grant_concatenation", r.Status, r.Body)
		}
		partial := p.Create(p.Alice, 5, "Upload-Concat", "partial")
		p.Patch(partial, p.Alice, 0, []byte("01234"))
		if r := p.Do("POST", tus.Prefix, secret, nil, "Upload-Concat", "final;"+partial); r.Status != http.StatusForbidden || r.Code() != "FORBIDDEN" {
			t.Errorf("a final upload: %d %s, want 403 FORBIDDEN", r.Status, r.Body)
		}
		p.wantUsage(g, 0, 0)
	},
	"a creation that fails after the reservation gives it back": func(t *testing.T, p *portal) {
		_, batch := p.api("POST", "/api/v1/batches", p.Alice, `{"name":"closed"}`)
		g, secret := p.grant(p.Alice, `{"batch_id":"`+batch["id"].(string)+`"}`)
		if status, _ := p.api("POST", "/api/v1/batches/"+batch["id"].(string)+"/seal", p.Alice, ""); status != http.StatusOK {
			t.Fatalf("seal: %d", status)
		}
		for _, size := range []string{"10", ""} {
			headers := []string{"Upload-Length", size}
			if size == "" {
				headers = []string{"Upload-Defer-Length", "1"}
			}
			if r := p.Do("POST", tus.Prefix, secret, nil, headers...); r.Status != http.StatusConflict || r.Code() != "BATCH_NOT_OPEN" {
				t.Errorf("an upload into the grant's sealed batch (%v): %d %s, want 409 BATCH_NOT_OPEN", headers, r.Status, r.Code())
			}
		}
		p.wantUsage(g, 0, 0)
	},
}

// api sends a request to the native API and returns its status and JSON object.
func (p *portal) api(method, path, token, body string) (int, map[string]any) {
	p.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, p.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

// grant makes an upload grant of the token's user from a JSON request and returns its id and
// secret.
func (p *portal) grant(token, req string) (id, secret string) {
	p.t.Helper()
	status, g := p.api("POST", "/api/v1/upload-grants", token, req)
	if status != http.StatusCreated {
		p.t.Fatalf("POST upload-grants %s: %d %v", req, status, g)
	}
	return g["id"].(string), g["token"].(string)
}

// wantUsage checks the files and bytes a grant counts.
func (p *portal) wantUsage(id string, files int, bytes int64) {
	p.t.Helper()
	_, g := p.api("GET", "/api/v1/upload-grants/"+id, p.Alice, "")
	if g["files_used"] != float64(files) || g["bytes_used"] != float64(bytes) {
		p.t.Errorf("the grant counts %v files and %v bytes, want %d and %s", g["files_used"], g["bytes_used"], files, strconv.FormatInt(bytes, 10))
	}
}
