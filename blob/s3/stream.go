package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ingest-portal/ingest"
)

// WriteStream implements ingest.StreamWriter. A part is uploaded only whole, since S3 refuses
// parts under 5 MiB but the last: bytes that end inside a part are kept as a temporary object,
// its tail, whose key says how many bytes of which part it holds. The next write sends the tail
// and its own bytes as the part when they fill it, or as a longer tail. Tails are never
// overwritten, so the one the database records stays valid until the session ends; they are
// removed with the upload.
//
// A body of unknown length (avail < 0) is read into memory up to the end of the part first, since
// an S3 request states its length.
func (s *Store) WriteStream(ctx context.Context, u ingest.BlobUpload, n int, from int64, r io.Reader, avail int64) (ingest.StreamWrite, error) {
	if err := checkUpload(u); err != nil {
		return ingest.StreamWrite{}, err
	}
	if total := u.TotalParts(); n < 1 || n > total {
		return ingest.StreamWrite{}, ingest.Errorf(ingest.EValidation, "part %d is outside 1..%d", n, total)
	}
	size := u.PartSize(n)
	if from < 0 || from > size {
		return ingest.StreamWrite{}, ingest.Errorf(ingest.EValidation, "part %d has %d bytes; it cannot continue at byte %d", n, size, from)
	}
	need := size - from
	if need == 0 && from > 0 { // the part is its tail, whole now that its size is known
		tail, err := s.openTail(ctx, u, n, from)
		if err != nil {
			return ingest.StreamWrite{}, err
		}
		defer tail.Close()
		part, err := s.WritePart(ctx, u, n, tail)
		if err != nil {
			return ingest.StreamWrite{}, err
		}
		return ingest.StreamWrite{Part: &part}, nil
	}
	var readErr error
	if avail < 0 {
		buf := make([]byte, need)
		k, err := io.ReadFull(r, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			readErr = err // the bytes read before the failure still count
		}
		r, avail = bytes.NewReader(buf[:k]), int64(k)
	}
	take := min(avail, need)
	if take == 0 {
		return ingest.StreamWrite{}, readErr
	}
	tail, err := s.openTail(ctx, u, n, from)
	if err != nil {
		return ingest.StreamWrite{}, err
	}
	defer tail.Close()
	body := io.MultiReader(tail, io.LimitReader(r, take))
	w := ingest.StreamWrite{Taken: take}
	if take == need {
		part, err := s.WritePart(ctx, u, n, body)
		if err != nil {
			return ingest.StreamWrite{}, err
		}
		w.Part = &part
	} else if err := s.PutObject(ctx, s.tailKey(u, n, from+take), body, from+take); err != nil {
		return ingest.StreamWrite{}, err
	}
	return w, readErr
}

// tailKey is where the first length bytes of part n of u wait until the part is whole.
func (s *Store) tailKey(u ingest.BlobUpload, n int, length int64) string {
	return path.Join(ingest.UploadPrefix(s.prefix, u.SessionID), "tails", fmt.Sprintf("%05d-%d", n, length))
}

// openTail returns the first from bytes of part n, kept by an earlier write; nothing when from is 0.
func (s *Store) openTail(ctx context.Context, u ingest.BlobUpload, n int, from int64) (io.ReadCloser, error) {
	if from == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return s.getObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.tailKey(u, n, from))},
		fmt.Sprintf("read the tail of part %d", n))
}

// removeTails deletes the tails of a streamed upload. It is tidying: a failure leaves garbage under
// the session's temporary prefix, nothing that any row points to once the session has ended.
func (s *Store) removeTails(ctx context.Context, u ingest.BlobUpload) {
	if !u.Streamed {
		return
	}
	prefix := path.Join(ingest.UploadPrefix(s.prefix, u.SessionID), "tails") + "/"
	var token *string
	for {
		out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix),
			ContinuationToken: token})
		if err != nil {
			return
		}
		for _, obj := range out.Contents {
			_ = s.DeleteObject(ctx, aws.ToString(obj.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			return
		}
		token = out.NextContinuationToken
	}
}

// ConcatObjects implements ingest.ObjectConcatenator. When every source but the last has S3's
// minimum part size, the object is a multipart upload whose parts the server copies from the
// sources (UploadPartCopy): no byte passes through the portal. Otherwise the sources are streamed
// through the portal into one PutObject, which takes at most 5 GiB.
func (s *Store) ConcatObjects(ctx context.Context, dst string, srcs []string, sizes []int64) error {
	if len(srcs) != len(sizes) || len(srcs) == 0 {
		return ingest.Errorf(ingest.EValidation, "%d sources and %d sizes", len(srcs), len(sizes))
	}
	var total int64
	copyable := len(srcs) <= maxParts
	for i, size := range sizes {
		total += size
		if size > ingest.MaxPartSize || size == 0 || (i < len(srcs)-1 && size < minPartSize) {
			copyable = false
		}
	}
	if copyable {
		return s.copyParts(ctx, dst, srcs)
	}
	if total > ingest.MaxPartSize {
		return ingest.Errorf(ingest.EValidation, "on S3, concatenating %d bytes needs every piece but the last to have at least %d bytes", total, minPartSize)
	}
	return s.PutObject(ctx, dst, &objectsReader{ctx: ctx, s: s, keys: srcs}, total)
}

// copyParts makes dst a multipart upload of server-side copies of srcs.
func (s *Store) copyParts(ctx context.Context, dst string, srcs []string) error {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(dst)})
	if err != nil {
		return translate(ctx, err, "concatenate")
	}
	abort := func() {
		_, _ = s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(dst), UploadId: created.UploadId})
	}
	parts := make([]types.CompletedPart, len(srcs))
	for i, src := range srcs {
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket:     aws.String(s.bucket),
			Key:        aws.String(dst),
			UploadId:   created.UploadId,
			PartNumber: aws.Int32(int32(i + 1)),
			CopySource: aws.String((&url.URL{Path: s.bucket + "/" + src}).EscapedPath()),
		})
		if err != nil {
			abort()
			return translate(ctx, err, "concatenate: copy "+src)
		}
		if out.CopyPartResult == nil || aws.ToString(out.CopyPartResult.ETag) == "" {
			abort()
			return errors.New("s3: concatenate: the server returned no ETag for a copied part")
		}
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(dst), UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		abort()
		return translate(ctx, err, "concatenate")
	}
	return nil
}

// objectsReader reads objects one after the other, opening each when the one before has ended.
type objectsReader struct {
	ctx  context.Context
	s    *Store
	keys []string
	cur  io.ReadCloser
}

func (o *objectsReader) Read(p []byte) (int, error) {
	for {
		if o.cur == nil {
			if len(o.keys) == 0 {
				return 0, io.EOF
			}
			r, err := o.s.ReadObject(o.ctx, o.keys[0], 0, -1)
			if err != nil {
				return 0, err
			}
			o.cur, o.keys = r, o.keys[1:]
		}
		n, err := o.cur.Read(p)
		if err == io.EOF {
			o.cur.Close()
			o.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}
