// Package azure keeps blobs in Azure Blob Storage. An upload session is a set of blocks staged on
// the file's block blob, one block per part write, streamed straight from the client's request;
// completion commits the parts' blocks (Put Block List). Blocks never committed are discarded
// when the session is aborted or expires, by committing an empty block list and deleting the
// blob, since Azure has no call that deletes uncommitted blocks alone.
package azure

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/storeurl"
	"github.com/ingest-portal/ingest/internal/streambody"
)

var (
	_ ingest.BlobStore   = (*Store)(nil)
	_ ingest.PartLimiter = (*Store)(nil)
)

// Azure's limits on block blobs: a block holds at most maxBlockSize bytes and a blob at most
// maxBlocks blocks.
const (
	maxBlockSize = 4000 << 20
	maxBlocks    = 50000
)

// Store is an ingest.BlobStore on one Azure container.
type Store struct {
	container *container.Client
	name      string
	prefix    string
}

// New returns a store that keeps objects in the container of client, with keys under prefix
// (slashes at its ends are dropped; "" for none).
func New(client *container.Client, name, prefix string) *Store {
	return &Store{container: client, name: name, prefix: strings.Trim(prefix, "/")}
}

// Open returns a store for a URL of the form
//
//	azblob://container[/prefix]?account=NAME[&endpoint=http://127.0.0.1:10000/NAME]
//
// The endpoint defaults to https://NAME.blob.core.windows.net; another one (Azurite, a sovereign
// cloud) is the account's blob service URL. The account key comes from the environment variable
// AZURE_STORAGE_KEY. Open sends no request; Ping checks the settings against the service.
//
// It returns EValidation for a URL it cannot use and when the key is missing. Its errors never
// repeat the URL.
func Open(_ context.Context, rawURL string) (*Store, error) {
	loc, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	key := os.Getenv("AZURE_STORAGE_KEY")
	if key == "" {
		return nil, ingest.Errorf(ingest.EValidation, "azblob storage needs the account key in the environment variable AZURE_STORAGE_KEY")
	}
	cred, err := container.NewSharedKeyCredential(loc.account, key)
	if err != nil {
		return nil, ingest.Errorf(ingest.EValidation, "azblob storage: AZURE_STORAGE_KEY is not an account key")
	}
	client, err := container.NewClientWithSharedKeyCredential(loc.endpoint+"/"+url.PathEscape(loc.container), cred, &container.ClientOptions{
		ClientOptions: policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 3}},
	})
	if err != nil {
		return nil, fmt.Errorf("azblob: configure the client: %w", err)
	}
	return New(client, loc.container, loc.prefix), nil
}

// location is what a storage URL says.
type location struct {
	container, prefix, account, endpoint string
}

// parseURL reads an azblob:// URL. Its errors describe what is wrong without quoting the URL.
func parseURL(rawURL string) (location, error) {
	u, err := storeurl.Parse(rawURL, "azblob", "AZURE_STORAGE_KEY", "account", "endpoint")
	if err != nil {
		return location{}, err
	}
	loc := location{container: u.Container, prefix: u.Prefix, account: u.Query["account"]}
	if loc.account == "" {
		return location{}, storeurl.Errorf("azblob", "no account; add ?account=NAME")
	}
	loc.endpoint = "https://" + loc.account + ".blob.core.windows.net"
	if e, ok := u.Query["endpoint"]; ok {
		if loc.endpoint, err = storeurl.Endpoint("azblob", e, true); err != nil {
			return location{}, err
		}
	}
	return loc, nil
}

// Backend returns ingest.StorageAzure.
func (s *Store) Backend() ingest.StorageBackend { return ingest.StorageAzure }

// Bucket returns the container the store keeps objects in.
func (s *Store) Bucket() string { return s.name }

// Prefix returns the key prefix of the store's objects, without slashes at its ends.
func (s *Store) Prefix() string { return s.prefix }

// PartSizeLimits returns Azure's limit on a block: any size up to 4000 MiB.
func (s *Store) PartSizeLimits() (int64, int64) { return 1, maxBlockSize }

// markerKey is the key of the blob that says u exists: made by CreateUpload, deleted by
// completion and abort.
func (s *Store) markerKey(u ingest.BlobUpload) string {
	return ingest.UploadPrefix(s.prefix, u.SessionID) + "/upload"
}

func (s *Store) marker(u ingest.BlobUpload) *blockblob.Client {
	return s.container.NewBlockBlobClient(s.markerKey(u))
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

// blockID names one write of part n: each write stages a block of its own, so that completion
// commits the very bytes of the writes it is given, whatever was written since. Every id of a
// blob has the same length, as Azure requires.
func blockID(n int, token uuid.UUID) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%05d-%s", n, token))
}

// WritePart streams r into a new block of u's blob. A body that turns out too short or too long,
// or fails, fails the request before Azure has the bytes it was promised, so no block is staged.
// The part's ETag is the block's id.
func (s *Store) WritePart(ctx context.Context, u ingest.BlobUpload, n int, r io.Reader) (ingest.WrittenPart, error) {
	if err := checkUpload(u); err != nil {
		return ingest.WrittenPart{}, err
	}
	if total := u.TotalParts(); n < 1 || n > total {
		return ingest.WrittenPart{}, ingest.Errorf(ingest.EValidation, "part %d is outside 1..%d", n, total)
	}
	size := u.PartSize(n)
	id := blockID(n, ingest.NewID())
	what := fmt.Sprintf("write part %d", n)
	body := streambody.New(r, size, what)
	_, err := s.container.NewBlockBlobClient(u.Key).StageBlock(body.Trace(ctx), id, body, nil)
	if berr := body.Failure(); berr != nil {
		return ingest.WrittenPart{}, berr
	}
	if err != nil {
		return ingest.WrittenPart{}, translate(err, what)
	}
	return ingest.WrittenPart{Number: n, Size: size, ETag: id}, nil
}

