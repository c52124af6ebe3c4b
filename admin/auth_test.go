package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/admin"
)

func TestAnUnauthenticatedRequestIsSentToSignIn(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		resp := e.browser().get("/admin/files?status=STORED").want(t, http.StatusSeeOther)
		if got, want := resp.Header.Get("Location"), "/admin/signin?next="+url.QueryEscape("/admin/files?status=STORED"); got != want {
			t.Errorf("redirect to %q, want %q", got, want)
		}
		e.browser().post("/admin/signout", url.Values{}).want(t, http.StatusSeeOther)
	})
}

func TestSignInWithATokenAndSignOut(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.browser()
		form := url.Values{"username": {"root"}, "secret": {e.token}, "next": {"/admin/files"}}
		form.Set("csrf_token", b.csrf("/admin/signin"))
		resp := b.post("/admin/signin", form).want(t, http.StatusSeeOther)
		if got := resp.Header.Get("Location"); got != "/admin/files" {
			t.Errorf("after sign-in, redirect to %q, want /admin/files", got)
		}
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "ingest_admin_session" {
				session = c
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
			t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, not Secure over http", session)
		}
		if n := count(t, e, `SELECT count(*) FROM admin_sessions WHERE secret_hash = $1`, ingest.HashToken(session.Value)); n != 1 {
			t.Errorf("sessions stored by the hash of the cookie = %d, want 1", n)
		}
		b.get("/admin/files").want(t, http.StatusOK).contains(t, "Files", ">root<")

		b.submit("/admin/files", "/admin/signout", nil).want(t, http.StatusSeeOther)
		b.get("/admin/files").want(t, http.StatusSeeOther)
		if n := count(t, e, `SELECT count(*) FROM admin_sessions`); n != 0 {
			t.Errorf("sessions left after sign-out = %d, want 0", n)
		}
	})
}

func TestSignInWithAPassword(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		// The browser is not signed in: the password is set as "ingest user set-password" does.
		setPassword(t, e, e.root, "correct horse battery staple")
		b := e.browser()
		b.signIn("root", "wrong horse battery staple").want(t, http.StatusUnauthorized).contains(t, "Wrong username, password or token.")
		b.signIn("nobody", "correct horse battery staple").want(t, http.StatusUnauthorized).contains(t, "Wrong username, password or token.")
		b.signIn("root", "correct horse battery staple").want(t, http.StatusSeeOther)
		b.get("/admin/").want(t, http.StatusOK).contains(t, "Dashboard")
	})
}

func TestANonAdminIsRefused(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		alice, token := e.user("alice", false)
		b := e.browser()
		b.signIn("alice", token).want(t, http.StatusForbidden).contains(t, "user alice is not an administrator")
		setPassword(t, e, alice, "alice's long password")
		b.signIn("alice", "alice's long password").want(t, http.StatusForbidden)
		b.get("/admin/").want(t, http.StatusSeeOther)
		// Another user's token does not sign in as root.
		b.signIn("root", token).want(t, http.StatusUnauthorized)
	})
}

func TestASignInWithoutTheFormsTokenIsRefused(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.browser()
		b.get("/admin/signin").want(t, http.StatusOK)
		b.post("/admin/signin", url.Values{"username": {"root"}, "secret": {e.token}}).want(t, http.StatusForbidden)
		b.post("/admin/signin", url.Values{"username": {"root"}, "secret": {e.token}, "csrf_token": {strings.Repeat("x", 43)}}).
			want(t, http.StatusForbidden)
	})
}

func TestAPostWithoutTheSessionsCSRFTokenIsRefused(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.signedIn()
		b.post("/admin/signout", url.Values{}).want(t, http.StatusForbidden).contains(t, "CSRF token is missing or wrong")
		b.post("/admin/signout", url.Values{"csrf_token": {"not-the-token-not-the-token-not-the-token!!"}}).want(t, http.StatusForbidden)
		b.get("/admin/").want(t, http.StatusOK)
	})
}

func TestSignInsAreRateLimited(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.browser()
		for range 10 {
			b.signIn("root", "a wrong password!").want(t, http.StatusUnauthorized)
		}
		b.signIn("root", e.token).want(t, http.StatusTooManyRequests).contains(t, "Too many sign-in attempts")
	})
}

func TestTheSecurityHeadersAreSet(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		resp := e.signedIn().get("/admin/").want(t, http.StatusOK)
		for header, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
		} {
			if got := resp.Header.Get(header); got != want {
				t.Errorf("%s = %q, want %q", header, got, want)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, d := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'self'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
			}
		}
	})
}

// count runs a raw count query on the env's database.
func count(t *testing.T, e *env, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.store.DB().QueryRowContext(e.ctx, query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestASessionEndsWhenItExpires(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.signedIn()
		e.clock.Advance(11 * time.Hour)
		b.get("/admin/").want(t, http.StatusOK)
		e.clock.Advance(time.Hour)
		b.get("/admin/").want(t, http.StatusSeeOther)
	})
}

func TestCookiesAreSecureOverTLS(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		tls := httptest.NewTLSServer(e.handler)
		defer tls.Close()
		resp, err := tls.Client().Get(tls.URL + "/admin/signin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if len(cookies) != 1 || cookies[0].Name != "ingest_admin_signin" || !cookies[0].Secure || !cookies[0].HttpOnly {
			t.Errorf("cookies over TLS = %+v, want the sign-in cookie Secure and HttpOnly", cookies)
		}
	})
}

func TestASessionWorksOnAnotherInstance(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.signedIn()
		// A second console over the same database, as after a restart or behind a load balancer.
		other, err := admin.New(admin.Config{Service: e.svc, Store: e.store, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		server := httptest.NewServer(other)
		defer server.Close()
		req, _ := http.NewRequest(http.MethodGet, server.URL+"/admin/users", nil)
		u, _ := url.Parse(e.server.URL)
		for _, c := range b.client.Jar.Cookies(u) {
			req.AddCookie(c)
		}
		b.do(req).want(t, http.StatusOK).contains(t, ">root<")
	})
}

func TestAnUnknownPageIsNotFound(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		e.browser().get("/admin/nothing/here").want(t, http.StatusSeeOther)
		e.signedIn().get("/admin/nothing/here").want(t, http.StatusNotFound).contains(t, "the console has no page /admin/nothing/here")
	})
}
