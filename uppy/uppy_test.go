package uppy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/cors"
	"github.com/ingest-portal/ingest/internal/testkit/testclock"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/upload"
	"github.com/ingest-portal/ingest/uppy"
)

type backend struct{ dialect, storage string }

func (b backend) String() string { return b.dialect + "/" + b.storage }

var backends = []backend{{"sqlite", "local"}, {"postgres", "local"}, {"sqlite", "s3"}, {"postgres", "s3"}}

const allowedOrigin = "http://app.example.test"

// sessionCookie stands for the console's session in these tests: its value is a username.
const sessionCookie = "test_session"

type portal struct {
	t     *testing.T
	URL   string
	Store *sqlstore.Store
	Svc   *upload.Service
	Clock *testclock.Offset
	Admin *ingest.User
	Token string // the admin's API token
}

// newPortal starts a portal on the backend, its upload service configured by configure.
func newPortal(t *testing.T, b backend, configure ...func(*upload.Config)) *portal {
	t.Helper()
	store := testdb.Store(t, b.dialect)
	var blobs ingest.BlobStore
	switch b.storage {
	case "local":
		var err error
		if blobs, err = local.New(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	case "s3":
		gw := versitygw.Start(t)
		blobs = s3.New(gw.Client(), gw.NewBucket(t), "portal")
	}
	c := &testclock.Offset{}
	cfg := upload.DefaultConfig()
	for _, f := range configure {
		f(&cfg)
	}
	svc, err := upload.New(store, blobs, cfg, upload.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	p := &portal{t: t, Store: store, Svc: svc, Clock: c}
	p.Admin = &ingest.User{Username: "admin", IsAdmin: true}
	if err := store.CreateUser(context.Background(), p.Admin); err != nil {
		t.Fatal(err)
	}
	tok, secret := ingest.NewAPIToken(p.Admin.ID, "test")
	if err := store.CreateAPIToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	p.Token = secret
	api := httpapi.New(httpapi.Config{Service: svc, Users: store, Grants: store, Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.Handle(uppy.Prefix, uppy.New(uppy.Config{
		Service: svc, PartSizes: store, AdmitUpload: api.AdmitUpload,
		Session: func(r *http.Request) (*ingest.User, error) {
			if c, err := r.Cookie(sessionCookie); err == nil && c.Value == p.Admin.Username {
				return p.Admin, nil
			}
			return nil, ingest.Errorf(ingest.EUnauthenticated, "sign in")
		},
		Origins: []string{allowedOrigin}, SigningKey: []byte("a test key of at least 32 characters"), Now: c.Now,
	}))
	mux.Handle("/", api)
	srv := httptest.NewServer(cors.Handler([]string{allowedOrigin}, mux))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) Code() string {
	var v struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &v)
	return v.Error.Code
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// do sends a request as the console's signed-in admin, from origin ("" for none).
func (p *portal) do(method, path, origin string, body io.Reader, contentType string) response {
	p.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = p.URL + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: p.Admin.Username})
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (p *portal) must(r response, status int) response {
	p.t.Helper()
	if r.Status != status {
		p.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// stored checks that the file with the key is STORED with the SHA-256 of data.
func (p *portal) stored(key string, data []byte) *ingest.File {
	p.t.Helper()
	f, err := p.Svc.File(context.Background(), p.Admin, mustID(p.t, key))
	if err != nil {
		p.t.Fatal(err)
	}
	if f.Status != ingest.FileStored || f.SHA256 != sum(data) || f.SizeBytes != int64(len(data)) {
		p.t.Fatalf("file %s is %s, %d bytes, sha256 %s; want STORED, %d bytes, %s", key, f.Status, f.SizeBytes, f.SHA256, len(data), sum(data))
	}
	return f
}

// form posts data as Uppy does with the parameters of s3/params: the fields, then the file.
func (p *portal) form(base string, data []byte, tamper func(map[string]string)) response {
	p.t.Helper()
	params := p.must(p.do("GET", base+"/s3/params?filename=notes.txt&type=text%2Fplain&metadata%5Bproject%5D=apollo", allowedOrigin, nil, ""), 200)
	var v struct {
		Method string            `json:"method"`
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	}
	params.decode(p.t, &v)
	if v.Method != "POST" || v.URL != p.URL+base+"/s3/upload" || v.Fields["signature"] == "" {
		p.t.Fatalf("params = %s", params.Body)
	}
	if tamper != nil {
		tamper(v.Fields)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, val := range v.Fields {
		if err := mw.WriteField(k, val); err != nil {
			p.t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "notes.txt")
	if err != nil {
		p.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return p.do("POST", v.URL, allowedOrigin, &buf, mw.FormDataContentType())
}

func TestFormUpload(t *testing.T) {
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, b)
			data := randomBytes(100 << 10)
			var signed map[string]string
			r := p.must(p.form("/uppy", data, func(f map[string]string) { signed = maps.Clone(f) }), http.StatusCreated)
			var v struct{ Location, Key string }
			r.decode(t, &v)
			f := p.stored(v.Key, data)
			// @uppy/aws-s3 6.3 reports the form's key as the object's, and resolves URLs against
			// the page, which may be on another origin: the key is the file's id, the URLs absolute.
			if v.Key != signed["key"] || v.Location != p.URL+"/api/v1/files/"+v.Key || f.OriginalFilename != "notes.txt" || f.ContentType != "text/plain" || f.Metadata["project"] != "apollo" {
				t.Fatalf("answer %s; file %+v", r.Body, f)
			}
			t.Run("a form sent again stores nothing more", func(t *testing.T) {
				r := p.form("/uppy", data, func(f map[string]string) {
					clear(f)
					maps.Copy(f, signed)
				})
				if r.Status != http.StatusConflict || r.Code() != string(ingest.EConflict) {
					t.Fatalf("the same form again: %d %s", r.Status, r.Body)
				}
			})
			t.Run("fields changed after signing are refused", func(t *testing.T) {
				for field, value := range map[string]string{"filename": "other.txt", "key": ingest.NewID().String()} {
					r := p.form("/uppy", data, func(f map[string]string) { f[field] = value })
					if r.Status != http.StatusForbidden || r.Code() != string(uppy.CodeSignatureInvalid) {
						t.Fatalf("form with %s changed: %d %s", field, r.Status, r.Body)
					}
				}
			})
		})
	}
}

// multipart creates an upload and returns its key and uploadId.
func (p *portal) create(base string) (key, id string) {
	p.t.Helper()
	r := p.must(p.do("POST", base+"/s3/multipart", allowedOrigin,
		strings.NewReader(`{"filename":"big.bin","type":"application/octet-stream","metadata":{"name":"big.bin","relativePath":null,"project":"apollo"}}`), "application/json"), 200)
	var v map[string]string
	r.decode(p.t, &v)
	if len(v) != 2 || v["key"] == "" || v["uploadId"] == "" {
		p.t.Fatalf("create = %s", r.Body)
	}
	return v["key"], v["uploadId"]
}

// sign returns the signed URL of part n.
func (p *portal) sign(base, key, id string, n int) string {
	p.t.Helper()
	r := p.must(p.do("GET", fmt.Sprintf("%s/s3/multipart/%s/%d?key=%s", base, id, n, key), "", nil, ""), 200)
	var v struct{ URL string }
	r.decode(p.t, &v)
	if v.URL == "" {
		p.t.Fatalf("sign = %s", r.Body)
	}
	return v.URL
}

func TestMultipartUpload(t *testing.T) {
	const mib = 1 << 20
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, b)
			data := randomBytes(12 * mib)
			key, id := p.create("/uppy")
			chunks := [][]byte{data[:5*mib], data[5*mib : 10*mib], data[10*mib:]}
			urls := make([]string, len(chunks))
			for i := range chunks {
				urls[i] = p.sign("/uppy", key, id, i+1)
			}
			// Uppy sends its parts at once: the last first, here, to make it wait.
			etags := make([]string, len(chunks))
			var wg sync.WaitGroup
			for i := len(chunks) - 1; i >= 0; i-- {
				wg.Go(func() {
					req, _ := http.NewRequest("PUT", urls[i], bytes.NewReader(chunks[i]))
					req.Header.Set("Origin", allowedOrigin)
					req.AddCookie(&http.Cookie{Name: sessionCookie, Value: p.Admin.Username})
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
						t.Errorf("PUT part %d: %d %s", i+1, resp.StatusCode, body)
					}
					if got := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "ETag") {
						t.Errorf("ETag is not exposed: %q", got)
					}
					etags[i] = resp.Header.Get("ETag")
				})
				time.Sleep(20 * time.Millisecond)
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			list := p.must(p.do("GET", "/uppy/s3/multipart/"+id+"?key="+key, "", nil, ""), 200)
			var parts []map[string]any
			list.decode(t, &parts)
			want := []int64{5 * mib, 5 * mib, 2 * mib}
			if len(parts) != 3 {
				t.Fatalf("parts = %s", list.Body)
			}
			for i, part := range parts {
				if len(part) != 3 || part["PartNumber"] != float64(i+1) || part["ETag"] != etags[i] || part["Size"] != float64(want[i]) {
					t.Fatalf("part %d = %v; want number %d, ETag %s, size %d", i+1, part, i+1, etags[i], want[i])
				}
			}
			t.Run("a part larger than the first is refused", func(t *testing.T) {
				r := p.do("PUT", p.sign("/uppy", key, id, 4), allowedOrigin, bytes.NewReader(make([]byte, 6*mib)), "")
				if r.Status != http.StatusBadRequest || r.Code() != string(ingest.EPartSizeMismatch) {
					t.Fatalf("PUT of 6 MiB after 5 MiB parts: %d %s", r.Status, r.Body)
				}
			})
			// @uppy/aws-s3 6.x names the parts with their ETags unquoted; S3 takes either.
			body := fmt.Sprintf(`{"parts":[{"PartNumber":2,"ETag":%q},{"PartNumber":1,"ETag":%q},{"PartNumber":3,"ETag":%q}]}`,
				etags[1], strings.Trim(etags[0], `"`), strings.Trim(etags[2], `"`))
			r := p.must(p.do("POST", "/uppy/s3/multipart/"+id+"/complete?key="+key, allowedOrigin, strings.NewReader(body), "application/json"), 200)
			var done map[string]string
			r.decode(t, &done)
			if len(done) != 2 || done["key"] != key || done["location"] != p.URL+"/api/v1/files/"+key {
				t.Fatalf("complete = %s", r.Body)
			}
			f := p.stored(key, data)
			if f.Metadata["project"] != "apollo" || f.OriginalFilename != "big.bin" {
				t.Fatalf("file %+v", f)
			}
		})
	}
}

