// Package s3 keeps blobs in S3-compatible object storage. Each upload session is one S3 multipart
// upload whose parts are streamed straight from the client's request, and completion is
// CompleteMultipartUpload: no byte is buffered whole in memory or copied after it has been sent.
//
// S3 does not let anyone read the parts of an unfinished multipart upload, so the store does not
// implement ingest.PartReader.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/storeurl"
	"github.com/ingest-portal/ingest/internal/streambody"
)

// S3API is the part of the S3 client the store uses. *s3.Client implements it; tests may wrap it.
type S3API interface {
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	ListParts(ctx context.Context, in *s3.ListPartsInput, optFns ...func(*s3.Options)) (*s3.ListPartsOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, optFns ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, optFns ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
}

var (
	_ S3API                     = (*s3.Client)(nil)
	_ ingest.BlobStore          = (*Store)(nil)
	_ ingest.PartLimiter        = (*Store)(nil)
	_ ingest.StreamWriter       = (*Store)(nil)
	_ ingest.ObjectConcatenator = (*Store)(nil)
)

// S3's limits on multipart uploads: every part but the last has at least minPartSize bytes, none
// has more than ingest.MaxPartSize, and there are at most maxParts.
const (
	minPartSize = 5 << 20
	maxParts    = 10000
)

// DefaultRegion is the region Open uses when the URL names none.
const DefaultRegion = "us-east-1"

// Store is an ingest.BlobStore on one bucket of S3-compatible storage.
type Store struct {
	client  S3API
	bucket  string
	prefix  string
	timeout time.Duration // how long a body may wait for S3 to take or give bytes, or to answer
}

// Option changes a Store that New or Open makes.
type Option func(*Store)

// WithTimeout sets how long S3 may stay silent: to answer a request (each attempt of it; Open's
// client only), and to take the next bytes of a part or give the next bytes of a download. A
// transfer that keeps moving has no time limit. The default is DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// New returns a store that keeps objects in bucket through client, with keys under prefix
// (slashes at its ends are dropped; "" for none). Any client will do: WritePart sets, for its own
// requests, what streaming a part needs (see streamBody).
func New(client S3API, bucket, prefix string, opts ...Option) *Store {
	s := &Store{client: client, bucket: bucket, prefix: strings.Trim(prefix, "/"), timeout: DefaultTimeout}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Open returns a store for a URL of the form
//
//	s3://bucket[/prefix][?endpoint=http://127.0.0.1:7070][&region=us-east-1]
//
// Without an endpoint the store talks to AWS; with one, to that S3-compatible server with
// path-style addressing. The region defaults to DefaultRegion. The credentials come from the
// environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, optionally,
// AWS_SESSION_TOKEN. Open sends no request; Ping checks the settings against the server.
//
// It returns EValidation for a URL it cannot use and when credentials are missing. Its errors
// never repeat the URL, which could hold a secret.
func Open(_ context.Context, rawURL string, storeOpts ...Option) (*Store, error) {
	loc, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if access == "" || secret == "" {
		return nil, ingest.Errorf(ingest.EValidation, "s3 storage needs the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	opts := s3.Options{
		Region:      loc.region,
		Credentials: credentials.NewStaticCredentialsProvider(access, secret, os.Getenv("AWS_SESSION_TOKEN")),
		// Checksums the protocol does not require are neither sent nor asked for: S3-compatible
		// servers differ in which they support, and the service checks every part's CRC32C and
		// the file's SHA-256 itself.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if loc.endpoint != "" {
		opts.BaseEndpoint = aws.String(loc.endpoint)
		// A server addressed by IP address or a plain host name has no per-bucket host names.
		opts.UsePathStyle = true
	}
	store := New(nil, loc.bucket, loc.prefix, storeOpts...)
	opts.HTTPClient = withTimeout(store.timeout)
	store.client = s3.New(opts)
	return store, nil
}

// location is what a storage URL says.
type location struct {
	bucket, prefix, endpoint, region string
}

// parseURL reads an s3:// URL. Its errors describe what is wrong without quoting the URL.
func parseURL(rawURL string) (location, error) {
	u, err := storeurl.Parse(rawURL, "s3", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", "endpoint", "region")
	if err != nil {
		return location{}, err
	}
	loc := location{bucket: u.Container, prefix: u.Prefix, region: DefaultRegion}
	if e, ok := u.Query["endpoint"]; ok {
		if loc.endpoint, err = storeurl.Endpoint("s3", e, false); err != nil {
			return location{}, err
		}
	}
	if r, ok := u.Query["region"]; ok {
		loc.region = r
	}
	return loc, nil
}

// Backend returns ingest.StorageS3.
func (s *Store) Backend() ingest.StorageBackend { return ingest.StorageS3 }

// Bucket returns the bucket the store keeps objects in.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the key prefix of the store's objects, without slashes at its ends.
func (s *Store) Prefix() string { return s.prefix }

// PartSizeLimits returns S3's limits on the size of every part but the last: 5 MiB to 5 GiB.
func (s *Store) PartSizeLimits() (int64, int64) { return minPartSize, ingest.MaxPartSize }

// CreateUpload starts a multipart upload for u.Key and returns its upload id. It returns
// EValidation for parts S3 would refuse to put together.
func (s *Store) CreateUpload(ctx context.Context, u ingest.BlobUpload) (string, error) {
	if err := checkShape(u); err != nil {
		return "", err
	}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(u.Key),
	})
	if err != nil {
		return "", translate(ctx, err, "create multipart upload")
	}
	if aws.ToString(out.UploadId) == "" {
		return "", errors.New("s3: create multipart upload: the server returned no upload id")
	}
	return *out.UploadId, nil
}

// WritePart streams r into part n of u's multipart upload. The body goes to the server as it is
// read; a body that turns out too short or too long, or fails, fails the request before the server
// has all the bytes it was promised, so a refused part does not replace a stored one.
func (s *Store) WritePart(ctx context.Context, u ingest.BlobUpload, n int, r io.Reader) (ingest.WrittenPart, error) {
	if err := checkUpload(u); err != nil {
		return ingest.WrittenPart{}, err
	}
	if total := u.TotalParts(); n < 1 || n > total {
		return ingest.WrittenPart{}, ingest.Errorf(ingest.EValidation, "part %d is outside 1..%d", n, total)
	}
	size := u.PartSize(n)
	body := newPartBody(ctx, r, size, fmt.Sprintf("write part %d", n), s.timeout)
	defer body.guard.end()
	out, err := s.client.UploadPart(body.trace(), &s3.UploadPartInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(u.Key),
		UploadId:      aws.String(u.StorageID),
		PartNumber:    aws.Int32(int32(n)),
		ContentLength: aws.Int64(size),
		Body:          body,
	}, streamBody)
	// The body's own verdict comes first: the SDK reports it only as a failed request.
	if berr := body.body.Failure(); berr != nil {
		return ingest.WrittenPart{}, berr
	}
	if err != nil {
		return ingest.WrittenPart{}, translate(ctx, err, fmt.Sprintf("write part %d", n))
	}
	if aws.ToString(out.ETag) == "" {
		return ingest.WrittenPart{}, fmt.Errorf("s3: write part %d: the server returned no ETag", n)
	}
	return ingest.WrittenPart{Number: n, Size: size, ETag: *out.ETag}, nil
}

// PutObject streams size bytes of r to the object at key in one PutObject request, as WritePart
// streams a part (S3 takes at most 5 GiB so). A body too short, too long or failing fails the
// request before the server has every byte it was promised, so no object is made.
func (s *Store) PutObject(ctx context.Context, key string, r io.Reader, size int64) error {
	if size < 0 || size > ingest.MaxPartSize {
		return ingest.Errorf(ingest.EValidation, "S3 takes objects of 0 to %d bytes in one request, not %d", int64(ingest.MaxPartSize), size)
	}
	body := newPartBody(ctx, r, size, "put object", s.timeout)
	defer body.guard.end()
	_, err := s.client.PutObject(body.trace(), &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		ContentLength: aws.Int64(size),
		Body:          body,
	}, streamBody)
	if berr := body.body.Failure(); berr != nil {
		return berr
	}
	if err != nil {
		return translate(ctx, err, "put object")
	}
	return nil
}

