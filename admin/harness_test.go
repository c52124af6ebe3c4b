package admin_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/admin"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/storetest"
	"github.com/ingest-portal/ingest/upload"
)

// env is a console over a real store and upload service, and the admin "root" with a token.
type env struct {
	t       *testing.T
	ctx     context.Context
	store   *sqlstore.Store
	svc     *upload.Service
	clock   *storetest.Clock
	server  *httptest.Server
	handler *admin.Handler
	log     *bytes.Buffer
	root    *ingest.User
	token   string // root's API token
	dialect string
	// revocations counts the calls of Config.OnAccessRevoked.
	revocations *atomic.Int32
}

// forEachDatabase runs test on SQLite and on PostgreSQL.
func forEachDatabase(t *testing.T, test func(t *testing.T, e *env)) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			test(t, newEnv(t, dialect))
		})
	}
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	clock := storetest.NewClock()
	store := testdb.Store(t, dialect, sqlstore.WithClock(clock.Now))
	blobs, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := upload.New(store, blobs, upload.DefaultConfig(), upload.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	log := &bytes.Buffer{}
	revocations := &atomic.Int32{}
	h, err := admin.New(admin.Config{Service: svc, Store: store, Now: clock.Now,
		Logger:          slog.New(slog.NewTextHandler(log, nil)),
		OnAccessRevoked: func() { revocations.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(h)
	t.Cleanup(server.Close)
	e := &env{t: t, ctx: context.Background(), store: store, svc: svc, clock: clock, server: server, handler: h, log: log, dialect: dialect, revocations: revocations}
	e.root, e.token = e.user("root", true)
	return e
}

// user creates a user with an API token and returns both.
func (e *env) user(name string, isAdmin bool) (*ingest.User, string) {
	e.t.Helper()
	u := &ingest.User{Username: name, IsAdmin: isAdmin}
	if err := e.store.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	tok, secret := ingest.NewAPIToken(u.ID, "test")
	if err := e.store.CreateAPIToken(e.ctx, tok); err != nil {
		e.t.Fatal(err)
	}
	return u, secret
}

// browser is a client with a cookie jar that does not follow redirects, so tests see them.
type browser struct {
	e      *env
	client *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signedIn returns a browser signed in as root.
func (e *env) signedIn() *browser {
	e.t.Helper()
	b := e.browser()
	resp := b.signIn("root", e.token)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign in: status %d, want 303\n%s", resp.StatusCode, resp.body)
	}
	return b
}

// response is an answer with its body read.
type response struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) *response {
	b.e.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return &response{Response: resp, body: string(body)}
}

func (b *browser) get(path string) *response {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.server.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as is: the caller includes the CSRF token or not.
func (b *browser) post(path string, form url.Values) *response {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.server.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrf returns the CSRF token a page of the console shows.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	page := b.get(path)
	m := csrfMeta.FindStringSubmatch(page.body)
	if m == nil {
		b.e.t.Fatalf("no CSRF token on %s (status %d)", path, page.StatusCode)
	}
	return m[1]
}

// submit posts a form with the CSRF token of the page at from.
func (b *browser) submit(from, path string, form url.Values) *response {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf_token", b.csrf(from))
	return b.post(path, form)
}

// signIn fills in the sign-in form.
func (b *browser) signIn(username, secret string) *response {
	b.e.t.Helper()
	return b.submit("/admin/signin", "/admin/signin", url.Values{"username": {username}, "secret": {secret}})
}

// want fails unless the response has status.
func (r *response) want(t *testing.T, status int) *response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	return r
}

// contains fails unless the body has every string.
func (r *response) contains(t *testing.T, parts ...string) *response {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.body, p) {
			t.Fatalf("%s %s: the page lacks %q\n%s", r.Request.Method, r.Request.URL, p, r.body)
		}
	}
	return r
}

// setPassword gives u a password, as "ingest user set-password" does.
func setPassword(t *testing.T, e *env, u *ingest.User, password string) {
	t.Helper()
	hash, err := admin.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetPassword(e.ctx, u.ID, hash); err != nil {
		t.Fatal(err)
	}
}
