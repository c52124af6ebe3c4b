package uppy_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/upload"
)

// TestPerUserQuotasHoldThroughUppy: uploads through an upload grant count against its creator's
// quota, an admin's too, and Uppy's multipart creation and form POST answer QUOTA_EXCEEDED past it.
func TestPerUserQuotasHoldThroughUppy(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, backend{dialect, "local"}, func(c *upload.Config) { c.MaxOpenSessions = 1 })
			_, secret, err := p.Svc.CreateGrant(context.Background(), p.Admin, ingest.GrantRequest{GrantLimits: ingest.GrantLimits{MaxFiles: 10}})
			if err != nil {
				t.Fatal(err)
			}
			base := "/uppy/g/" + url.PathEscape(secret)
			key, id := p.create(base)
			refused := func(what string, r response) {
				t.Helper()
				if r.Status != http.StatusTooManyRequests || r.Code() != string(ingest.EQuotaExceeded) {
					t.Errorf("%s: %d %s, want 429 QUOTA_EXCEEDED", what, r.Status, r.Body)
				}
			}
			refused("a second multipart upload", p.do("POST", base+"/s3/multipart", allowedOrigin,
				strings.NewReader(`{"filename":"two.bin","type":"application/octet-stream","metadata":{}}`), "application/json"))
			refused("a form upload", p.form(base, randomBytes(1<<10), nil))
			p.must(p.do("DELETE", base+"/s3/multipart/"+id+"?key="+key, allowedOrigin, nil, ""), http.StatusNoContent)
			p.must(p.form(base, randomBytes(1<<10), nil), http.StatusCreated)
		})
	}
}