// streamBody sets up an UploadPart request whose body can be read only once, from the client's
// request, without holding it in memory:
//
//   - The payload is signed as UNSIGNED-PAYLOAD. The SDK otherwise hashes the body before sending
//     it over plain HTTP, which needs a body it can rewind.
//   - No request checksum is added. The SDK's default (a CRC32 per part) needs either a body it
//     can rewind or, over HTTPS only, aws-chunked encoding with a trailer, which not every
//     S3-compatible server accepts.
//   - No retry: a body that has been read cannot be sent again; the client retries the part.
//
// Integrity comes from the service, which checks every part's CRC32C and the file's SHA-256.
func streamBody(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	o.Retryer = aws.NopRetryer{}
}

// partBody is the body of a part or an object: a streambody.Body, which fails instead of handing
// over its last bytes when r holds fewer or more than declared and resets the connection then,
// read with the stall guard, which times S3 while it has the turn. It hides the Body's Seek, so
// the SDK treats every body alike: as a stream of the declared length.
type partBody struct {
	body  *streambody.Body
	guard *stallGuard // runs while S3 has the turn: between reads, and after the last
}

func newPartBody(ctx context.Context, r io.Reader, size int64, what string, timeout time.Duration) *partBody {
	return &partBody{body: streambody.New(r, size, "s3: "+what), guard: guard(ctx, timeout)}
}

