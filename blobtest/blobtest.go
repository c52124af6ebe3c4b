// Package blobtest is the behaviour suite every ingest.BlobStore must pass: local disk and S3 both
// run it, so the upload service can rely on one contract.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
)

// Harness describes the store under test.
type Harness struct {
	// New returns an empty store of its own for one test.
	New func(t *testing.T) ingest.BlobStore
	// ChunkSize is the part size the suite uploads with. S3 needs at least 5 MiB for every part
	// but the last.
	ChunkSize int64
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"parts written out of order and at once complete into the object", testOutOfOrder},
		{"ranges of an object read back exactly", testRanges},
		{"completing again succeeds and changes nothing", testCompleteTwice},
		{"an empty file becomes an empty object", testEmpty},
		{"a file smaller than one part", testSmall},
		{"a part written again is replaced", testRewrite},
		{"a part of the wrong size is refused", testWrongSize},
		{"aborting removes the upload", testAbort},
		{"missing objects are not found", testMissing},
		{"deleted objects are gone", testDelete},
		{"uploads at once do not mix", testConcurrentUploads},
		{"an object put in one request reads back", testPutObject},
		{"an object put with the wrong size is not made", testPutObjectWrongSize},
		{"an object put with its flush deferred reads back once synced", testPutObjectDeferred},
		{"the store answers a ping", testPing},
		{"the store lists its objects and temporary data, and removes the latter", testInventory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, h) })
	}
}

