package sqlstore

import (
	"database/sql"

	"github.com/pressly/goose/v3"
)

// dialect holds everything in which SQLite and PostgreSQL differ for the store: Open picks one
// of the two values below, and the rest of the package reads its fields instead of asking which
// database it runs on. Every other SQL text serves both (docs/architecture.md, "One SQL text for
// both databases", lists these fields; a test keeps that list true).
type dialect struct {
	name Dialect
	// driver is the database/sql driver's name.
	driver string
	// dsn is the driver's connection string for the database URL (and the file's path, for
	// SQLite). flushedAfter: the store makes commits durable after them with a shared flush, so a
	// commit need not fsync its own writes.
	dsn func(url, path string, flushedAfter bool) string
	// pool sizes the connection pool.
	pool func(db *sql.DB)
	// localFile: the database is a file of this machine, whose directory Open creates and whose
	// commits the store makes durable itself (WithFlusher).
	localFile bool
	// groupWrites: the database has one writer at a time, so this process queues its write
	// transactions and commits them in groups (group.go), and prepares each statement once for
	// every connection (stmts.go).
	groupWrites bool
	// notify: a commit that made outbox events due wakes the relays of every process by NOTIFY,
	// which a watcher LISTENs to; without it, only this process's watchers are woken.
	notify bool
	// lockMigrations: migrating instances take turns by a session advisory lock.
	lockMigrations bool
	// goose is the migration tool's name for the dialect; the migrations live in
	// migrations/<name>.
	goose goose.Dialect
	// like compares text with a pattern, ignoring case: SQLite's LIKE ignores the case of ASCII
	// letters, PostgreSQL's ILIKE that of every letter.
	like string
	// jsonEach is the table function that lists a JSON object's keys and text values.
	jsonEach string
	// emptyJSON is the empty JSON object as a value of the metadata column.
	emptyJSON string
	// hourOfStored renders the hour of stored_at as text, "2006-01-02T15".
	hourOfStored string
	// skipLocked follows the subquery that picks the outbox events to claim: on PostgreSQL, rows
	// another relay is claiming are skipped, not waited for. SQLite's writer is alone anyway.
	skipLocked string
	// markDelivered marks the events of a JSON list of claims ($2, [{"id", "attempt"}]) as
	// DELIVERED at $1, returning their ids.
	markDelivered string
	// schemaDump lists the schema (DumpSchema), one line per first column, in a stable order.
	schemaDump string
}

// dialectOf returns the dialect named name.
func dialectOf(name Dialect) *dialect {
	if name == Postgres {
		return postgresDialect()
	}
	return sqliteDialect()
}

// sqliteIdleConns is how many SQLite connections stay open between requests: enough for the
// concurrent readers of a busy portal, each with its prepared statements.
const sqliteIdleConns = 16

func sqliteDialect() *dialect {
	return &dialect{
		name:   SQLite,
		driver: "sqlite",
		// WAL: a committed transaction survives a power cut (DESIGN.md §6), by an fsync of the WAL in
		// each commit or by a shared flush after it (WithFlusher). Write transactions begin IMMEDIATE,
		// so they queue on busy_timeout instead of failing with SQLITE_BUSY when they upgrade from
		// reading to writing. Temporary storage is in memory: the statement and savepoint journals
		// that undo one statement or one write of a group (never needed after a crash) otherwise cost
		// a write to a temporary file for every page a write changes.
		dsn: func(_, path string, flushedAfter bool) string {
			synchronous := "FULL"
			if flushedAfter {
				synchronous = "NORMAL"
			}
			return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
				"&_pragma=synchronous(" + synchronous + ")&_pragma=busy_timeout(10000)&_pragma=temp_store(memory)&_txlock=immediate"
		},
		// database/sql keeps 2 idle connections by default and closes the rest; every SQLite
		// connection opened again reads the schema and prepares its statements anew, which cost a
		// tenth of a small upload's CPU with 16 requests at once.
		pool:         func(db *sql.DB) { db.SetMaxIdleConns(sqliteIdleConns) },
		localFile:    true,
		groupWrites:  true,
		goose:        goose.DialectSQLite3,
		like:         "LIKE",
		jsonEach:     "json_each",
		emptyJSON:    "'{}'",
		hourOfStored: `substr(stored_at, 1, 13)`, // the text SQLite stores starts with it
		markDelivered: `
		UPDATE portal_event_outbox SET status = 'DELIVERED', delivered_at = $1, updated_at = $1, last_error = NULL
		WHERE status = 'SENDING' AND (id, attempt_count) IN (SELECT value ->> 'id', value ->> 'attempt' FROM json_each($2))
		RETURNING id`,
		schemaDump: `
		SELECT type || ' ' || name || char(10) || sql FROM sqlite_schema
		WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND tbl_name <> 'goose_db_version'
		ORDER BY type, name`,
	}
}

func postgresDialect() *dialect {
	return &dialect{
		name:   Postgres,
		driver: "pgx",
		dsn:    func(url, _ string, _ bool) string { return url },
		pool: func(db *sql.DB) {
			db.SetMaxOpenConns(32)
			db.SetMaxIdleConns(8)
		},
		notify:         true,
		lockMigrations: true,
		goose:          goose.DialectPostgres,
		like:           "ILIKE",
		jsonEach:       "jsonb_each_text",
		emptyJSON:      "'{}'::jsonb",
		hourOfStored:   `to_char(stored_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24')`,
		skipLocked:     " FOR UPDATE SKIP LOCKED",
		markDelivered: `
		UPDATE portal_event_outbox o SET status = 'DELIVERED', delivered_at = $1, updated_at = $1, last_error = NULL
		FROM jsonb_to_recordset($2::jsonb) AS r(id uuid, attempt integer)
		WHERE o.id = r.id AND o.attempt_count = r.attempt AND o.status = 'SENDING'
		RETURNING o.id`,
		// The schema is read from the catalogue of the current schema, so the dump does not depend on
		// the schema's name (tests run in a throwaway schema each).
		schemaDump: `
		SELECT 'table ' || c.relname || ' column ' || a.attname || ' ' ||
		       format_type(a.atttypid, a.atttypmod) ||
		       CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END ||
		       COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') AS line,
		       c.relname AS tbl, 1 AS kind, lpad(a.attnum::text, 4, '0') AS ord
		FROM pg_attribute a
		JOIN pg_class c ON c.oid = a.attrelid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
		  AND c.relname <> 'goose_db_version' AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL
		SELECT 'table ' || c.relname || ' constraint ' || k.conname || ' ' || pg_get_constraintdef(k.oid),
		       c.relname, 2, k.conname
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relname <> 'goose_db_version'
		UNION ALL
		SELECT 'index ' || i.indexname || ' ' || regexp_replace(i.indexdef, ' ON \S+\.', ' ON '),
		       i.tablename, 3, i.indexname
		FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename <> 'goose_db_version'
		UNION ALL
		SELECT 'trigger ' || t.tgname || ' ' || regexp_replace(pg_get_triggerdef(t.oid), ' ON \S+\.', ' ON '),
		       c.relname, 4, t.tgname
		FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
		UNION ALL
		SELECT 'function ' || p.proname || E'\n' || p.prosrc, '~', 5, p.proname
		FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
		ORDER BY tbl, kind, ord`,
	}
}
