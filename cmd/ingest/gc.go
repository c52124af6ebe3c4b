package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest/reconcile"
)

// gcCommand is "ingest gc": one pass of the reconciler (DESIGN.md §9), which removes what the
// storage holds and no row needs.
func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "remove objects no file points to and the temporary data of ended uploads, once older than --gc-grace",
		Flags: append(databaseFlags(),
			storageFlag(),
			storageTimeoutFlag(),
			gcGraceFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "print what would be removed, and remove nothing"},
		),
		Action: gc,
	}
}

// gcGraceFlag is --gc-grace, shared by gc and serve.
func gcGraceFlag() cli.Flag {
	return &cli.DurationFlag{
		Name:    "gc-grace",
		Usage:   "leave alone what was written less than this long ago: uploads in flight write their bytes before their rows",
		Value:   reconcile.DefaultGrace,
		Sources: cli.EnvVars("INGEST_GC_GRACE"),
	}
}

func gc(ctx context.Context, cmd *cli.Command) error {
	store, err := openMigratedStore(ctx, cmd)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	defer store.Close()
	flusher, err := newFlusher(cmd)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	blobs, err := openStorage(ctx, storageURL(cmd.String("storage"), cmd.String(dataDirFlag)), cmd.Duration("storage-timeout"), flusher)
	if err != nil {
		return fmt.Errorf("gc: storage: %w", err)
	}
	rec, err := reconcile.New(store, blobs, cmd.Duration("gc-grace"))
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	dryRun := cmd.Bool("dry-run")
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	out := cmd.Root().Writer
	res, err := rec.Run(ctx, dryRun, func(r reconcile.Removal) {
		fmt.Fprintf(out, "%s %s %s (last written %s)\n", verb, r.Kind, r.Name, r.Modified.UTC().Format(time.RFC3339))
	})
	fmt.Fprintf(out, "%s %d objects and the temporary data of %d uploads\n", verb, res.Objects, res.Temporary)
	return err
}