func TestSignedURLs(t *testing.T) {
	p := newPortal(t, backend{"sqlite", "local"})
	key, id := p.create("/uppy")
	signed := p.sign("/uppy", key, id, 1)
	put := func(u string) response {
		return p.do("PUT", u, allowedOrigin, bytes.NewReader(make([]byte, 1024)), "")
	}
	t.Run("a URL changed to another part is refused", func(t *testing.T) {
		r := put(strings.Replace(signed, "/1?", "/2?", 1))
		if r.Status != http.StatusForbidden || r.Code() != string(uppy.CodeSignatureInvalid) {
			t.Fatalf("tampered URL: %d %s", r.Status, r.Body)
		}
	})
	t.Run("a URL of another upload is refused", func(t *testing.T) {
		_, other := p.create("/uppy")
		r := put(strings.Replace(signed, id, other, 1))
		if r.Status != http.StatusForbidden || r.Code() != string(uppy.CodeSignatureInvalid) {
			t.Fatalf("URL of another upload: %d %s", r.Status, r.Body)
		}
	})
	t.Run("an expired URL is refused", func(t *testing.T) {
		p.Clock.Advance(16 * time.Minute)
		defer p.Clock.Advance(-16 * time.Minute)
		r := put(signed)
		if r.Status != http.StatusForbidden || r.Code() != string(uppy.CodeSignatureExpired) {
			t.Fatalf("expired URL: %d %s", r.Status, r.Body)
		}
	})
	t.Run("the URL as signed is taken", func(t *testing.T) {
		p.must(put(signed), http.StatusOK)
	})
}

