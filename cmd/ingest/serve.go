package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/admin"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/internal/cors"
	"github.com/ingest-portal/ingest/relay"
	"github.com/ingest-portal/ingest/sqlstore"
	"github.com/ingest-portal/ingest/tus"
	"github.com/ingest-portal/ingest/upload"
)

// serveCommand is "ingest serve": the portal's HTTP server.
func serveCommand() *cli.Command {
	defaults := upload.DefaultConfig()
	return &cli.Command{
		Name:  "serve",
		Usage: "run the portal: apply migrations, create the first admin if there is no user, and serve HTTP",
		Flags: append(append(databaseFlags(), serveRelayFlags()...),
			&cli.StringFlag{
				Name:    "addr",
				Usage:   "the `HOST:PORT` to listen on",
				Value:   "127.0.0.1:8080",
				Sources: cli.EnvVars("INGEST_ADDR"),
			},
			storageFlag(),
			&cli.DurationFlag{
				Name:    "session-ttl",
				Usage:   "an upload session expires this long after its last activity",
				Value:   defaults.SessionTTL,
				Sources: cli.EnvVars("INGEST_SESSION_TTL"),
			},
			sizeFlag("max-file-size", "INGEST_MAX_FILE_SIZE", "1TiB", "the largest file a session may declare"),
			sizeFlag("max-single-upload", "INGEST_MAX_SINGLE_UPLOAD", "64MiB", "the largest body of POST /api/v1/files"),
			sizeFlag("chunk-size", "INGEST_CHUNK_SIZE", "8MiB", "the part size when a client asks for none"),
			&cli.DurationFlag{
				Name:    "idle-read-timeout",
				Usage:   "drop a client that sends nothing of a request body for this long",
				Value:   time.Minute,
				Sources: cli.EnvVars("INGEST_IDLE_READ_TIMEOUT"),
			},
			&cli.Float64Flag{
				Name:    "rate-limit",
				Usage:   "requests per second allowed to each user, bursts of twice that (0: no limit)",
				Sources: cli.EnvVars("INGEST_RATE_LIMIT"),
			},
			&cli.DurationFlag{
				Name:    "auth-cache-ttl",
				Usage:   "trust a token that authenticated for this long without asking the database (0: ask every time); a revoked token works until then",
				Value:   time.Second,
				Sources: cli.EnvVars("INGEST_AUTH_CACHE_TTL"),
			},
			&cli.DurationFlag{
				Name:    "sweep-interval",
				Usage:   "how often expired upload sessions are failed and their data removed",
				Value:   time.Minute,
				Sources: cli.EnvVars("INGEST_SWEEP_INTERVAL"),
			},
			&cli.DurationFlag{
				Name:    "admin-session-ttl",
				Usage:   "how long a sign-in to the admin console at /admin/ lasts",
				Value:   12 * time.Hour,
				Sources: cli.EnvVars("INGEST_ADMIN_SESSION_TTL"),
			},
			&cli.BoolFlag{
				Name:    "admin-secure-cookies",
				Usage:   "mark the admin console's cookies Secure: set it when a proxy serves the portal over https",
				Sources: cli.EnvVars("INGEST_ADMIN_SECURE_COOKIES"),
			},
			&cli.StringFlag{
				Name:    "public-url",
				Usage:   "the portal's URL as clients reach it (e.g. https://upload.example.com): tus Location headers are absolute under it instead of relative",
				Sources: cli.EnvVars("INGEST_PUBLIC_URL"),
			},
			&cli.StringSliceFlag{
				Name:    "cors-allowed-origins",
				Usage:   "`ORIGIN`s (scheme://host[:port], or *) whose pages may call the API and tus from a browser; none by default",
				Sources: cli.EnvVars("INGEST_CORS_ALLOWED_ORIGINS"),
			},
			&cli.DurationFlag{
				Name:    "stream-lease",
				Usage:   "how long a tus upload's writer may show no sign of life before another request may take the upload over",
				Value:   defaults.StreamLease,
				Sources: cli.EnvVars("INGEST_STREAM_LEASE"),
			},
			&cli.DurationFlag{
				Name:    "shutdown-timeout",
				Usage:   "on SIGTERM, how long requests in flight may take to finish",
				Value:   30 * time.Second,
				Sources: cli.EnvVars("INGEST_SHUTDOWN_TIMEOUT"),
			},
		),
		Action: serve,
	}
}

