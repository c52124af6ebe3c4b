package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// newGrant makes a grant of token's user from body and returns its answer.
func (p *portal) newGrant(token string, body map[string]any) map[string]any {
	p.t.Helper()
	r := p.Do("POST", "/api/v1/upload-grants", token, body)
	if r.Status != http.StatusCreated {
		p.t.Fatalf("create grant: %d %s", r.Status, r.Body)
	}
	return r.JSON(p.t)
}

func TestUploadGrantsAreManagedByTheirCreator(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{})
			alice, bob := p.NewUser("alice", false), p.NewUser("bob", false)

			r := p.Do("POST", "/api/v1/upload-grants", alice, map[string]any{"max_files": 2, "max_file_bytes": 100,
				"content_types": []string{"text/*"}, "metadata": map[string]string{"order": "7"}, "expires_in": 600})
			if r.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}
			g := r.JSON(t)
			id, token := g["id"].(string), g["token"].(string)
			if !strings.HasPrefix(token, "ingest_grant_") || !strings.HasPrefix(token, g["prefix"].(string)) ||
				g["max_files"] != 2.0 || g["max_file_bytes"] != 100.0 || g["max_total_bytes"] != nil || g["state"] != "ACTIVE" ||
				g["files_used"] != 0.0 || r.Header.Get("Location") != "/api/v1/upload-grants/"+id {
				t.Errorf("the new grant answers %s", r.Body)
			}
			if defaults := p.newGrant(alice, nil); defaults["max_files"] != 1.0 {
				t.Errorf("a grant without limits has max_files %v, want 1", defaults["max_files"])
			}

			got := p.Do("GET", "/api/v1/upload-grants/"+id, alice, nil)
			if got.Status != http.StatusOK || strings.Contains(string(got.Body), token) || got.JSON(t)["token"] != nil {
				t.Errorf("get: %d %s; the secret is shown once only", got.Status, got.Body)
			}
			list := p.Do("GET", "/api/v1/upload-grants?limit=1", alice, nil).JSON(t)
			if items := list["items"].([]any); len(items) != 1 || list["next_cursor"] == nil {
				t.Errorf("alice's first page of one: %v", list)
			}
			if items := p.Do("GET", "/api/v1/upload-grants", bob, nil).JSON(t)["items"].([]any); len(items) != 0 {
				t.Errorf("bob lists alice's grants: %v", items)
			}
			for _, tc := range []struct{ method, path string }{{"GET", "/api/v1/upload-grants/" + id}, {"DELETE", "/api/v1/upload-grants/" + id}} {
				if r := p.Do(tc.method, tc.path, bob, nil); r.Status != http.StatusNotFound {
					t.Errorf("bob %s alice's grant: %d %s, want 404", tc.method, r.Status, r.Body)
				}
			}
			for _, bad := range []map[string]any{{"expires_in": 7*24*3600 + 1}, {"max_files": 0, "expires_in": -1},
				{"content_types": []string{"nope"}}, {"max_total_bytes": 0}, {"unknown": 1}} {
				if r := p.Do("POST", "/api/v1/upload-grants", alice, bad); r.Code(t) != "VALIDATION_FAILED" {
					t.Errorf("create %v: %d %s, want VALIDATION_FAILED", bad, r.Status, r.Body)
				}
			}

			if r := p.Do("POST", "/api/v1/upload-grants", token, nil); r.Status != http.StatusForbidden || r.Code(t) != "FORBIDDEN" {
				t.Errorf("a grant makes a grant: %d %s, want 403 FORBIDDEN", r.Status, r.Body)
			}
			if r := p.Do("DELETE", "/api/v1/upload-grants/"+id, alice, nil); r.Status != http.StatusNoContent {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			if r := p.Do("DELETE", "/api/v1/upload-grants/"+id, alice, nil); r.Code(t) != "INVALID_TRANSITION" {
				t.Errorf("revoke twice: %d %s", r.Status, r.Body)
			}
			if g := p.Do("GET", "/api/v1/upload-grants/"+id, alice, nil).JSON(t); g["state"] != "REVOKED" || g["revoked_at"] == nil {
				t.Errorf("a revoked grant reads %v", g)
			}
			if r := p.Do("POST", "/api/v1/files?filename=a.txt", token, []byte("a"), "Content-Type", "text/plain"); r.Status != http.StatusUnauthorized {
				t.Errorf("a revoked grant uploads: %d %s, want 401", r.Status, r.Body)
			}
		})
	}
}

