package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// DumpSchema returns the portal's schema as the database describes it, in a stable order: tables
// with their columns and constraints, indexes and triggers. The drift test compares it with a
// committed copy, so a migration cannot change the schema unnoticed. Goose's own table is left out.
func (s *Store) DumpSchema(ctx context.Context) (string, error) {
	if s.dialect == SQLite {
		return s.dumpLines(ctx, `
			SELECT type || ' ' || name || char(10) || sql FROM sqlite_schema
			WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND tbl_name <> 'goose_db_version'
			ORDER BY type, name`)
	}
	// On PostgreSQL the schema is read from the catalogue of the current schema, so the dump does
	// not depend on the schema's name (tests run in a throwaway schema each).
	return s.dumpLines(ctx, `
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
		ORDER BY tbl, kind, ord`)
}

func (s *Store) dumpLines(ctx context.Context, query string) (string, error) {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return "", fmt.Errorf("dump schema: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	dest := make([]any, len(cols))
	for i := range dest {
		dest[i] = new(any)
	}
	for rows.Next() {
		var line string
		dest[0] = &line
		if err := rows.Scan(dest...); err != nil {
			return "", fmt.Errorf("dump schema: %w", err)
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String(), rows.Err()
}
