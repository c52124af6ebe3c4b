package tus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/cors"
	"github.com/ingest-portal/ingest/internal/testkit/testclock"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/tus"
	"github.com/ingest-portal/ingest/upload"
)

// backend is one database and one storage a portal runs on.
type backend struct{ dialect, storage string }

func (b backend) String() string { return b.dialect + "/" + b.storage }

// backends are every combination the protocol is tested on.
var backends = []backend{{"sqlite", "local"}, {"postgres", "local"}, {"sqlite", "s3"}, {"postgres", "s3"}}

// onEveryBackend runs each test in parallel against one portal per backend, shared by the tests.
func onEveryBackend(t *testing.T, tests map[string]func(t *testing.T, p *portal)) {
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			p := newPortal(t, b, options{})
			for name, test := range tests {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					p := *p
					p.t = t
					test(t, &p)
				})
			}
		})
	}
}

// allowedOrigin is the one origin the test portals let call them from a browser.
const allowedOrigin = "http://app.example.test"

// portal is a whole portal with its tus server over real HTTP.
type portal struct {
	t       *testing.T
	URL     string
	Store   *sqlstore.Store
	Service *upload.Service
	Clock   *testclock.Offset
	Alice   string // a user's token
	Bob     string // another user's token
}

type options struct {
	config     func(*upload.Config)
	publicURL  string
	minRate    int64         // bytes per second
	rateWindow time.Duration // the window minRate is measured over
}

func newPortal(t *testing.T, b backend, opts options) *portal {
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
	cfg := upload.DefaultConfig()
	if opts.config != nil {
		opts.config(&cfg)
	}
	c := &testclock.Offset{}
	svc, err := upload.New(store, blobs, cfg, upload.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Service: svc, Users: store, Grants: store, Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.Handle(tus.Prefix, tus.New(tus.Config{Service: svc, Admit: api.AdmitUpload, Observe: api.ObserveRequest, PublicURL: opts.publicURL,
		MinPartRate: opts.minRate, MinRateWindow: opts.rateWindow}))
	mux.Handle("/", api)
	srv := httptest.NewServer(cors.Handler([]string{allowedOrigin}, mux))
	t.Cleanup(srv.Close)
	p := &portal{t: t, URL: srv.URL, Store: store, Service: svc, Clock: c}
	p.Alice = p.newUser("alice")
	p.Bob = p.newUser("bob")
	return p
}

func (p *portal) newUser(name string) string {
	p.t.Helper()
	u := &ingest.User{Username: name}
	if err := p.Store.CreateUser(context.Background(), u); err != nil {
		p.t.Fatal(err)
	}
	tok, secret := ingest.NewAPIToken(u.ID, "test")
	if err := p.Store.CreateAPIToken(context.Background(), tok); err != nil {
		p.t.Fatal(err)
	}
	return secret
}

// response is an answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Code is the error code of a JSON error answer, or "".
func (r response) Code() string {
	var v struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &v)
	return v.Error.Code
}

// Offset is the answer's Upload-Offset, -1 when it has none.
func (r response) Offset() int64 {
	v := r.Header.Get("Upload-Offset")
	if v == "" {
		return -1
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// Do sends a tus request: Tus-Resumable and the token are set unless headers set them ("" for
// none); headers are name, value pairs.
func (p *portal) Do(method, path, token string, body io.Reader, headers ...string) response {
	p.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = p.URL + path
	}
	req, err := http.NewRequest(method, path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", tus.Version)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	if body == nil {
		req.ContentLength = 0
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

// Create makes an upload of size bytes (-1: deferred) with metadata pairs and returns its path.
func (p *portal) Create(token string, size int64, headers ...string) string {
	p.t.Helper()
	hs := []string{"Upload-Length", strconv.FormatInt(size, 10)}
	if size < 0 {
		hs = []string{"Upload-Defer-Length", "1"}
	}
	r := p.Do("POST", tus.Prefix, token, nil, append(hs, headers...)...)
	if r.Status != http.StatusCreated {
		p.t.Fatalf("POST %s: %d %s", tus.Prefix, r.Status, r.Body)
	}
	return r.Header.Get("Location")
}

// Patch sends data at offset.
func (p *portal) Patch(path, token string, offset int64, data []byte, headers ...string) response {
	p.t.Helper()
	return p.Do("PATCH", path, token, bytes.NewReader(data), append([]string{"Upload-Offset", strconv.FormatInt(offset, 10),
		"Content-Type", "application/offset+octet-stream"}, headers...)...)
}

// StoredSHA256 returns the SHA-256 the API reports for a stored file.
func (p *portal) StoredSHA256(token, fileID string) string {
	p.t.Helper()
	f := p.file(token, fileID)
	if f["status"] != "STORED" {
		p.t.Fatalf("file %s is %v, not STORED", fileID, f["status"])
	}
	sum, _ := f["sha256"].(string)
	return sum
}

// randomBytes returns n bytes that differ from run to run of a seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// reprDigest is the Repr-Digest of data.
func reprDigest(data []byte) string {
	s := sha256.Sum256(data)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

// expectEvent checks that the file has exactly one file.stored event, carrying its SHA-256.
func (p *portal) expectEvent(t *testing.T, fileID, sum string) {
	t.Helper()
	rows, err := p.Store.DB().Query(`SELECT event_type, payload FROM portal_event_outbox WHERE file_id = $1`, fileID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var typ string
		var payload []byte
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		if typ != "file.stored" || !bytes.Contains(payload, []byte(sum)) {
			t.Errorf("event %s %s does not announce sha256 %s", typ, payload, sum)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("file %s has %d events, want 1", fileID, n)
	}
}

// listFiles returns the files the token's user lists through the API.
func (p *portal) listFiles(token string) []map[string]any {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.URL+"/api/v1/files", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Items []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		p.t.Fatal(err)
	}
	return page.Items
}

// file returns a file as the API answers it.
func (p *portal) file(token, fileID string) map[string]any {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.URL+"/api/v1/files/"+fileID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var f map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != 200 {
		p.t.Fatalf("GET file %s: %d %v", fileID, resp.StatusCode, err)
	}
	return f
}
