package httpapi_test

import (
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// TestTextThatNoDatabaseTakesIsRefused: a NUL byte (JSON's \u0000) or invalid UTF-8 in a name is
// a 400 VALIDATION_FAILED on both databases, never an error of PostgreSQL's as a 500.
func TestTextThatNoDatabaseTakesIsRefused(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{})
			token := p.NewUser("alice", false)
			p.Do("POST", "/api/v1/batches", token, []byte(`{"name":"a\u0000b"}`)).must(t, 400)
			p.Do("POST", "/api/v1/uploads", token, []byte(`{"filename":"a\u0000b","size_bytes":1}`)).must(t, 400)
			p.Do("POST", "/api/v1/files?filename=a%00b", token, []byte("x")).must(t, 400)
			p.Do("POST", "/api/v1/files?filename=a%FFb", token, []byte("x")).must(t, 400)
			p.Do("GET", "/api/v1/files?batch_id=%00", token, nil).must(t, 400)
			// An escaped backslash before u0000 is text, not a NUL.
			p.Do("POST", "/api/v1/batches", token, []byte(`{"name":"a\\u0000b"}`)).must(t, 201)
		})
	}
}
