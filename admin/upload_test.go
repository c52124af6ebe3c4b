package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/admin"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/tus"
	"github.com/ingest-portal/ingest/upload"
)

// apiPortal is the console and the API wired as "ingest serve" wires them: the API accepts a
// console session (with its CSRF token) besides bearer tokens.
type apiPortal struct {
	t     *testing.T
	url   string
	store *sqlstore.Store
}

func newAPIPortal(t *testing.T, dialect string) *apiPortal {
	t.Helper()
	store := testdb.Store(t, dialect)
	svc, console := newConsole(t, store)
	api := httpapi.New(httpapi.Config{Service: svc, Users: store, SessionAuth: console.AuthenticateAPI})
	mux := http.NewServeMux()
	mux.Handle("/admin/", console)
	mux.Handle(tus.Prefix, tus.New(tus.Config{Service: svc, Admit: api.AdmitUpload}))
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &apiPortal{t: t, url: srv.URL, store: store}
}

// newConsole returns the upload service over store with a local blob store, and a console on
// both.
func newConsole(tb testing.TB, store *sqlstore.Store) (*upload.Service, *admin.Handler) {
	tb.Helper()
	blobs, err := local.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := upload.New(store, blobs, upload.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	console, err := admin.New(admin.Config{Service: svc, Store: store})
	if err != nil {
		tb.Fatal(err)
	}
	return svc, console
}

// signedIn creates a user with an API token and a console session, and returns the token, the
// session's cookie secret and its CSRF token.
func (p *apiPortal) signedIn(name string, isAdmin bool) (token, cookie, csrf string) {
	p.t.Helper()
	ctx := context.Background()
	u := &ingest.User{Username: name, IsAdmin: isAdmin}
	if err := p.store.CreateUser(ctx, u); err != nil {
		p.t.Fatal(err)
	}
	tok, token := ingest.NewAPIToken(u.ID, "test")
	if err := p.store.CreateAPIToken(ctx, tok); err != nil {
		p.t.Fatal(err)
	}
	s, cookie := ingest.NewConsoleSession(u.ID, time.Now().Add(time.Hour))
	if err := p.store.CreateConsoleSession(ctx, s); err != nil {
		p.t.Fatal(err)
	}
	return token, cookie, s.CSRFToken
}

// do sends a request with headers as name, value pairs and returns the status and body.
func (p *apiPortal) do(method, path, body string, headers ...string) (int, http.Header, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

const apiSessionCookie = "ingest_admin_session"

func TestAPIAcceptsAConsoleSessionOnlyWithItsCSRFToken(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			p := newAPIPortal(t, dialect)
			token, cookie, csrf := p.signedIn("root", true)
			withCookie := "Cookie"
			session := apiSessionCookie + "=" + cookie
			cases := []struct {
				name     string
				headers  []string
				status   int
				wantCode string
			}{
				{"session and CSRF header", []string{withCookie, session, admin.CSRFHeader, csrf}, 201, ""},
				{"session without CSRF header", []string{withCookie, session}, 403, `"FORBIDDEN"`},
				{"session with a wrong CSRF header", []string{withCookie, session, admin.CSRFHeader, csrf + "x"}, 403, `"FORBIDDEN"`},
				{"CSRF header without session", []string{admin.CSRFHeader, csrf}, 401, `"UNAUTHENTICATED"`},
				{"unknown session", []string{withCookie, apiSessionCookie + "=forged", admin.CSRFHeader, csrf}, 401, `"UNAUTHENTICATED"`},
				{"bearer token", []string{"Authorization", "Bearer " + token}, 201, ""},
				{"bearer token beside a session without CSRF", []string{"Authorization", "Bearer " + token, withCookie, session}, 201, ""},
			}
			for _, c := range cases {
				status, _, body := p.do("POST", "/api/v1/batches", `{"name": "from the browser"}`, c.headers...)
				if status != c.status || !strings.Contains(body, c.wantCode) {
					t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.wantCode)
				}
			}
		})
	}
}

