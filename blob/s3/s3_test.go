package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingest-portal/ingest"
	s3store "github.com/ingest-portal/ingest/blob/s3"
	"github.com/ingest-portal/ingest/blobtest"
	"github.com/ingest-portal/ingest/internal/testkit/versitygw"
)

// chunk is S3's minimum size of every part but the last.
const chunk = 5 << 20

func TestStore(t *testing.T) {
	srv := versitygw.Start(t)
	for _, tc := range []struct{ name, prefix string }{
		{"no prefix", ""},
		{"with prefix", "tenant/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var buckets []string
			blobtest.Run(t, blobtest.Harness{
				New: func(t *testing.T) ingest.BlobStore {
					bucket := srv.NewBucket(t)
					mu.Lock()
					buckets = append(buckets, bucket)
					mu.Unlock()
					// The server's client has the SDK's default settings: the store must cope.
					return s3store.New(srv.Client(), bucket, tc.prefix)
				},
				ChunkSize: chunk,
			})

			keys := listKeys(t, srv.Client(), buckets)
			if len(keys) == 0 {
				t.Fatal("the suite left no object to check the keys of")
			}
			for _, key := range keys {
				if tc.prefix != "" && !strings.HasPrefix(key, tc.prefix+"/") {
					t.Errorf("object %q is not under the prefix %q", key, tc.prefix)
				}
				if strings.HasPrefix(key, "/") {
					t.Errorf("object %q starts with a slash", key)
				}
			}
		})
	}
}

// listKeys returns the keys of every object in buckets.
func listKeys(t *testing.T, client *s3.Client, buckets []string) []string {
	t.Helper()
	var keys []string
	for _, bucket := range buckets {
		pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(context.Background())
			if err != nil {
				t.Fatalf("ListObjectsV2 %s: %v", bucket, err)
			}
			for _, o := range page.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
	}
	return keys
}

func TestNames(t *testing.T) {
	store := s3store.New(nil, "media", "/tenant/a/")
	if got := store.Backend(); got != ingest.StorageS3 {
		t.Errorf("Backend() = %q, want %q", got, ingest.StorageS3)
	}
	if got := store.Bucket(); got != "media" {
		t.Errorf("Bucket() = %q, want media", got)
	}
	if got := store.Prefix(); got != "tenant/a" {
		t.Errorf("Prefix() = %q, want tenant/a", got)
	}
	limiter, ok := ingest.BlobStore(store).(ingest.PartLimiter)
	if !ok {
		t.Fatal("the store does not say its part size limits")
	}
	if lo, hi := limiter.PartSizeLimits(); lo != 5<<20 || hi != 5<<30 {
		t.Errorf("PartSizeLimits() = %d, %d; want 5 MiB, 5 GiB", lo, hi)
	}
}

func TestCreateUpload(t *testing.T) {
	srv := versitygw.Start(t)
	store := s3store.New(srv.Client(), srv.NewBucket(t), "")
	key := ingest.ObjectKey("", ingest.NewID(), time.Now())
	for _, tc := range []struct {
		name        string
		size, chunk int64
		want        ingest.Code
	}{
		{"one part smaller than S3's minimum", 100, 1 << 20, ""},
		{"an empty file", 0, chunk, ""},
		{"parts smaller than S3's minimum", 3 << 20, 1 << 20, ingest.EValidation},
		{"parts larger than S3's maximum", 6 << 30, 6 << 30, ingest.EValidation},
		{"more parts than S3 allows", 10001 * chunk, chunk, ingest.EValidation},
		{"no chunk size", 100, 0, ingest.EValidation},
	} {
		u := ingest.BlobUpload{SessionID: ingest.NewID(), Key: key, Size: tc.size, ChunkSize: tc.chunk}
		id, err := store.CreateUpload(context.Background(), u)
		if code := ingest.ErrorCode(err); code != tc.want {
			t.Errorf("%s: CreateUpload = %v, want code %q", tc.name, err, tc.want)
		}
		if err == nil && id == "" {
			t.Errorf("%s: CreateUpload returned no id", tc.name)
		}
	}
}

