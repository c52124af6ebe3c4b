package local_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/blob/local"
	"github.com/ingest-portal/ingest/blobtest"
	"github.com/ingest-portal/ingest/internal/durable"
)

const chunk = 64 << 10

// TestStore runs the shared suite in each flush mode this OS has: the modes differ in how
// PutObject makes an object durable.
func TestStore(t *testing.T) {
	modes := []durable.Mode{durable.Files}
	if durable.FSSupported {
		modes = append(modes, durable.Filesystem)
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			blobtest.Run(t, blobtest.Harness{
				New: func(t *testing.T) ingest.BlobStore {
					s, err := local.New(t.TempDir(), local.WithFlusher(newFlusher(t, mode)))
					if err != nil {
						t.Fatal(err)
					}
					return s
				},
				ChunkSize: chunk,
			})
		})
	}
}

// newFlusher returns a flusher of mode, which this OS has.
func newFlusher(t testing.TB, mode durable.Mode) *durable.Flusher {
	t.Helper()
	f, err := durable.New(mode)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// mustNew returns a store in a new directory, and that directory.
func mustNew(t testing.TB) (*local.Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

// mustCreate creates an upload of size bytes in parts of chunk bytes.
func mustCreate(t testing.TB, s *local.Store, size, chunk int64) ingest.BlobUpload {
	t.Helper()
	u := ingest.BlobUpload{
		SessionID: ingest.NewID(),
		Key:       ingest.ObjectKey(s.Prefix(), ingest.NewID(), time.Now()),
		Size:      size,
		ChunkSize: chunk,
	}
	id, err := s.CreateUpload(context.Background(), u)
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	u.StorageID = id
	return u
}

// mustWrite writes every part of data, in order, and returns them.
func mustWrite(t testing.TB, s *local.Store, u ingest.BlobUpload, data []byte) []ingest.WrittenPart {
	t.Helper()
	var parts []ingest.WrittenPart
	for n := 1; n <= u.TotalParts(); n++ {
		off := u.PartOffset(n)
		p, err := s.WritePart(context.Background(), u, n, bytes.NewReader(data[off:off+u.PartSize(n)]))
		if err != nil {
			t.Fatalf("WritePart %d: %v", n, err)
		}
		parts = append(parts, p)
	}
	return parts
}

func randomBytes(t testing.TB, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sessionDir(root string, u ingest.BlobUpload) string {
	return filepath.Join(root, filepath.FromSlash(ingest.UploadPrefix("", u.SessionID)))
}

func dataPath(root string, u ingest.BlobUpload) string {
	return filepath.Join(sessionDir(root, u), "data")
}

func wantCode(t *testing.T, what string, err error, want ingest.Code) {
	t.Helper()
	if got := ingest.ErrorCode(err); got != want {
		t.Errorf("%s: %v, want %s", what, err, want)
	}
}

func wantGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v, want it gone", path, err)
	}
}

func TestCreateUpload(t *testing.T) {
	t.Run("makes the data file at its full size", func(t *testing.T) {
		s, root := mustNew(t)
		u := mustCreate(t, s, 3*chunk+5, chunk)
		fi, err := os.Stat(dataPath(root, u))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Size(), u.Size; got != want {
			t.Errorf("data file size = %d, want %d", got, want)
		}
		if got, want := filepath.Join(root, filepath.FromSlash(u.StorageID)), dataPath(root, u); got != want {
			t.Errorf("StorageID names %s, want %s", got, want)
		}
	})

	t.Run("grants no more than owner read-write and group read", func(t *testing.T) {
		s, root := mustNew(t)
		u := mustCreate(t, s, 1, chunk)
		for path, allowed := range map[string]os.FileMode{dataPath(root, u): 0o640, sessionDir(root, u): 0o750} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if extra := fi.Mode().Perm() &^ allowed; extra != 0 {
				t.Errorf("%s has mode %v, more than %v", path, fi.Mode().Perm(), allowed)
			}
		}
	})

	t.Run("again keeps the parts already written", func(t *testing.T) {
		s, _ := mustNew(t)
		data := randomBytes(t, chunk+1)
		u := mustCreate(t, s, int64(len(data)), chunk)
		parts := mustWrite(t, s, u, data)
		if _, err := s.CreateUpload(context.Background(), u); err != nil {
			t.Fatalf("CreateUpload again: %v", err)
		}
		if err := s.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatal(err)
		}
		if got := readObject(t, s, u.Key); !bytes.Equal(got, data) {
			t.Error("the object differs from the bytes written before the second CreateUpload")
		}
	})

	t.Run("refuses an upload no session could have", func(t *testing.T) {
		s, _ := mustNew(t)
		good := ingest.BlobUpload{SessionID: ingest.NewID(), Key: "k", Size: 1, ChunkSize: 1}
		for name, u := range map[string]ingest.BlobUpload{
			"no session id":          {Key: "k", Size: 1, ChunkSize: 1},
			"negative size":          {SessionID: good.SessionID, Key: "k", Size: -1, ChunkSize: 1},
			"zero chunk size":        {SessionID: good.SessionID, Key: "k", Size: 1},
			"a key outside the root": {SessionID: good.SessionID, Key: "../k", Size: 1, ChunkSize: 1},
		} {
			_, err := s.CreateUpload(context.Background(), u)
			wantCode(t, name, err, ingest.EValidation)
		}
		if _, err := s.CreateUpload(context.Background(), good); err != nil {
			t.Errorf("a valid upload: %v", err)
		}
	})
}

