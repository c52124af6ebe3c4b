package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/upload"
)

// FuzzHandler drives the API handler in-process, on SQLite, with arbitrary requests: a method,
// a path and query, a caller (none, an admin, a user, a bad token), a Content-Type, one more
// header and a body. The caller's byte also chooses, in its bits 2-3, a fault to inject: none, a
// failing database or a failing blob store. No request may panic; without a fault none answers
// 5xx, and every error answer carries a code other than INTERNAL; with one, a 5xx is 500 INTERNAL
// (or /readyz's 503) without the fault's text. A 4xx stores nothing: no row is added to the
// database, no file becomes STORED and no object appears.
func FuzzHandler(f *testing.F) {
	dbURL := testdb.MigratedURL(f, "sqlite")
	store, err := sqlstore.Open(context.Background(), dbURL)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	db, err := sql.Open("sqlite", strings.TrimPrefix(dbURL, "sqlite://"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	blobRoot := f.TempDir()
	blobs, err := local.New(blobRoot)
	if err != nil {
		f.Fatal(err)
	}
	newAPI := func(store faultStore, blobs ingest.BlobStore) http.Handler {
		svc, err := upload.New(store, blobs, upload.DefaultConfig())
		if err != nil {
			f.Fatal(err)
		}
		return httpapi.New(httpapi.Config{
			Service: svc, Users: store, Grants: store, Logger: slog.New(slog.DiscardHandler),
			Checks: []httpapi.Check{{Name: "database", Probe: store.Ping}, {Name: "storage", Probe: blobs.Ping}},
		})
	}
	storeFault, blobFault := &faultSwitch{}, &faultSwitch{}
	api := newAPI(faultStore{store, &faultSwitch{}}, blobs)
	faulty := newAPI(faultStore{store, storeFault}, faultBlobs{blobs, blobFault})
	var tokens []string
	for _, u := range []*ingest.User{{Username: "admin", IsAdmin: true}, {Username: "alice"}} {
		if err := store.CreateUser(context.Background(), u); err != nil {
			f.Fatal(err)
		}
		tok, secret := ingest.NewAPIToken(u.ID, "fuzz")
		if err := store.CreateAPIToken(context.Background(), tok); err != nil {
			f.Fatal(err)
		}
		tokens = append(tokens, secret)
	}
	// A stored file, so that reads, ranges and conditional requests reach their parsers.
	put := httptest.NewRequest(http.MethodPost, "/api/v1/files?filename=a.csv", strings.NewReader("a,b\n1,2\n"))
	put.Header.Set("Authorization", "Bearer "+tokens[0])
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, put)
	var file struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &file); rec.Code != http.StatusCreated || err != nil {
		f.Fatalf("storing a file: %d %s", rec.Code, rec.Body)
	}
	content := "/api/v1/files/" + file.ID + "/content"
	for _, s := range []struct {
		method, target string
		caller         byte
		contentType    string
		name, value    string
		body           string
	}{
		{"GET", "/healthz", 0, "", "", "", ""},
		{"GET", "/readyz", 0, "", "", "", ""},
		{"GET", "/api/openapi.json", 0, "", "", "", ""},
		{"GET", content, 1, "", "Range", "bytes=2-", ""},
		{"GET", content, 1, "", "Range", "bytes=-99999999999999999999", ""},
		{"HEAD", content, 2, "", "If-None-Match", `W/"x", *`, ""},
		{"GET", "/api/v1/files/" + file.ID, 2, "", "", "", ""},
		{"GET", "/api/v1/files?limit=2&cursor=zz&status=%ff", 1, "", "", "", ""},
		{"GET", "/api/v1/files?batch_id=x&sort=-created_at", 1, "", "", "", ""},
		{"POST", "/api/v1/files?filename=%E2%80%AEx.exe", 1, "text/csv", "Content-Digest", "sha-256=:AAAA:", "x"},
		{"POST", "/api/v1/files", 3, "", "", "", "x"},
		{"POST", "/api/v1/uploads", 1, "application/json", "Idempotency-Key", "k1", `{"filename":"a","size_bytes":10,"metadata":{"k":"v"}}`},
		{"POST", "/api/v1/uploads", 1, "application/json", "", "", `{"filename":"a","size_bytes":-1}`},
		{"PUT", "/api/v1/uploads/00000000-0000-0000-0000-000000000000/parts/1", 1, "", "", "", "xx"},
		{"PUT", "/api/v1/uploads/x/parts/-1", 1, "", "", "", ""},
		{"POST", "/api/v1/uploads/00000000-0000-0000-0000-000000000000/complete", 1, "", "", "", `{"sha256":"zz"}`},
		{"POST", "/api/v1/batches", 2, "", "", "", `{"name":"b"}`},
		{"POST", "/api/v1/batches/x/seal", 2, "", "", "", ""},
		{"POST", "/api/v1/upload-grants", 1, "", "", "", `{"max_files":1,"expires_in":-5,"content_types":["a/b"]}`},
		{"GET", "/api/v1/upload-grants?limit=0", 1, "", "", "", ""},
		{"DELETE", "/api/v1/upload-grants/x", 2, "", "", "", ""},
		{"OPTIONS", "/api/v1/files", 0, "", "", "", ""},
		{"GET", "/api/v1/files/%00", 1, "", "", "", ""},
		{"BREW", "/", 0, "", "", "", ""},
		{"POST", "/api/v1/files?filename=c.csv", 2, "text/csv", "", "", "c\n"},
		// The same with a failing database (4 +) or blob store (8 +).
		{"GET", content, 4 + 1, "", "", "", ""},
		{"GET", content, 8 + 1, "", "Range", "bytes=2-", ""},
		{"POST", "/api/v1/files?filename=b.csv", 8 + 1, "text/csv", "", "", "x,y\n"},
		{"POST", "/api/v1/files?filename=b.csv", 4 + 2, "text/csv", "", "", "x,y\n"},
		{"POST", "/api/v1/uploads", 4 + 1, "application/json", "", "", `{"filename":"a","size_bytes":10}`},
		{"POST", "/api/v1/batches", 4 + 2, "", "", "", `{"name":"b"}`},
		{"GET", "/api/v1/files?limit=2", 4 + 1, "", "", "", ""},
		{"GET", "/readyz", 8, "", "", "", ""},
	} {
		f.Add(s.method, s.target, s.caller, s.contentType, s.name, s.value, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, target string, caller byte, contentType, name, value string, body []byte) {
		if !isToken(method) || len(body) > 1<<16 {
			return // not a request a server reads, or a body too long to fuzz quickly
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return // net/http answers 400 before the handler
		}
		req := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		req.Method, req.URL, req.RequestURI = method, u, target
		req.ContentLength = int64(len(body))
		switch caller % 4 {
		case 1, 2:
			req.Header.Set("Authorization", "Bearer "+tokens[caller%4-1])
		case 3:
			req.Header.Set("Authorization", "Bearer "+value)
		}
		if validValue(contentType) {
			req.Header.Set("Content-Type", contentType)
		}
		if isToken(name) && validValue(value) {
			req.Header.Set(name, value)
		}
		handler, fault := api, caller/4%4
		switch fault {
		case 1:
			handler = faulty
			storeFault.on.Store(true)
			defer storeFault.on.Store(false)
		case 2:
			handler = faulty
			blobFault.on.Store(true)
			defer blobFault.on.Store(false)
		default:
			fault = 0
		}
		before := snapshot(t, db, blobRoot)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		storeFault.on.Store(false)
		blobFault.on.Store(false)

		if strings.Contains(rec.Body.String(), "injected") || strings.Contains(rec.Body.String(), "secret.db") {
			t.Fatalf("%s %s: %d %q: the fault's text reached the client", method, target, rec.Code, rec.Body)
		}
		code := recordedCode(rec)
		switch {
		case rec.Code >= 500 && fault == 0:
			t.Fatalf("%s %s (%s: %q): %d %s without a fault", method, target, name, value, rec.Code, rec.Body)
		case rec.Code == http.StatusServiceUnavailable && u.Path == "/readyz":
			// what /readyz is for
		case rec.Code >= 500 && (rec.Code != http.StatusInternalServerError ||
			(method != http.MethodHead && code != string(ingest.EInternal))):
			t.Fatalf("%s %s with fault %d: %d %q, want 500 INTERNAL", method, target, fault, rec.Code, rec.Body)
		case rec.Code >= 400 && rec.Code < 500 && method != http.MethodHead && (code == "" || code == string(ingest.EInternal)):
			t.Fatalf("%s %s: %d %q without an error code", method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Code < 500 {
			if after := snapshot(t, db, blobRoot); after != before {
				t.Fatalf("%s %s (%s: %q) answered %d %s but stored something:\nbefore %s\nafter  %s",
					method, target, name, value, rec.Code, rec.Body, before, after)
			}
		}
	})
}

// recordedCode is the code of an error answer, "" when it has none.
func recordedCode(rec *httptest.ResponseRecorder) string {
	var answer struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &answer) != nil {
		return ""
	}
	return answer.Error.Code
}

// snapshot sums up what the handler has stored: the rows of each table that requests add to, the
// STORED files, and the objects outside the blob store's temporary uploads.
func snapshot(t *testing.T, db *sql.DB, blobRoot string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT COUNT(*) FROM upload_batches", "SELECT COUNT(*) FROM ingest_files", "SELECT COUNT(*) FROM upload_sessions",
		"SELECT COUNT(*) FROM upload_parts", "SELECT COUNT(*) FROM upload_grants", "SELECT COUNT(*) FROM portal_event_outbox",
		"SELECT COUNT(*) FROM ingest_files WHERE status = 'STORED'",
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d ", n)
	}
	err := filepath.WalkDir(blobRoot, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == ".uploads":
			return filepath.SkipDir
		case !d.IsDir():
			b.WriteString(strings.TrimPrefix(path, blobRoot) + " ")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// isToken reports whether s is an HTTP token, as a method or a header name is.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validValue reports whether s could be a header's value: no CR, LF or NUL, no surrounding space.
func validValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00") && strings.TrimSpace(s) == s
}
