package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// fakeSession stands in for the admin console's session check: the cookie "session" must be
// "valid", and the header X-CSRF-Token must then be "csrf".
func fakeSession(user func() *ingest.User) func(*http.Request) (*ingest.User, error) {
	return func(r *http.Request) (*ingest.User, error) {
		c, err := r.Cookie("session")
		if err != nil || c.Value != "valid" {
			return nil, ingest.Errorf(ingest.EUnauthenticated, "no session")
		}
		if r.Header.Get("X-CSRF-Token") != "csrf" {
			return nil, ingest.Errorf(ingest.EForbidden, "send the session's CSRF token in X-CSRF-Token")
		}
		return user(), nil
	}
}

func TestSessionAuthIsConsultedOnlyWithoutAnAuthorizationHeader(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			var browserUser *ingest.User
			p := newPortal(t, dialect, portalOptions{sessionAuth: fakeSession(func() *ingest.User { return browserUser })})
			p.NewUser("browser", true)
			var err error
			if browserUser, err = p.Store.UserByUsername(context.Background(), "browser"); err != nil {
				t.Fatal(err)
			}
			admin, err := p.Store.UserByUsername(context.Background(), "admin")
			if err != nil {
				t.Fatal(err)
			}

			r := p.Do("POST", "/api/v1/batches", "", map[string]any{}, "Cookie", "session=valid", "X-CSRF-Token", "csrf")
			if r.Status != http.StatusCreated || r.JSON(t)["created_by_id"] != browserUser.ID.String() {
				t.Errorf("session with its CSRF token: %d %s, want 201 created by %s", r.Status, r.Body, browserUser.ID)
			}

			r = p.Do("POST", "/api/v1/batches", "", map[string]any{}, "Cookie", "session=valid")
			if r.Status != http.StatusForbidden || r.Code(t) != "FORBIDDEN" {
				t.Errorf("session without a CSRF token: %d %s, want 403 FORBIDDEN", r.Status, r.Body)
			}

			r = p.Do("POST", "/api/v1/batches", "", map[string]any{}, "Cookie", "session=stale", "X-CSRF-Token", "csrf")
			if r.Status != http.StatusUnauthorized || r.Code(t) != "UNAUTHENTICATED" || r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("no valid session and no token: %d %s, want 401 UNAUTHENTICATED with WWW-Authenticate", r.Status, r.Body)
			}

			// A bearer token alone decides, whatever cookie the client also sends.
			r = p.Do("POST", "/api/v1/batches", p.Admin, map[string]any{}, "Cookie", "session=valid")
			if r.Status != http.StatusCreated || r.JSON(t)["created_by_id"] != admin.ID.String() {
				t.Errorf("bearer token with a cookie: %d %s, want 201 created by %s", r.Status, r.Body, admin.ID)
			}
			r = p.Do("POST", "/api/v1/batches", "not-a-token", map[string]any{}, "Cookie", "session=valid", "X-CSRF-Token", "csrf")
			if r.Status != http.StatusUnauthorized {
				t.Errorf("bad bearer token with a valid session: %d %s, want 401", r.Status, r.Body)
			}
		})
	}
}
