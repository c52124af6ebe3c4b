package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/internal/durable"
	"github.com/ingest-portal/ingest/reconcile"
	"github.com/ingest-portal/ingest/relay"
	"github.com/ingest-portal/ingest/upload"
)

// serveCommand is "ingest serve": the portal's HTTP server.
func serveCommand() *cli.Command {
	d := defaultServeConfig()
	return &cli.Command{
		Name:  "serve",
		Usage: "run the portal: apply migrations, create the first admin if there is no user, and serve HTTP",
		Flags: append(append(databaseFlags(), serveRelayFlags()...),
			&cli.StringFlag{
				Name:    "addr",
				Usage:   "the `HOST:PORT` to listen on",
				Value:   d.Addr,
				Sources: cli.EnvVars("INGEST_ADDR"),
			},
			storageFlag(),
			storageTimeoutFlag(),
			&cli.DurationFlag{
				Name:    "session-ttl",
				Usage:   "an upload session expires this long after its last activity",
				Value:   d.Upload.SessionTTL,
				Sources: cli.EnvVars("INGEST_SESSION_TTL"),
			},
			sizeFlag("max-file-size", "INGEST_MAX_FILE_SIZE", "1TiB", "the largest file a session may declare"),
			sizeFlag("max-single-upload", "INGEST_MAX_SINGLE_UPLOAD", "64MiB", "the largest body of POST /api/v1/files"),
			sizeFlag("chunk-size", "INGEST_CHUNK_SIZE", "8MiB", "the part size when a client asks for none"),
			&cli.DurationFlag{
				Name:    "idle-read-timeout",
				Usage:   "drop a client that sends nothing of a request body for this long",
				Value:   d.IdleReadTimeout,
				Sources: cli.EnvVars("INGEST_IDLE_READ_TIMEOUT"),
			},
			sizeFlag("min-part-rate", "INGEST_MIN_PART_RATE", "16KiB",
				"the least `BYTES` a second an upload body must bring over each 30 s, else it is cut (0: no minimum)"),
			&cli.IntFlag{
				Name:    "max-connections",
				Usage:   "the most client connections served at once; more wait to be accepted (0: no limit)",
				Value:   d.MaxConnections,
				Sources: cli.EnvVars("INGEST_MAX_CONNECTIONS"),
			},
			&cli.Float64Flag{
				Name:    "rate-limit",
				Usage:   "requests per second allowed to each user, bursts of twice that (0: no limit)",
				Sources: cli.EnvVars("INGEST_RATE_LIMIT"),
			},
			&cli.Float64Flag{
				Name:    "bad-token-limit",
				Usage:   "requests with an unknown, revoked or expired token allowed to each client address a minute, in bursts of as many; past it the address's token requests get 429 until its allowance refills (0: no limit)",
				Value:   d.BadTokenLimit,
				Sources: cli.EnvVars("INGEST_BAD_TOKEN_LIMIT"),
			},
			&cli.IntFlag{
				Name:    "max-open-sessions-per-user",
				Usage:   "the most upload sessions in progress one user (not an admin) may hold; more get 429 QUOTA_EXCEEDED (0: no limit)",
				Value:   d.Upload.MaxOpenSessions,
				Sources: cli.EnvVars("INGEST_MAX_OPEN_SESSIONS_PER_USER"),
			},
			sizeFlag("max-bytes-in-flight-per-user", "INGEST_MAX_BYTES_IN_FLIGHT_PER_USER", "4TiB",
				"the most `BYTES` the uploads in progress of one user (not an admin) may declare in all; more get 429 QUOTA_EXCEEDED (0: no limit)"),
			&cli.DurationFlag{
				Name:    "auth-cache-ttl",
				Usage:   "trust a token that authenticated for this long without asking the database (0: ask every time); a revoked token works until then",
				Value:   d.AuthCacheTTL,
				Sources: cli.EnvVars("INGEST_AUTH_CACHE_TTL"),
			},
			&cli.DurationFlag{
				Name:    "sweep-interval",
				Usage:   "how often expired upload sessions are failed and their data removed",
				Value:   d.SweepInterval,
				Sources: cli.EnvVars("INGEST_SWEEP_INTERVAL"),
			},
			&cli.DurationFlag{
				Name:    "gc-interval",
				Usage:   "how often objects no file points to and the temporary data of ended uploads are removed, as ingest gc does (0: never)",
				Value:   d.GCInterval,
				Sources: cli.EnvVars("INGEST_GC_INTERVAL"),
			},
			gcGraceFlag(),
			&cli.DurationFlag{
				Name:    "admin-session-ttl",
				Usage:   "how long a sign-in to the admin console at /admin/ lasts",
				Value:   d.AdminSessionTTL,
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
			&cli.StringFlag{
				Name: "signing-key",
				Usage: "a secret of at least 32 characters that signs the part URLs and form fields the Uppy routes hand out; " +
					"every instance behind one address needs the same. Without it each process makes its own, which suits one instance",
				Sources: cli.EnvVars("INGEST_SIGNING_KEY"),
			},
			&cli.DurationFlag{
				Name:    "stream-lease",
				Usage:   "how long a tus upload's writer may show no sign of life before another request may take the upload over",
				Value:   d.Upload.StreamLease,
				Sources: cli.EnvVars("INGEST_STREAM_LEASE"),
			},
			&cli.DurationFlag{
				Name:    "shutdown-timeout",
				Usage:   "on SIGTERM, how long requests in flight may take to finish",
				Value:   d.ShutdownTimeout,
				Sources: cli.EnvVars("INGEST_SHUTDOWN_TIMEOUT"),
			},
			&cli.StringFlag{
				Name:  "cpuprofile",
				Usage: "write a CPU profile of the whole run, from start to shutdown, to `FILE` (read it with go tool pprof)",
			},
		),
		Action: serve,
	}
}

// serveConfig is everything "ingest serve" is told: its flags, read once by serveConfigFrom.
type serveConfig struct {
	Database databaseConfig
	Flush    durable.Mode // how SQLite commits, file:// objects and a file:// sink are made durable
	Storage  string       // the blob store's URL
	// StorageTimeout is how long S3 may stay silent (blob/s3.WithTimeout).
	StorageTimeout time.Duration
	Addr           string // HOST:PORT to listen on

	Upload upload.Config

	IdleReadTimeout    time.Duration
	MinPartRate        int64   // bytes per second over 30 s windows; 0 for none
	MaxConnections     int     // 0 for no limit
	RateLimit          float64 // requests per second per user; 0 for no limit
	AuthCacheTTL       time.Duration
	BadTokenLimit      float64 // requests with a bad token per client address a minute; 0 for no limit
	SweepInterval      time.Duration
	GCInterval         time.Duration // 0 for no reconciler
	GCGrace            time.Duration
	AdminSessionTTL    time.Duration
	AdminSecureCookies bool
	PublicURL          string   // "" for relative tus Locations
	CORSAllowedOrigins []string // none by default
	SigningKey         string   // "" for a random key per process
	ShutdownTimeout    time.Duration
	CPUProfile         string // "" for none

	Relay       bool // run the outbox relay in this process
	RelayConfig relay.Config
	Sink        sinkConfig
}

// defaultServeConfig returns serve's defaults: the flags' values when none is given, but for the
// database, storage and sink, which the flags derive from --data-dir.
func defaultServeConfig() serveConfig {
	return serveConfig{
		Flush:           durable.DefaultMode(),
		Addr:            "127.0.0.1:8080",
		StorageTimeout:  s3.DefaultTimeout,
		Upload:          upload.DefaultConfig(),
		IdleReadTimeout: time.Minute,
		MinPartRate:     16 << 10,
		MaxConnections:  4096,
		AuthCacheTTL:    time.Second,
		BadTokenLimit:   30,
		SweepInterval:   time.Minute,
		GCInterval:      time.Hour,
		GCGrace:         reconcile.DefaultGrace,
		AdminSessionTTL: 12 * time.Hour,
		ShutdownTimeout: 30 * time.Second,
		Relay:           true,
		RelayConfig:     relay.DefaultConfig(),
		Sink:            sinkConfig{Source: ingest.DefaultEventSource},
	}
}

// serveConfigFrom reads serve's flags: the one place that looks them up by name. It returns
// EValidation for a value that does not parse; Validate checks the whole.
func serveConfigFrom(cmd *cli.Command) (serveConfig, error) {
	c := defaultServeConfig()
	var err error
	c.Database = databaseConfigFrom(cmd)
	if c.Flush, err = flushMode(cmd); err != nil {
		return c, err
	}
	c.Storage = storageURL(cmd.String("storage"), cmd.String(dataDirFlag))
	c.StorageTimeout = cmd.Duration("storage-timeout")
	c.Addr = cmd.String("addr")
	c.Upload.SessionTTL = cmd.Duration("session-ttl")
	c.Upload.StreamLease = cmd.Duration("stream-lease")
	for _, size := range []struct {
		flag string
		dst  *int64
	}{
		{"max-file-size", &c.Upload.MaxFileSize},
		{"max-single-upload", &c.Upload.MaxSingleUpload},
		{"chunk-size", &c.Upload.DefaultChunk},
		{"min-part-rate", &c.MinPartRate},
		{"max-bytes-in-flight-per-user", &c.Upload.MaxBytesInFlight},
	} {
		if *size.dst, err = parseSize(size.flag, cmd.String(size.flag)); err != nil {
			return c, err
		}
	}
	c.IdleReadTimeout = cmd.Duration("idle-read-timeout")
	c.MaxConnections = cmd.Int("max-connections")
	c.RateLimit = cmd.Float64("rate-limit")
	c.AuthCacheTTL = cmd.Duration("auth-cache-ttl")
	c.BadTokenLimit = cmd.Float64("bad-token-limit")
	c.Upload.MaxOpenSessions = cmd.Int("max-open-sessions-per-user")
	c.SweepInterval = cmd.Duration("sweep-interval")
	c.GCInterval = cmd.Duration("gc-interval")
	c.GCGrace = cmd.Duration("gc-grace")
	c.AdminSessionTTL = cmd.Duration("admin-session-ttl")
	c.AdminSecureCookies = cmd.Bool("admin-secure-cookies")
	c.PublicURL = cmd.String("public-url")
	for _, o := range cmd.StringSlice("cors-allowed-origins") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, o)
		}
	}
	c.SigningKey = cmd.String("signing-key")
	c.ShutdownTimeout = cmd.Duration("shutdown-timeout")
	c.CPUProfile = cmd.String("cpuprofile")
	// The relay's flags are read only for a relay that runs: a serve without one ignores them.
	if c.Relay = cmd.Bool("relay"); c.Relay {
		if c.RelayConfig, err = relayConfigFrom(cmd); err != nil {
			return c, err
		}
	}
	c.Sink = sinkConfigFrom(cmd)
	return c, nil
}