// TestTusAcceptsAConsoleSessionOnlyWithItsCSRFToken: the upload page's Uppy sends its tus
// requests with the session cookie and the X-CSRF-Token header, as its API calls; the tus server
// takes them as the API does, and a file so uploaded is STORED in the batch its metadata names.
func TestTusAcceptsAConsoleSessionOnlyWithItsCSRFToken(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			p := newAPIPortal(t, dialect)
			_, cookie, csrf := p.signedIn("root", true)
			session := []string{"Cookie", apiSessionCookie + "=" + cookie, "Tus-Resumable", "1.0.0"}
			withCSRF := append([]string{admin.CSRFHeader, csrf}, session...)
			status, _, body := p.do("POST", "/api/v1/batches", `{"name": "from the Dashboard"}`, withCSRF...)
			if status != 201 {
				t.Fatalf("POST /api/v1/batches: %d %s", status, body)
			}
			batch := jsonField(t, body, "id")
			meta := "name " + b64("notes.txt") + ",batch_id " + b64(batch) + ",relative_path " + b64("field/notes.txt")

			for name, headers := range map[string][]string{
				"without the CSRF header":  session,
				"with a wrong CSRF header": append([]string{admin.CSRFHeader, csrf + "x"}, session...),
			} {
				status, _, body := p.do("POST", "/tus/", "", append([]string{"Upload-Length", "5", "Upload-Metadata", meta}, headers...)...)
				if status != 403 || !strings.Contains(body, `"FORBIDDEN"`) {
					t.Errorf("POST /tus/ %s: %d %s, want 403 FORBIDDEN", name, status, body)
				}
			}

			status, header, body := p.do("POST", "/tus/", "", append([]string{"Upload-Length", "5", "Upload-Metadata", meta}, withCSRF...)...)
			if status != 201 || header.Get("Location") == "" {
				t.Fatalf("POST /tus/ with the session and its CSRF token: %d %s", status, body)
			}
			loc := header.Get("Location")
			status, header, body = p.do("PATCH", loc, "hello", append([]string{"Upload-Offset", "0", "Content-Type", "application/offset+octet-stream"}, withCSRF...)...)
			if status != 204 || header.Get("Ingest-File-Id") == "" {
				t.Fatalf("PATCH %s: %d %s", loc, status, body)
			}
			status, _, body = p.do("GET", "/api/v1/files/"+header.Get("Ingest-File-Id"), "", withCSRF...)
			for _, want := range []string{`"status":"STORED"`, `"batch_id":"` + batch + `"`, `"relative_path":"field/notes.txt"`,
				// SHA-256 of "hello"
				`"sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"`} {
				if status != 200 || !strings.Contains(body, want) {
					t.Errorf("the file uploaded through tus: %d %s, want %s", status, body, want)
				}
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// jsonField returns a string field of a JSON object.
func jsonField(t *testing.T, body, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	v, _ := m[name].(string)
	return v
}

func TestAPIRefusesTheConsoleSessionOfANonAdmin(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			p := newAPIPortal(t, dialect)
			_, cookie, csrf := p.signedIn("uploader", false)
			status, _, body := p.do("POST", "/api/v1/batches", `{}`, "Cookie", apiSessionCookie+"="+cookie, admin.CSRFHeader, csrf)
			if status != 403 || !strings.Contains(body, `"FORBIDDEN"`) {
				t.Errorf("a non-admin's console session: %d %s, want 403 FORBIDDEN", status, body)
			}
		})
	}
}

func TestUploadPage(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			p := newAPIPortal(t, dialect)
			_, cookie, csrf := p.signedIn("root", true)
			session := apiSessionCookie + "=" + cookie

			status, header, body := p.do("GET", "/admin/upload", "", "Cookie", session)
			if status != 200 || !strings.HasPrefix(header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET /admin/upload: %d %s", status, header.Get("Content-Type"))
			}
			for _, want := range []string{
				`id="uploader"`, `data-csrf="` + csrf + `"`, `data-api="/api/v1"`, `data-tus="/tus/"`, `id="batch-name"`,
				`<script src="/admin/static/uppy-upload.js"></script>`,
				`<link rel="stylesheet" href="/admin/static/uppy-upload.css">`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("the upload page lacks %s", want)
				}
			}

			status, header, _ = p.do("GET", "/admin/upload", "", "Cookie", session, "HX-Request", "true")
			if status != 200 || header.Get("HX-Redirect") != "/admin/upload" {
				t.Errorf("a boosted GET /admin/upload: %d, HX-Redirect %q; want the page loaded whole", status, header.Get("HX-Redirect"))
			}

			status, header, _ = p.do("GET", "/admin/upload", "")
			if status != http.StatusSeeOther || !strings.HasPrefix(header.Get("Location"), "/admin/signin") {
				t.Errorf("GET /admin/upload signed out: %d to %q, want the sign-in page", status, header.Get("Location"))
			}

			for path, ct := range map[string]string{"/admin/static/uppy-upload.js": "text/javascript", "/admin/static/uppy-upload.css": "text/css"} {
				status, header, _ = p.do("GET", path, "")
				if status != 200 || !strings.HasPrefix(header.Get("Content-Type"), ct) {
					t.Errorf("GET %s: %d %s, want %s", path, status, header.Get("Content-Type"), ct)
				}
			}
		})
	}
}
