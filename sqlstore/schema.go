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
	return s.dumpLines(ctx, s.dialect.schemaDump)
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