// Validate returns EValidation for a configuration serve cannot run with, before it touches the
// database.
func (c serveConfig) Validate() error {
	if err := c.Upload.Validate(); err != nil {
		return err
	}
	if err := checkStorageURL(c.Storage); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if err := c.Database.Validate(); err != nil {
		return err
	}
	if c.Relay {
		if err := validateRelayConfig(c.RelayConfig); err != nil {
			return err
		}
	}
	if err := checkPublicURL(c.PublicURL); err != nil {
		return err
	}
	if err := checkOrigins(c.CORSAllowedOrigins); err != nil {
		return err
	}

	switch {
	case c.SigningKey != "" && len(c.SigningKey) < 32:
		return ingest.Errorf(ingest.EValidation, "--signing-key must be at least 32 characters")
	case c.StorageTimeout <= 0:
		return ingest.Errorf(ingest.EValidation, "--storage-timeout must be positive")
	case c.SweepInterval <= 0:
		return ingest.Errorf(ingest.EValidation, "--sweep-interval must be positive")
	case c.ShutdownTimeout < 0:
		return ingest.Errorf(ingest.EValidation, "--shutdown-timeout cannot be negative")
	case c.MinPartRate < 0:
		return ingest.Errorf(ingest.EValidation, "--min-part-rate cannot be negative")
	case c.MaxConnections < 0:
		return ingest.Errorf(ingest.EValidation, "--max-connections cannot be negative")
	case c.GCInterval < 0 || c.GCGrace < 0:
		return ingest.Errorf(ingest.EValidation, "--gc-interval and --gc-grace cannot be negative")
	case c.BadTokenLimit < 0:
		return ingest.Errorf(ingest.EValidation, "--bad-token-limit cannot be negative")
	}
	return nil
}

