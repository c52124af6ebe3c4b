package ingest

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// OutboxOps are the outbox operations beyond one event's delivery: what operators, retention,
// metrics and the relay's wake-ups need.
type OutboxOps interface {
	// MarkEventsDelivered is MarkDelivered for many events in one transaction: each moves to
	// DELIVERED if it is still SENDING under its claimed attempt. It returns the ids it moved; the
	// others' leases were lost, and their results belong to whoever holds them now.
	MarkEventsDelivered(ctx context.Context, claims []Claim) ([]uuid.UUID, error)
	// RetryFailedEvents moves every FAILED event to PENDING, due now, restarting each one's retry
	// schedule, and returns how many it moved.
	RetryFailedEvents(ctx context.Context) (int, error)
	// DeleteDeliveredEvents deletes up to limit DELIVERED events delivered before t and returns how
	// many it deleted; callers repeat it until it deletes fewer than limit, so that no single
	// transaction grows with the backlog.
	DeleteDeliveredEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// OutboxStats counts the events that are not DELIVERED by status, and finds the oldest due one.
	// DELIVERED events are not counted: that would read every event the retention keeps.
	OutboxStats(ctx context.Context) (OutboxStats, error)
	// WatchOutbox returns a channel that receives a value soon after events may have become due
	// (an event was enqueued or retried by hand), until ctx ends. Wake-ups coalesce and may be
	// spurious or, when the database connection is lost, missed: a watcher still polls.
	WatchOutbox(ctx context.Context) (<-chan struct{}, error)
}

// Claim names one claimed attempt at delivering an event: the fence of its result.
type Claim struct {
	ID      uuid.UUID `json:"id"`
	Attempt int       `json:"attempt"`
}

// OutboxStats describes the outbox at one moment.
type OutboxStats struct {
	// Counts has the number of PENDING, SENDING and FAILED events; a status without events is
	// absent.
	Counts map[OutboxStatus]int
	// OldestDueAt is when the oldest due event (PENDING, or SENDING with a passed lease) became
	// due; the zero time when none is due.
	OldestDueAt time.Time
}
