package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestServeMountsTheAdminConsole signs in to a real "ingest serve" with the token it printed, as
// a new user following the README would.
func TestServeMountsTheAdminConsole(t *testing.T) {
	t.Parallel()
	bin := buildIngest(t)
	forEachDialect(t, func(t *testing.T, dialect, dbURL string) {
		r := newServeRig(t, bin, dialect, dbURL, "--admin-secure-cookies")
		r.start()
		defer r.stop()
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		get := func(path string) (*http.Response, string) {
			t.Helper()
			resp, err := browser.Get(r.srv.url + path)
			if err != nil {
				r.fatalf("GET %s: %v", path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, string(body)
		}
		if resp, _ := get("/admin/"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/signin") {
			r.fatalf("GET /admin/ unsigned: %d to %q, want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, page := get("/admin/signin")
		m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
		if resp.StatusCode != http.StatusOK || m == nil {
			r.fatalf("GET /admin/signin: %d without a form token\n%s", resp.StatusCode, page)
		}
		// The cookies are Secure (the flag), so the jar of this plain-http client keeps none: send
		// the sign-in cookie by hand, as a browser behind an https proxy would.
		form := url.Values{"csrf_token": {m[1]}, "username": {"admin"}, "secret": {r.token}}
		req, _ := http.NewRequest(http.MethodPost, r.srv.url+"/admin/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "ingest_admin_signin", Value: m[1]})
		signedIn, err := browser.Do(req)
		if err != nil {
			r.fatalf("sign in: %v", err)
		}
		signedIn.Body.Close()
		var session *http.Cookie
		for _, c := range signedIn.Cookies() {
			if c.Name == "ingest_admin_session" {
				session = c
			}
		}
		if signedIn.StatusCode != http.StatusSeeOther || session == nil || !session.Secure || !session.HttpOnly {
			r.fatalf("sign in: %d, session cookie %+v; want 303 and a Secure, HttpOnly cookie", signedIn.StatusCode, session)
		}
		req, _ = http.NewRequest(http.MethodGet, r.srv.url+"/admin/users", nil)
		req.AddCookie(session)
		users, err := browser.Do(req)
		if err != nil {
			r.fatalf("GET /admin/users: %v", err)
		}
		body, _ := io.ReadAll(users.Body)
		users.Body.Close()
		if users.StatusCode != http.StatusOK || !strings.Contains(string(body), ">admin<") {
			r.fatalf("GET /admin/users signed in: %d\n%s", users.StatusCode, body)
		}
	})
}
