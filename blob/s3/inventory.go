package s3

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

var _ ingest.BlobInventory = (*Store)(nil)

// keyPrefix is what every key of the store starts with: its prefix and a slash, or nothing.
func (s *Store) keyPrefix() string {
	if s.prefix == "" {
		return ""
	}
	return s.prefix + "/"
}

// uploadsPrefix is where the temporary objects of uploads live: prefix/.uploads/.
func (s *Store) uploadsPrefix() string {
	return path.Join(s.prefix, ".uploads") + "/"
}

// ListObjects implements ingest.BlobInventory: every object under the prefix but the temporary
// ones of uploads.
func (s *Store) ListObjects(ctx context.Context, fn func(key string, modified time.Time) error) error {
	return s.listObjects(ctx, s.keyPrefix(), func(key string, modified time.Time) error {
		if strings.HasPrefix(key, s.uploadsPrefix()) {
			return nil
		}
		return fn(key, modified)
	})
}

// listObjects calls fn with every object under prefix.
func (s *Store) listObjects(ctx context.Context, prefix string, fn func(key string, modified time.Time) error) error {
	var token *string
	for {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix),
			ContinuationToken: token})
		if err != nil {
			return fmt.Errorf("s3: list objects: %w", err)
		}
		for _, obj := range out.Contents {
			if err := fn(aws.ToString(obj.Key), aws.ToTime(obj.LastModified)); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		token = out.NextContinuationToken
	}
}

// ListTemporary implements ingest.BlobInventory: the multipart uploads under the prefix, by the key
// they become, and the tails of each streamed session, by the session, last written when its
// latest tail was.
func (s *Store) ListTemporary(ctx context.Context, fn func(ingest.TemporaryData) error) error {
	if err := s.listMultipartUploads(ctx, fn); err != nil {
		return err
	}
	sessions := map[uuid.UUID]time.Time{}
	err := s.listObjects(ctx, s.uploadsPrefix(), func(key string, modified time.Time) error {
		first, _, _ := strings.Cut(strings.TrimPrefix(key, s.uploadsPrefix()), "/")
		if id, err := uuid.Parse(first); err == nil && modified.After(sessions[id]) {
			sessions[id] = modified
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, modified := range sessions {
		if err := fn(ingest.TemporaryData{SessionID: id, Modified: modified}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) listMultipartUploads(ctx context.Context, fn func(ingest.TemporaryData) error) error {
	var keyMarker, idMarker *string
	for {
		out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket),
			Prefix: aws.String(s.keyPrefix()), KeyMarker: keyMarker, UploadIdMarker: idMarker})
		if err != nil {
			return fmt.Errorf("s3: list multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			t := ingest.TemporaryData{Key: aws.ToString(u.Key), Handle: aws.ToString(u.UploadId), Modified: aws.ToTime(u.Initiated)}
			if err := fn(t); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		keyMarker, idMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// RemoveTemporary implements ingest.BlobInventory: it aborts a multipart upload, or deletes the
// tails of a session.
func (s *Store) RemoveTemporary(ctx context.Context, t ingest.TemporaryData) error {
	if t.Key != "" {
		return s.AbortUpload(ctx, ingest.BlobUpload{SessionID: t.SessionID, Key: t.Key, StorageID: t.Handle})
	}
	if t.SessionID == uuid.Nil {
		return ingest.Errorf(ingest.EValidation, "temporary data names neither a session nor a key")
	}
	prefix := ingest.UploadPrefix(s.prefix, t.SessionID) + "/"
	return s.listObjects(ctx, prefix, func(key string, _ time.Time) error { return s.DeleteObject(ctx, key) })
}
