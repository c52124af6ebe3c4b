package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// metadataOf returns the metadata of a file answer, failing unless it is a JSON object of strings.
func metadataOf(t *testing.T, file map[string]any) map[string]string {
	t.Helper()
	raw, ok := file["metadata"].(map[string]any)
	if !ok {
		t.Fatalf("the file's metadata is %#v, not a JSON object", file["metadata"])
	}
	m := map[string]string{}
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("metadata %q is %#v, not a string", k, v)
		}
		m[k] = s
	}
	return m
}

func TestMetadataOverHTTP(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{})
			token := p.NewUser("alice", false)
			want := map[string]string{"relative_path": "reports/2026/q4 (final).pdf", "note": "Größe ✓ <&>", "empty": ""}

			// Create session: metadata in the JSON body.
			f := p.upload(token, randomBytes(t, 3000), map[string]any{"metadata": want})
			if got := metadataOf(t, f); !reflect.DeepEqual(got, want) {
				t.Errorf("complete answered metadata %v, want %v", got, want)
			}
			got := p.Do("GET", "/api/v1/files/"+f["id"].(string), token, nil).must(t, http.StatusOK).JSON(t)
			if m := metadataOf(t, got); !reflect.DeepEqual(m, want) {
				t.Errorf("GET answered metadata %v, want %v", m, want)
			}

			// Single-request upload: ?metadata[key]=value.
			q := url.Values{"filename": {"scan.tif"}, "metadata[source]": {"scanner 7"}, "metadata[relative_path]": {"scans/é/1.tif"}}
			single := p.Do("POST", "/api/v1/files?"+q.Encode(), token, []byte("pixels")).must(t, http.StatusCreated).JSON(t)
			wantSingle := map[string]string{"source": "scanner 7", "relative_path": "scans/é/1.tif"}
			if m := metadataOf(t, single); !reflect.DeepEqual(m, wantSingle) {
				t.Errorf("single-request upload answered metadata %v, want %v", m, wantSingle)
			}
			got = p.Do("GET", "/api/v1/files/"+single["id"].(string), token, nil).must(t, http.StatusOK).JSON(t)
			if m := metadataOf(t, got); !reflect.DeepEqual(m, wantSingle) {
				t.Errorf("GET of the single-request upload answered metadata %v", m)
			}

			// Without metadata: {}, never null.
			plain := p.Do("POST", "/api/v1/files?filename=plain.txt", token, []byte("x")).must(t, http.StatusCreated).JSON(t)
			if m := metadataOf(t, plain); len(m) != 0 {
				t.Errorf("a file without metadata answered %v", m)
			}

			// Lists carry it too.
			list := p.Do("GET", "/api/v1/files", token, nil).must(t, http.StatusOK).JSON(t)
			items, _ := list["items"].([]any)
			found := 0
			for _, item := range items {
				file := item.(map[string]any)
				if file["id"] == single["id"] {
					found++
					if m := metadataOf(t, file); !reflect.DeepEqual(m, wantSingle) {
						t.Errorf("the list answered metadata %v", m)
					}
				}
			}
			if found != 1 {
				t.Errorf("the list holds the file %d times", found)
			}
		})
	}
}

func TestMetadataBeyondItsLimitsIsRefused(t *testing.T) {
	t.Parallel()
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, dialect, portalOptions{})
			token := p.NewUser("alice", false)
			tooMany := map[string]any{}
			tooManyQuery := url.Values{"filename": {"f"}}
			for i := range 33 {
				tooMany[fmt.Sprintf("k%d", i)] = "v"
				tooManyQuery.Set(fmt.Sprintf("metadata[k%d]", i), "v")
			}
			refused := func(r response, inMessage string) {
				t.Helper()
				if r.Status != http.StatusBadRequest || r.Code(t) != "VALIDATION_FAILED" {
					t.Fatalf("answer %d %s, want 400 VALIDATION_FAILED", r.Status, r.Body)
				}
				msg, _ := r.JSON(t)["error"].(map[string]any)["message"].(string)
				if !strings.Contains(msg, inMessage) {
					t.Errorf("message %q does not say %q", msg, inMessage)
				}
			}
			session := func(meta any) response {
				return p.Do("POST", "/api/v1/uploads", token, map[string]any{"filename": "f", "size_bytes": 1, "metadata": meta})
			}
			refused(session(tooMany), "more than 32")
			refused(session(map[string]any{"a b": "v"}), `"a b"`)
			refused(session(map[string]any{"long": strings.Repeat("x", 1025)}), `"long"`)
			refused(session(map[string]any{"n": 1}), "metadata")
			refused(session([]string{"a"}), "metadata")

			put := func(q url.Values) response { return p.Do("POST", "/api/v1/files?"+q.Encode(), token, []byte("x")) }
			refused(put(tooManyQuery), "more than 32")
			refused(put(url.Values{"filename": {"f"}, "metadata[a/b]": {"v"}}), `"a/b"`)
			refused(put(url.Values{"filename": {"f"}, "metadata[k]": {"1", "2"}}), `"k"`)
			refused(put(url.Values{"filename": {"f"}, "metadata": {"k=v"}}), "?metadata[key]=value")
			refused(put(url.Values{"filename": {"f"}, "metadata[k": {"v"}}), "?metadata[key]=value")
			big := url.Values{"filename": {"f"}}
			for i := range 9 {
				big.Set(fmt.Sprintf("metadata[k%d]", i), strings.Repeat("x", 1000))
			}
			refused(put(big), "more than 8192")

			list := p.Do("GET", "/api/v1/files", token, nil).must(t, http.StatusOK).JSON(t)
			if items, _ := list["items"].([]any); len(items) != 0 {
				t.Errorf("refused requests left %d files", len(items))
			}
		})
	}
}
