package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// DumpSchema returns the portal's schema as the database describes it, in a stable order: tables
// with their columns and constraints, indexes and triggers. The drift test compares it with a
// committed copy, so a migration cannot change the schema unnoticed. Goose's own table is left out.
func (s *Store) DumpSchema(ctx context.Context) (string, error) {
	return dumpLines(ctx, s.db, s.dialect.schemaDump)
}

// Querier runs a query: a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// DumpSchemaOn is DumpSchema of the dialect's schema that q's session is in (PostgreSQL: its
// current_schema), for a session that is not a store's: a test's pool of schemas checks, on a
// connection it already has, that a schema is still the template's.
func DumpSchemaOn(ctx context.Context, q Querier, d Dialect) (string, error) {
	return dumpLines(ctx, q, dialectOf(d).schemaDump)
}

func dumpLines(ctx context.Context, q Querier, query string) (string, error) {
	rows, err := q.QueryContext(ctx, query)
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
