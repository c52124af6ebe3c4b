package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/admin"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/cors"
	"github.com/ingest-portal/ingest/internal/durable"
	"github.com/ingest-portal/ingest/reconcile"
	"github.com/ingest-portal/ingest/relay"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/tus"
	"github.com/ingest-portal/ingest/upload"
	"github.com/ingest-portal/ingest/uppy"
	"github.com/ingest-portal/ingest/users"
)

// server is the portal "ingest serve" runs: open readies everything and binds the port, run serves
// until its context ends, close shuts down gracefully and releases what open took. Tests drive it
// the same way.
type server struct {
	cfg    serveConfig
	logger *slog.Logger
	stdout io.Writer // where the first admin's token is printed, once

	// flusher makes the writes of the database, a file:// store and a file:// sink durable: one
	// for them all, so that their writes of the moment share flushes.
	flusher *durable.Flusher
	// beforeSyncfs is the flusher's seam for the power-cut test (powerCutSeam); nil otherwise.
	beforeSyncfs func() error
	store        *sqlstore.Store
	schema       *sqlstore.Migrator // for /readyz: the schema this binary needs is still there
	blobs        ingest.BlobStore
	svc          *upload.Service
	relay        *relay.Relay // nil without --relay
	sink         ingest.Sink  // the relay's
	ln           net.Listener
	http         *http.Server

	served      chan error // Serve's result while it runs; nil before run and once read
	stopWorkers func()     // stops the sweeper and the relay and waits for them; nil until run
}

// newServer returns a server for cfg, which must be valid, logging to logger.
func newServer(cfg serveConfig, logger *slog.Logger, stdout io.Writer) *server {
	return &server{cfg: cfg, logger: logger, stdout: stdout}
}

// open opens the database and applies its pending migrations, opens the storage, builds the
// services and binds the port; then, on a portal with no user, it creates the first admin and
// prints its token. The port comes first so that a portal that cannot listen does not use up the
// token, which is printed only once. After an error the caller still calls close.
func (s *server) open(ctx context.Context) error {
	flusher, err := durable.New(s.cfg.Flush)
	if err != nil {
		return err
	}
	flusher.BeforeSyncfs = s.beforeSyncfs
	s.flusher = flusher
	if err := s.openDatabase(ctx); err != nil {
		return err
	}
	blobs, err := openStorage(ctx, s.cfg.Storage, s.cfg.StorageTimeout, s.flusher)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	s.blobs = blobs
	handler, err := s.openServices(ctx)
	if err != nil {
		return err
	}
	if s.ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.ln = limitConnections(s.ln, s.cfg.MaxConnections)
	// No ReadTimeout or WriteTimeout, which would cut off a large part or download however lively:
	// bodies have deadlines that follow their progress instead (internal/idleread, the API's
	// downloads), and a connection that is idle between requests is closed as one that sends
	// nothing of a body is.
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       s.cfg.IdleReadTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	return s.createFirstAdmin(ctx)
}

// openDatabase opens the database and applies the migrations it lacks.
func (s *server) openDatabase(ctx context.Context) error {
	store, err := sqlstore.Open(ctx, s.cfg.Database.URL, sqlstore.WithFlusher(s.flusher))
	if err != nil {
		return err
	}
	s.store = store
	m, err := store.Migrator()
	if err != nil {
		return err
	}
	applied, err := m.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		s.logger.Info("applied migrations", "versions", applied)
	}
	s.schema = m
	return nil
}

// schemaReady fails once the database's schema is older than this binary's, rolled back or
// dropped under the running portal, whose queries would then fail: it takes no more traffic. A
// newer schema, of an instance upgraded first, is fine.
func (s *server) schemaReady(ctx context.Context) error {
	v, err := s.schema.Version(ctx)
	if err != nil {
		return err
	}
	if latest := s.schema.Latest(); v < latest {
		return fmt.Errorf("the database schema is at version %d; this binary needs %d (ingest migrate up)", v, latest)
	}
	return nil
}

