package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

// checkCommand is "ingest check": is the configuration valid, does the database answer, and is
// its schema the one this binary expects? Deployments run it before starting the server.
func checkCommand() *cli.Command {
	return &cli.Command{
		Name:   "check",
		Usage:  "check the configuration, the database connection and the schema version",
		Flags:  databaseFlags(),
		Action: check,
	}
}

func check(ctx context.Context, cmd *cli.Command) error {
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer store.Close()
	m, err := store.Migrator()
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	version, err := m.Version(ctx)
	if err != nil {
		return fmt.Errorf("check: read the schema version: %w", err)
	}
	// A database migrated by a newer binary has nothing pending, yet this binary does not know
	// its schema.
	if latest := m.Latest(); version > latest {
		return fmt.Errorf("check: database at version %d is newer than this binary (knows %d); run a newer ingest", version, latest)
	}
	fmt.Fprintf(cmd.Root().Writer, "ok: %s database at version %d, no pending migration\n", store.Dialect(), version)
	return nil
}
