package upload

import (
	"context"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// CreateBatch opens a batch owned by the actor.
func (s *Service) CreateBatch(ctx context.Context, actor *ingest.User, name string) (*ingest.Batch, error) {
	b := &ingest.Batch{Name: ingest.CleanName(name), CreatedByID: actor.ID}
	if err := s.store.CreateBatch(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Batch returns a batch the actor can see, or ENotFound.
func (s *Service) Batch(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.Batch, error) {
	return s.batch(ctx, actor, id)
}

func (s *Service) batch(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.Batch, error) {
	b, err := s.store.Batch(ctx, id)
	if err != nil {
		return nil, err
	}
	if !visible(actor, b.CreatedByID) {
		return nil, notFound("upload batch", id)
	}
	return b, nil
}

// ListBatches returns a page of the batches the actor can see.
func (s *Service) ListBatches(ctx context.Context, actor *ingest.User, q readmodel.ListQuery) (*readmodel.Listing[*ingest.Batch], error) {
	if !actor.IsAdmin {
		q.UserID = &actor.ID
	}
	return s.store.FindBatches(ctx, q)
}

// SealBatch closes a batch to new files; once all its files have ended it reaches its outcome.
// It returns EBatchNotOpen for a batch that is not OPEN.
func (s *Service) SealBatch(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.Batch, error) {
	if _, err := s.batch(ctx, actor, id); err != nil {
		return nil, err
	}
	return s.store.SealBatch(ctx, id)
}

// CancelBatch cancels an OPEN or SEALED batch, aborting its unfinished uploads and deleting their
// temporary data. It returns EBatchNotOpen for a batch that has ended.
func (s *Service) CancelBatch(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.Batch, error) {
	if _, err := s.batch(ctx, actor, id); err != nil {
		return nil, err
	}
	b, aborted, err := s.store.CancelBatch(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, sess := range aborted {
		s.removeTemporary(ctx, sess)
	}
	return b, nil
}
