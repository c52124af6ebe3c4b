package admin_test

import (
	"bytes"
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

// TestAConsoleFormIsCappedBeforeItIsRead: a POST to the console that is not a small URL-encoded
// form is refused before any of it is parsed or spooled, sign-in included.
func TestAConsoleFormIsCappedBeforeItIsRead(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.browser()
		post := func(contentType string, body []byte) int {
			req, err := http.NewRequest(http.MethodPost, e.server.URL+"/admin/signin", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", contentType)
			return b.do(req).StatusCode
		}
		if got := post("multipart/form-data; boundary=x", bytes.Repeat([]byte("x"), 1<<20)); got != http.StatusBadRequest {
			t.Errorf("a multipart sign-in: %d, want 400", got)
		}
		if got := post("application/x-www-form-urlencoded", append([]byte("username="), bytes.Repeat([]byte("a"), 1<<20)...)); got != http.StatusRequestEntityTooLarge {
			t.Errorf("a 1 MiB sign-in form: %d, want 413", got)
		}
	})
}