// serve runs the portal until ctx ends, then shuts it down.
func serve(ctx context.Context, cmd *cli.Command) (err error) {
	cfg, err := serveConfigFrom(cmd)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopProfile()) }()
	logger := slog.New(slog.NewTextHandler(cmd.Root().ErrWriter, nil))
	srv := newServer(cfg, logger, cmd.Root().Writer)
	srv.beforeSyncfs = powerCutSeam(os.Getenv(powerCutMarkerEnv))
	if err := srv.open(ctx); err != nil {
		srv.close()
		return err
	}
	runErr := srv.run(ctx)
	if err := srv.close(); runErr == nil {
		runErr = err
	}
	return runErr
}

// startCPUProfile starts profiling the process's CPU into the file at path, if path is not "",
// and returns what stops it and completes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}

// checkPublicURL accepts the portal's public base URL: http(s)://host[:port][/path], or "".
func checkPublicURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return ingest.Errorf(ingest.EValidation, "--public-url %q: want http(s)://host[:port][/path]", raw)
	}
	return nil
}

// checkOrigins accepts browser origins: scheme://host[:port] exactly as browsers send them, or *.
func checkOrigins(origins []string) error {
	for _, o := range origins {
		u, err := url.Parse(o)
		if o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "") {
			return ingest.Errorf(ingest.EValidation, "--cors-allowed-origins %q: an origin is scheme://host[:port] with nothing after it, or *", o)
		}
	}
	return nil
}