func randomBytes(t *testing.T, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// newUpload creates an upload of size bytes in store.
func newUpload(t *testing.T, store ingest.BlobStore, size, chunk int64) ingest.BlobUpload {
	t.Helper()
	fileID := ingest.NewID()
	u := ingest.BlobUpload{
		SessionID: ingest.NewID(),
		Key:       ingest.ObjectKey(store.Prefix(), fileID, time.Now()),
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

// writeParts writes the parts of data in the order given, all at once, and returns them sorted. It
// reports failures with t.Errorf only, so it may run on any goroutine.
func writeParts(t *testing.T, store ingest.BlobStore, u ingest.BlobUpload, data []byte, order []int) []ingest.WrittenPart {
	t.Helper()
	var mu sync.Mutex
	var parts []ingest.WrittenPart
	var wg sync.WaitGroup
	for _, n := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := u.PartOffset(n)
			p, err := store.WritePart(context.Background(), u, n, bytes.NewReader(data[off:off+u.PartSize(n)]))
			if err != nil {
				t.Errorf("WritePart %d: %v", n, err)
				return
			}
			if p.Number != n || p.Size != u.PartSize(n) {
				t.Errorf("WritePart %d returned %+v", n, p)
			}
			mu.Lock()
			parts = append(parts, p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts
}

func inOrder(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i + 1
	}
	return order
}

// readAll reads the object at key from offset for length bytes.
func readAll(t *testing.T, store ingest.BlobStore, key string, offset, length int64) []byte {
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

// stored uploads data in parts in the given order and completes it.
func stored(t *testing.T, store ingest.BlobStore, data []byte, chunk int64, order []int) ingest.BlobUpload {
	t.Helper()
	u := newUpload(t, store, int64(len(data)), chunk)
	if order == nil {
		order = inOrder(u.TotalParts())
	}
	parts := writeParts(t, store, u, data, order)
	if err := store.CompleteUpload(context.Background(), u, parts); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	return u
}

func wantSame(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d written", what, len(got), len(want))
	}
}

func testOutOfOrder(t *testing.T, h Harness) {
	store := h.New(t)
	data := randomBytes(t, 2*h.ChunkSize+h.ChunkSize/2)
	u := newUpload(t, store, int64(len(data)), h.ChunkSize)
	parts := writeParts(t, store, u, data, []int{3, 1, 2})
	if pr, ok := store.(ingest.PartReader); ok {
		r, err := pr.ReadPart(context.Background(), u, 2)
		if err != nil {
			t.Fatalf("ReadPart: %v", err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "part 2 read back", got, data[h.ChunkSize:2*h.ChunkSize])
	}
	if err := store.CompleteUpload(context.Background(), u, parts); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	wantSame(t, "object", readAll(t, store, u.Key, 0, -1), data)
	size, err := store.StatObject(context.Background(), u.Key)
	if err != nil || size != int64(len(data)) {
		t.Errorf("StatObject = %d, %v; want %d", size, err, len(data))
	}
}

func testRanges(t *testing.T, h Harness) {
	store := h.New(t)
	data := randomBytes(t, 2*h.ChunkSize+17)
	u := stored(t, store, data, h.ChunkSize, nil)
	size := int64(len(data))
	for _, r := range [][2]int64{{0, 1}, {1, 10}, {h.ChunkSize - 5, 10}, {size - 1, 1}, {0, size}, {h.ChunkSize, -1}, {size - 17, 100}} {
		end := size
		if r[1] >= 0 {
			end = min(r[0]+r[1], size)
		}
		wantSame(t, "range", readAll(t, store, u.Key, r[0], r[1]), data[r[0]:end])
	}
}

func testCompleteTwice(t *testing.T, h Harness) {
	store := h.New(t)
	data := randomBytes(t, h.ChunkSize+3)
	u := newUpload(t, store, int64(len(data)), h.ChunkSize)
	parts := writeParts(t, store, u, data, []int{1, 2})
	for i := range 2 {
		if err := store.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatalf("CompleteUpload #%d: %v", i+1, err)
		}
	}
	wantSame(t, "object", readAll(t, store, u.Key, 0, -1), data)
	if err := store.AbortUpload(context.Background(), u); err != nil {
		t.Errorf("AbortUpload after completion: %v", err)
	}
	wantSame(t, "object after a late abort", readAll(t, store, u.Key, 0, -1), data)
}

func testEmpty(t *testing.T, h Harness) {
	store := h.New(t)
	u := newUpload(t, store, 0, h.ChunkSize)
	if err := store.CompleteUpload(context.Background(), u, nil); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	if got := readAll(t, store, u.Key, 0, -1); len(got) != 0 {
		t.Errorf("empty object reads %d bytes", len(got))
	}
	if size, err := store.StatObject(context.Background(), u.Key); err != nil || size != 0 {
		t.Errorf("StatObject = %d, %v", size, err)
	}
}

func testSmall(t *testing.T, h Harness) {
	store := h.New(t)
	data := []byte("a file smaller than one part")
	u := stored(t, store, data, h.ChunkSize, nil)
	wantSame(t, "object", readAll(t, store, u.Key, 0, -1), data)
}

func testRewrite(t *testing.T, h Harness) {
	store := h.New(t)
	first, second := randomBytes(t, h.ChunkSize+1), randomBytes(t, h.ChunkSize+1)
	u := newUpload(t, store, int64(len(first)), h.ChunkSize)
	writeParts(t, store, u, first, []int{1, 2})
	parts := writeParts(t, store, u, second, []int{1})
	last := writeParts(t, store, u, first, []int{2})
	if err := store.CompleteUpload(context.Background(), u, append(parts, last...)); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	want := append(append([]byte{}, second[:h.ChunkSize]...), first[h.ChunkSize:]...)
	wantSame(t, "object", readAll(t, store, u.Key, 0, -1), want)
}

func testWrongSize(t *testing.T, h Harness) {
	store := h.New(t)
	data := randomBytes(t, h.ChunkSize+1)
	u := newUpload(t, store, int64(len(data)), h.ChunkSize)
	for _, body := range [][]byte{data[:h.ChunkSize-1], data[:h.ChunkSize+1], nil} {
		_, err := store.WritePart(context.Background(), u, 1, bytes.NewReader(body))
		if code := ingest.ErrorCode(err); code != ingest.EPartSizeMismatch {
			t.Errorf("a part of %d bytes instead of %d: %v, want PART_SIZE_MISMATCH", len(body), h.ChunkSize, err)
		}
	}
	_, err := store.WritePart(context.Background(), u, 1, io.MultiReader(bytes.NewReader(data[:10]), errReader{}))
	if err == nil {
		t.Error("a part whose body failed was accepted")
	}
	parts := writeParts(t, store, u, data, []int{1, 2})
	if err := store.CompleteUpload(context.Background(), u, parts); err != nil {
		t.Fatalf("CompleteUpload after refused parts: %v", err)
	}
	wantSame(t, "object", readAll(t, store, u.Key, 0, -1), data)
}

// errReader fails like a client that disconnects mid-part.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func testAbort(t *testing.T, h Harness) {
	store := h.New(t)
	data := randomBytes(t, h.ChunkSize+1)
	u := newUpload(t, store, int64(len(data)), h.ChunkSize)
	parts := writeParts(t, store, u, data, []int{1, 2})
	for i := range 2 {
		if err := store.AbortUpload(context.Background(), u); err != nil {
			t.Fatalf("AbortUpload #%d: %v", i+1, err)
		}
	}
	if err := store.CompleteUpload(context.Background(), u, parts); err == nil {
		t.Error("an aborted upload completed")
	}
	if _, err := store.StatObject(context.Background(), u.Key); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("StatObject of an aborted upload's key: %v, want NOT_FOUND", err)
	}
	if pr, ok := store.(ingest.PartReader); ok {
		if _, err := pr.ReadPart(context.Background(), u, 1); ingest.ErrorCode(err) != ingest.ENotFound {
			t.Errorf("ReadPart after abort: %v, want NOT_FOUND", err)
		}
	}
}

func testMissing(t *testing.T, h Harness) {
	store := h.New(t)
	key := ingest.ObjectKey(store.Prefix(), ingest.NewID(), time.Now())
	if _, err := store.StatObject(context.Background(), key); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("StatObject: %v, want NOT_FOUND", err)
	}
	if _, err := store.ReadObject(context.Background(), key, 0, -1); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("ReadObject: %v, want NOT_FOUND", err)
	}
	if err := store.DeleteObject(context.Background(), key); err != nil {
		t.Errorf("DeleteObject of a missing object: %v", err)
	}
}

