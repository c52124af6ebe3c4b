package admin_test

// Seeding a database with a million files for the scale benchmark, in bulk SQL run at benchmark
// time (a recursive CTE on SQLite, generate_series on PostgreSQL): nothing is committed as data,
// and a million rows take seconds, not the minutes a million service calls would.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/sqlstore"
)

// seedShape is what seed writes: files in batches of batchSize, each with its upload session, and
// an outbox event for each stored one. One file in 20 has FAILED, one in 20 is still UPLOADING;
// one event in 100 has FAILED and one in 100 is PENDING, the rest DELIVERED.
type seedShape struct {
	files     int
	batchSize int
	// step is the time between two files' creation; the newest file is created about now.
	step time.Duration
}

// seedDialect is the SQL that differs between the two databases: a generator of the numbers
// 1..N, an id made from a millisecond time and a number (UUIDv7-shaped, so ids sort as their
// times), and a time made from milliseconds.
type seedDialect struct {
	numbers func(n int) string
	id      func(kind int, ms, n string) string
	time    func(ms string) string
	// hex8 is 8 hex digits of a 32-bit number.
	hex8 func(v string) string
}

var seedDialects = map[sqlstore.Dialect]seedDialect{
	sqlstore.SQLite: {
		numbers: func(n int) string {
			return fmt.Sprintf("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %d)", n)
		},
		id: func(kind int, ms, n string) string {
			h := fmt.Sprintf("printf('%%012x', %s)", ms)
			return fmt.Sprintf("substr(%[1]s, 1, 8) || '-' || substr(%[1]s, 9, 4) || '-7000-%[2]s-' || printf('%%012x', %[3]s)", h, variant(kind), n)
		},
		time: func(ms string) string {
			return fmt.Sprintf("strftime('%%Y-%%m-%%dT%%H:%%M:%%f', (%s) / 1000.0, 'unixepoch') || '000Z'", ms)
		},
		hex8: func(v string) string { return fmt.Sprintf("printf('%%08x', %s)", v) },
	},
	sqlstore.Postgres: {
		numbers: func(n int) string {
			return fmt.Sprintf("WITH g(n) AS (SELECT generate_series(1, %d)::bigint)", n)
		},
		id: func(kind int, ms, n string) string {
			h := fmt.Sprintf("lpad(to_hex(%s), 12, '0')", ms)
			return fmt.Sprintf("(substr(%[1]s, 1, 8) || '-' || substr(%[1]s, 9, 4) || '-7000-%[2]s-' || lpad(to_hex(%[3]s), 12, '0'))::uuid", h, variant(kind), n)
		},
		time: func(ms string) string { return fmt.Sprintf("to_timestamp((%s) / 1000.0)", ms) },
		hex8: func(v string) string { return fmt.Sprintf("lpad(to_hex(%s), 8, '0')", v) },
	},
}

// The id kinds keep the ids of different tables apart.
const (
	kindBatch = iota
	kindFile
	kindSession
	kindEvent
	kindEventID
)

// sha256Of is a SHA-256-shaped value for file n that looks random, as real ones do (a search by
// prefix must not find every file): eight multiplicative hashes of n, the first of which alone
// is different for every n.
func (d seedDialect) sha256Of(n string) string {
	multipliers := []int64{2654435761, 2246822519, 3266489917, 668265263, 374761393, 3323198485, 2869860233, 1597334677}
	parts := make([]string, len(multipliers))
	for i, m := range multipliers {
		parts[i] = d.hex8(fmt.Sprintf("((%s) * %d + %d) %% 4294967296", n, m, i))
	}
	return strings.Join(parts, " || ")
}

// variant is the fourth group of a seeded id: the RFC 9562 variant bits, then the kind.
func variant(kind int) string { return fmt.Sprintf("%04x", 0x8000+kind) }

