package admin_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/admin"
)

// signInFrom posts the sign-in form to h straight from addr (the connection's peer the limiter
// counts by), with a matching double-submit CSRF cookie, and returns the status.
func signInFrom(t *testing.T, h http.Handler, addr, username, secret string) int {
	t.Helper()
	csrf := strings.Repeat("c", 43)
	form := url.Values{"username": {username}, "secret": {secret}, "csrf_token": {csrf}}
	req := httptest.NewRequest(http.MethodPost, "/admin/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "ingest_admin_signin", Value: csrf})
	req.RemoteAddr = net.JoinHostPort(addr, "40000")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func wantStatus(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// TestWrongPasswordsFromAnotherAddressDoNotStopTheAdminsToken: the old limiter counted every
// attempt against the username too, so an attacker's ten guesses answered 429 to the admin's
// right token from elsewhere.
func TestWrongPasswordsFromAnotherAddressDoNotStopTheAdminsToken(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		setPassword(t, e, e.root, "correct horse battery staple")
		for range 10 {
			wantStatus(t, "a wrong password from A", signInFrom(t, e.handler, "198.51.100.1", "root", "a wrong password!"), http.StatusUnauthorized)
		}
		// root's password sign-in is locked, from any address, even with the right password...
		wantStatus(t, "the right password from B", signInFrom(t, e.handler, "203.0.113.7", "root", "correct horse battery staple"), http.StatusTooManyRequests)
		// ...but root's API token signs in from B.
		wantStatus(t, "the token from B", signInFrom(t, e.handler, "203.0.113.7", "root", e.token), http.StatusSeeOther)
		// A is limited, whatever it sends.
		wantStatus(t, "the token from A", signInFrom(t, e.handler, "198.51.100.1", "root", e.token), http.StatusTooManyRequests)
	})
}

// TestAUsernameDifferingInCaseOrSpaceSharesTheLockout: the lockout key is the username trimmed
// and case-folded, so " ROOT" and "Root " are guesses at root's password.
func TestAUsernameDifferingInCaseOrSpaceSharesTheLockout(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		setPassword(t, e, e.root, "correct horse battery staple")
		names := []string{"ROOT", " root", "Root ", "rOoT"}
		for i := range 10 {
			addr := fmt.Sprintf("198.51.100.%d", i+1) // each address well under its own limit
			wantStatus(t, "a wrong password", signInFrom(t, e.handler, addr, names[i%len(names)], "a wrong password!"), http.StatusUnauthorized)
		}
		wantStatus(t, "root's right password", signInFrom(t, e.handler, "203.0.113.7", "root", "correct horse battery staple"), http.StatusTooManyRequests)
		wantStatus(t, "root's token", signInFrom(t, e.handler, "203.0.113.7", "root", e.token), http.StatusSeeOther)
		// Another username is not locked.
		alice, _ := e.user("alice", true)
		setPassword(t, e, alice, "alice's long password")
		wantStatus(t, "alice's password", signInFrom(t, e.handler, "203.0.113.8", "alice", "alice's long password"), http.StatusSeeOther)
		// The lockout ends: the bucket refills over 15 minutes.
		e.clock.Advance(15 * time.Minute)
		wantStatus(t, "root's password later", signInFrom(t, e.handler, "203.0.113.9", "root", "correct horse battery staple"), http.StatusSeeOther)
	})
}

// TestAFloodOfNewAddressesDoesNotResetAnAddressesCount: the old limiter started afresh once it
// held 100,000 keys, so a flood of empty usernames from many addresses (cheap: they skipped the
// password hash) gave a limited address its guesses back. The table here holds 50 addresses.
func TestAFloodOfNewAddressesDoesNotResetAnAddressesCount(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		h, err := admin.New(admin.Config{Service: e.svc, Store: e.store, Now: e.clock.Now, SignInTableSize: 50})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			wantStatus(t, "a guess from A", signInFrom(t, h, "198.51.100.1", "", "a wrong password!"), http.StatusUnauthorized)
		}
		wantStatus(t, "A spent", signInFrom(t, h, "198.51.100.1", "root", e.token), http.StatusTooManyRequests)
		for i := range 200 {
			addr := fmt.Sprintf("2001:db8:%x::1", i+1) // each its own /64
			// The empty username is counted like any other: A's guesses locked its password.
			wantStatus(t, "the flood", signInFrom(t, h, addr, "", "x"), http.StatusTooManyRequests)
		}
		wantStatus(t, "A after the flood", signInFrom(t, h, "198.51.100.1", "root", e.token), http.StatusTooManyRequests)
		// Past the table (A and 49 of the flood), new addresses share one count of 10.
		overflowed := 0
		for i := range 20 {
			if signInFrom(t, h, fmt.Sprintf("192.0.2.%d", i+1), "root", e.token) == http.StatusTooManyRequests {
				overflowed++
			}
		}
		if overflowed != 20 {
			t.Errorf("%d of 20 new addresses were limited, want all: the flood spent the shared count", overflowed)
		}
		// Once its count has refilled, A signs in again.
		e.clock.Advance(time.Minute)
		wantStatus(t, "A a minute later", signInFrom(t, h, "198.51.100.1", "root", e.token), http.StatusSeeOther)
	})
}

// TestTheAddressesOfOneIPv6NetworkShareACount: a host holds a whole /64, so its addresses count
// as one.
func TestTheAddressesOfOneIPv6NetworkShareACount(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		for i := range 10 {
			wantStatus(t, "a guess", signInFrom(t, e.handler, fmt.Sprintf("2001:db8:1:2::%x", i+1), "", "x"), http.StatusUnauthorized)
		}
		wantStatus(t, "another address of the /64", signInFrom(t, e.handler, "2001:db8:1:2:ffff::1", "root", e.token), http.StatusTooManyRequests)
		wantStatus(t, "another /64", signInFrom(t, e.handler, "2001:db8:1:3::1", "root", e.token), http.StatusSeeOther)
	})
}
