// Package gcs keeps blobs in Google Cloud Storage. Each part of an upload session is a temporary
// object under the session's prefix, streamed straight from the client's request; completion
// composes them into the file's object, 32 at a time (GCS's limit per compose), and then deletes
// them. No byte is buffered whole in memory or sent through the portal twice.
package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/google/uuid"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/storeurl"
	"github.com/ingest-portal/ingest/internal/streambody"
)

var _ ingest.BlobStore = (*Store)(nil)

// maxComposeSources is how many objects one compose request may put together.
const maxComposeSources = 32

// Store is an ingest.BlobStore on one GCS bucket.
type Store struct {
	bucket *storage.BucketHandle
	name   string
	prefix string
}

// New returns a store that keeps objects in bucket through client (made with storage.WithJSONReads,
// as Open makes it, for servers other than GCS that serve only the JSON API), with keys under prefix
// (slashes at its ends are dropped; "" for none).
func New(client *storage.Client, bucket, prefix string) *Store {
	return &Store{bucket: client.Bucket(bucket), name: bucket, prefix: strings.Trim(prefix, "/")}
}

// Open returns a store for a URL of the form
//
//	gs://bucket[/prefix][?endpoint=http://127.0.0.1:4443]
//
// Without an endpoint the store talks to Google Cloud Storage with Application Default
// Credentials: the service account key file named by GOOGLE_APPLICATION_CREDENTIALS, or the
// credentials of the machine the portal runs on. With an endpoint, it talks to that server (an
// emulator such as fake-gcs-server) without credentials. Open sends no request; Ping checks the
// settings against the server.
//
// It returns EValidation for a URL it cannot use. Its errors never repeat the URL.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	loc, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts := []option.ClientOption{storage.WithJSONReads()}
	if loc.endpoint != "" {
		opts = append(opts, option.WithEndpoint(loc.endpoint+"/storage/v1/"), option.WithoutAuthentication())
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: configure the client: %w", err)
	}
	return New(client, loc.bucket, loc.prefix), nil
}

// location is what a storage URL says.
type location struct {
	bucket, prefix, endpoint string
}

// parseURL reads a gs:// URL. Its errors describe what is wrong without quoting the URL.
func parseURL(rawURL string) (location, error) {
	u, err := storeurl.Parse(rawURL, "gs", "GOOGLE_APPLICATION_CREDENTIALS", "endpoint")
	if err != nil {
		return location{}, err
	}
	loc := location{bucket: u.Container, prefix: u.Prefix}
	if e, ok := u.Query["endpoint"]; ok {
		if loc.endpoint, err = storeurl.Endpoint("gs", e, false); err != nil {
			return location{}, err
		}
	}
	return loc, nil
}

// Backend returns ingest.StorageGCS.
func (s *Store) Backend() ingest.StorageBackend { return ingest.StorageGCS }

// Bucket returns the bucket the store keeps objects in.
func (s *Store) Bucket() string { return s.name }

// Prefix returns the key prefix of the store's objects, without slashes at its ends.
func (s *Store) Prefix() string { return s.prefix }

// uploadDir is where u's temporary objects live: its marker, its parts and composed groups.
func (s *Store) uploadDir(u ingest.BlobUpload) string {
	return ingest.UploadPrefix(s.prefix, u.SessionID) + "/"
}

// marker is the object that says u exists: made by CreateUpload, deleted by completion and abort.
func (s *Store) marker(u ingest.BlobUpload) *storage.ObjectHandle {
	return s.bucket.Object(s.uploadDir(u) + "upload")
}

// part is the object of one write of part n: each write makes an object of its own, named by
// token, so that completion composes the very bytes of the writes it is given, whatever was
// written since.
func (s *Store) part(u ingest.BlobUpload, n int, token string) *storage.ObjectHandle {
	return s.bucket.Object(fmt.Sprintf("%spart-%05d-%s", s.uploadDir(u), n, token))
}

// CreateUpload makes u's marker and returns the session id as the upload's handle.
func (s *Store) CreateUpload(ctx context.Context, u ingest.BlobUpload) (string, error) {
	if err := checkShape(u); err != nil {
		return "", err
	}
	if err := s.put(ctx, s.marker(u), strings.NewReader(""), 0, "create upload"); err != nil {
		return "", err
	}
	return u.SessionID.String(), nil
}

