package admin_test

import (
	"net/http"
	"testing"
)

// TestTextThatNoDatabaseTakesIsRefused: a NUL byte or invalid UTF-8 in a search or a sign-in is
// a 400 on both databases, never an error of PostgreSQL's reaching the page as a 500.
func TestTextThatNoDatabaseTakesIsRefused(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.signedIn()
		for _, q := range []string{"%00", "%FF", "a%00b"} {
			b.get("/admin/files?q="+q).want(t, http.StatusBadRequest)
			b.get("/admin/batches?q="+q).want(t, http.StatusBadRequest)
		}
		e.browser().signIn("a\x00b", "whatever").want(t, http.StatusBadRequest)
		e.browser().signIn("a\xffb", "whatever").want(t, http.StatusBadRequest)
	})
}
