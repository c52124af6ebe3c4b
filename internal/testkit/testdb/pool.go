package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/ingest-portal/ingest/sqlstore"
)

// schemaPool hands out migrated PostgreSQL schemas that outlive their tests and their test
// binaries: a schema whose test has ended is emptied and taken by the next test, of this binary or
// of a later one. Copying the template cost the server about a fifth of a second of CPU and
// dropping a schema half that again, for each of the hundreds of PostgreSQL tests of a run, the
// largest share of the suite's CPU; and on a server without autovacuum every schema made and
// dropped left its catalog rows behind, slowing every later run. Emptying a schema's few rows
// costs a few milliseconds.
//
// A binary holds the schemas it uses by session advisory locks on a connection of its own, so two
// binaries never share one, and a binary that ends, however it ends, lets its schemas go. A schema
// is reused only if its definition is the template's (see shapeOf): one a test altered, or one
// made by other migrations (an older checkout), is dropped.
type schemaPool struct {
	mu    sync.Mutex
	db    *sql.DB
	locks *sql.Conn // the session whose advisory locks are the schemas this binary holds
	free  []string  // schemas this binary holds, emptied, that no test uses
}

// poolPrefix begins the name of every pooled schema.
const poolPrefix = "ingest_pooled_"

// newSchemaPool opens the session that holds the binary's schemas.
func newSchemaPool(ctx context.Context, db *sql.DB) (*schemaPool, error) {
	locks, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &schemaPool{db: db, locks: locks}, nil
}

// take returns an empty schema with the template's definition: one this binary holds, one no
// binary holds, or else a new copy of the template.
func (p *schemaPool) take(ctx context.Context, template postgresScript) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		name := p.free[n-1]
		p.free = p.free[:n-1]
		return name, nil
	}
	unheld, err := p.unheld(ctx)
	if err != nil {
		return "", err
	}
	for _, name := range unheld {
		held, err := p.hold(ctx, name)
		if err != nil {
			return "", err
		}
		if !held {
			continue // another binary took it first
		}
		if err := p.reset(ctx, name, template); err == nil {
			return name, nil
		} else if err := p.drop(ctx, name); err != nil {
			return "", err
		}
	}
	name := poolPrefix + randomHex(8)
	if _, err := p.hold(ctx, name); err != nil {
		return "", err
	}
	if err := copyTemplate(ctx, p.db, template, name); err != nil {
		return "", errors.Join(err, p.let(ctx, name))
	}
	return name, nil
}

// giveBack empties the schema for the next test, or drops it when it can no longer pass for new.
func (p *schemaPool) giveBack(ctx context.Context, name string, template postgresScript) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.reset(ctx, name, template); err != nil {
		if dropErr := p.drop(ctx, name); dropErr != nil {
			return fmt.Errorf("%v; then %w", err, dropErr)
		}
		return nil
	}
	p.free = append(p.free, name)
	return nil
}

// unheld lists the pooled schemas that no binary's test holds, as far as this binary can tell
// before it tries to hold them.
func (p *schemaPool) unheld(ctx context.Context) ([]string, error) {
	rows, err := p.db.QueryContext(ctx, `
		SELECT n.nspname FROM pg_namespace n
		WHERE starts_with(n.nspname, $1) AND NOT EXISTS (
			SELECT FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
			  AND l.classid = hashtext($1)::oid AND l.objid = hashtext(n.nspname)::oid AND l.objsubid = 2)`,
		poolPrefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// hold takes the schema's advisory lock for this binary, and says whether it got it.
func (p *schemaPool) hold(ctx context.Context, name string) (bool, error) {
	var held bool
	err := p.locks.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext($1), hashtext($2))`, poolPrefix, name).Scan(&held)
	return held, err
}

// let releases the schema's advisory lock.
func (p *schemaPool) let(ctx context.Context, name string) error {
	_, err := p.locks.ExecContext(ctx, `SELECT pg_advisory_unlock(hashtext($1), hashtext($2))`, poolPrefix, name)
	return err
}

// drop removes a schema this binary holds, and lets it go.
func (p *schemaPool) drop(ctx context.Context, name string) error {
	if _, err := p.db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`); err != nil {
		return fmt.Errorf("drop schema %s: %w", name, err)
	}
	return p.let(ctx, name)
}

// errChanged is why a schema that differs from the template is dropped rather than reused.
var errChanged = errors.New("the schema's definition is not the template's")

// reset deletes every row of the schema but the migrations', children before the rows they
// reference, in one transaction, once its definition is found to be the template's. It runs on a
// connection of the binary's, not a new session: checking the definition on a session of its own
// cost the server a backend start and a cold catalog cache per test.
func (p *schemaPool) reset(ctx context.Context, name string, template postgresScript) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	shape, err := shapeOf(ctx, tx, name)
	if err != nil {
		return err
	}
	if shape != template.shape {
		return errChanged
	}
	// A session of the test that is still going away (a killed process's) may hold a row lock.
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
		return err
	}
	for _, table := range template.tables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+name+`.`+table); err != nil {
			return fmt.Errorf("empty %s.%s: %w", name, table, err)
		}
	}
	return tx.Commit()
}

// gooseTable is the migrations' own table, whose rows a reused schema keeps.
const gooseTable = "goose_db_version"

// shapeOf returns the schema's definition as the drift check dumps it (sqlstore's DumpSchema:
// columns, constraints, indexes, triggers, functions), and the migrations it records. It sets the
// transaction's search_path to the schema.
func shapeOf(ctx context.Context, tx *sql.Tx, schema string) (string, error) {
	if _, err := tx.ExecContext(ctx, `SELECT set_config('search_path', $1, true)`, schema); err != nil {
		return "", err
	}
	dump, err := sqlstore.DumpSchemaOn(ctx, tx, sqlstore.Postgres)
	if err != nil {
		return "", err
	}
	var migrations string
	err = tx.QueryRowContext(ctx, `SELECT coalesce(string_agg(version_id::text || ':' || is_applied::text, ',' ORDER BY id), '')
		FROM `+gooseTable).Scan(&migrations)
	return dump + "migrations " + migrations, err
}

// deleteOrder returns the schema's tables but the migrations', each before the tables its
// foreign keys reference, so that deleting in that order breaks no reference.
func deleteOrder(ctx context.Context, db *sql.DB, schema string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `
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
	referencedBy := map[string]int{} // table → how many tables not yet ordered reference it
	for _, table := range tables {
		for _, r := range references[table] {
			referencedBy[r]++
		}
	}
	var order []string
	done := map[string]bool{}
	for len(order) < len(tables) {
		progressed := false
		for _, table := range tables {
			if done[table] || referencedBy[table] > 0 {
				continue
			}
			order = append(order, table)
			done[table] = true
			progressed = true
			for _, r := range references[table] {
				referencedBy[r]--
			}
		}
		if !progressed {
			return nil, fmt.Errorf("the foreign keys of schema %s form a cycle", schema)
		}
	}
	return order, nil
}
