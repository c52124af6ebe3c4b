package httpapi_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/sqlstore"
)

// errInjected is the fault the fuzzed handler's store or blob store fails with; its text, with a
// path and a cause, must never reach a client.
var errInjected = errors.New("injected fault: /var/lib/ingest/secret.db: disk I/O error")

// faultSwitch fails every call while it is on.
type faultSwitch struct{ on atomic.Bool }

func (f *faultSwitch) fault() error {
	if f.on.Load() {
		return errInjected
	}
	return nil
}

// faultStore is the SQL store failing, while its switch is on, the calls the API's requests make.
type faultStore struct {
	*sqlstore.Store
	*faultSwitch
}

func (s faultStore) Authenticate(ctx context.Context, tokenHash string) (*ingest.User, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.Authenticate(ctx, tokenHash)
}

func (s faultStore) CreateBatch(ctx context.Context, b *ingest.Batch) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.CreateBatch(ctx, b)
}

func (s faultStore) Batch(ctx context.Context, id uuid.UUID) (*ingest.Batch, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.Batch(ctx, id)
}

func (s faultStore) SealBatch(ctx context.Context, id uuid.UUID) (*ingest.Batch, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.SealBatch(ctx, id)
}

func (s faultStore) CreateUpload(ctx context.Context, f *ingest.File, u *ingest.UploadSession, q ingest.UploadQuota) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.CreateUpload(ctx, f, u, q)
}

func (s faultStore) File(ctx context.Context, id uuid.UUID) (*ingest.File, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.File(ctx, id)
}

func (s faultStore) UploadSession(ctx context.Context, id uuid.UUID) (*ingest.UploadSession, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.UploadSession(ctx, id)
}

func (s faultStore) UploadSessionForPart(ctx context.Context, id uuid.UUID, n int) (*ingest.UploadSession, *ingest.File, *ingest.Part, error) {
	if err := s.fault(); err != nil {
		return nil, nil, nil, err
	}
	return s.Store.UploadSessionForPart(ctx, id, n)
}

func (s faultStore) SessionByIdempotencyKey(ctx context.Context, userID uuid.UUID, key string) (*ingest.UploadSession, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.SessionByIdempotencyKey(ctx, userID, key)
}

func (s faultStore) Parts(ctx context.Context, sessionID uuid.UUID) ([]*ingest.Part, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.Parts(ctx, sessionID)
}

func (s faultStore) RecordStoredUpload(ctx context.Context, f *ingest.File, u *ingest.UploadSession, r ingest.PartReceipt,
	obj ingest.StoredObject, flush ingest.Pending) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.RecordStoredUpload(ctx, f, u, r, obj, flush)
}

func (s faultStore) StoreFile(ctx context.Context, sessionID uuid.UUID, obj ingest.StoredObject) (*ingest.File, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.StoreFile(ctx, sessionID, obj)
}

func (s faultStore) CreateGrant(ctx context.Context, g *ingest.UploadGrant) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.CreateGrant(ctx, g)
}

func (s faultStore) Grants(ctx context.Context, createdByID uuid.UUID, after *uuid.UUID, limit int) ([]*ingest.UploadGrant, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.Grants(ctx, createdByID, after, limit)
}

func (s faultStore) FindBatches(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.Batch], error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.FindBatches(ctx, q)
}

func (s faultStore) FindFiles(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.File], error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.FindFiles(ctx, q)
}

// faultBlobs is a blob store failing every call while its switch is on. It has none of the
// optional interfaces of the store it wraps (ingest.DeferredPutter, ingest.PartReader), so the
// handler with faults takes the plain paths; the one without keeps the local store's own.
type faultBlobs struct {
	ingest.BlobStore
	*faultSwitch
}

func (b faultBlobs) CreateUpload(ctx context.Context, u ingest.BlobUpload) (string, error) {
	if err := b.fault(); err != nil {
		return "", err
	}
	return b.BlobStore.CreateUpload(ctx, u)
}

func (b faultBlobs) WritePart(ctx context.Context, u ingest.BlobUpload, n int, r io.Reader) (ingest.WrittenPart, error) {
	if err := b.fault(); err != nil {
		return ingest.WrittenPart{}, err
	}
	return b.BlobStore.WritePart(ctx, u, n, r)
}

func (b faultBlobs) CompleteUpload(ctx context.Context, u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	if err := b.fault(); err != nil {
		return err
	}
	return b.BlobStore.CompleteUpload(ctx, u, parts)
}

func (b faultBlobs) AbortUpload(ctx context.Context, u ingest.BlobUpload) error {
	if err := b.fault(); err != nil {
		return err
	}
	return b.BlobStore.AbortUpload(ctx, u)
}

func (b faultBlobs) PutObject(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := b.fault(); err != nil {
		return err
	}
	return b.BlobStore.PutObject(ctx, key, r, size)
}

func (b faultBlobs) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := b.fault(); err != nil {
		return nil, err
	}
	return b.BlobStore.ReadObject(ctx, key, offset, length)
}

func (b faultBlobs) StatObject(ctx context.Context, key string) (int64, error) {
	if err := b.fault(); err != nil {
		return 0, err
	}
	return b.BlobStore.StatObject(ctx, key)
}

func (b faultBlobs) DeleteObject(ctx context.Context, key string) error {
	if err := b.fault(); err != nil {
		return err
	}
	return b.BlobStore.DeleteObject(ctx, key)
}

func (b faultBlobs) Ping(ctx context.Context) error {
	if err := b.fault(); err != nil {
		return err
	}
	return b.BlobStore.Ping(ctx)
}