// PutObject streams size bytes of r to the object at key in one Put Blob request, as WritePart
// streams a part: a body too short, too long or failing makes no object.
func (s *Store) PutObject(ctx context.Context, key string, r io.Reader, size int64) error {
	if size < 0 || size > ingest.MaxPartSize {
		return ingest.Errorf(ingest.EValidation, "objects of 0 to %d bytes are put in one request, not %d", int64(ingest.MaxPartSize), size)
	}
	return s.put(ctx, s.container.NewBlockBlobClient(key), r, size, "put object")
}

func (s *Store) put(ctx context.Context, b *blockblob.Client, r io.Reader, size int64, what string) error {
	body := streambody.New(r, size, what)
	_, err := b.Upload(body.Trace(ctx), body, nil)
	if berr := body.Failure(); berr != nil {
		return berr
	}
	if err != nil {
		return translate(err, what)
	}
	return nil
}

// CompleteUpload commits the blocks of parts as u's blob and deletes its marker. When the marker
// is gone but the object is there with u's size, an earlier completion made it, and
// CompleteUpload succeeds again.
func (s *Store) CompleteUpload(ctx context.Context, u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	if len(parts) != u.TotalParts() {
		return ingest.Errorf(ingest.EValidation, "completion needs all %d parts, got %d", u.TotalParts(), len(parts))
	}
	ids := make([]string, len(parts))
	for i, p := range parts {
		if p.Number != i+1 || p.ETag == "" {
			return ingest.Errorf(ingest.EValidation, "completion needs parts 1..%d in order, each with its ETag", len(parts))
		}
		ids[i] = p.ETag
	}
	if _, err := s.marker(u).GetProperties(ctx, nil); err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return ingest.CompletedBefore(ctx, s, u, err)
		}
		return fmt.Errorf("azblob: complete upload: %w", err)
	}
	// An empty list makes the empty blob of an empty file.
	_, err := s.container.NewBlockBlobClient(u.Key).CommitBlockList(ctx, ids, nil)
	switch {
	case bloberror.HasCode(err, bloberror.InvalidBlockList):
		return &ingest.Error{Code: ingest.ENotFound, Message: "a part of the upload is not in storage", Err: err}
	case err != nil:
		return fmt.Errorf("azblob: commit block list: %w", err)
	}
	return s.DeleteObject(ctx, s.markerKey(u))
}

// AbortUpload discards u's uncommitted blocks and deletes its marker. An upload that is already
// gone, or completed, is no error, and a completed upload's object stays.
func (s *Store) AbortUpload(ctx context.Context, u ingest.BlobUpload) error {
	if u.StorageID == "" {
		return nil // never created: nothing was left behind
	}
	b := s.container.NewBlockBlobClient(u.Key)
	_, err := b.GetProperties(ctx, nil)
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		// Only uncommitted blocks, if any: committing none discards them with the blob.
		if _, err := b.CommitBlockList(ctx, nil, nil); err != nil {
			return fmt.Errorf("azblob: discard uncommitted blocks: %w", err)
		}
		if _, err := b.Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
			return fmt.Errorf("azblob: discard uncommitted blocks: %w", err)
		}
	case err != nil:
		return fmt.Errorf("azblob: abort upload: %w", err)
	}
	return s.DeleteObject(ctx, s.markerKey(u))
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
		// HTTP cannot ask for no bytes, and Azure refuses a range past the end.
		return io.NopCloser(strings.NewReader("")), nil
	}
	if length < 0 || length > size-offset {
		length = size - offset
	}
	out, err := s.container.NewBlobClient(key).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: offset, Count: length},
	})
	if err != nil {
		return nil, translate(err, "read object")
	}
	return out.Body, nil
}

// StatObject returns the size of the object at key.
func (s *Store) StatObject(ctx context.Context, key string) (int64, error) {
	props, err := s.container.NewBlobClient(key).GetProperties(ctx, nil)
	if err != nil {
		return 0, translate(err, "stat object")
	}
	if props.ContentLength == nil {
		return 0, errors.New("azblob: stat object: the service returned no size")
	}
	return *props.ContentLength, nil
}

// DeleteObject deletes the object at key; a missing object is no error.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	_, err := s.container.NewBlobClient(key).Delete(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("azblob: delete object: %w", err)
	}
	return nil
}

// Ping checks that the container exists and the key may use it.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.container.GetProperties(ctx, nil); err != nil {
		return fmt.Errorf("azblob: container properties: %w", err)
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

// checkShape refuses an upload Azure cannot hold.
func checkShape(u ingest.BlobUpload) error {
	if err := u.CheckShape(); err != nil {
		return err
	}
	switch {
	case u.TotalParts() > maxBlocks:
		return ingest.Errorf(ingest.EValidation, "the upload has %d parts; Azure allows %d", u.TotalParts(), maxBlocks)
	case u.PartSize(1) > maxBlockSize:
		return ingest.Errorf(ingest.EValidation, "parts of %d bytes are larger than Azure's %d", u.ChunkSize, int64(maxBlockSize))
	}
	return nil
}

// translate turns a not-found answer into ENotFound and wraps any other error with what failed.
func translate(err error, what string) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return &ingest.Error{Code: ingest.ENotFound, Message: what + ": not found in storage", Err: err}
	}
	return fmt.Errorf("azblob: %s: %w", what, err)
}