// WritePart streams r into a new temporary object of part n. A body that turns out too short or
// too long, or fails, cancels the request before GCS has made the object. The part's ETag names
// the object.
func (s *Store) WritePart(ctx context.Context, u ingest.BlobUpload, n int, r io.Reader) (ingest.WrittenPart, error) {
	if err := checkUpload(u); err != nil {
		return ingest.WrittenPart{}, err
	}
	if total := u.TotalParts(); n < 1 || n > total {
		return ingest.WrittenPart{}, ingest.Errorf(ingest.EValidation, "part %d is outside 1..%d", n, total)
	}
	size := u.PartSize(n)
	token := ingest.NewID().String()
	if err := s.put(ctx, s.part(u, n, token), r, size, fmt.Sprintf("write part %d", n)); err != nil {
		return ingest.WrittenPart{}, err
	}
	return ingest.WrittenPart{Number: n, Size: size, ETag: token}, nil
}

// PutObject streams size bytes of r to the object at key in one request, as WritePart streams a
// part: a body too short, too long or failing makes no object.
func (s *Store) PutObject(ctx context.Context, key string, r io.Reader, size int64) error {
	if size < 0 || size > ingest.MaxPartSize {
		return ingest.Errorf(ingest.EValidation, "objects of 0 to %d bytes are put in one request, not %d", int64(ingest.MaxPartSize), size)
	}
	return s.put(ctx, s.bucket.Object(key), r, size, "put object")
}

// put streams exactly size bytes of r to obj in one request. Anything else cancels the request,
// which GCS then drops: an upload is only made into an object when its request ends normally.
func (s *Store) put(ctx context.Context, obj *storage.ObjectHandle, r io.Reader, size int64, what string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(ctx)
	w.ChunkSize = 0 // one request streamed from r: no buffer of the part, no retry
	body := streambody.New(r, size, what)
	if _, err := io.Copy(w, body); err != nil || body.Failure() != nil {
		cancel()
		_ = w.Close() // fails: the request was cancelled before it ended
		if berr := body.Failure(); berr != nil {
			return berr
		}
		return fmt.Errorf("gcs: %s: %w", what, err)
	}
	if err := w.Close(); err != nil {
		return translate(err, what)
	}
	return nil
}

// CompleteUpload composes u's parts into the object u.Key and deletes its temporary objects.
// When u's marker is gone but the object is there with u's size, an earlier completion made it,
// and CompleteUpload succeeds again.
func (s *Store) CompleteUpload(ctx context.Context, u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	sources, err := s.sources(u, parts)
	if err != nil {
		return err
	}
	if _, err := s.marker(u).Attrs(ctx); err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return ingest.CompletedBefore(ctx, s, u, err)
		}
		return fmt.Errorf("gcs: complete upload: %w", err)
	}
	dst := s.bucket.Object(u.Key)
	if len(sources) == 0 {
		err = s.put(ctx, dst, strings.NewReader(""), 0, "complete empty upload")
	} else {
		err = s.compose(ctx, u, sources, dst)
	}
	if err != nil {
		return err
	}
	// The marker goes last, so that a completion interrupted while tidying up is repeated whole.
	return s.removeUpload(ctx, u)
}

// sources are the objects of parts, as their writes named them.
func (s *Store) sources(u ingest.BlobUpload, parts []ingest.WrittenPart) ([]*storage.ObjectHandle, error) {
	if len(parts) != u.TotalParts() {
		return nil, ingest.Errorf(ingest.EValidation, "completion needs all %d parts, got %d", u.TotalParts(), len(parts))
	}
	sources := make([]*storage.ObjectHandle, len(parts))
	for i, p := range parts {
		if _, err := uuid.Parse(p.ETag); p.Number != i+1 || err != nil {
			return nil, ingest.Errorf(ingest.EValidation, "completion needs parts 1..%d in order, each with its ETag", len(parts))
		}
		sources[i] = s.part(u, p.Number, p.ETag)
	}
	return sources, nil
}

// compose puts sources together into dst, in groups of maxComposeSources objects composed into
// temporary ones first while there are more.
func (s *Store) compose(ctx context.Context, u ingest.BlobUpload, sources []*storage.ObjectHandle, dst *storage.ObjectHandle) error {
	for level := 0; len(sources) > maxComposeSources; level++ {
		var next []*storage.ObjectHandle
		for i := 0; i < len(sources); i += maxComposeSources {
			group := s.bucket.Object(fmt.Sprintf("%scompose-%d-%05d", s.uploadDir(u), level, i/maxComposeSources))
			attrs, err := group.ComposerFrom(sources[i:min(i+maxComposeSources, len(sources))]...).Run(ctx)
			if err != nil {
				return composeError(err)
			}
			next = append(next, group.Generation(attrs.Generation))
		}
		sources = next
	}
	if _, err := dst.ComposerFrom(sources...).Run(ctx); err != nil {
		return composeError(err)
	}
	return nil
}

