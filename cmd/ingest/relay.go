package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
	"github.com/ingest-portal/ingest/relay"
	"github.com/ingest-portal/ingest/sqlstore"
)

// relayCommand is "ingest relay": the outbox relay alone, without the HTTP server. Several may run
// on one PostgreSQL; on SQLite one relay (in "ingest serve" or here) is enough.
func relayCommand() *cli.Command {
	flags := append(databaseFlags(), sinkFlags()...)
	flags = append(flags, relayFlags()...)
	return &cli.Command{
		Name:  "relay",
		Usage: "deliver the outbox's events to the events sink until stopped (SIGTERM finishes the batches in flight)",
		Flags: append(flags, &cli.StringFlag{
			Name:    "log-level",
			Usage:   "the least level logged: debug (every claim and delivery), info, warn or error",
			Value:   "info",
			Sources: cli.EnvVars("INGEST_LOG_LEVEL"),
		}, &cli.StringFlag{
			Name:    "metrics-addr",
			Usage:   "serve the relay's Prometheus metrics at http://`HOST:PORT`/metrics (none when empty)",
			Sources: cli.EnvVars("INGEST_METRICS_ADDR"),
		}),
		Action: runRelay,
	}
}

func runRelay(ctx context.Context, cmd *cli.Command) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cmd.String("log-level"))); err != nil {
		return ingest.Errorf(ingest.EValidation, "--log-level must be debug, info, warn or error")
	}
	logger := slog.New(slog.NewTextHandler(cmd.Root().ErrWriter, &slog.HandlerOptions{Level: level}))
	// The registry is handed on as an interface only when there is one: a nil *Registry in a
	// Registerer would not compare equal to nil, and the relay would register into it.
	var reg prometheus.Registerer
	var registry *prometheus.Registry
	if cmd.String("metrics-addr") != "" {
		registry = prometheus.NewRegistry()
		registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = registry
	}
	cfg, err := relayConfigFrom(cmd)
	if err != nil {
		return err
	}
	if err := validateRelayConfig(cfg); err != nil {
		return err
	}
	cfg.Logger, cfg.Registerer = logger, reg
	flusher, err := newFlusher(cmd)
	if err != nil {
		return err
	}
	if registry != nil {
		stop, err := serveMetrics(cmd.String("metrics-addr"), registry, logger)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		defer stop()
	}
	// One flusher for the database and a file:// sink, so that they share flushes.
	store, err := openMigrated(ctx, databaseConfigFrom(cmd), flusher)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer store.Close()
	rl, sink, err := newRelay(ctx, cfg, sinkConfigFrom(cmd), flusher, store)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer sink.Close()
	return rl.Run(ctx)
}

// relayFlags returns the relay's tuning flags: what "ingest serve" and "ingest relay" take.
func relayFlags() []cli.Flag {
	d := relay.DefaultConfig()
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "outbox-retention",
			Usage:   "how long DELIVERED events are kept: a Go duration (168h) or days (7d); 0 keeps them",
			Value:   "7d",
			Sources: cli.EnvVars("INGEST_OUTBOX_RETENTION"),
		},
		&cli.DurationFlag{
			Name:    "relay-lease",
			Usage:   "how long a claimed batch is the relay's: after it, another relay may send the events again",
			Value:   d.Lease,
			Sources: cli.EnvVars("INGEST_RELAY_LEASE"),
		},
		&cli.IntFlag{
			Name:        "relay-batch",
			Usage:       "how many events one claim takes (0: the sink's default)",
			DefaultText: fmt.Sprintf("%d, %d for a webhook", relay.DefaultBatchSize, relay.WebhookBatchSize),
			Sources:     cli.EnvVars("INGEST_RELAY_BATCH"),
		},
		&cli.IntFlag{
			Name:    "relay-workers",
			Usage:   "how many batches a relay has in flight at once",
			Value:   d.Workers,
			Sources: cli.EnvVars("INGEST_RELAY_WORKERS"),
		},
		&cli.DurationFlag{
			Name:    "relay-linger",
			Usage:   "the least time between two claims of a worker whose last batch was not full, so that busy moments send fewer, larger batches (0: claim at every commit)",
			Value:   d.Linger,
			Sources: cli.EnvVars("INGEST_RELAY_LINGER"),
		},
	}
}

// relayConfigFrom reads the relay's tuning flags; the caller gives the relay its logger and
// metrics registry.
func relayConfigFrom(cmd *cli.Command) (relay.Config, error) {
	cfg := relay.DefaultConfig()
	retention, err := parseRetention(cmd.String("outbox-retention"))
	if err != nil {
		return cfg, err
	}
	cfg.Retention = retention
	cfg.Lease = cmd.Duration("relay-lease")
	cfg.BatchSize = int(cmd.Int("relay-batch"))
	cfg.Workers = int(cmd.Int("relay-workers"))
	cfg.Linger = cmd.Duration("relay-linger")
	if cfg.Linger == 0 {
		cfg.Linger = relay.NoLinger
	}
	return cfg, nil
}

// validateRelayConfig returns EValidation for relay settings the relay cannot run with.
func validateRelayConfig(cfg relay.Config) error {
	if cfg.Linger < 0 && cfg.Linger != relay.NoLinger {
		return ingest.Errorf(ingest.EValidation, "--relay-linger cannot be negative")
	}
	return cfg.Validate()
}

// newRelay opens the events sink and returns a relay of store's outbox to it. The caller closes
// the sink once the relay has stopped.
func newRelay(ctx context.Context, cfg relay.Config, sinkCfg sinkConfig, flusher *durable.Flusher, store *sqlstore.Store) (*relay.Relay, ingest.Sink, error) {
	sink, err := openSink(ctx, sinkCfg, flusher)
	if err != nil {
		return nil, nil, fmt.Errorf("events sink: %w", err)
	}
	rl, err := relay.New(store, sink, cfg)
	if err != nil {
		sink.Close()
		return nil, nil, err
	}
	return rl, sink, nil
}

// serveMetrics serves reg at /metrics on addr until stop is called: a relay that runs apart from
// "ingest serve" has no /metrics of its own otherwise.
func serveMetrics(addr string, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	logger.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}

// parseRetention reads --outbox-retention: a Go duration, or a whole number of days ("7d").
func parseRetention(s string) (time.Duration, error) {
	bad := ingest.Errorf(ingest.EValidation, "--outbox-retention %q: want a duration such as 168h or a number of days such as 7d", s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

// serveRelayFlags are the flags "ingest serve" takes for its relay: --relay, whether it runs one,
// then the sink's and the relay's own.
func serveRelayFlags() []cli.Flag {
	flags := []cli.Flag{&cli.BoolFlag{
		Name:    "relay",
		Usage:   `run the outbox relay in this process (turn it off where "ingest relay" runs apart)`,
		Value:   true,
		Sources: cli.EnvVars("INGEST_RELAY"),
	}}
	return append(append(flags, sinkFlags()...), relayFlags()...)
}

// startServeRelay runs rl beside the HTTP server, when there is one, and returns what stops it and
// waits until its batches in flight are recorded. A disabled sink stops the relay, not the
// server: uploads go on, and their events wait in the outbox.
func startServeRelay(ctx context.Context, rl *relay.Relay, logger *slog.Logger) (stop func()) {
	if rl == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rl.Run(ctx); errors.Is(err, relay.ErrSinkDisabled) {
			logger.Error("the relay stopped; events wait in the outbox", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
