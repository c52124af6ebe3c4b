package upload

import (
	"context"
	"io"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// File returns a file the actor can see, or ENotFound.
func (s *Service) File(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.File, error) {
	f, err := s.store.File(ctx, id)
	if err != nil {
		return nil, err
	}
	if !(visible(actor, f.UploadedByID) || uploadedWith(actor, f)) || f.Partial {
		return nil, notFound("ingest file", id)
	}
	return f, nil
}

// ListFiles returns a page of the files the actor can see; partial uploads are never listed.
func (s *Service) ListFiles(ctx context.Context, actor *ingest.User, q readmodel.ListQuery) (*readmodel.Listing[*ingest.File], error) {
	if !actor.IsAdmin {
		q.UserID = &actor.ID
	}
	q.ExcludePartial = true
	return s.store.FindFiles(ctx, q)
}

// Content opens length bytes of a stored file's content from offset (a negative length reads to
// the end). A file that is not STORED has no content: ENotFound.
func (s *Service) Content(ctx context.Context, actor *ingest.User, id uuid.UUID, offset, length int64) (*ingest.File, io.ReadCloser, error) {
	f, err := s.File(ctx, actor, id)
	if err != nil {
		return nil, nil, err
	}
	if f.Status != ingest.FileStored {
		return nil, nil, ingest.Errorf(ingest.ENotFound, "ingest file %s has no content: it is %s", id, f.Status)
	}
	r, err := s.blobs.ReadObject(ctx, f.StorageKey, offset, length)
	if err != nil {
		return nil, nil, err
	}
	return f, r, nil
}