// serviceConfig reads the upload service's limits from the flags.
func serviceConfig(cmd *cli.Command) (upload.Config, error) {
	cfg := upload.DefaultConfig()
	cfg.SessionTTL = cmd.Duration("session-ttl")
	cfg.StreamLease = cmd.Duration("stream-lease")
	var err error
	if cfg.MaxFileSize, err = flagSize(cmd, "max-file-size"); err != nil {
		return cfg, err
	}
	if cfg.MaxSingleUpload, err = flagSize(cmd, "max-single-upload"); err != nil {
		return cfg, err
	}
	if cfg.DefaultChunk, err = flagSize(cmd, "chunk-size"); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func serve(ctx context.Context, cmd *cli.Command) error {
	logger := slog.New(slog.NewTextHandler(cmd.Root().ErrWriter, nil))
	cfg, err := serviceConfig(cmd)
	if err != nil {
		return err
	}
	blobs, err := openStorage(ctx, cmd)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	store, m, err := migrator(ctx, cmd)
	if err != nil {
		return err
	}
	defer store.Close()
	applied, err := m.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		logger.Info("applied migrations", "versions", applied)
	}
	if err := bootstrapAdmin(ctx, store, cmd.Root().Writer, logger); err != nil {
		return err
	}
	svc, err := upload.New(store, blobs, cfg, upload.WithLogger(logger))
	if err != nil {
		return err
	}

	metrics := httpapi.NewMetrics()
	metrics.WatchActiveSessions(store.CountActiveSessions)
	var rl *relay.Relay
	if cmd.Bool("relay") {
		cfg, err := relayConfig(cmd, logger, metrics.Registry())
		if err != nil {
			return err
		}
		var sink ingest.Sink
		if rl, sink, err = newRelay(ctx, cmd, cfg, store); err != nil {
			return err
		}
		defer sink.Close()
	}
	// The console and the API need each other: the API takes the console's sessions, and a token
	// the console revokes must stop working in the API's authentication cache at once.
	var api *httpapi.Server
	console, err := admin.New(admin.Config{
		Service:         svc,
		Store:           store,
		Logger:          logger,
		SessionTTL:      cmd.Duration("admin-session-ttl"),
		SecureCookies:   cmd.Bool("admin-secure-cookies"),
		OnAccessRevoked: func() { api.ForgetAuthentications() },
	})
	if err != nil {
		return err
	}
	api = httpapi.New(httpapi.Config{
		Service:         svc,
		Users:           store,
		Logger:          logger,
		Metrics:         metrics,
		IdleReadTimeout: cmd.Duration("idle-read-timeout"),
		RateLimit:       cmd.Float64("rate-limit"),
		// The console's upload page calls the API with its session cookie and CSRF token.
		SessionAuth:  console.AuthenticateAPI,
		AuthCacheTTL: cmd.Duration("auth-cache-ttl"),
		Checks: []httpapi.Check{
			{Name: "database", Probe: store.Ping},
			{Name: "storage", Probe: blobs.Ping},
		},
	})
	publicURL, err := checkPublicURL(cmd.String("public-url"))
	if err != nil {
		return err
	}
	origins, err := checkOrigins(cmd.StringSlice("cors-allowed-origins"))
	if err != nil {
		return err
	}
	routes := http.NewServeMux()
	routes.Handle("/admin/", console)
	routes.Handle("/admin", console)
	routes.Handle(tus.Prefix, tus.New(tus.Config{
		Service:         svc,
		Admit:           api.Admit,
		Observe:         api.ObserveRequest,
		PublicURL:       publicURL,
		IdleReadTimeout: cmd.Duration("idle-read-timeout"),
		Logger:          logger,
	}))
	routes.Handle("/", api)
	ln, err := net.Listen("tcp", cmd.String("addr"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           cors.Handler(origins, routes),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	sweepCtx, stopSweeping := context.WithCancel(context.WithoutCancel(ctx))
	swept := make(chan struct{})
	go func() { defer close(swept); svc.RunSweeper(sweepCtx, cmd.Duration("sweep-interval")) }()
	stopRelay := startServeRelay(ctx, rl, logger)
	logger.Info("listening", "url", "http://"+ln.Addr().String(), "database", store.Dialect(),
		"storage", blobs.Backend(), "bucket", blobs.Bucket())

	select {
	case err := <-served:
		stopSweeping()
		<-swept
		stopRelay()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cmd.Duration("shutdown-timeout"))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmd.Duration("shutdown-timeout"))
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopSweeping()
	<-swept
	stopRelay() // after the requests, whose events it may still deliver
	if errors.Is(err, context.DeadlineExceeded) {
		// What is still in flight after the timeout is cut off: a part is recorded only once all
		// its bytes are durable, so nothing half-sent is kept.
		logger.Warn("shutdown timeout reached; closing the connections still open")
		srv.Close()
	} else if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// bootstrapAdmin creates the user "admin" with a token when the portal has no user at all, and
// prints the token's secret once, on a line of its own: "admin token: <secret>". When several
// instances start at once on one database, one creates the admin and the others find it taken.
func bootstrapAdmin(ctx context.Context, store *sqlstore.Store, stdout io.Writer, logger *slog.Logger) error {
	n, err := store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	admin := &ingest.User{Username: "admin", IsAdmin: true}
	if err := store.CreateUser(ctx, admin); err != nil {
		if ingest.ErrorCode(err) == ingest.EConflict {
			return nil
		}
		return fmt.Errorf("create the first admin: %w", err)
	}
	token, secret := ingest.NewAPIToken(admin.ID, "bootstrap")
	if err := store.CreateAPIToken(ctx, token); err != nil {
		return fmt.Errorf(`create the first admin's token (run "ingest token create --user admin"): %w`, err)
	}
	logger.Info("created the first admin user", "username", admin.Username, "token_prefix", token.Prefix)
	_, err = fmt.Fprintf(stdout, "admin token: %s\n", secret)
	return err
}

// checkPublicURL accepts the portal's public base URL: http(s)://host[:port][/path], or "".
func checkPublicURL(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", ingest.Errorf(ingest.EValidation, "--public-url %q: want http(s)://host[:port][/path]", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// checkOrigins accepts browser origins: scheme://host[:port] exactly as browsers send them, or *.
func checkOrigins(origins []string) ([]string, error) {
	var out []string
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "") {
			return nil, ingest.Errorf(ingest.EValidation, "--cors-allowed-origins %q: an origin is scheme://host[:port] with nothing after it, or *", o)
		}
		out = append(out, o)
	}
	return out, nil
}