func readObject(t *testing.T, s *local.Store, key string) []byte {
	t.Helper()
	r, err := s.ReadObject(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatalf("ReadObject: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCompleteUpload(t *testing.T) {
	t.Run("renames the data file rather than copying it", func(t *testing.T) {
		s, root := mustNew(t)
		data := randomBytes(t, 2*chunk+7)
		u := mustCreate(t, s, int64(len(data)), chunk)
		parts := mustWrite(t, s, u, data)
		before, err := os.Stat(dataPath(root, u))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatal(err)
		}
		after, err := os.Stat(filepath.Join(root, filepath.FromSlash(u.Key)))
		if err != nil {
			t.Fatalf("the object is not at root/key: %v", err)
		}
		if !os.SameFile(before, after) {
			t.Error("the object is a new file, not the data file renamed")
		}
		wantGone(t, sessionDir(root, u))
		if _, err := os.Stat(filepath.Join(root, ".uploads")); err != nil {
			t.Errorf("the uploads' directory went with the session: %v", err)
		}
	})

	t.Run("after a crash between rename and cleanup finishes the cleanup", func(t *testing.T) {
		s, root := mustNew(t)
		data := randomBytes(t, chunk)
		u := mustCreate(t, s, int64(len(data)), chunk)
		parts := mustWrite(t, s, u, data)
		if err := s.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatal(err)
		}
		// What a crash after the rename leaves: the object, and the session's directory.
		if err := os.Mkdir(sessionDir(root, u), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteUpload(context.Background(), u, parts); err != nil {
			t.Fatalf("CompleteUpload again: %v", err)
		}
		wantGone(t, sessionDir(root, u))
		if got := readObject(t, s, u.Key); !bytes.Equal(got, data) {
			t.Error("the object changed")
		}
	})

	t.Run("refuses an object of another size left at the key", func(t *testing.T) {
		s, root := mustNew(t)
		u := mustCreate(t, s, chunk, chunk)
		if err := s.AbortUpload(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		obj := filepath.Join(root, filepath.FromSlash(u.Key))
		if err := os.MkdirAll(filepath.Dir(obj), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(obj, []byte("short"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteUpload(context.Background(), u, []ingest.WrittenPart{{Number: 1, Size: chunk}}); err == nil {
			t.Error("an object of 5 bytes passed for the upload of 64 KiB")
		}
	})

	t.Run("refuses parts that are not every part in order", func(t *testing.T) {
		s, root := mustNew(t)
		data := randomBytes(t, 2*chunk+1)
		u := mustCreate(t, s, int64(len(data)), chunk)
		parts := mustWrite(t, s, u, data)
		for name, ps := range map[string][]ingest.WrittenPart{
			"none":         nil,
			"one missing":  parts[:2],
			"out of order": {parts[1], parts[0], parts[2]},
			"a wrong size": {parts[0], parts[1], {Number: 3, Size: 2}},
		} {
			wantCode(t, name, s.CompleteUpload(context.Background(), u, ps), ingest.EValidation)
		}
		if _, err := os.Stat(dataPath(root, u)); err != nil {
			t.Errorf("a refused completion moved the data: %v", err)
		}
	})
}

func TestWritePart(t *testing.T) {
	t.Run("a part number outside the upload is refused", func(t *testing.T) {
		s, _ := mustNew(t)
		u := mustCreate(t, s, 2*chunk, chunk)
		for _, n := range []int{0, -1, 3} {
			_, err := s.WritePart(context.Background(), u, n, bytes.NewReader(make([]byte, chunk)))
			wantCode(t, "WritePart", err, ingest.EValidation)
			_, err = s.ReadPart(context.Background(), u, n)
			wantCode(t, "ReadPart", err, ingest.EValidation)
		}
	})

	t.Run("an upload that was never created is not found", func(t *testing.T) {
		s, _ := mustNew(t)
		u := ingest.BlobUpload{SessionID: ingest.NewID(), Key: "k", Size: chunk, ChunkSize: chunk}
		_, err := s.WritePart(context.Background(), u, 1, bytes.NewReader(make([]byte, chunk)))
		wantCode(t, "WritePart", err, ingest.ENotFound)
		_, err = s.ReadPart(context.Background(), u, 1)
		wantCode(t, "ReadPart", err, ingest.ENotFound)
	})

	t.Run("a body longer than its part does not reach the next part", func(t *testing.T) {
		s, _ := mustNew(t)
		data := randomBytes(t, 2*chunk)
		u := mustCreate(t, s, int64(len(data)), chunk)
		mustWrite(t, s, u, data)
		long := bytes.Repeat([]byte{0xff}, 2*chunk)
		_, err := s.WritePart(context.Background(), u, 1, bytes.NewReader(long))
		wantCode(t, "a body of two parts", err, ingest.EPartSizeMismatch)
		r, err := s.ReadPart(context.Background(), u, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[chunk:]) {
			t.Error("part 2 changed")
		}
	})

	t.Run("the body's own error is returned, not a size mismatch", func(t *testing.T) {
		s, _ := mustNew(t)
		u := mustCreate(t, s, chunk, chunk)
		_, err := s.WritePart(context.Background(), u, 1, io.MultiReader(bytes.NewReader(make([]byte, 10)), errReader{io.ErrUnexpectedEOF}))
		if !errors.Is(err, io.ErrUnexpectedEOF) || ingest.ErrorCode(err) == ingest.EPartSizeMismatch {
			t.Errorf("WritePart: %v, want the body's io.ErrUnexpectedEOF", err)
		}
	})

	t.Run("a cancelled write fails", func(t *testing.T) {
		s, _ := mustNew(t)
		u := mustCreate(t, s, chunk, chunk)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.WritePart(ctx, u, 1, bytes.NewReader(make([]byte, chunk))); !errors.Is(err, context.Canceled) {
			t.Errorf("WritePart: %v, want context.Canceled", err)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestAbortUpload(t *testing.T) {
	s, root := mustNew(t)
	data := randomBytes(t, chunk+1)
	doomed, kept := mustCreate(t, s, int64(len(data)), chunk), mustCreate(t, s, int64(len(data)), chunk)
	mustWrite(t, s, doomed, data)
	parts := mustWrite(t, s, kept, data)
	if err := s.AbortUpload(context.Background(), doomed); err != nil {
		t.Fatal(err)
	}
	wantGone(t, sessionDir(root, doomed))
	if fi, err := os.Stat(dataPath(root, kept)); err != nil || fi.Size() != kept.Size {
		t.Fatalf("the other upload's data file: %v", err)
	}
	if err := s.CompleteUpload(context.Background(), kept, parts); err != nil {
		t.Fatalf("completing the other upload: %v", err)
	}
	if got := readObject(t, s, kept.Key); !bytes.Equal(got, data) {
		t.Error("the other upload's object differs from its data")
	}
}

func TestKeys(t *testing.T) {
	s, root := mustNew(t)
	// A file beside the root, which "../beside" names, and one far away, named by an absolute key.
	beside := filepath.Join(filepath.Dir(root), "beside")
	if err := os.WriteFile(beside, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	far := filepath.Join(t.TempDir(), "far")
	if err := os.WriteFile(far, []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	u := mustCreate(t, s, 1, chunk)
	temp := ingest.UploadPrefix("", u.SessionID) + "/data"
	rel, err := filepath.Rel(root, beside)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{rel, "a/../../beside", far, "/etc/passwd", ".uploads/x", temp, ".Uploads/" + temp[len(".uploads/"):], "", ".", "a/.."} {
		_, err := s.ReadObject(context.Background(), key, 0, -1)
		wantCode(t, "ReadObject "+key, err, ingest.EValidation)
		_, err = s.StatObject(context.Background(), key)
		wantCode(t, "StatObject "+key, err, ingest.EValidation)
		wantCode(t, "DeleteObject "+key, s.DeleteObject(context.Background(), key), ingest.EValidation)
	}
	for _, path := range []string{beside, far, dataPath(root, u)} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v, want it untouched", path, err)
		}
	}
	if _, err := s.StatObject(context.Background(), ".uploadsx/y"); ingest.ErrorCode(err) != ingest.ENotFound {
		t.Errorf("a key that merely starts with .uploads: %v, want NOT_FOUND", err)
	}
}

func TestObjects(t *testing.T) {
	t.Run("a directory is no object", func(t *testing.T) {
		s, root := mustNew(t)
		if err := os.Mkdir(filepath.Join(root, "dir"), 0o750); err != nil {
			t.Fatal(err)
		}
		_, err := s.StatObject(context.Background(), "dir")
		wantCode(t, "StatObject", err, ingest.ENotFound)
		_, err = s.ReadObject(context.Background(), "dir", 0, -1)
		wantCode(t, "ReadObject", err, ingest.ENotFound)
		if err := s.DeleteObject(context.Background(), "dir"); err != nil {
			t.Errorf("DeleteObject: %v", err)
		}
		if _, err := os.Stat(filepath.Join(root, "dir")); err != nil {
			t.Errorf("DeleteObject removed a directory: %v", err)
		}
	})

	t.Run("a key below a file is not found", func(t *testing.T) {
		s, root := mustNew(t)
		if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := s.StatObject(context.Background(), "file/x")
		wantCode(t, "StatObject", err, ingest.ENotFound)
		_, err = s.ReadObject(context.Background(), "file/x", 0, -1)
		wantCode(t, "ReadObject", err, ingest.ENotFound)
		if err := s.DeleteObject(context.Background(), "file/x"); err != nil {
			t.Errorf("DeleteObject: %v", err)
		}
	})

	t.Run("a range copied with io.Copy is exact", func(t *testing.T) {
		// io.Copy takes the reader's WriteTo, not Read, which the suite does not reach.
		s, _ := mustNew(t)
		data := randomBytes(t, 2*chunk+1)
		u := mustCreate(t, s, int64(len(data)), chunk)
		if err := s.CompleteUpload(context.Background(), u, mustWrite(t, s, u, data)); err != nil {
			t.Fatal(err)
		}
		r, err := s.ReadObject(context.Background(), u.Key, chunk-3, chunk)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var got bytes.Buffer
		if _, err := io.Copy(&got, r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), data[chunk-3:2*chunk-3]) {
			t.Errorf("io.Copy read %d bytes that differ from the range", got.Len())
		}
	})

	t.Run("a negative offset is refused", func(t *testing.T) {
		s, _ := mustNew(t)
		_, err := s.ReadObject(context.Background(), "k", -1, 1)
		wantCode(t, "ReadObject", err, ingest.EValidation)
	})
}

func TestNew(t *testing.T) {
	t.Run("a root that is a file fails", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := local.New(file); err == nil {
			t.Error("New on a file succeeded")
		}
	})

	t.Run("a missing root is created", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "a", "b")
		s, err := local.New(root)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			t.Fatalf("root: %v", err)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Error(err)
		}
	})

	t.Run("a relative root is made absolute", func(t *testing.T) {
		t.Chdir(t.TempDir())
		s, err := local.New("blobs")
		if err != nil {
			t.Fatal(err)
		}
		u := mustCreate(t, s, 1, chunk)
		// Another working directory must not move the store.
		t.Chdir(t.TempDir())
		if _, err := s.WritePart(context.Background(), u, 1, bytes.NewReader([]byte{1})); err != nil {
			t.Errorf("WritePart after a chdir: %v", err)
		}
	})
}

// TestPutObjectLeavesOnlyTheObject: a put object is the only file in its directory, and a
// refused one leaves no temporary file there or among the uploads.
func TestPutObjectLeavesOnlyTheObject(t *testing.T) {
	s, root := mustNew(t)
	ctx := context.Background()
	if err := s.PutObject(ctx, "2026/12/04/kept", bytes.NewReader([]byte("abc")), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObject(ctx, "2026/12/04/short", bytes.NewReader([]byte("ab")), 3); err == nil {
		t.Fatal("PutObject of 2 bytes declared as 3 succeeded")
	}
	for dir, want := range map[string]int{"2026/12/04": 1, ".uploads": 0} {
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != want {
			t.Errorf("%s holds %d entries, want %d", dir, len(entries), want)
		}
	}
}

func TestPingLeavesNothing(t *testing.T) {
	s, root := mustNew(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, ".uploads"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("Ping left %d entries in .uploads", len(entries))
	}
}

// BenchmarkWritePart writes 8 MiB parts of random data, each synced, into fresh (sparse) space of
// one upload: the server's work per part, without HTTP. One op is one part.
func BenchmarkWritePart(b *testing.B) {
	const partSize = 8 << 20
	data := randomBytes(b, partSize)
	for _, workers := range []int{1, 4} {
		name := "serial"
		if workers > 1 {
			name = "parallel-4"
		}
		b.Run(name, func(b *testing.B) {
			s, _ := mustNew(b)
			u := mustCreate(b, s, int64(b.N)*partSize, partSize)
			b.SetBytes(partSize)
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := int(next.Add(1)); n <= b.N; n = int(next.Add(1)) {
						if _, err := s.WritePart(context.Background(), u, n, bytes.NewReader(data)); err != nil {
							b.Errorf("WritePart %d: %v", n, err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// TestADeferredPutLeavesTheFlushToItsCaller: with durable.Filesystem a put returns before any
// flush, with the flush to wait for; with durable.Files it flushed already and returns none.
func TestADeferredPutLeavesTheFlushToItsCaller(t *testing.T) {
	modes := map[durable.Mode]bool{durable.Files: false}
	if durable.FSSupported {
		modes[durable.Filesystem] = true
	}
	for mode, deferred := range modes {
		s, err := local.New(t.TempDir(), local.WithFlusher(newFlusher(t, mode)))
		if err != nil {
			t.Fatal(err)
		}
		flush, err := s.PutObjectDeferred(context.Background(), "a/b", bytes.NewReader([]byte("x")), 1)
		if err != nil {
			t.Fatal(err)
		}
		if (flush != nil) != deferred {
			t.Errorf("%s: a flush returned: %v, want %v", mode, flush != nil, deferred)
		}
		if flush != nil {
			if err := flush.Wait(); err != nil {
				t.Errorf("%s: flush = %v", mode, err)
			}
		}
	}
}