// openServices builds the upload service, the relay and its sink, and the handler of every route.
func (s *server) openServices(ctx context.Context) (http.Handler, error) {
	svc, err := upload.New(s.store, s.blobs, s.cfg.Upload, upload.WithLogger(s.logger))
	if err != nil {
		return nil, err
	}
	s.svc = svc
	metrics := httpapi.NewMetrics()
	metrics.WatchActiveSessions(s.store.CountActiveSessions)
	if s.cfg.Relay {
		cfg := s.cfg.RelayConfig
		cfg.Logger, cfg.Registerer = s.logger, metrics.Registry()
		if s.relay, s.sink, err = newRelay(ctx, cfg, s.cfg.Sink, s.flusher, s.store); err != nil {
			return nil, err
		}
	}
	// The console and the API need each other: the API takes the console's sessions, and a token
	// the console revokes must stop working in the API's authentication cache at once.
	var api *httpapi.Server
	console, err := admin.New(admin.Config{
		Service:         svc,
		Store:           s.store,
		Logger:          s.logger,
		SessionTTL:      s.cfg.AdminSessionTTL,
		SecureCookies:   s.cfg.AdminSecureCookies,
		OnAccessRevoked: func() { api.ForgetAuthentications() },
	})
	if err != nil {
		return nil, err
	}
	api = httpapi.New(httpapi.Config{
		Service:         svc,
		Users:           s.store,
		Grants:          s.store,
		Logger:          s.logger,
		Metrics:         metrics,
		IdleReadTimeout: s.cfg.IdleReadTimeout,
		MinPartRate:     s.cfg.MinPartRate,
		RateLimit:       s.cfg.RateLimit,
		// The console's upload page calls the API with its session cookie and CSRF token.
		SessionAuth:        console.AuthenticateAPI,
		AuthCacheTTL:       s.cfg.AuthCacheTTL,
		BadTokensPerMinute: s.cfg.BadTokenLimit,
		Checks: []httpapi.Check{
			{Name: "database", Probe: s.store.Ping},
			{Name: "schema", Probe: s.schemaReady},
			{Name: "storage", Probe: s.blobs.Ping},
		},
	})
	routes := http.NewServeMux()
	routes.Handle("/admin/", console)
	routes.Handle("/admin", console)
	routes.Handle(tus.Prefix, tus.New(tus.Config{
		Service:         svc,
		Admit:           api.AdmitUpload,
		Observe:         api.ObserveRequest,
		PublicURL:       strings.TrimSuffix(s.cfg.PublicURL, "/"),
		IdleReadTimeout: s.cfg.IdleReadTimeout,
		MinPartRate:     s.cfg.MinPartRate,
		Logger:          s.logger,
	}))
	key, err := signingKey(s.cfg.SigningKey)
	if err != nil {
		return nil, err
	}
	routes.Handle(uppy.Prefix, uppy.New(uppy.Config{
		Service:         svc,
		PartSizes:       s.store,
		AdmitUpload:     api.AdmitUpload,
		Session:         console.UserFromRequest,
		Origins:         s.cfg.CORSAllowedOrigins,
		PublicURL:       strings.TrimSuffix(s.cfg.PublicURL, "/"),
		SigningKey:      key,
		IdleReadTimeout: s.cfg.IdleReadTimeout,
		MinPartRate:     s.cfg.MinPartRate,
		Logger:          s.logger,
	}))
	routes.Handle("/", api)
	return cors.Handler(s.cfg.CORSAllowedOrigins, routes), nil
}

// signingKey is the key of the Uppy routes' signatures: the operator's (--signing-key), shared by
// every instance, or a random one of this process's own.
func signingKey(configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return key, nil
}

// createFirstAdmin creates the user "admin" with a token when the portal has no user at all, and
// prints the token's secret once, on a line of its own: "admin token: <secret>".
func (s *server) createFirstAdmin(ctx context.Context) error {
	admin, created, err := users.New(s.store).CreateFirstAdmin(ctx)
	if err != nil || !created {
		return err
	}
	s.logger.Info("created the first admin user", "username", admin.User.Username, "token_prefix", admin.Token.Prefix)
	_, err = fmt.Fprintf(s.stdout, "admin token: %s\n", admin.Secret)
	return err
}

// collectGarbage runs the reconciler every --gc-interval until ctx ends; a storage that cannot list
// what it holds is logged once and left alone.
func (s *server) collectGarbage(ctx context.Context) {
	if s.cfg.GCInterval == 0 {
		return
	}
	rec, err := reconcile.New(s.store, s.blobs, s.cfg.GCGrace, reconcile.WithLogger(s.logger))
	if err != nil {
		s.logger.Warn("gc: not running", "err", err)
		return
	}
	rec.RunEvery(ctx, s.cfg.GCInterval)
}

// url is where the server listens, once open.
func (s *server) url() string {
	return "http://" + s.ln.Addr().String()
}

// run serves HTTP, sweeps expired sessions and relays the outbox until ctx ends (it then returns
// nil, and close shuts down) or the server fails.
func (s *server) run(ctx context.Context) error {
	s.served = make(chan error, 1)
	go func() { s.served <- s.http.Serve(s.ln) }()
	sweepCtx, stopSweeping := context.WithCancel(context.WithoutCancel(ctx))
	swept := make(chan struct{})
	go func() { defer close(swept); s.svc.RunSweeper(sweepCtx, s.cfg.SweepInterval) }()
	collected := make(chan struct{})
	go func() { defer close(collected); s.collectGarbage(sweepCtx) }()
	stopRelay := startServeRelay(ctx, s.relay, s.logger)
	s.stopWorkers = func() {
		stopSweeping()
		<-swept
		<-collected
		stopRelay()
	}
	s.logger.Info("listening", "url", s.url(), "database", s.store.Dialect(),
		"storage", s.blobs.Backend(), "bucket", s.blobs.Bucket())
	select {
	case err := <-s.served:
		s.served = nil
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// close stops a running server gracefully — requests in flight get --shutdown-timeout to finish
// — and releases what open took, whatever open reached.
func (s *server) close() error {
	var err error
	switch {
	case s.served != nil:
		err = s.shutdown()
	case s.stopWorkers != nil: // Serve failed; run returned its error
		s.stopWorkers()
	case s.ln != nil: // opened, never run
		s.ln.Close()
	}
	s.served, s.stopWorkers, s.ln = nil, nil, nil
	if s.sink != nil {
		s.sink.Close()
		s.sink = nil
	}
	if s.store != nil {
		s.store.Close()
		s.store = nil
	}
	return err
}

// shutdown stops accepting connections and waits up to the shutdown timeout for the requests in
// flight, then stops the sweeper and the relay.
func (s *server) shutdown() error {
	s.logger.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	s.stopWorkers() // after the requests, whose events the relay may still deliver
	if errors.Is(err, context.DeadlineExceeded) {
		// What is still in flight after the timeout is cut off: a part is recorded only once all
		// its bytes are durable, so nothing half-sent is kept.
		s.logger.Warn("shutdown timeout reached; closing the connections still open")
		s.http.Close()
	} else if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.logger.Info("stopped")
	return nil
}
