package ingest

import (
	"time"

	"github.com/google/uuid"
)

// BatchStatus is the state of an upload batch.
type BatchStatus string

// The states of an upload batch.
const (
	BatchOpen      BatchStatus = "OPEN"      // accepts new files
	BatchSealed    BatchStatus = "SEALED"    // no new files; waits for its files to end
	BatchComplete  BatchStatus = "COMPLETE"  // every file stored
	BatchPartial   BatchStatus = "PARTIAL"   // some files stored, some failed
	BatchFailed    BatchStatus = "FAILED"    // every file failed
	BatchCancelled BatchStatus = "CANCELLED" // cancelled; its unfinished uploads were aborted
)

var batchMachine = machine[BatchStatus]{
	entity: "upload batch",
	code:   EBatchNotOpen,
	states: []BatchStatus{BatchOpen, BatchSealed, BatchComplete, BatchPartial, BatchFailed, BatchCancelled},
	next: map[BatchStatus][]BatchStatus{
		BatchOpen:   {BatchSealed, BatchCancelled},
		BatchSealed: {BatchComplete, BatchPartial, BatchFailed, BatchCancelled},
	},
}

// BatchStatuses returns every batch status.
func BatchStatuses() []BatchStatus { return batchMachine.states }

// Valid reports whether s is a batch status.
func (s BatchStatus) Valid() bool { return batchMachine.valid(s) }

// Terminal reports whether nothing can follow s.
func (s BatchStatus) Terminal() bool { return batchMachine.terminal(s) }

// CanBecome reports whether the batch state machine allows s → to.
func (s BatchStatus) CanBecome(to BatchStatus) bool { return batchMachine.allows(s, to) }

// BatchSources returns the states from which a batch may become to.
func BatchSources(to BatchStatus) []BatchStatus { return batchMachine.sources(to) }

// CheckBatchTransition returns a *TransitionError (code BATCH_NOT_OPEN) unless from → to is allowed.
func CheckBatchTransition(id uuid.UUID, from, to BatchStatus) error {
	return batchMachine.check(id, from, to)
}

// Batch groups files that belong together. Its counters change in the same transaction as the
// files they count: 0 <= StoredCount + FailedCount <= TotalFiles.
type Batch struct {
	ID          uuid.UUID
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Status      BatchStatus
	Name        string
	CreatedByID uuid.UUID
	TotalFiles  int
	StoredCount int
	FailedCount int
	SealedAt    *time.Time
}

// MaxBatchNameLength bounds a batch's display name, in bytes.
const MaxBatchNameLength = 200

// Settled reports whether every file registered in the batch has ended, stored or failed.
func (b *Batch) Settled() bool { return b.StoredCount+b.FailedCount == b.TotalFiles }

// Outcome is the terminal status a settled batch moves to once sealed: COMPLETE when no file
// failed (an empty batch included), FAILED when every file failed, PARTIAL otherwise.
func (b *Batch) Outcome() BatchStatus {
	switch {
	case b.FailedCount == 0:
		return BatchComplete
	case b.StoredCount == 0:
		return BatchFailed
	default:
		return BatchPartial
	}
}
