package main

import (
	"context"
	"fmt"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/sqlstore"
)

// migrateCommand is "ingest migrate up|down|status".
func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply, roll back or list the database schema migrations",
		Flags: databaseFlags(),
		Commands: []*cli.Command{
			{
				Name:   "up",
				Usage:  "apply every pending migration",
				Action: migrateUp,
			},
			{
				Name:  "down",
				Usage: "roll back the newest migration, or with --to N every migration above N",
				Flags: []cli.Flag{
					&cli.Int64Flag{
						Name:  "to",
						Usage: "roll back every migration above version `N` (0 removes the whole schema)",
					},
					&cli.BoolFlag{
						Name:  "yes",
						Usage: "roll back even though the tables and columns it drops hold data, which is then lost",
					},
				},
				Action: migrateDown,
			},
			{
				Name:   "status",
				Usage:  "list the migrations and whether each is applied",
				Action: migrateStatus,
			},
		},
	}
}

// migrator opens the database for a migrate subcommand; the caller closes the store.
func migrator(ctx context.Context, cmd *cli.Command) (*sqlstore.Store, *sqlstore.Migrator, error) {
	store, err := openStore(ctx, cmd)
	if err != nil {
		return nil, nil, err
	}
	m, err := store.Migrator()
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, m, nil
}

func migrateUp(ctx context.Context, cmd *cli.Command) error {
	store, m, err := migrator(ctx, cmd)
	if err != nil {
		return err
	}
	defer store.Close()
	out := cmd.Root().Writer
	applied, err := m.Up(ctx)
	// Up may apply some migrations before one fails; report those first.
	for _, v := range applied {
		fmt.Fprintf(out, "applied migration %d\n", v)
	}
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if len(applied) == 0 {
		version, err := m.Version(ctx)
		if err != nil {
			return fmt.Errorf("migrate up: read the schema version: %w", err)
		}
		fmt.Fprintf(out, "database is up to date (version %d)\n", version)
	}
	return nil
}

func migrateDown(ctx context.Context, cmd *cli.Command) error {
	if to := cmd.Int64("to"); to < 0 {
		return ingest.Errorf(ingest.EValidation, "--to %d: a version is 0 or more", to)
	}
	store, m, err := migrator(ctx, cmd)
	if err != nil {
		return err
	}
	defer store.Close()
	out := cmd.Root().Writer
	current, err := m.Version(ctx)
	if err != nil {
		return fmt.Errorf("migrate down: read the schema version: %w", err)
	}
	target := current - 1 // without --to, roll back exactly the newest migration
	if cmd.IsSet("to") {
		target = cmd.Int64("to")
	}
	if current == 0 || target >= current {
		fmt.Fprintf(out, "nothing to roll back (database at version %d)\n", current)
		return nil
	}
	losses, err := m.Losses(ctx, target)
	if err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	if len(losses) > 0 && !cmd.Bool("yes") {
		what := make([]string, len(losses))
		for i, l := range losses {
			what[i] = l.String()
		}
		return ingest.Errorf(ingest.EValidation, "rolling back to version %d would destroy %s; this cannot be undone: add --yes to go ahead",
			target, strings.Join(what, ", "))
	}
	rolledBack, err := m.DownTo(ctx, target)
	for _, v := range rolledBack {
		fmt.Fprintf(out, "rolled back migration %d\n", v)
	}
	if err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	version, err := m.Version(ctx)
	if err != nil {
		return fmt.Errorf("migrate down: read the schema version: %w", err)
	}
	fmt.Fprintf(out, "database at version %d\n", version)
	return nil
}

func migrateStatus(ctx context.Context, cmd *cli.Command) error {
	store, m, err := migrator(ctx, cmd)
	if err != nil {
		return err
	}
	defer store.Close()
	statuses, err := m.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	version, err := m.Version(ctx)
	if err != nil {
		return fmt.Errorf("migrate status: read the schema version: %w", err)
	}
	w := tabwriter.NewWriter(cmd.Root().Writer, 0, 0, 2, ' ', 0)
	for _, s := range statuses {
		state := "pending"
		if s.Applied {
			state = "applied"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\n", s.Version, path.Base(s.Name), state)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.Root().Writer, "database at version %d (binary knows %d)\n", version, m.Latest())
	return nil
}