func TestOpen(t *testing.T) {
	const secret = "open-test-secret-3f9a1c"
	t.Setenv("AWS_ACCESS_KEY_ID", "open-test-access")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")

	t.Run("the URL names the bucket and the prefix", func(t *testing.T) {
		for _, tc := range []struct{ url, bucket, prefix string }{
			{"s3://media", "media", ""},
			{"s3://media/", "media", ""},
			{"s3://media/tenant/a", "media", "tenant/a"},
			{"s3://media/tenant/a/?region=eu-west-1", "media", "tenant/a"},
			{"s3://media/x?endpoint=http://127.0.0.1:7070&region=us-east-1", "media", "x"},
			{"s3://media?endpoint=https://s3.example.com/", "media", ""},
		} {
			store, err := s3store.Open(context.Background(), tc.url)
			if err != nil {
				t.Errorf("Open(%s): %v", tc.url, err)
				continue
			}
			if store.Bucket() != tc.bucket || store.Prefix() != tc.prefix {
				t.Errorf("Open(%s) = bucket %q, prefix %q; want %q, %q", tc.url, store.Bucket(), store.Prefix(), tc.bucket, tc.prefix)
			}
		}
	})

	t.Run("unusable URLs are refused without repeating secrets", func(t *testing.T) {
		for _, raw := range []string{
			"",
			"media",
			"file:///var/blobs",
			"s3:media",
			"s3:///prefix",
			"s3://media:9000/x",
			"s3://key:" + secret + "@media",
			"s3://media/a//b",
			"s3://media/a/../b",
			"s3://media#" + secret,
			"s3://media?" + secret + "=1",
			"s3://media?region=",
			"s3://media?region=a&region=b",
			"s3://media?endpoint=ftp://127.0.0.1",
			"s3://media?endpoint=127.0.0.1:7070",
			"s3://media?endpoint=" + url.QueryEscape("http://key:"+secret+"@127.0.0.1:7070"),
			"s3://media?endpoint=" + url.QueryEscape("http://127.0.0.1:7070/bucket"),
			"s3://media?endpoint=http://%zz" + secret,
			"s3://media/%zz" + secret,
		} {
			_, err := s3store.Open(context.Background(), raw)
			if code := ingest.ErrorCode(err); code != ingest.EValidation {
				t.Errorf("Open(%q): %v, want VALIDATION_FAILED", raw, err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Open(%q) repeats the secret: %v", raw, err)
			}
		}
	})

	t.Run("missing credentials are refused", func(t *testing.T) {
		for _, unset := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			t.Setenv("AWS_ACCESS_KEY_ID", "open-test-access")
			t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
			t.Setenv(unset, "")
			_, err := s3store.Open(context.Background(), "s3://media")
			if code := ingest.ErrorCode(err); code != ingest.EValidation {
				t.Errorf("Open without %s: %v, want VALIDATION_FAILED", unset, err)
			}
		}
	})

	t.Run("the endpoint, region and credentials reach the server", func(t *testing.T) {
		srv := versitygw.Start(t)
		bucket := srv.NewBucket(t)
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		// With a host name rather than an IP address in the endpoint, the SDK would put the bucket
		// into the host name unless told to address it by path.
		endpoint := strings.Replace(srv.Endpoint, "127.0.0.1", "localhost", 1)
		store, err := s3store.Open(context.Background(),
			"s3://"+bucket+"/tenant/b?endpoint="+url.QueryEscape(endpoint)+"&region="+srv.Region)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		data := bytes.Repeat([]byte("abc"), chunk/2)
		u := newUpload(t, store, int64(len(data)))
		parts := writeAll(t, store, u, data)
		if err := store.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatalf("CompleteUpload: %v", err)
		}
		if got := read(t, store, u.Key, 0, -1); !bytes.Equal(got, data) {
			t.Errorf("read %d bytes that differ from the %d written", len(got), len(data))
		}

		// The server checks the region requests are signed for.
		elsewhere, err := s3store.Open(context.Background(), "s3://"+bucket+"?endpoint="+url.QueryEscape(endpoint)+"&region=eu-west-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := elsewhere.Ping(context.Background()); err == nil {
			t.Errorf("Ping signed for eu-west-1 succeeded on a server in %s: the region is not the URL's", srv.Region)
		}

		t.Setenv("AWS_SECRET_ACCESS_KEY", "not-"+srv.SecretKey)
		wrong, err := s3store.Open(context.Background(), "s3://"+bucket+"?endpoint="+url.QueryEscape(endpoint))
		if err != nil {
			t.Fatal(err)
		}
		if err := wrong.Ping(context.Background()); err == nil {
			t.Error("Ping with a wrong secret succeeded: the credentials are not the environment's")
		}
	})
}

