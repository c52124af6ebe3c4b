package testdb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// schemaPool keeps the migrated PostgreSQL schemas whose tests have ended, emptied, for the next
// tests of the same binary. Copying the template costs the server about a fifth of a second of CPU
// and dropping a schema half that again, which, for the hundreds of PostgreSQL tests of a run, was
// the largest share of the suite's CPU; emptying a schema's few rows costs a few milliseconds. A
// schema goes back only if nothing but its rows changed: a test that altered it has it dropped.
type schemaPool struct {
	mu   sync.Mutex
	free []pooledSchema
}

// pooledSchema is a migrated schema and what it looked like new.
type pooledSchema struct {
	name  string
	shape string // catalog counts and migration versions: see shapeOf
}

// pool is the binary's pool: process-wide like the templates, since every test of the binary may
// take a schema another has finished with.
var pool schemaPool

// take returns a free schema, if there is one.
func (p *schemaPool) take() (pooledSchema, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return pooledSchema{}, false
	}
	s := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return s, true
}

// giveBack empties the schema and keeps it for the next test, or drops it when it cannot be reused
// as new.
func (p *schemaPool) giveBack(ctx context.Context, db *sql.DB, s pooledSchema) error {
	if err := empty(ctx, db, s); err != nil {
		_, dropErr := db.ExecContext(ctx, `DROP SCHEMA `+s.name+` CASCADE`)
		if dropErr != nil {
			return fmt.Errorf("%v; then drop schema %s: %w", err, s.name, dropErr)
		}
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, s)
	return nil
}

// errChanged is why a schema a test altered is dropped rather than reused.
var errChanged = errors.New("the test changed the schema")

// empty deletes every row of the schema but the migrations', children before the rows they
// reference, in one transaction, after checking that its shape is still the one it had new.
func empty(ctx context.Context, db *sql.DB, s pooledSchema) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// A session of the test that is still going away (a killed process's) may hold a row lock.
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
		return err
	}
	shape, err := shapeOf(ctx, tx, s.name)
	if err != nil {
		return err
	}
	if shape != s.shape {
		return errChanged
	}
	tables, err := deleteOrder(ctx, tx, s.name)
	if err != nil {
		return err
	}
	for _, table := range tables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+s.name+`.`+table); err != nil {
			return fmt.Errorf("empty %s.%s: %w", s.name, table, err)
		}
	}
	return tx.Commit()
}

// gooseTable is the migrations' own table, whose rows a reused schema keeps.
const gooseTable = "goose_db_version"

// shapeOf sums up the schema's definition: how many relations, functions, triggers and
// constraints it has, and which migrations it records.
func shapeOf(ctx context.Context, tx *sql.Tx, schema string) (string, error) {
	var relations, functions, triggers, constraints int
	var migrations string
	err := tx.QueryRowContext(ctx, `
		SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = $1::regnamespace),
		       (SELECT count(*) FROM pg_proc WHERE pronamespace = $1::regnamespace),
		       (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		         WHERE c.relnamespace = $1::regnamespace),
		       (SELECT count(*) FROM pg_constraint WHERE connamespace = $1::regnamespace)`,
		schema).Scan(&relations, &functions, &triggers, &constraints)
	if err != nil {
		return "", err
	}
	err = tx.QueryRowContext(ctx, `SELECT coalesce(string_agg(version_id::text || ':' || is_applied::text, ',' ORDER BY id), '')
		FROM `+schema+`.`+gooseTable).Scan(&migrations)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("relations %d, functions %d, triggers %d, constraints %d, migrations %s",
		relations, functions, triggers, constraints, migrations), nil
}

// deleteOrder returns the schema's tables but the migrations', each before the tables its
// foreign keys reference.
func deleteOrder(ctx context.Context, tx *sql.Tx, schema string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT c.relname, coalesce(p.relname, '')
		FROM pg_class c
		LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'f'
		LEFT JOIN pg_class p ON p.oid = k.confrelid AND p.oid <> c.oid
		WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') AND c.relname <> $2
		ORDER BY 1, 2`, schema, gooseTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	references := map[string][]string{} // table → the tables it references
	var tables []string
	for rows.Next() {
		var table, referenced string
		if err := rows.Scan(&table, &referenced); err != nil {
			return nil, err
		}
		if _, seen := references[table]; !seen {
			tables = append(tables, table)
			references[table] = nil
		}
		if referenced != "" {
			references[table] = append(references[table], referenced)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// A table is deleted from once no table left references it.
	var order []string
	done := map[string]bool{}
	for len(order) < len(tables) {
		progressed := false
		for _, table := range tables {
			if done[table] || referencedByOthers(table, tables, references, done) {
				continue
			}
			order = append(order, table)
			done[table] = true
			progressed = true
		}
		if !progressed {
			return nil, fmt.Errorf("the foreign keys of schema %s form a cycle", schema)
		}
	}
	return order, nil
}

// referencedByOthers says whether a table not yet emptied references table.
func referencedByOthers(table string, tables []string, references map[string][]string, done map[string]bool) bool {
	for _, other := range tables {
		if other == table || done[other] {
			continue
		}
		for _, r := range references[other] {
			if r == table {
				return true
			}
		}
	}
	return false
}

// poolSchemaPrefix names this machine's pooled schemas; a name goes on with the process id that
// made it, so that a later binary can drop the schemas of binaries that have ended.
func poolSchemaPrefix() string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host))
	return "ingest_pool_" + hex.EncodeToString(sum[:4]) + "_"
}

// newPoolSchemaName returns a new pooled schema's name.
func newPoolSchemaName() string {
	return poolSchemaPrefix() + strconv.Itoa(os.Getpid()) + "_" + randomHex(6)
}

// dropEndedPools drops the pooled schemas that binaries of this machine which have since ended
// left behind: a test binary has no moment to drop its own after its last test.
func dropEndedPools(ctx context.Context, db *sql.DB) error {
	prefix := poolSchemaPrefix()
	rows, err := db.QueryContext(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, prefix)
	if err != nil {
		return err
	}
	var ended []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		pid, _, _ := strings.Cut(strings.TrimPrefix(name, prefix), "_")
		if n, err := strconv.Atoi(pid); err == nil && !alive(n) {
			ended = append(ended, name)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range ended {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
		cancel()
		if err != nil {
			return fmt.Errorf("drop the ended binary's schema %s: %w", name, err)
		}
	}
	return nil
}

// alive says whether a process with the id runs on this machine.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
