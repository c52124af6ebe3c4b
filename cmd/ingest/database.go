package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v3"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
	"github.com/ingest-portal/ingest/sqlstore"
)

// The flags of every command that opens the database.
const (
	dataDirFlag     = "data-dir"
	databaseURLFlag = "database-url"
	flushFlag       = "flush"
)

// databaseFlags returns the flags of a command that opens the database. They are persistent, so
// "ingest migrate --data-dir D up" and "ingest migrate up --data-dir D" both work. Each command
// gets flags of its own because a cli flag keeps its parsed value.
func databaseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:      dataDirFlag,
			Usage:     "directory of the portal's local data",
			Value:     "./ingest-data",
			Sources:   cli.EnvVars("INGEST_DATA_DIR"),
			TakesFile: true,
		},
		&cli.StringFlag{
			Name:        databaseURLFlag,
			Usage:       "the database: sqlite://PATH or postgres://…",
			DefaultText: "sqlite://<data-dir>/ingest.db",
			Sources:     cli.EnvVars("INGEST_DATABASE_URL"),
		},
		&cli.StringFlag{
			Name: flushFlag,
			Usage: "how SQLite commits and file:// objects are made durable: filesystem (one syncfs shared by the writes of the moment; " +
				"give the data a filesystem of its own) or file (an fsync per commit and per object)",
			Value:   string(durable.DefaultMode()),
			Sources: cli.EnvVars("INGEST_FLUSH"),
		},
	}
}

// flushMode reads --flush.
func flushMode(cmd *cli.Command) (durable.Mode, error) {
	m, err := durable.ParseMode(cmd.String(flushFlag))
	if err != nil {
		return "", ingest.Errorf(ingest.EValidation, "--%s: %v", flushFlag, err)
	}
	return m, nil
}

// newFlusher returns the flusher of --flush: a command builds one and hands it to every store it
// opens on local disk.
func newFlusher(cmd *cli.Command) (*durable.Flusher, error) {
	m, err := flushMode(cmd)
	if err != nil {
		return nil, err
	}
	return durable.New(m)
}

// databaseConfig names the database a command opens.
type databaseConfig struct {
	DataDir string
	URL     string
}

// databaseConfigFrom reads the database flags of cmd, deriving the default URL from the data
// directory.
func databaseConfigFrom(cmd *cli.Command) databaseConfig {
	c := databaseConfig{DataDir: cmd.String(dataDirFlag), URL: cmd.String(databaseURLFlag)}
	if c.URL == "" && c.DataDir != "" {
		c.URL = "sqlite://" + filepath.Join(c.DataDir, "ingest.db")
	}
	return c
}

// Validate returns EValidation unless the URL names a database the portal can open.
func (c databaseConfig) Validate() error {
	if c.URL == "" {
		// An empty INGEST_DATA_DIR would otherwise put the database in the working directory.
		return ingest.Errorf(ingest.EValidation, "--%s is empty and --%s is not set; set either", dataDirFlag, databaseURLFlag)
	}
	if _, _, err := sqlstore.ParseURL(c.URL); err != nil {
		return ingest.Errorf(ingest.EValidation, "--%s: %s", databaseURLFlag, ingest.ErrorMessage(err))
	}
	return nil
}

// sqlitePath returns the file of an sqlite:// URL, and false for any other URL.
func (c databaseConfig) sqlitePath() (string, bool) {
	dialect, path, err := sqlstore.ParseURL(c.URL)
	return path, err == nil && dialect == sqlstore.SQLite
}

// openStore opens the database named by cmd's flags, creating an SQLite file that does not exist
// yet: what "ingest migrate" needs.
func openStore(ctx context.Context, cmd *cli.Command) (*sqlstore.Store, error) {
	cfg := databaseConfigFrom(cmd)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	flusher, err := newFlusher(cmd)
	if err != nil {
		return nil, err
	}
	return sqlstore.Open(ctx, cfg.URL, sqlstore.WithFlusher(flusher))
}

// openMigratedStore opens an existing database whose schema is up to date: what the commands that
// read and write rows need. It never creates a database or applies a migration; that is the
// operator's decision, made with "ingest migrate up".
func openMigratedStore(ctx context.Context, cmd *cli.Command) (*sqlstore.Store, error) {
	flusher, err := newFlusher(cmd)
	if err != nil {
		return nil, err
	}
	return openMigrated(ctx, databaseConfigFrom(cmd), flusher)
}

// openMigrated is openMigratedStore of the database cfg names, whose commits flusher makes durable.
func openMigrated(ctx context.Context, cfg databaseConfig, flusher *durable.Flusher) (*sqlstore.Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if path, ok := cfg.sqlitePath(); ok {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf(`no database at %s; run "ingest migrate up" to create it`, path)
		}
	}
	store, err := sqlstore.Open(ctx, cfg.URL, sqlstore.WithFlusher(flusher))
	if err != nil {
		return nil, err
	}
	if err := requireMigrated(ctx, store); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// requireMigrated returns an error saying how many migrations are pending, if any are.
func requireMigrated(ctx context.Context, store *sqlstore.Store) error {
	m, err := store.Migrator()
	if err != nil {
		return err
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	if !pending {
		return nil
	}
	statuses, err := m.Status(ctx)
	if err != nil {
		return fmt.Errorf("read the migration status: %w", err)
	}
	n := 0
	for _, s := range statuses {
		if !s.Applied {
			n++
		}
	}
	version, err := m.Version(ctx)
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	return fmt.Errorf(`%d %s pending (database at version %d, binary knows %d); run "ingest migrate up"`,
		n, plural(n, "migration", "migrations"), version, m.Latest())
}

// plural returns one when n is 1 and many otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