func testDelete(t *testing.T, h Harness) {
	store := h.New(t)
	u := stored(t, store, []byte("short-lived"), h.ChunkSize, nil)
	if err := store.DeleteObject(context.Background(), u.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := store.StatObject(context.Background(), u.Key); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("StatObject after delete: %v, want NOT_FOUND", err)
	}
}

func testConcurrentUploads(t *testing.T, h Harness) {
	store := h.New(t)
	const n = 4
	data := make([][]byte, n)
	uploads := make([]ingest.BlobUpload, n)
	parts := make([][]ingest.WrittenPart, n)
	for i := range n {
		data[i] = randomBytes(t, h.ChunkSize+int64(i)+1)
		uploads[i] = newUpload(t, store, int64(len(data[i])), h.ChunkSize)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { // writeParts reports with t.Errorf only, which goroutines may call
			defer wg.Done()
			parts[i] = writeParts(t, store, uploads[i], data[i], []int{2, 1})
		}()
	}
	wg.Wait()
	for i := range n {
		if err := store.CompleteUpload(context.Background(), uploads[i], parts[i]); err != nil {
			t.Fatalf("CompleteUpload %d: %v", i, err)
		}
	}
	for i := range n {
		wantSame(t, "object", readAll(t, store, uploads[i].Key, 0, -1), data[i])
	}
}

func testPutObject(t *testing.T, h Harness) {
	store := h.New(t)
	for _, size := range []int64{0, 1, h.ChunkSize + 7} {
		data := randomBytes(t, size)
		key := ingest.ObjectKey(store.Prefix(), ingest.NewID(), time.Now())
		if err := store.PutObject(context.Background(), key, bytes.NewReader(data), size); err != nil {
			t.Fatalf("PutObject of %d bytes: %v", size, err)
		}
		wantSame(t, "object", readAll(t, store, key, 0, -1), data)
		if got, err := store.StatObject(context.Background(), key); err != nil || got != size {
			t.Errorf("StatObject = %d, %v; want %d", got, err, size)
		}
	}
}

// testPutObjectDeferred checks a store that can defer the flush of a put (ingest.DeferredPutter):
// the object reads back after its flush, and a refused put leaves nothing. A store that cannot
// is checked to say so by not implementing the interface, which is all it needs to do.
func testPutObjectDeferred(t *testing.T, h Harness) {
	store := h.New(t)
	d, ok := store.(ingest.DeferredPutter)
	if !ok {
		return // PutObject alone, tested above
	}
	for _, size := range []int64{0, h.ChunkSize + 7} {
		data := randomBytes(t, size)
		key := ingest.ObjectKey(store.Prefix(), ingest.NewID(), time.Now())
		flush, err := d.PutObjectDeferred(context.Background(), key, bytes.NewReader(data), size)
		if err != nil {
			t.Fatalf("PutObjectDeferred of %d bytes: %v", size, err)
		}
		if flush != nil {
			if err := flush.Wait(); err != nil {
				t.Fatalf("the flush of a deferred put: %v", err)
			}
		}
		wantSame(t, "object", readAll(t, store, key, 0, -1), data)
	}
	key := ingest.ObjectKey(store.Prefix(), ingest.NewID(), time.Now())
	if _, err := d.PutObjectDeferred(context.Background(), key, bytes.NewReader(make([]byte, 9)), 10); ingest.ErrorCode(err) != ingest.EPartSizeMismatch {
		t.Errorf("a deferred put of 9 bytes for 10: %v, want PART_SIZE_MISMATCH", err)
	}
	if _, err := store.StatObject(context.Background(), key); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("a refused deferred put left an object: %v", err)
	}
}

func testPutObjectWrongSize(t *testing.T, h Harness) {
	store := h.New(t)
	data := randomBytes(t, 1000)
	key := ingest.ObjectKey(store.Prefix(), ingest.NewID(), time.Now())
	for _, body := range [][]byte{data[:999], append(append([]byte{}, data...), 'x')} {
		err := store.PutObject(context.Background(), key, bytes.NewReader(body), 1000)
		if code := ingest.ErrorCode(err); code != ingest.EPartSizeMismatch {
			t.Errorf("a body of %d bytes for 1000: %v, want PART_SIZE_MISMATCH", len(body), err)
		}
	}
	if err := store.PutObject(context.Background(), key, io.MultiReader(bytes.NewReader(data[:10]), errReader{}), 1000); err == nil {
		t.Error("a body that failed was accepted")
	}
	if _, err := store.StatObject(context.Background(), key); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("a refused PutObject left an object: %v", err)
	}
}

func testPing(t *testing.T, h Harness) {
	if err := h.New(t).Ping(context.Background()); err != nil {
		t.Error(err)
	}
}