// composeError is the error of a compose: a source that is gone is a part not in storage.
func composeError(err error) error {
	if code := httpCode(err); code == http.StatusNotFound || code == http.StatusPreconditionFailed || errors.Is(err, storage.ErrObjectNotExist) {
		return &ingest.Error{Code: ingest.ENotFound, Message: "a part of the upload is not in storage", Err: err}
	}
	return fmt.Errorf("gcs: compose: %w", err)
}

// AbortUpload deletes u's temporary objects. An upload that is already gone is no error.
func (s *Store) AbortUpload(ctx context.Context, u ingest.BlobUpload) error {
	if u.StorageID == "" {
		return nil // never created: nothing was left behind
	}
	return s.removeUpload(ctx, u)
}

// removeUpload deletes u's parts and composed groups, then its marker.
func (s *Store) removeUpload(ctx context.Context, u ingest.BlobUpload) error {
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: s.uploadDir(u), Projection: storage.ProjectionNoACL})
	marker := s.marker(u).ObjectName()
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("gcs: list the upload's objects: %w", err)
		}
		if attrs.Name == marker {
			continue
		}
		if err := s.DeleteObject(ctx, attrs.Name); err != nil {
			return err
		}
	}
	return s.DeleteObject(ctx, marker)
}

// ReadObject streams length bytes of the object at key from offset, to its end for a negative
// length. Reading at or past the end reads nothing, as it does from a file.
func (s *Store) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "offset %d is negative", offset)
	}
	size, err := s.StatObject(ctx, key)
	if err != nil {
		return nil, err
	}
	if length == 0 || offset >= size {
		// HTTP cannot ask for no bytes, and GCS refuses a range past the end.
		return io.NopCloser(strings.NewReader("")), nil
	}
	if length < 0 || length > size-offset {
		length = -1
	}
	r, err := s.bucket.Object(key).NewRangeReader(ctx, offset, length)
	if err != nil {
		return nil, translate(err, "read object")
	}
	return r, nil
}

// StatObject returns the size of the object at key.
func (s *Store) StatObject(ctx context.Context, key string) (int64, error) {
	attrs, err := s.bucket.Object(key).Attrs(ctx)
	if err != nil {
		return 0, translate(err, "stat object")
	}
	return attrs.Size, nil
}

// DeleteObject deletes the object at key; a missing object is no error.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	err := s.bucket.Object(key).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) && httpCode(err) != http.StatusNotFound {
		return fmt.Errorf("gcs: delete object: %w", err)
	}
	return nil
}

// Ping checks that the bucket exists and the credentials may use it.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.bucket.Attrs(ctx); err != nil {
		return fmt.Errorf("gcs: bucket attributes: %w", err)
	}
	return nil
}

// checkUpload refuses an upload that CreateUpload cannot have returned.
func checkUpload(u ingest.BlobUpload) error {
	if err := u.CheckCreated(); err != nil {
		return err
	}
	return checkShape(u)
}

// checkShape refuses an upload the store cannot hold.
func checkShape(u ingest.BlobUpload) error {
	if err := u.CheckShape(); err != nil {
		return err
	}
	switch {
	case path.Clean(u.Key) != u.Key:
		return ingest.Errorf(ingest.EValidation, "the upload has no usable object key")
	case u.PartSize(1) > ingest.MaxPartSize:
		return ingest.Errorf(ingest.EValidation, "parts of %d bytes are larger than %d", u.ChunkSize, int64(ingest.MaxPartSize))
	}
	return nil
}

// httpCode is the HTTP status of a GCS error, 0 when it has none.
func httpCode(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// translate turns a not-found answer into ENotFound and wraps any other error with what failed.
func translate(err error, what string) error {
	if errors.Is(err, storage.ErrObjectNotExist) || httpCode(err) == http.StatusNotFound {
		return &ingest.Error{Code: ingest.ENotFound, Message: what + ": not found in storage", Err: err}
	}
	return fmt.Errorf("gcs: %s: %w", what, err)
}
