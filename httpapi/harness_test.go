package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/azure"
	"github.com/ingest-portal/ingest/blob/gcs"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/testkit/azurite"
	"github.com/ingest-portal/ingest/internal/testkit/fakegcs"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/upload"
)

// portal is a whole portal over real HTTP: a real database, a real blob store, the real service
// and handler behind an httptest server.
type portal struct {
	t       *testing.T
	URL     string
	API     *httpapi.Server
	Store   *sqlstore.Store
	Blobs   ingest.BlobStore
	Service *upload.Service
	Admin   string // an admin's token
	// S3 and Bucket are the gateway and bucket behind an "s3" portal; GCS and Bucket the server
	// and bucket behind a "gcs" one; Azure and Bucket the service and container behind an "azure"
	// one.
	S3     *versitygw.Server
	GCS    *fakegcs.Server
	Azure  *azurite.Server
	Bucket string
}

// portalOptions tune newPortal.
type portalOptions struct {
	storage     string // "local" (default), "s3", "gcs" or "azure"
	rateLimit   float64
	idleTimeout time.Duration
	minRate     int64         // bytes per second
	rateWindow  time.Duration // the window minRate is measured over
	config      func(*upload.Config)
	sessionAuth func(*http.Request) (*ingest.User, error)
	authCache   time.Duration
	logs        io.Writer        // where the API logs, as text; nowhere when nil
	badTokens   float64          // per client address a minute
	clock       func() time.Time // the upload service's and the API's clock; the real one when nil
}

// newPortal starts a portal on the database dialect ("sqlite" or "postgres").
func newPortal(t *testing.T, dialect string, opts portalOptions) *portal {
	t.Helper()
	store := testdb.Store(t, dialect)
	var blobs ingest.BlobStore
	var err error
	var gw *versitygw.Server
	var gcsServer *fakegcs.Server
	var azureServer *azurite.Server
	var bucket string
	switch opts.storage {
	case "", "local":
		if blobs, err = local.New(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	case "s3":
		gw = versitygw.Start(t)
		bucket = gw.NewBucket(t)
		blobs = s3.New(gw.Client(), bucket, "portal")
	case "gcs":
		gcsServer = fakegcs.Start(t)
		bucket = gcsServer.Bucket(t)
		if blobs, err = gcs.Open(context.Background(), "gs://"+bucket+"/portal?endpoint="+gcsServer.URL); err != nil {
			t.Fatal(err)
		}
	case "azure":
		azureServer = azurite.Start(t)
		bucket = azureServer.Container(t)
		client, err := azureServer.Client(t, bucket)
		if err != nil {
			t.Fatal(err)
		}
		blobs = azure.New(client, bucket, "portal")
	default:
		t.Fatalf("unknown storage %q", opts.storage)
	}
	cfg := upload.DefaultConfig()
	if opts.config != nil {
		opts.config(&cfg)
	}
	var svcOpts []upload.Option
	if opts.clock != nil {
		svcOpts = append(svcOpts, upload.WithClock(opts.clock))
	}
	svc, err := upload.New(store, blobs, cfg, svcOpts...)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if opts.logs != nil {
		logger = slog.New(slog.NewTextHandler(opts.logs, nil))
	}
	api := httpapi.New(httpapi.Config{
		Service: svc, Users: store, Grants: store, Logger: logger, RateLimit: opts.rateLimit, IdleReadTimeout: opts.idleTimeout,
		MinPartRate: opts.minRate, MinRateWindow: opts.rateWindow,
		SessionAuth:        opts.sessionAuth,
		AuthCacheTTL:       opts.authCache,
		BadTokensPerMinute: opts.badTokens,
		Now:                opts.clock,
		Checks:             []httpapi.Check{{Name: "database", Probe: store.Ping}, {Name: "storage", Probe: blobs.Ping}},
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	p := &portal{t: t, URL: srv.URL, API: api, Store: store, Blobs: blobs, Service: svc, S3: gw, GCS: gcsServer, Azure: azureServer, Bucket: bucket}
	p.Admin = p.NewUser("admin", true)
	return p
}

// NewUser creates a user and returns a token of theirs.
func (p *portal) NewUser(name string, admin bool) string {
	p.t.Helper()
	u := &ingest.User{Username: name, IsAdmin: admin}
	if err := p.Store.CreateUser(context.Background(), u); err != nil {
		p.t.Fatal(err)
	}
	tok, secret := ingest.NewAPIToken(u.ID, "test")
	if err := p.Store.CreateAPIToken(context.Background(), tok); err != nil {
		p.t.Fatal(err)
	}
	return secret
}

// response is an answer: its status, headers and body.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("answer %d %q is not a JSON object: %v", r.Status, r.Body, err)
	}
	return v
}

// Code is the error code of an error answer, or "".
func (r response) Code(t *testing.T) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// Do sends a request with token (none if ""), body (JSON-encoded unless []byte or an io.Reader)
// and extra headers as name, value pairs.
func (p *portal) Do(method, path, token string, body any, headers ...string) response {
	p.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		js, err := json.Marshal(b)
		if err != nil {
			p.t.Fatal(err)
		}
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, p.URL+path, r)
	if err != nil {
		p.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
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