func TestPartAfterAShortPart(t *testing.T) {
	p := newPortal(t, backend{"postgres", "local"})
	key, id := p.create("/uppy")
	p.must(p.do("PUT", p.sign("/uppy", key, id, 1), allowedOrigin, bytes.NewReader(make([]byte, 2048)), ""), 200)
	p.must(p.do("PUT", p.sign("/uppy", key, id, 2), allowedOrigin, bytes.NewReader(make([]byte, 1024)), ""), 200)
	r := p.do("PUT", p.sign("/uppy", key, id, 3), allowedOrigin, bytes.NewReader(make([]byte, 1024)), "")
	if r.Status != http.StatusBadRequest || r.Code() != string(ingest.EPartSizeMismatch) {
		t.Fatalf("a part after a short one: %d %s", r.Status, r.Body)
	}
}

func TestAbort(t *testing.T) {
	for _, b := range []backend{{"sqlite", "s3"}, {"postgres", "local"}} {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, b)
			key, id := p.create("/uppy")
			p.must(p.do("PUT", p.sign("/uppy", key, id, 1), allowedOrigin, bytes.NewReader(make([]byte, 4096)), ""), 200)
			r := p.must(p.do("DELETE", "/uppy/s3/multipart/"+id+"?key="+key, allowedOrigin, nil, ""), http.StatusNoContent)
			if len(r.Body) != 0 {
				t.Fatalf("abort answered %s", r.Body)
			}
			f, err := p.Svc.File(context.Background(), p.Admin, mustID(t, key))
			if err != nil || f.Status != ingest.FileFailed || f.FailureCode != ingest.EAborted {
				t.Fatalf("aborted file %+v, %v", f, err)
			}
			if r := p.do("GET", "/uppy/s3/multipart/"+id+"?key="+key, "", nil, ""); r.Status != http.StatusNotFound {
				t.Fatalf("list after abort: %d %s", r.Status, r.Body)
			}
		})
	}
}