func TestAnUploadGrantUploadsWithinItsLimitsAndSeesOnlyItsFiles(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{})
			alice := p.NewUser("alice", false)
			batch := p.Do("POST", "/api/v1/batches", alice, map[string]any{"name": "for the browser"}).JSON(t)["id"].(string)
			g := p.newGrant(alice, map[string]any{"batch_id": batch, "max_files": 2, "max_file_bytes": 10, "max_total_bytes": 15,
				"content_types": []string{"text/*"}, "metadata": map[string]string{"order": "7"}})
			grant, gid := g["token"].(string), g["id"].(string)
			own := p.Do("POST", "/api/v1/files?filename=mine.txt", alice, []byte("alice's"), "Content-Type", "text/plain").JSON(t)["id"].(string)

			put := func(name, ct string, body string, meta string) response {
				return p.Do("POST", "/api/v1/files?filename="+name+meta, grant, []byte(body), "Content-Type", ct)
			}
			if r := put("big.txt", "text/plain", "0123456789x", ""); r.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("beyond max_file_bytes: %d %s, want 413", r.Status, r.Body)
			}
			if r := put("a.png", "image/png", "png", ""); r.Code(t) != "VALIDATION_FAILED" {
				t.Errorf("a content type the grant refuses: %d %s", r.Status, r.Body)
			}
			if r := p.Do("POST", "/api/v1/files?filename=a.txt&batch_id="+own, grant, []byte("a"), "Content-Type", "text/plain"); r.Status != http.StatusForbidden {
				t.Errorf("into another batch: %d %s, want 403", r.Status, r.Body)
			}
			r := put("first.txt", "text/plain", "0123456789", "&metadata[order]=8&metadata[page]=home")
			if r.Status != http.StatusCreated {
				t.Fatalf("upload: %d %s", r.Status, r.Body)
			}
			f := r.JSON(t)
			meta, _ := f["metadata"].(map[string]any)
			if f["grant_id"] != gid || f["batch_id"] != batch || f["status"] != "STORED" || meta["order"] != "7" || meta["page"] != "home" {
				t.Errorf("the grant's file is %s: want its grant, its batch, and the grant's metadata over the file's", r.Body)
			}
			if r := p.Do("GET", "/api/v1/files/"+f["id"].(string), grant, nil); r.Status != http.StatusOK {
				t.Errorf("the grant reads its own file: %d %s", r.Status, r.Body)
			}
			if r := p.Do("GET", "/api/v1/files/"+own, grant, nil); r.Status != http.StatusNotFound {
				t.Errorf("the grant reads its creator's other file: %d %s, want 404", r.Status, r.Body)
			}
			if r := put("second.txt", "text/plain", "012345", ""); r.Code(t) != "GRANT_LIMIT_REACHED" || r.Status != http.StatusForbidden {
				t.Errorf("beyond max_total_bytes: %d %s, want 403 GRANT_LIMIT_REACHED", r.Status, r.Body)
			}

			// The last file goes in parts, through an upload session.
			r = p.Do("POST", "/api/v1/uploads", grant, map[string]any{"filename": "last.csv", "content_type": "text/csv", "size_bytes": 5})
			if r.Status != http.StatusCreated {
				t.Fatalf("create session: %d %s", r.Status, r.Body)
			}
			sess := r.JSON(t)["id"].(string)
			if r := p.Do("PUT", "/api/v1/uploads/"+sess+"/parts/1", grant, []byte("abcde")); r.Status != http.StatusOK {
				t.Fatalf("part: %d %s", r.Status, r.Body)
			}
			r = p.Do("POST", "/api/v1/uploads/"+sess+"/complete", grant, nil)
			if r.Status != http.StatusOK || r.JSON(t)["grant_id"] != gid {
				t.Fatalf("complete: %d %s", r.Status, r.Body)
			}
			if r := put("more.txt", "text/plain", "", ""); r.Code(t) != "GRANT_LIMIT_REACHED" {
				t.Errorf("beyond max_files: %d %s", r.Status, r.Body)
			}
			if g := p.Do("GET", "/api/v1/upload-grants/"+gid, alice, nil).JSON(t); g["files_used"] != 2.0 || g["bytes_used"] != 15.0 {
				t.Errorf("the grant counts %v files and %v bytes, want 2 and 15", g["files_used"], g["bytes_used"])
			}

			// The creator's own session is invisible to the grant, and the grant's to nobody else.
			other := p.Do("POST", "/api/v1/uploads", alice, map[string]any{"filename": "x", "size_bytes": 1}).JSON(t)["id"].(string)
			for _, path := range []string{"/api/v1/uploads/" + other, "/api/v1/uploads/" + other + "/parts"} {
				if r := p.Do("GET", path, grant, nil); r.Status != http.StatusNotFound {
					t.Errorf("GET %s with the grant: %d, want 404", path, r.Status)
				}
			}
			if r := p.Do("PUT", "/api/v1/uploads/"+other+"/parts/1", grant, []byte("x")); r.Status != http.StatusNotFound {
				t.Errorf("a part of the creator's session with the grant: %d, want 404", r.Status)
			}
		})
	}
}

func TestAnUploadGrantIsRefusedOutsideTheUploadRoutes(t *testing.T) {
	t.Parallel()
	p := newPortal(t, "sqlite", portalOptions{})
	alice := p.NewUser("alice", false)
	grant := p.newGrant(alice, nil)["token"].(string)
	id := p.Do("POST", "/api/v1/files?filename=a.txt", grant, []byte("a")).JSON(t)["id"].(string)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/files"}, {"GET", "/api/v1/files/" + id + "/content"}, {"GET", "/api/v1/batches"},
		{"POST", "/api/v1/batches"}, {"GET", "/api/v1/upload-grants"}, {"GET", "/api/v1/upload-grants/" + id},
	} {
		r := p.Do(tc.method, tc.path, grant, nil)
		if r.Status != http.StatusForbidden || r.Code(t) != "FORBIDDEN" {
			t.Errorf("%s %s with a grant: %d %s, want 403 FORBIDDEN", tc.method, tc.path, r.Status, r.Body)
		}
	}
	if r := p.Do("GET", "/api/v1/files", p.NewUser("bob", false)+"x", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("an unknown token: %d", r.Status)
	}
	if r := p.Do("GET", "/api/v1/files/"+id, "ingest_grant_"+strings.Repeat("a", 32), nil); r.Status != http.StatusUnauthorized {
		t.Errorf("an unknown grant: %d, want 401", r.Status)
	}
}
