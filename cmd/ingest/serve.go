package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/httpapi"
	"github.com/ingest-portal/ingest/sqlstore"
)

// serveCommand is "ingest serve": the portal's HTTP server.
func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the portal: apply migrations, create the first admin if there is no user, and serve HTTP",
		Flags: append(databaseFlags(),
			&cli.StringFlag{
				Name:    "addr",
				Usage:   "the `HOST:PORT` to listen on",
				Value:   "127.0.0.1:8080",
				Sources: cli.EnvVars("INGEST_ADDR"),
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

func serve(ctx context.Context, cmd *cli.Command) error {
	logger := slog.New(slog.NewTextHandler(cmd.Root().ErrWriter, nil))
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

	ln, err := net.Listen("tcp", cmd.String("addr"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           httpapi.New(logger, httpapi.Check{Name: "database", Probe: store.Ping}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "url", "http://"+ln.Addr().String(), "database", store.Dialect())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cmd.Duration("shutdown-timeout"))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmd.Duration("shutdown-timeout"))
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
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
