package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// TestAuthenticationCache: with a cache, a token that authenticated keeps working for the cache's
// lifetime after it is revoked, without asking the database; an unknown token is never cached.
// Without one, revocation bites at once.
func TestAuthenticationCache(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name         string
				ttl          time.Duration
				forget       bool // ForgetAuthentications after the revocation, as the console does
				afterRevoked int
			}{
				{"cached for an hour", time.Hour, false, http.StatusOK},
				{"cached for an hour, then forgotten", time.Hour, true, http.StatusUnauthorized},
				{"not cached", 0, false, http.StatusUnauthorized},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p := newPortal(t, dialect, portalOptions{authCache: tc.ttl})
					token := p.NewUser("alice", false)
					if r := p.Do("GET", "/api/v1/files", token, nil); r.Status != http.StatusOK {
						t.Fatalf("before revocation: %d %s", r.Status, r.Body)
					}
					if _, err := p.Store.DB().Exec(`UPDATE api_tokens SET revoked_at = created_at`); err != nil {
						t.Fatal(err)
					}
					if tc.forget {
						p.API.ForgetAuthentications()
					}
					if r := p.Do("GET", "/api/v1/files", token, nil); r.Status != tc.afterRevoked {
						t.Errorf("after revocation: %d %s, want %d", r.Status, r.Body, tc.afterRevoked)
					}
					for range 2 {
						if r := p.Do("GET", "/api/v1/files", "ingest_unknown", nil); r.Status != http.StatusUnauthorized {
							t.Errorf("an unknown token: %d, want 401", r.Status)
						}
					}
				})
			}
		})
	}
}
