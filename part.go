package ingest

import (
	"time"

	"github.com/google/uuid"
)

// PartStatus is the state of an upload part.
type PartStatus string

// The states of an upload part. A RECEIVED part is immutable.
const (
	PartPending  PartStatus = "PENDING"
	PartReceived PartStatus = "RECEIVED"
	PartFailed   PartStatus = "FAILED"
)

var partMachine = machine[PartStatus]{
	entity: "upload part",
	code:   EInvalidTransition,
	states: []PartStatus{PartPending, PartReceived, PartFailed},
	next: map[PartStatus][]PartStatus{
		PartPending: {PartReceived, PartFailed},
		PartFailed:  {PartPending},
	},
}

// PartStatuses returns every part status.
func PartStatuses() []PartStatus { return partMachine.states }

// Valid reports whether s is a part status.
func (s PartStatus) Valid() bool { return partMachine.valid(s) }

// Terminal reports whether nothing can follow s.
func (s PartStatus) Terminal() bool { return partMachine.terminal(s) }

// CanBecome reports whether the part state machine allows s → to.
func (s PartStatus) CanBecome(to PartStatus) bool { return partMachine.allows(s, to) }

// CheckPartTransition returns a *TransitionError (code INVALID_TRANSITION) unless from → to is
// allowed.
func CheckPartTransition(id uuid.UUID, from, to PartStatus) error {
	return partMachine.check(id, from, to)
}

// Part is one numbered part of an upload session.
type Part struct {
	ID         uuid.UUID
	CreatedAt  time.Time
	UpdatedAt  time.Time
	SessionID  uuid.UUID
	PartNumber int
	Status     PartStatus
	TempKey    string // where the blob store keeps the part's bytes until completion
	SizeBytes  int64
	CRC32C     *uint32 // set once RECEIVED
	SHA256     string  // lower-case hex; only when the client sent a SHA-256 Content-Digest
	ETag       string  // the blob store's tag of the part's bytes, where it has one (S3)
}

// PartReceipt is what the service learned about a part's bytes once they were durable.
type PartReceipt struct {
	SizeBytes int64
	CRC32C    uint32
	SHA256    string // "" unless computed
	ETag      string // the blob store's tag, from WrittenPart
}

// PartSources returns the states from which a part may become to.
func PartSources(to PartStatus) []PartStatus { return partMachine.sources(to) }
