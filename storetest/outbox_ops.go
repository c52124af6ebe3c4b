package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// settle claims each event, ahead of any other due event, and records the result: delivered, or
// failed.
func (f *fixture) settle(to ingest.OutboxStatus, ids ...uuid.UUID) {
	f.t.Helper()
	for _, id := range ids {
		f.exec(`UPDATE portal_event_outbox SET next_attempt_at = $1 WHERE id = $2`, sqlTime(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)), id)
		events, err := f.Store.ClaimEvents(f.ctx, 1, time.Minute)
		if err != nil || len(events) != 1 || events[0].ID != id {
			f.t.Fatalf("claim %s: %d events, %v", id, len(events), err)
		}
		e := events[0]
		if to == ingest.OutboxDelivered {
			err = f.Store.MarkDelivered(f.ctx, id, e.AttemptCount)
		} else {
			err = f.Store.MarkFailed(f.ctx, id, e.AttemptCount, "410 Gone")
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// storedEvents stores n files and returns their events' ids, oldest first.
func (f *fixture) storedEvents(u *ingest.User, n int) []uuid.UUID {
	f.t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		_, e := f.storedEvent(u)
		ids[i] = e.ID
	}
	return ids
}

func eventIDs(events []*ingest.OutboxEvent) []uuid.UUID {
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

func testOutboxOps(t *testing.T, open Opener) {
	t.Run("events are listed newest first, by status, a page at a time", func(t *testing.T) {
		f := newFixture(t, open)
		ids := f.storedEvents(f.user(false), 5)
		f.settle(ingest.OutboxFailed, ids[1], ids[3])
		lists := f.console()
		got, err := lists.FindEvents(f.ctx, readmodel.ListQuery{Status: string(ingest.OutboxFailed)})
		if err != nil {
			t.Fatal(err)
		}
		if want := []uuid.UUID{ids[3], ids[1]}; !equalIDs(eventIDs(got.Items), want) {
			t.Errorf("FAILED events = %v, want %v", eventIDs(got.Items), want)
		}
		first, err := lists.FindEvents(f.ctx, readmodel.ListQuery{Limit: 2})
		if err != nil || !equalIDs(eventIDs(first.Items), []uuid.UUID{ids[4], ids[3]}) {
			t.Fatalf("first page = %v, %v", first, err)
		}
		next, err := lists.FindEvents(f.ctx, readmodel.ListQuery{Limit: 2, Cursor: readmodel.Cursor{After: &first.Items[1].ID}})
		if err != nil || !equalIDs(eventIDs(next.Items), []uuid.UUID{ids[2], ids[1]}) {
			t.Errorf("second page = %v, %v", next, err)
		}
		_, err = lists.FindEvents(f.ctx, readmodel.ListQuery{Status: "LOST"})
		wantCode(t, err, ingest.EValidation)
	})

	t.Run("retrying every failed event restarts each one's schedule", func(t *testing.T) {
		f := newFixture(t, open)
		ids := f.storedEvents(f.user(false), 3)
		f.settle(ingest.OutboxFailed, ids[0], ids[1])
		f.settle(ingest.OutboxDelivered, ids[2])
		f.Clock.Advance(time.Hour)
		n, err := f.Store.RetryFailedEvents(f.ctx)
		if err != nil || n != 2 {
			t.Fatalf("retried %d, %v; want 2", n, err)
		}
		for _, id := range ids[:2] {
			e := f.getEvent(id)
			if e.Status != ingest.OutboxPending || !e.NextAttemptAt.Equal(f.Clock.Now()) || e.AttemptCount != 1 ||
				e.RetryBaseAttempts != 1 || e.ScheduledAttempt() != 0 {
				t.Errorf("retried event = %+v", e)
			}
		}
		if e := f.getEvent(ids[2]); e.Status != ingest.OutboxDelivered {
			t.Errorf("a DELIVERED event was retried: %s", e.Status)
		}
		claimed, err := f.Store.ClaimEvents(f.ctx, 10, time.Minute)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claimed %d, %v; want the 2 retried events", len(claimed), err)
		}
		for _, e := range claimed {
			if e.AttemptCount != 2 || e.ScheduledAttempt() != 1 {
				t.Errorf("claimed after a manual retry: attempt %d, scheduled attempt %d; want 2 and 1",
					e.AttemptCount, e.ScheduledAttempt())
			}
		}
		if n, err := f.Store.RetryFailedEvents(f.ctx); err != nil || n != 0 {
			t.Errorf("nothing left to retry: retried %d, %v", n, err)
		}
	})

	t.Run("a manual retry of one event restarts its schedule too", func(t *testing.T) {
		f := newFixture(t, open)
		_, e := f.storedEvent(f.user(false))
		for attempt := 1; attempt <= 3; attempt++ {
			claimed := f.claimOne(time.Minute)
			if claimed.ScheduledAttempt() != attempt {
				t.Fatalf("scheduled attempt = %d, want %d", claimed.ScheduledAttempt(), attempt)
			}
			if err := f.Store.MarkRetry(f.ctx, e.ID, claimed.AttemptCount, f.Clock.Now(), "503"); err != nil {
				t.Fatal(err)
			}
		}
		f.settle(ingest.OutboxFailed, e.ID)
		if err := f.Store.RetryEvent(f.ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		if claimed := f.claimOne(time.Minute); claimed.AttemptCount != 5 || claimed.ScheduledAttempt() != 1 {
			t.Errorf("after a manual retry: attempt %d, scheduled attempt %d; want 5 and 1", claimed.AttemptCount, claimed.ScheduledAttempt())
		}
	})

	t.Run("delivered events older than the retention are deleted in chunks", func(t *testing.T) {
		f := newFixture(t, open)
		ids := f.storedEvents(f.user(false), 5)
		f.settle(ingest.OutboxDelivered, ids[0], ids[1], ids[2])
		f.settle(ingest.OutboxFailed, ids[3])
		f.Clock.Advance(8 * 24 * time.Hour)
		recent := f.storedEvents(f.user(false), 1)
		f.settle(ingest.OutboxDelivered, recent...)
		cutoff := f.Clock.Now().Add(-7 * 24 * time.Hour)
		var chunks []int
		for {
			n, err := f.Store.DeleteDeliveredEvents(f.ctx, cutoff, 2)
			if err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks, n)
			if n < 2 {
				break
			}
		}
		if len(chunks) != 2 || chunks[0] != 2 || chunks[1] != 1 {
			t.Errorf("deleted in chunks of %v, want [2 1]", chunks)
		}
		if n := f.count(`SELECT count(*) FROM portal_event_outbox`); n != 3 {
			t.Errorf("events left = %d, want 3 (the FAILED, the PENDING and the recently DELIVERED)", n)
		}
		_, err := f.Store.DeleteDeliveredEvents(f.ctx, cutoff, 0)
		wantCode(t, err, ingest.EValidation)
	})

	t.Run("stats count the undelivered events by status and date the oldest due event", func(t *testing.T) {
		f := newFixture(t, open)
		stats, err := f.Store.OutboxStats(f.ctx)
		if err != nil || len(stats.Counts) != 0 || !stats.OldestDueAt.IsZero() {
			t.Fatalf("stats of an empty outbox = %+v, %v", stats, err)
		}
		first := f.Clock.Now()
		ids := f.storedEvents(f.user(false), 4)
		f.Clock.Advance(time.Minute)
		f.storedEvents(f.user(false), 1)
		f.settle(ingest.OutboxDelivered, ids[0])
		f.settle(ingest.OutboxFailed, ids[1])
		stats, err = f.Store.OutboxStats(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[ingest.OutboxStatus]int{ingest.OutboxPending: 3, ingest.OutboxFailed: 1}
		if len(stats.Counts) != len(want) {
			t.Errorf("counts = %v, want %v", stats.Counts, want)
		}
		for st, n := range want {
			if stats.Counts[st] != n {
				t.Errorf("counts = %v, want %v", stats.Counts, want)
			}
		}
		if !stats.OldestDueAt.Equal(first) {
			t.Errorf("oldest due at %v, want %v", stats.OldestDueAt, first)
		}
	})

	t.Run("a relay whose lease passed can record no result", func(t *testing.T) {
		f := newFixture(t, open)
		_, e := f.storedEvent(f.user(false))
		old := f.claimOne(time.Second)
		f.Clock.Advance(2 * time.Second)
		current := f.claimOne(time.Minute)
		wantCode(t, f.Store.MarkRetry(f.ctx, e.ID, old.AttemptCount, f.Clock.Now(), "late"), ingest.EConflict)
		wantCode(t, f.Store.MarkFailed(f.ctx, e.ID, old.AttemptCount, "late"), ingest.EConflict)
		wantCode(t, f.Store.MarkDelivered(f.ctx, e.ID, old.AttemptCount), ingest.EConflict)
		if got := f.getEvent(e.ID); got.Status != ingest.OutboxSending || got.AttemptCount != current.AttemptCount || got.LastError != "" {
			t.Errorf("late marks changed the event: %+v", got)
		}
		if err := f.Store.MarkRetry(f.ctx, e.ID, current.AttemptCount, f.Clock.Now(), "503"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.Store.MarkDelivered(f.ctx, e.ID, old.AttemptCount), ingest.EInvalidTransition)
	})

	t.Run("many events are marked delivered at once, each fenced by its attempt", func(t *testing.T) {
		f := newFixture(t, open)
		ids := f.storedEvents(f.user(false), 3)
		claimed, err := f.Store.ClaimEvents(f.ctx, 10, time.Second)
		if err != nil || len(claimed) != 3 {
			t.Fatalf("claimed %d, %v", len(claimed), err)
		}
		f.Clock.Advance(2 * time.Second)
		f.settle(ingest.OutboxFailed, ids[2]) // its lease passed: claimed again, and failed
		claims := make([]ingest.Claim, len(claimed))
		for i, e := range claimed {
			claims[i] = ingest.Claim{ID: e.ID, Attempt: e.AttemptCount}
		}
		marked, err := f.Store.MarkEventsDelivered(f.ctx, claims)
		if err != nil {
			t.Fatal(err)
		}
		if len(marked) != 2 || !slices.Contains(marked, ids[0]) || !slices.Contains(marked, ids[1]) {
			t.Errorf("marked %v, want %v", marked, ids[:2])
		}
		for i, want := range []ingest.OutboxStatus{ingest.OutboxDelivered, ingest.OutboxDelivered, ingest.OutboxFailed} {
			if got := f.getEvent(ids[i]); got.Status != want || (want == ingest.OutboxDelivered && !got.DeliveredAt.Equal(f.Clock.Now())) {
				t.Errorf("event %d = %s at %v, want %s", i, got.Status, got.DeliveredAt, want)
			}
		}
		if marked, err := f.Store.MarkEventsDelivered(f.ctx, nil); err != nil || len(marked) != 0 {
			t.Errorf("marking nothing = %v, %v", marked, err)
		}
	})

	t.Run("a watcher is woken once events are enqueued or retried", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		ctx, stop := context.WithCancel(f.ctx)
		defer stop()
		wake, err := f.Store.WatchOutbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drain(wake)
		_, e := f.storedEvent(u)
		waitWake(t, wake, "storing a file")
		f.settle(ingest.OutboxFailed, e.ID)
		drain(wake)
		if err := f.Store.RetryEvent(f.ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		waitWake(t, wake, "a manual retry")
	})
}

// drain empties a wake-up channel, so the next receive proves a new wake-up.
func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// waitWake fails the test unless a wake-up arrives: generously soon, because the notification
// crosses a database connection on PostgreSQL; speed is measured by the benchmarks.
func waitWake(t *testing.T, c <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Errorf("no wake-up after %s", after)
	}
}

func equalIDs(a, b []uuid.UUID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
