package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/upload"
)

// FuzzHandler drives the API handler in-process, on SQLite, with arbitrary requests: a method,
// a path and query, a caller (none, an admin, a user, a bad token), a Content-Type, one more
// header and a body. No request may panic or answer 5xx, and every error answer carries a code
// other than INTERNAL.
func FuzzHandler(f *testing.F) {
	store := testdb.Store(f, "sqlite")
	blobs, err := local.New(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	svc, err := upload.New(store, blobs, upload.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{
		Service: svc, Users: store, Grants: store, Logger: slog.New(slog.DiscardHandler),
		Checks: []httpapi.Check{{Name: "database", Probe: store.Ping}, {Name: "storage", Probe: blobs.Ping}},
	})
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
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%s: %q): %d %s", method, target, name, value, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && method != http.MethodHead {
			var answer struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.Error.Code == "" ||
				answer.Error.Code == string(ingest.EInternal) {
				t.Fatalf("%s %s: %d %q without an error code", method, target, rec.Code, rec.Body)
			}
		}
	})
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
