// Package ingest is the domain of Ingest Portal: the entities (users, API tokens, upload batches,
// ingest files, upload sessions, upload parts and outbox events), their state machines and
// invariants, the error type with its codes, and the interfaces the adapters implement.
//
// It imports only the standard library and github.com/google/uuid, so every other package can
// depend on it and it depends on none of them.
package ingest

import (
	"time"

	"github.com/google/uuid"
)

// NewID returns a new time-ordered UUIDv7. It panics only if the system's random source fails,
// which leaves nothing sensible to do.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// Timestamp normalises t the way the databases store it: UTC, microsecond precision. Every time
// the store writes goes through it, so a value read back equals the value written.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// IDTime returns the instant a UUIDv7 was made, to the millisecond. Object keys are dated by it, so
// a file's key follows from its id alone.
func IDTime(id uuid.UUID) time.Time {
	sec, nsec := id.Time().UnixTime()
	return time.Unix(sec, nsec).UTC()
}