func TestWritePart(t *testing.T) {
	srv := versitygw.Start(t)

	t.Run("part numbers outside the upload are refused", func(t *testing.T) {
		store := s3store.New(srv.Client(), srv.NewBucket(t), "")
		u := newUpload(t, store, chunk+1)
		for _, n := range []int{-1, 0, 3} {
			_, err := store.WritePart(context.Background(), u, n, strings.NewReader("x"))
			if code := ingest.ErrorCode(err); code != ingest.EValidation {
				t.Errorf("WritePart %d: %v, want VALIDATION_FAILED", n, err)
			}
		}
	})

	t.Run("a body longer than its part never reaches the server whole", func(t *testing.T) {
		// The store must find out that the body is too long before it hands over the part's
		// last bytes: a server that has them all stores the part, whatever the client does next.
		bucket := srv.NewBucket(t)
		u := newUpload(t, s3store.New(srv.Client(), bucket, ""), chunk+1)
		proxy := startProxy(t, srv.Endpoint)
		store := s3store.New(clientAt(srv, proxy.Endpoint()), bucket, "")
		_, err := store.WritePart(context.Background(), u, 1, bytes.NewReader(pattern(chunk+1)))
		if code := ingest.ErrorCode(err); code != ingest.EPartSizeMismatch {
			t.Fatalf("WritePart: %v, want PART_SIZE_MISMATCH", err)
		}
		if sent := proxy.requestBody(t, 1); sent >= chunk {
			t.Errorf("the server received %d bytes of a refused part of %d", sent, chunk)
		}
	})

	t.Run("a refused part leaves the stored part alone", func(t *testing.T) {
		// Parts this large leave the client's buffers long before they end, so most of a refused
		// body reaches the server; the server must not keep it.
		store := s3store.New(srv.Client(), srv.NewBucket(t), "")
		good := bytes.Repeat([]byte{'g'}, chunk+1)
		bad := bytes.Repeat([]byte{'b'}, chunk+1)
		u := newUpload(t, store, int64(len(good)))
		parts := writeAll(t, store, u, good)
		for _, tc := range []struct {
			name string
			body io.Reader
			want ingest.Code
		}{
			{"one byte too many", bytes.NewReader(bad), ingest.EPartSizeMismatch},
			{"one byte short", bytes.NewReader(bad[:chunk-1]), ingest.EPartSizeMismatch},
			{"the client went away", io.MultiReader(bytes.NewReader(bad[:chunk-1]), failingReader{}), ingest.EInternal},
		} {
			if _, err := store.WritePart(context.Background(), u, 1, tc.body); ingest.ErrorCode(err) != tc.want {
				t.Errorf("%s: WritePart = %v, want code %s", tc.name, err, tc.want)
			}
		}
		// The server handles a broken request in its own time; give it that time.
		time.Sleep(200 * time.Millisecond)
		if err := store.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatalf("CompleteUpload with the first part's ETag: %v", err)
		}
		if got := read(t, store, u.Key, 0, -1); !bytes.Equal(got, good) {
			t.Error("the object is not the bytes of the parts accepted")
		}
	})

	t.Run("the body streams to the server as it is read", func(t *testing.T) {
		proxy := startProxy(t, srv.Endpoint)
		store := s3store.New(clientAt(srv, proxy.Endpoint()), srv.NewBucket(t), "")
		u := newUpload(t, store, chunk)
		body := &pacedReader{size: chunk, window: 256 << 10, stall: 10 * time.Second, arrived: proxy.receivedSince()}
		p, err := store.WritePart(context.Background(), u, 1, body)
		if err != nil {
			t.Fatalf("WritePart: %v", err)
		}
		t.Logf("at most %d KiB were read ahead of what reached the proxy in front of the server", body.maxAhead>>10)
		if err := store.CompleteUpload(context.Background(), u, []ingest.WrittenPart{p}); err != nil {
			t.Fatalf("CompleteUpload: %v", err)
		}
		if got, want := read(t, store, u.Key, 0, -1), pattern(chunk); !bytes.Equal(got, want) {
			t.Errorf("the object's %d bytes are not the %d streamed", len(got), len(want))
		}
	})

	t.Run("a client that holds the body back is caught", func(t *testing.T) {
		// The control for the test above: the same probe must stall when the part is buffered.
		proxy := startProxy(t, srv.Endpoint)
		client := bufferingClient{clientAt(srv, proxy.Endpoint())}
		store := s3store.New(client, srv.NewBucket(t), "")
		u := newUpload(t, store, chunk)
		body := &pacedReader{size: chunk, window: 256 << 10, stall: time.Second, arrived: proxy.receivedSince()}
		if _, err := store.WritePart(context.Background(), u, 1, body); !errors.Is(err, errStalled) {
			t.Errorf("WritePart through a buffering client: %v, want the probe to stall", err)
		}
	})
}