func TestCookieVariantChecksOrigin(t *testing.T) {
	p := newPortal(t, backend{"sqlite", "local"})
	for _, tc := range []struct {
		name, method, origin string
		status               int
	}{
		{"another origin", "POST", "http://evil.example.test", http.StatusForbidden},
		{"no origin on a POST", "POST", "", http.StatusForbidden},
		{"the portal's own origin", "POST", "", 200}, // set below
		{"an allowed origin", "POST", allowedOrigin, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := tc.origin
			if tc.name == "the portal's own origin" {
				origin = p.URL
			}
			r := p.do(tc.method, "/uppy/s3/multipart", origin, strings.NewReader(`{"filename":"a.txt","type":"text/plain"}`), "application/json")
			if r.Status != tc.status || (tc.status == http.StatusForbidden && r.Code() != string(uppy.CodeOriginNotAllowed)) {
				t.Fatalf("%d %s; want %d", r.Status, r.Body, tc.status)
			}
		})
	}
	t.Run("a GET from another site is refused", func(t *testing.T) {
		req, _ := http.NewRequest("GET", p.URL+"/uppy/s3/params?filename=a", nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: p.Admin.Username})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site GET: %d", resp.StatusCode)
		}
	})
}

func TestGrantPath(t *testing.T) {
	p := newPortal(t, backend{"sqlite", "local"})
	t.Run("an unknown grant is refused", func(t *testing.T) {
		r := p.do("POST", "/uppy/g/ingest_grant_nonsense/s3/multipart", "", strings.NewReader(`{}`), "application/json")
		if r.Status != http.StatusUnauthorized || r.Code() != string(ingest.EUnauthenticated) {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("an API token is never taken from a path", func(t *testing.T) {
		r := p.do("POST", "/uppy/g/"+p.Token+"/s3/multipart", "", strings.NewReader(`{}`), "application/json")
		if r.Status != http.StatusUnauthorized || r.Code() != string(ingest.EUnauthenticated) {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
	t.Run("a grant signs params for its own path", func(t *testing.T) {
		_, secret, err := p.Svc.CreateGrant(context.Background(), p.Admin, ingest.GrantRequest{})
		if err != nil {
			t.Fatal(err)
		}
		base := "/uppy/g/" + url.PathEscape(secret)
		r := p.must(p.do("GET", base+"/s3/params?filename=a.txt&type=text%2Fplain", "", nil, ""), 200)
		var v struct{ URL string }
		r.decode(t, &v)
		if v.URL != p.URL+base+"/s3/upload" {
			t.Fatalf("params = %s", r.Body)
		}
	})
}

func mustID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestMultipartUploadOfAWholeNumberOfParts: when a file is a whole number of Uppy's parts, no
// part is short, and complete is what tells the portal the length, where the bytes end inside one
// of its own parts.
func TestMultipartUploadOfAWholeNumberOfParts(t *testing.T) {
	const mib = 1 << 20
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, b)
			data := randomBytes(10 * mib)
			key, id := p.create("/uppy")
			var parts []string
			for i, chunk := range [][]byte{data[:5*mib], data[5*mib:]} {
				r := p.must(p.do("PUT", p.sign("/uppy", key, id, i+1), allowedOrigin, bytes.NewReader(chunk), ""), 200)
				parts = append(parts, fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, i+1, r.Header.Get("ETag")))
			}
			body := `{"parts":[` + strings.Join(parts, ",") + `]}`
			p.must(p.do("POST", "/uppy/s3/multipart/"+id+"/complete?key="+key, allowedOrigin, strings.NewReader(body), "application/json"), 200)
			p.stored(key, data)
		})
	}
}

// TestAGrantsLimitsHoldThroughUppy: a grant in the path uploads with both of Uppy's modes within
// its limits, records its id on the file, and is refused past them.
func TestAGrantsLimitsHoldThroughUppy(t *testing.T) {
	const mib = 1 << 20
	p := newPortal(t, backend{"sqlite", "local"})
	grant := func(maxFiles int, maxTotal int64) (string, uuid.UUID) {
		t.Helper()
		g, secret, err := p.Svc.CreateGrant(context.Background(), p.Admin, ingest.GrantRequest{GrantLimits: ingest.GrantLimits{MaxFiles: maxFiles, MaxTotalBytes: &maxTotal}})
		if err != nil {
			t.Fatal(err)
		}
		return "/uppy/g/" + url.PathEscape(secret), g.ID
	}

	base, id := grant(1, 1*mib)
	data := randomBytes(100 << 10)
	r := p.must(p.form(base, data, nil), http.StatusCreated)
	var v struct{ Key string }
	r.decode(t, &v)
	if f := p.stored(v.Key, data); f.GrantID == nil || *f.GrantID != id {
		t.Fatalf("the form's file records grant %v, want %s", f.GrantID, id)
	}
	if r := p.form(base, data, nil); r.Status != http.StatusForbidden || r.Code() != string(ingest.EGrantLimitReached) {
		t.Fatalf("a second file of a one-file grant: %d %s", r.Status, r.Body)
	}

	base, _ = grant(1, 12*mib)
	data = randomBytes(10 * mib)
	key, upID := p.create(base)
	var parts []string
	for i, chunk := range [][]byte{data[:5*mib], data[5*mib:]} {
		r := p.must(p.do("PUT", p.sign(base, key, upID, i+1), "", bytes.NewReader(chunk), ""), 200)
		parts = append(parts, fmt.Sprintf(`{"PartNumber":%d,"ETag":%q}`, i+1, r.Header.Get("ETag")))
	}
	p.must(p.do("POST", base+"/s3/multipart/"+upID+"/complete?key="+key, "", strings.NewReader(`{"parts":[`+strings.Join(parts, ",")+`]}`), "application/json"), 200)
	p.stored(key, data)

	base, _ = grant(1, 8*mib)
	key, upID = p.create(base)
	p.must(p.do("PUT", p.sign(base, key, upID, 1), "", bytes.NewReader(data[:5*mib]), ""), 200)
	if r := p.do("PUT", p.sign(base, key, upID, 2), "", bytes.NewReader(data[5*mib:]), ""); r.Status != http.StatusForbidden {
		t.Fatalf("a part past the grant's bytes: %d %s", r.Status, r.Body)
	}
}