// trace returns the guard's context with the hook that lets the body reset its connection.
func (b *partBody) trace() context.Context { return b.body.Trace(b.guard.ctx) }

func (b *partBody) Read(p []byte) (int, error) {
	b.guard.waitOther()
	defer b.guard.waitS3()
	return b.body.Read(p)
}

// CompleteUpload completes u's multipart upload from parts. An empty file, which S3 cannot make
// from a multipart upload, is put as an empty object instead. When the upload is gone but the
// object is there with u's size, an earlier completion made it, and CompleteUpload succeeds again.
func (s *Store) CompleteUpload(ctx context.Context, u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	if err := checkParts(u, parts); err != nil {
		return err
	}
	if len(parts) == 0 {
		return s.completeEmpty(ctx, u)
	}
	completed := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             aws.String(u.Key),
		UploadId:        aws.String(u.StorageID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	switch code := apiCode(err); {
	case err == nil:
		s.removeTails(ctx, u)
		return nil
	case code == "NoSuchUpload":
		return ingest.CompletedBefore(ctx, s, u, err)
	case code == "InvalidPart":
		return &ingest.Error{Code: ingest.ENotFound, Message: "a part of the upload is not in storage", Err: err}
	case code == "EntityTooSmall":
		return &ingest.Error{Code: ingest.EValidation, Message: "a part other than the last is smaller than S3's minimum of 5 MiB", Err: err}
	}
	return translate(ctx, err, "complete multipart upload")
}

// completeEmpty makes the empty object of an empty file and aborts its upload. The upload is
// looked up first, so that an aborted upload does not complete; putting the object before the
// abort lets a completion interrupted between the two be repeated.
func (s *Store) completeEmpty(ctx context.Context, u ingest.BlobUpload) error {
	_, err := s.client.ListParts(ctx, &s3.ListPartsInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(u.Key),
		UploadId: aws.String(u.StorageID),
		MaxParts: aws.Int32(1),
	})
	if apiCode(err) == "NoSuchUpload" {
		return ingest.CompletedBefore(ctx, s, u, err)
	}
	if err != nil {
		return translate(ctx, err, "complete empty upload: list parts")
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(u.Key),
		ContentLength: aws.Int64(0),
	}); err != nil {
		return translate(ctx, err, "complete empty upload: put object")
	}
	return s.AbortUpload(ctx, u)
}

