package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/outboxseed"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
)

// migratedStore opens a store on the migrated database at url, closed when the test ends.
func migratedStore(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	mustSucceed(t, "migrate", "up", "--database-url", url)
	s, err := sqlstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// failEvents claims every due event and fails it, as a relay would after a 410.
func failEvents(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	events, err := s.ClaimEvents(context.Background(), 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := s.MarkFailed(context.Background(), e.ID, e.AttemptCount, "webhook answered 410 Gone"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutboxListAndRetry(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		ctx := context.Background()
		s := migratedStore(t, url)
		owner, err := outboxseed.Owner(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := outboxseed.Store(ctx, s, owner, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		failEvents(t, s)
		if _, err := outboxseed.Store(ctx, s, owner, time.Now()); err != nil {
			t.Fatal(err)
		}
		db := []string{"--database-url", url}

		out := mustSucceed(t, append([]string{"outbox", "ls", "--status", "failed"}, db...)...).stdout
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.Contains(lines[1], "webhook answered 410 Gone") {
			t.Errorf("outbox ls --status failed:\n%s", out)
		}
		var page struct {
			Items []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		out = mustSucceed(t, append([]string{"outbox", "ls", "--json", "--limit", "3"}, db...)...).stdout
		if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 3 || page.Items[0].Status != "PENDING" || page.NextCursor != page.Items[2].ID {
			t.Fatalf("outbox ls --json --limit 3 = %v:\n%s", err, out)
		}
		out = mustSucceed(t, append([]string{"outbox", "ls", "--json", "--after", page.NextCursor}, db...)...).stdout
		page.Items, page.NextCursor = nil, ""
		if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Items) != 1 || page.NextCursor != "" {
			t.Errorf("the second page = %v:\n%s", err, out)
		}

		one := page.Items[0].ID
		if got := mustSucceed(t, append([]string{"outbox", "retry", "--id", one}, db...)...).stdout; got != "event "+one+" to deliver again\n" {
			t.Errorf("outbox retry --id: %q", got)
		}
		mustFail(t, append([]string{"outbox", "retry", "--id", one}, db...)...) // PENDING now, not FAILED
		if got := mustSucceed(t, append([]string{"outbox", "retry", "--all-failed"}, db...)...).stdout; got != "2 FAILED events to deliver again\n" {
			t.Errorf("outbox retry --all-failed: %q", got)
		}
		if events, err := s.FindEvents(ctx, readmodel.ListQuery{Status: string(ingest.OutboxPending)}); err != nil || len(events.Items) != 4 {
			t.Errorf("PENDING after the retries: %v, %v; want 4", events, err)
		}
		mustFail(t, append([]string{"outbox", "retry"}, db...)...)
		mustFail(t, append([]string{"outbox", "retry", "--id", one, "--all-failed"}, db...)...)
		mustFail(t, append([]string{"outbox", "ls", "--status", "LOST"}, db...)...)
	})
}

func TestOutboxRetentionAcceptsDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "0": 0, "36h": 36 * time.Hour, "0d": 0} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "-1h", "xd", "1.5d", "d"} {
		if _, err := parseRetention(in); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("parseRetention(%q) = %v, want VALIDATION_FAILED", in, err)
		}
	}
	r := mustFail(t, "relay", "--database-url", testdb.SQLiteURL(t), "--outbox-retention", "week")
	if !strings.Contains(r.stderr, "--outbox-retention") {
		t.Errorf("stderr = %q", r.stderr)
	}
}