// seed fills the store with shape's rows, all uploaded by user, and returns the seeded files'
// ids in creation order is not needed: callers find pages by querying.
func seed(ctx context.Context, tb testing.TB, store *sqlstore.Store, user *ingest.User, shape seedShape) {
	tb.Helper()
	d := seedDialects[store.Dialect()]
	stepMS := shape.step.Milliseconds()
	base := time.Now().Add(-time.Duration(shape.files) * shape.step).UnixMilli()
	fileMS := fmt.Sprintf("(%d + n * %d)", base, stepMS)
	// The batch of file n is number (n-1)/batchSize+1, created with its first file.
	batchOf := fmt.Sprintf("((n - 1) / %d + 1)", shape.batchSize)
	batchMS := fmt.Sprintf("(%d + ((n - 1) * %d + 1) * %d)", base, shape.batchSize, stepMS)
	fileBatchMS := fmt.Sprintf("(%d + (((n - 1) / %d) * %d + 1) * %d)", base, shape.batchSize, shape.batchSize, stepMS)
	batches := (shape.files + shape.batchSize - 1) / shape.batchSize
	r := strings.NewReplacer(
		"{user}", "'"+user.ID.String()+"'",
		"{file_id}", d.id(kindFile, fileMS, "n"),
		"{file_ts}", d.time(fileMS),
		"{batch_id}", d.id(kindBatch, batchMS, "n"),
		"{batch_ts}", d.time(batchMS),
		"{file_batch_id}", d.id(kindBatch, fileBatchMS, batchOf),
		"{session_id}", d.id(kindSession, fileMS, "n"),
		"{expires_ts}", d.time(fileMS+" + 86400000"),
		"{event_id}", d.id(kindEvent, fileMS, "n"),
		"{event_event_id}", d.id(kindEventID, fileMS, "n"),
		"{sha256}", d.sha256Of("n"),
	)
	statements := []string{
		d.numbers(batches) + `
INSERT INTO upload_batches (id, created_at, updated_at, status, name, created_by_id, total_files, stored_count, failed_count)
SELECT {batch_id}, {batch_ts}, {batch_ts}, 'OPEN', 'seed batch ' || n, {user}, 0, 0, 0 FROM g`,

		d.numbers(shape.files) + `
INSERT INTO ingest_files (id, created_at, updated_at, status, sha256, size_bytes, storage_backend, storage_key,
    original_filename, content_type, uploaded_by_id, batch_id, stored_at, failure_code, failure_reason)
SELECT {file_id}, {file_ts}, {file_ts},
    CASE n % 20 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'UPLOADING' ELSE 'STORED' END,
    CASE WHEN n % 20 >= 2 THEN {sha256} END,
    n % 20000000,
    CASE WHEN n % 20 >= 2 THEN 'local' END,
    CASE WHEN n % 20 >= 2 THEN 'seed/' || n END,
    'file-' || n || '.bin', 'application/octet-stream', {user}, {file_batch_id},
    CASE WHEN n % 20 >= 2 THEN {file_ts} END,
    CASE WHEN n % 20 = 0 THEN 'SESSION_NOT_ACTIVE' END,
    CASE WHEN n % 20 = 0 THEN 'seeded failure' END
FROM g`,

		d.numbers(shape.files) + `
INSERT INTO upload_sessions (id, created_at, updated_at, file_id, status, chunk_size_bytes, total_parts,
    received_parts_count, uploaded_by_id, expires_at, completed_at)
SELECT {session_id}, {file_ts}, {file_ts}, {file_id},
    CASE n % 20 WHEN 0 THEN 'FAILED' WHEN 1 THEN 'IN_PROGRESS' ELSE 'COMPLETE' END,
    8388608, (n % 20000000 + 8388607) / 8388608,
    CASE WHEN n % 20 >= 2 THEN (n % 20000000 + 8388607) / 8388608 ELSE 0 END,
    {user}, {expires_ts},
    CASE WHEN n % 20 >= 2 THEN {file_ts} END
FROM g`,

		d.numbers(shape.files) + `
INSERT INTO portal_event_outbox (id, created_at, updated_at, event_type, event_id, idempotency_key, payload,
    status, next_attempt_at, attempt_count, file_id, last_error, delivered_at)
SELECT {event_id}, {file_ts}, {file_ts}, 'file.stored', {event_event_id}, ` + "{file_id_text}" + `, '{}',
    CASE n % 100 WHEN 2 THEN 'FAILED' WHEN 3 THEN 'PENDING' ELSE 'DELIVERED' END,
    {file_ts}, 1, {file_id},
    CASE WHEN n % 100 = 2 THEN 'seeded failure' END,
    CASE WHEN n % 100 NOT IN (2, 3) THEN {file_ts} END
FROM g WHERE n % 20 >= 2`,

		// Counters as the service would have left them, in one pass over the files.
		`UPDATE upload_batches SET total_files = c.total, stored_count = c.stored, failed_count = c.failed
FROM (SELECT batch_id, count(*) AS total,
        sum(CASE WHEN status = 'STORED' THEN 1 ELSE 0 END) AS stored,
        sum(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END) AS failed
    FROM ingest_files GROUP BY batch_id) AS c
WHERE upload_batches.id = c.batch_id`,
	}
	fileIDText := d.id(kindFile, fileMS, "n")
	if store.Dialect() == sqlstore.Postgres {
		fileIDText += "::text"
	}
	conn, err := store.DB().Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if store.Dialect() == sqlstore.Postgres {
		// A bulk load: the rows are valid by construction, so PostgreSQL is spared the per-row
		// foreign-key and trigger checks (CHECK constraints still apply), which took longer than
		// 15 minutes for a million sessions on a busy 2-core machine.
		statements = append([]string{"SET session_replication_role = replica"}, statements...)
		statements = append(statements, "RESET session_replication_role")
	}
	for _, s := range statements {
		s = strings.ReplaceAll(r.Replace(s), "{file_id_text}", fileIDText)
		start := time.Now()
		if _, err := conn.ExecContext(ctx, s); err != nil {
			tb.Fatalf("seed: %v\n%s", err, s)
		}
		tb.Logf("seed: %v: %.60s", time.Since(start).Round(time.Millisecond), strings.Join(strings.Fields(s), " "))
	}
	if store.Dialect() == sqlstore.Postgres {
		// What autovacuum would have done by the time a real table held a million rows: planner
		// statistics, and a visibility map that lets counts read the status indexes alone.
		if _, err := conn.ExecContext(ctx, "VACUUM ANALYZE upload_batches, ingest_files, upload_sessions, portal_event_outbox"); err != nil {
			tb.Fatalf("seed: vacuum analyze: %v", err)
		}
	}
}
