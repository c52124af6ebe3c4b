package sqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// TestInstancesMigratingOneSchemaAtOnceTakeTurns starts four migrations of one new PostgreSQL
// schema at once, as four instances starting together would: the schema's migration lock makes
// them take turns, so each migration is applied once and every instance succeeds.
func TestInstancesMigratingOneSchemaAtOnceTakeTurns(t *testing.T) {
	t.Parallel()
	url := testdb.URL(t, "postgres")
	var wg sync.WaitGroup
	applied := make([][]int64, 4)
	errs := make([]error, 4)
	for i := range applied {
		s := mustOpen(t, url)
		m, err := s.Migrator()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = m.Up(context.Background())
		}()
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
		total += len(applied[i])
	}
	s := mustOpen(t, url)
	m, err := s.Migrator()
	if err != nil {
		t.Fatal(err)
	}
	if total != int(m.Latest()) {
		t.Errorf("the instances applied %d migrations in all, want each of the %d once", total, m.Latest())
	}
}
