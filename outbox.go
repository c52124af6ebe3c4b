package ingest

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// OutboxStatus is the delivery state of an outbox event.
type OutboxStatus string

// The states of an outbox event.
const (
	OutboxPending   OutboxStatus = "PENDING"
	OutboxSending   OutboxStatus = "SENDING" // claimed by a relay until next_attempt_at (its lease)
	OutboxDelivered OutboxStatus = "DELIVERED"
	OutboxFailed    OutboxStatus = "FAILED" // attempts exhausted or a permanent error; retried by hand
)

var outboxMachine = machine[OutboxStatus]{
	entity: "outbox event",
	code:   EInvalidTransition,
	states: []OutboxStatus{OutboxPending, OutboxSending, OutboxDelivered, OutboxFailed},
	next: map[OutboxStatus][]OutboxStatus{
		OutboxPending: {OutboxSending},
		// SENDING → SENDING is a relay claiming a row whose lease has passed (another relay
		// crashed); the store allows it only once next_attempt_at is behind.
		OutboxSending: {OutboxDelivered, OutboxPending, OutboxFailed, OutboxSending},
		OutboxFailed:  {OutboxPending},
	},
}

// OutboxStatuses returns every outbox status.
func OutboxStatuses() []OutboxStatus { return outboxMachine.states }

// Valid reports whether s is an outbox status.
func (s OutboxStatus) Valid() bool { return outboxMachine.valid(s) }

// Terminal reports whether nothing can follow s.
func (s OutboxStatus) Terminal() bool { return outboxMachine.terminal(s) }

// CanBecome reports whether the outbox state machine allows s → to.
func (s OutboxStatus) CanBecome(to OutboxStatus) bool { return outboxMachine.allows(s, to) }

// CheckOutboxTransition returns a *TransitionError (code INVALID_TRANSITION) unless from → to is
// allowed.
func CheckOutboxTransition(id uuid.UUID, from, to OutboxStatus) error {
	return outboxMachine.check(id, from, to)
}

// EventFileStored is the event type announcing a STORED file.
const EventFileStored = "file.stored"

// OutboxEvent is an event waiting to be, or already, delivered to the downstream sink. It is
// written in the same transaction as the change it announces and delivered at least once.
type OutboxEvent struct {
	ID             uuid.UUID
	CreatedAt      time.Time
	UpdatedAt      time.Time
	EventType      string
	EventID        uuid.UUID // stable across retries; consumers deduplicate by it
	IdempotencyKey string    // unique per event type: the file id for file.stored
	Payload        json.RawMessage
	Status         OutboxStatus
	NextAttemptAt  time.Time // when PENDING: the earliest next attempt; when SENDING: the lease's end
	AttemptCount   int
	// RetryBaseAttempts is AttemptCount when an operator last retried the event by hand: the
	// retry schedule counts the attempts since, AttemptCount - RetryBaseAttempts.
	RetryBaseAttempts int
	FileID            uuid.UUID
	LastError         string
	DeliveredAt       *time.Time
}

// FileStoredData is the payload of a file.stored event: the CloudEvent's data.
type FileStoredData struct {
	FileID           uuid.UUID      `json:"file_id"`
	BatchID          *uuid.UUID     `json:"batch_id"`
	SHA256           string         `json:"sha256"`
	SizeBytes        int64          `json:"size_bytes"`
	ContentType      string         `json:"content_type"`
	OriginalFilename string         `json:"original_filename"`
	StorageBackend   StorageBackend `json:"storage_backend"`
	StorageBucket    string         `json:"storage_bucket,omitempty"`
	StorageKey       string         `json:"storage_key"`
	UploadedByID     uuid.UUID      `json:"uploaded_by_id"`
	StoredAt         time.Time      `json:"stored_at"`
	// Metadata is the file's metadata, {} when it has none.
	Metadata map[string]string `json:"metadata"`
}

// NewFileStoredEvent returns the pending file.stored event of a STORED file, due now. Its
// idempotency key is the file id, so a file is announced once however often it is completed.
func NewFileStoredEvent(f *File, now time.Time) (*OutboxEvent, error) {
	if f.Status != FileStored || f.StoredAt == nil {
		return nil, Errorf(EValidation, "file %s is %s: only a STORED file is announced", f.ID, f.Status)
	}
	payload, err := json.Marshal(FileStoredData{
		FileID:           f.ID,
		BatchID:          f.BatchID,
		SHA256:           f.SHA256,
		SizeBytes:        f.SizeBytes,
		ContentType:      f.ContentType,
		OriginalFilename: f.OriginalFilename,
		StorageBackend:   f.StorageBackend,
		StorageBucket:    f.StorageBucket,
		StorageKey:       f.StorageKey,
		UploadedByID:     f.UploadedByID,
		StoredAt:         *f.StoredAt,
		Metadata:         metadataOrEmpty(f.Metadata),
	})
	if err != nil {
		return nil, err
	}
	return &OutboxEvent{
		ID:             NewID(),
		EventType:      EventFileStored,
		EventID:        NewID(),
		IdempotencyKey: f.ID.String(),
		Payload:        payload,
		Status:         OutboxPending,
		NextAttemptAt:  now,
		FileID:         f.ID,
	}, nil
}

// OutboxSources returns the states from which an outbox event may become to.
func OutboxSources(to OutboxStatus) []OutboxStatus { return outboxMachine.sources(to) }

// CheckOutboxRetry returns a *TransitionError unless an event in state from may be retried by hand:
// only a FAILED event may. (SENDING → PENDING is the relay's own retry, not an operator's.)
func CheckOutboxRetry(id uuid.UUID, from OutboxStatus) error {
	if from == OutboxFailed {
		return nil
	}
	return outboxMachine.refuse(id, from, OutboxPending)
}

// CheckOutboxResult returns a *TransitionError unless a relay may record the result `to` of a
// delivery on an event in state from: only a SENDING event takes results. (FAILED → PENDING is an
// operator's retry, not a delivery result.)
func CheckOutboxResult(id uuid.UUID, from, to OutboxStatus) error {
	if from == OutboxSending {
		return outboxMachine.check(id, from, to)
	}
	return outboxMachine.refuse(id, from, to)
}

// ScheduledAttempt is the number of the event's current attempt within its retry schedule: 1 for
// the first attempt after it was written or retried by hand.
func (e *OutboxEvent) ScheduledAttempt() int { return e.AttemptCount - e.RetryBaseAttempts }

// metadataOrEmpty is m, or an empty map for nil: JSON readers get {} rather than null.
func metadataOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
