// Package storetest is the behaviour suite every ingest.Store must pass. The SQLite and the
// PostgreSQL store both run it (see sqlstore's tests), so the two databases cannot drift apart.
//
// Some tests bypass the store and write raw SQL, to prove that the database itself enforces the
// invariants (DESIGN.md §1) and not only the Go code in front of it. Raw SQL here is written once
// for both dialects: ids are UUID text and times RFC 3339 text, which both databases accept.
package storetest

import (
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
)

// Env is one fresh, migrated store and a raw handle on the same database.
type Env struct {
	Store   ingest.Store
	DB      *sql.DB // the store's database, for statements that must bypass the store
	Clock   *Clock  // the store's clock
	Dialect string  // "sqlite" or "postgres"
	// OpenSecond opens another store on the same database, as a second instance of the portal
	// does, with the same clock; it is closed when the test ends.
	OpenSecond func() ingest.Store
}

// Opener returns a new Env for one test. The store must read the time from clock.Now.
type Opener func(t *testing.T, clock *Clock) *Env

// Run runs the whole suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	suites := []struct {
		name string
		run  func(*testing.T, Opener)
	}{
		{"Users", testUsers},
		{"Authentication", testAuthentication},
		{"Lists", testLists},
		{"Batches", testBatches},
		{"Uploads", testUploads},
		{"Outbox", testOutbox},
		{"OutboxOps", testOutboxOps},
		{"Constraints", testConstraints},
		{"Transitions", testTransitions},
		{"Workflow", testWorkflow},
		{"Races", testRaces},
		{"Console", testConsole},
		{"Streams", testStreams},
		{"Grants", testGrants},
		{"PartSizes", testPartSizes},
		{"Quotas", testQuotas},
		{"Reconcile", testReconcile},
	}
	for _, s := range suites {
		// Each test opens a store of its own, so the suites share nothing and run side by side.
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, open)
		})
	}
}

// Clock is a settable clock for stores under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