// AbortUpload aborts u's multipart upload, which deletes its parts. An upload that is already gone
// is no error.
func (s *Store) AbortUpload(ctx context.Context, u ingest.BlobUpload) error {
	if u.StorageID == "" {
		return nil // never created: nothing was left behind
	}
	s.removeTails(ctx, u)
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(u.Key),
		UploadId: aws.String(u.StorageID),
	})
	if err != nil && apiCode(err) != "NoSuchUpload" {
		return translate(ctx, err, "abort multipart upload")
	}
	return nil
}

// ReadObject streams length bytes of the object at key from offset, to its end for a negative
// length. Reading at or past the end reads nothing, as it does from a file.
func (s *Store) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "offset %d is negative", offset)
	}
	if length == 0 {
		// HTTP cannot ask for no bytes; the object must still exist.
		if _, err := s.StatObject(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)}
	switch {
	case length > 0 && length <= math.MaxInt64-offset:
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10))
	case offset > 0:
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-")
	}
	return s.getObject(ctx, in, "read object")
}

// StatObject returns the size of the object at key.
func (s *Store) StatObject(ctx context.Context, key string) (int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return 0, translate(ctx, err, "stat object")
	}
	if out.ContentLength == nil {
		return 0, errors.New("s3: stat object: the server returned no size")
	}
	return *out.ContentLength, nil
}

// DeleteObject deletes the object at key; a missing object is no error.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return translate(ctx, err, "delete object")
	}
	return nil
}

// Ping checks that the bucket exists and the credentials may use it.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("s3: head bucket: %w", err)
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

// checkShape refuses an upload that S3 cannot hold.
func checkShape(u ingest.BlobUpload) error {
	if err := u.CheckShape(); err != nil {
		return err
	}
	switch {
	case u.TotalParts() > maxParts:
		return ingest.Errorf(ingest.EValidation, "the upload has %d parts; S3 allows %d", u.TotalParts(), maxParts)
	case u.TotalParts() > 1 && u.ChunkSize < minPartSize || u.PartSize(1) > ingest.MaxPartSize:
		return ingest.Errorf(ingest.EValidation, "parts of %d bytes are outside S3's limits of %d to %d", u.ChunkSize, minPartSize, int64(ingest.MaxPartSize))
	}
	return nil
}

// checkParts insists on every part of u, in order, each with its ETag.
func checkParts(u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	if len(parts) != u.TotalParts() {
		return ingest.Errorf(ingest.EValidation, "completion needs all %d parts, got %d", u.TotalParts(), len(parts))
	}
	for i, p := range parts {
		if p.Number != i+1 || p.ETag == "" {
			return ingest.Errorf(ingest.EValidation, "completion needs parts 1..%d in order, each with its ETag", len(parts))
		}
	}
	return nil
}

// apiCode returns the S3 error code of err ("NoSuchKey", …), or "" when err has none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isNotFound tells whether err says that an object or upload does not exist. HEAD requests have
// no error body, so their 404 comes as the code NotFound.
func isNotFound(err error) bool {
	switch apiCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	}
	return false
}

// translate turns a not-found answer into ENotFound, a failing or silent S3 into
// EStorageUnavailable unless ctx, the caller's, has ended, and wraps any other error with what
// failed.
func translate(ctx context.Context, err error, what string) error {
	switch {
	case isNotFound(err):
		return &ingest.Error{Code: ingest.ENotFound, Message: what + ": not found in storage", Err: err}
	case ctx.Err() == nil && isUnavailable(err):
		return unavailable(err, what)
	}
	return fmt.Errorf("s3: %s: %w", what, err)
}

// getObject sends a GetObject request and returns its body, guarded against S3 going silent
// while it is read. S3 refuses a range that starts at or past the end (a missing object is
// NoSuchKey): that reads nothing, as a file does.
func (s *Store) getObject(ctx context.Context, in *s3.GetObjectInput, what string) (io.ReadCloser, error) {
	g := guard(ctx, s.timeout)
	out, err := s.client.GetObject(g.ctx, in)
	if err != nil {
		g.end()
		if apiCode(err) == "InvalidRange" {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, translate(ctx, err, what)
	}
	g.waitOther()
	return &guardedBody{ReadCloser: out.Body, g: g}, nil
}