func TestCompleteUpload(t *testing.T) {
	srv := versitygw.Start(t)

	t.Run("parts that are not all of the upload in order are refused", func(t *testing.T) {
		store := s3store.New(srv.Client(), srv.NewBucket(t), "")
		data := bytes.Repeat([]byte{'x'}, chunk+1)
		u := newUpload(t, store, int64(len(data)))
		parts := writeAll(t, store, u, data)
		noETag := []ingest.WrittenPart{parts[0], {Number: 2, Size: 1}}
		for _, bad := range [][]ingest.WrittenPart{nil, parts[:1], {parts[1], parts[0]}, noETag} {
			if err := store.CompleteUpload(context.Background(), u, bad); ingest.ErrorCode(err) != ingest.EValidation {
				t.Errorf("CompleteUpload with %d parts: %v, want VALIDATION_FAILED", len(bad), err)
			}
		}
		if err := store.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatalf("CompleteUpload: %v", err)
		}
	})

	t.Run("an empty upload completes twice but not after an abort", func(t *testing.T) {
		store := s3store.New(srv.Client(), srv.NewBucket(t), "")
		done := newUpload(t, store, 0)
		for i := range 2 {
			if err := store.CompleteUpload(context.Background(), done, nil); err != nil {
				t.Fatalf("CompleteUpload #%d: %v", i+1, err)
			}
		}
		if n := len(listUploads(t, srv.Client(), store.Bucket(), done.Key)); n != 0 {
			t.Errorf("the completed empty upload left %d multipart uploads", n)
		}
		aborted := newUpload(t, store, 0)
		if err := store.AbortUpload(context.Background(), aborted); err != nil {
			t.Fatal(err)
		}
		if err := store.CompleteUpload(context.Background(), aborted, nil); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Errorf("CompleteUpload after AbortUpload: %v, want NOT_FOUND", err)
		}
	})
}

