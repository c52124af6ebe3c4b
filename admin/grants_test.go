package admin_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/upload"
)

// grantWorld is alice's upload grant into her batch, with one file uploaded through it, beside
// the world's files.
type grantWorld struct {
	*world
	grant *ingest.UploadGrant
	file  *ingest.File // uploaded with grant
}

func (e *env) grantWorld() *grantWorld {
	e.t.Helper()
	w := &grantWorld{world: e.world()}
	limit := int64(1 << 20)
	var err error
	w.grant, _, err = e.svc.CreateGrant(e.ctx, w.alice, ingest.GrantRequest{BatchID: &w.batch.ID,
		GrantLimits: ingest.GrantLimits{MaxFiles: 3, MaxTotalBytes: &limit, ContentTypes: []string{"text/*"}},
		Metadata:    map[string]string{"order": "42"}})
	if err != nil {
		e.t.Fatal(err)
	}
	actor := *w.alice
	actor.Grant = w.grant
	data := []byte("granted bytes\n")
	if w.file, _, err = e.svc.Put(e.ctx, &actor, upload.CreateRequest{Filename: "granted.txt", ContentType: "text/plain",
		SizeBytes: int64(len(data))}, bytes.NewReader(data), upload.Digest{}); err != nil {
		e.t.Fatal(err)
	}
	return w
}

func TestGrantsAreListedShownAndRevoked(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.grantWorld()
		b := e.signedIn()
		grant := "/admin/grants/" + w.grant.ID.String()
		b.get("/admin/grants").want(t, http.StatusOK).contains(t, grant, w.grant.Prefix+"…", ">alice<", "ACTIVE", "1 / 3",
			"14 B / 1.0 MiB")
		b.get("/admin/grants?status=REVOKED").want(t, http.StatusOK)
		if strings.Contains(b.get("/admin/grants?status=REVOKED").body, grant) {
			t.Errorf("an active grant is listed as REVOKED")
		}
		b.get("/admin/grants?q="+url.QueryEscape(w.grant.Prefix)).contains(t, grant)
		b.get("/admin/grants?user="+w.alice.ID.String()).contains(t, grant)

		// grant → creator, batch, its files and metadata; file → grant; files filtered by grant
		b.get(grant).want(t, http.StatusOK).contains(t, "/admin/users/"+w.alice.ID.String(), "/admin/batches/"+w.batch.ID.String(),
			"/admin/files/"+w.file.ID.String(), "text/*", "order", "42", grant+"/revoke")
		b.get("/admin/files/"+w.file.ID.String()).want(t, http.StatusOK).contains(t, "Upload grant", grant)
		if strings.Contains(b.get("/admin/files/"+w.stored.ID.String()).body, "/admin/grants/") {
			t.Errorf("a file uploaded without a grant links to one")
		}
		files := b.get("/admin/files?grant="+w.grant.ID.String()).want(t, http.StatusOK).contains(t, "granted.txt")
		if strings.Contains(files.body, "report.csv") {
			t.Errorf("the files of the grant list a file uploaded without it")
		}

		// Without the CSRF token nothing is revoked.
		b.post(grant+"/revoke", url.Values{}).want(t, http.StatusForbidden).contains(t, "CSRF token is missing or wrong")
		if _, _, err := e.store.AuthenticateGrant(e.ctx, w.grant.TokenHash); err != nil {
			t.Fatalf("the grant after a refused revocation: %v", err)
		}

		resp := b.act(t, grant+"/revoke").want(t, http.StatusSeeOther)
		b.get(resp.Header.Get("Location")).contains(t, "REVOKED", "The upload grant was revoked.")
		if _, _, err := e.store.AuthenticateGrant(e.ctx, w.grant.TokenHash); ingest.ErrorCode(err) != ingest.EUnauthenticated {
			t.Errorf("the revoked grant authenticates: %v", err)
		}
		b.get(grant+"/revoke").want(t, http.StatusConflict).contains(t, "is REVOKED and cannot become REVOKED")
		if strings.Contains(b.get(grant).body, grant+"/revoke") {
			t.Errorf("a revoked grant is offered to be revoked again")
		}
		b.get("/admin/grants?status=REVOKED").contains(t, grant)
		e.wantLogged(t, "grants.revoke", w.grant.ID)
		if got := e.revocations.Load(); got != 1 {
			t.Errorf("after a revocation the API was told to forget its authentications %d times, want 1", got)
		}
	})
}