func TestAbortUpload(t *testing.T) {
	srv := versitygw.Start(t)
	store := s3store.New(srv.Client(), srv.NewBucket(t), "tenant/a")
	data := bytes.Repeat([]byte{'x'}, chunk+1)
	u := newUpload(t, store, int64(len(data)))
	writeAll(t, store, u, data)
	if n := len(listUploads(t, srv.Client(), store.Bucket(), u.Key)); n != 1 {
		t.Fatalf("before AbortUpload the server lists %d uploads for the key, want 1", n)
	}
	if err := store.AbortUpload(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if n := len(listUploads(t, srv.Client(), store.Bucket(), u.Key)); n != 0 {
		t.Errorf("after AbortUpload the server lists %d uploads for the key, want 0", n)
	}
}

func TestReadObject(t *testing.T) {
	srv := versitygw.Start(t)
	store := s3store.New(srv.Client(), srv.NewBucket(t), "")
	data := []byte("0123456789")
	u := newUpload(t, store, int64(len(data)))
	if err := store.CompleteUpload(context.Background(), u, writeAll(t, store, u, data)); err != nil {
		t.Fatal(err)
	}
	empty := newUpload(t, store, 0)
	if err := store.CompleteUpload(context.Background(), empty, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		key            string
		offset, length int64
		want           string
	}{
		{"a range inside", u.Key, 2, 3, "234"},
		{"a range past the end is cut", u.Key, 8, 5, "89"},
		{"to the end", u.Key, 7, -1, "789"},
		{"nothing", u.Key, 3, 0, ""},
		{"at the end", u.Key, 10, -1, ""},
		{"past the end", u.Key, 11, 4, ""},
		{"the empty object", empty.Key, 0, -1, ""},
		{"the empty object from an offset", empty.Key, 1, -1, ""},
	} {
		if got := read(t, store, tc.key, tc.offset, tc.length); string(got) != tc.want {
			t.Errorf("%s: read %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := store.ReadObject(context.Background(), u.Key, -1, 1); ingest.ErrorCode(err) != ingest.EValidation {
		t.Errorf("a negative offset: %v, want VALIDATION_FAILED", err)
	}
	missing := ingest.ObjectKey("", ingest.NewID(), time.Now())
	if _, err := store.ReadObject(context.Background(), missing, 0, 0); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("no bytes of a missing object: %v, want NOT_FOUND", err)
	}
}

func TestPingMissingBucket(t *testing.T) {
	srv := versitygw.Start(t)
	store := s3store.New(srv.Client(), "no-such-bucket", "")
	if err := store.Ping(context.Background()); err == nil {
		t.Error("Ping of a missing bucket succeeded")
	}
}

// newUpload creates an upload of size bytes in parts of chunk bytes.
func newUpload(t *testing.T, store ingest.BlobStore, size int64) ingest.BlobUpload {
	t.Helper()
	u := ingest.BlobUpload{
		SessionID: ingest.NewID(),
		Key:       ingest.ObjectKey(store.Prefix(), ingest.NewID(), time.Now()),
		Size:      size,
		ChunkSize: chunk,
	}
	id, err := store.CreateUpload(context.Background(), u)
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	u.StorageID = id
	return u
}

// writeAll writes every part of data in order.
func writeAll(t *testing.T, store ingest.BlobStore, u ingest.BlobUpload, data []byte) []ingest.WrittenPart {
	t.Helper()
	var parts []ingest.WrittenPart
	for n := 1; n <= u.TotalParts(); n++ {
		off := u.PartOffset(n)
		p, err := store.WritePart(context.Background(), u, n, bytes.NewReader(data[off:off+u.PartSize(n)]))
		if err != nil {
			t.Fatalf("WritePart %d: %v", n, err)
		}
		parts = append(parts, p)
	}
	return parts
}

func read(t *testing.T, store ingest.BlobStore, key string, offset, length int64) []byte {
	t.Helper()
	r, err := store.ReadObject(context.Background(), key, offset, length)
	if err != nil {
		t.Fatalf("ReadObject(%d, %d): %v", offset, length, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read object: %v", err)
	}
	return b
}

// listUploads returns the multipart uploads in progress for key.
func listUploads(t *testing.T, client *s3.Client, bucket, key string) []string {
	t.Helper()
	out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(bucket),
		Prefix: aws.String(key),
	})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	var ids []string
	for _, up := range out.Uploads {
		if aws.ToString(up.Key) == key {
			ids = append(ids, aws.ToString(up.UploadId))
		}
	}
	return ids
}

// failingReader fails like a client that disconnects mid-part.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }
