// Package local is the ingest.BlobStore on the local filesystem.
//
// Each upload session owns one data file, root/.uploads/<session_id>/data, made at its final size
// when the upload is created. Every part is written at its own offset in that file (pwrite) and
// synced before WritePart returns, so parts may arrive in any order and at once, and completion
// is a rename of the data file to root/<key>: the bytes are never copied a second time
// (DESIGN.md §5). Every change to the tree is made durable before the method returns: write, fsync
// the file, rename, fsync the directory (DESIGN.md §6).
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/google/uuid"
	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
)

const (
	// uploadsDir holds the data of unfinished uploads. Keys may never reach into it.
	uploadsDir = ".uploads"
	// dataName is the name of a session's data file inside its directory.
	dataName = "data"

	dirMode  fs.FileMode = 0o750
	fileMode fs.FileMode = 0o640

	// bufferSize is what a write through the page cache (copyAt) reads from the body before each
	// write. 256 KiB makes an 8 MiB
	// part 32 writes, few enough that system calls do not show, while 64 parts in flight hold
	// 16 MiB. With 1 MiB, once group commit stopped the database from spacing parts out, 64
	// parts in flight held 64 MiB of buffers and the garbage collector let the heap grow to twice
	// that: the memory scenario peaked at 120–137 MiB instead of 60.
	bufferSize = 256 << 10
)

var (
	_ ingest.BlobStore          = (*Store)(nil)
	_ ingest.PartReader         = (*Store)(nil)
	_ ingest.DeferredPutter     = (*Store)(nil)
	_ ingest.StreamWriter       = (*Store)(nil)
	_ ingest.ObjectConcatenator = (*Store)(nil)
)

// Store keeps uploads and objects in a directory. Object keys are paths relative to it. It is
// safe for concurrent use, and several stores, even in several processes, may share a root.
type Store struct {
	root    string // absolute and clean
	uploads string // root/.uploads
	// durable holds the object directories this process has made durable (created and synced up
	// to the root), so that each object after the first of a day costs one directory sync, not a
	// sync of the whole chain. A restart forgets it and syncs each chain once again.
	durable sync.Map
	// flusher makes objects durable (WithFlusher); volume is its flushes of the files under root.
	flusher *durable.Flusher
	volume  durable.Volume
	// buffers are the copy buffers of writes through the page cache (copyAt), pooled so that a
	// busy server does not allocate one per part. directStreams holds a token per stream written
	// or read directly, at most maxDirectStreams, and directBuffers their aligned buffers, made
	// on first use and kept for good (a sync.Pool would drop them at each collection, and the
	// garbage of 2 MiB buffers made again doubled the heap of 64 parts in flight).
	buffers       sync.Pool
	directStreams chan struct{}
	directBuffers chan *[]byte
}

// Option configures a Store.
type Option func(*Store)

// WithFlusher sets how PutObject makes an object durable (a flusher of its own, of
// durable.DefaultMode, if not given): an fsync of the object and of its directory (durable.Files),
// or a syncfs(2) of the filesystem shared with every object and SQLite commit of the moment that
// has the same flusher (durable.Filesystem). The fsyncs of a directory are shared between the
// objects placed in it at once. Parts of multi-part uploads are fsynced one by one either way.
func WithFlusher(f *durable.Flusher) Option {
	return func(s *Store) { s.flusher = f }
}

// New returns a store in the directory root, creating it if it is missing.
func New(root string, opts ...Option) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local blob store %q: %w", root, err)
	}
	s := &Store{root: abs, uploads: filepath.Join(abs, uploadsDir), flusher: durable.Default(),
		directStreams: make(chan struct{}, maxDirectStreams), directBuffers: make(chan *[]byte, maxDirectStreams*directDepth)}
	s.buffers.New = func() any {
		b := make([]byte, bufferSize)
		return &b
	}
	for _, o := range opts {
		o(s)
	}
	// The directories New creates must survive a power cut like everything below them, so the
	// entries of new ones are synced up to the first directory that already existed.
	if err := makeDirs(s.uploads, existingParent(abs)); err != nil {
		return nil, fmt.Errorf("local blob store %q: %w", root, err)
	}
	if s.volume, err = s.flusher.Volume(abs); err != nil {
		return nil, fmt.Errorf("local blob store %q: %w", root, err)
	}
	return s, nil
}

// Backend returns ingest.StorageLocal.
func (s *Store) Backend() ingest.StorageBackend { return ingest.StorageLocal }

// Bucket returns "": a local store has no buckets.
func (s *Store) Bucket() string { return "" }

// Prefix returns "": keys are relative to the store's root.
func (s *Store) Prefix() string { return "" }

// CreateUpload makes the session's data file at the upload's full size. The file is sparse: no
// block is written until its part arrives. It returns the data file's path relative to the root.
func (s *Store) CreateUpload(ctx context.Context, u ingest.BlobUpload) (string, error) {
	if err := checkUpload(u); err != nil {
		return "", err
	}
	if err := checkKey(u.Key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := s.createData(u); err != nil {
		return "", fmt.Errorf("create upload %s: %w", u.SessionID, err)
	}
	return path.Join(ingest.UploadPrefix("", u.SessionID), dataName), nil
}

// createData makes the session's directory and its data file, at its full size, durably.
func (s *Store) createData(u ingest.BlobUpload) error {
	dir := s.sessionDir(u)
	if err := makeDirs(dir, s.root); err != nil {
		return err
	}
	// No O_TRUNC: creating an upload again (a create retried after a crash) keeps the parts
	// already written; its size is the same, for a session's size never changes.
	f, err := os.OpenFile(filepath.Join(dir, dataName), os.O_WRONLY|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	defer f.Close()
	// Synced now, so that an upload the caller has recorded cannot vanish in a power cut and
	// leave its session pointing at nothing.
	if err := f.Truncate(u.Size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// WritePart writes part n at its offset in the upload's data file, as a stream is written
// (directly where it can: the part is not read again but by a hash that did not follow it), and
// syncs it. It returns EValidation for a part number outside the upload,
// ENotFound when the upload is gone and EPartSizeMismatch when the body is shorter or longer than
// the part. A body longer than the part is detected before a byte past the part is written, so it
// never reaches the next part; any refused write leaves the part's bytes undefined until it is
// written again.
func (s *Store) WritePart(ctx context.Context, u ingest.BlobUpload, n int, r io.Reader) (ingest.WrittenPart, error) {
	if err := checkPart(u, n); err != nil {
		return ingest.WrittenPart{}, err
	}
	if err := ctx.Err(); err != nil {
		return ingest.WrittenPart{}, err
	}
	f, err := os.OpenFile(s.dataPath(u), os.O_WRONLY, 0)
	if isNotExist(err) {
		return ingest.WrittenPart{}, ingest.Errorf(ingest.ENotFound, "upload %s not found", u.SessionID)
	} else if err != nil {
		return ingest.WrittenPart{}, fmt.Errorf("write part %d: %w", n, err)
	}
	defer f.Close()
	size := u.PartSize(n)
	if err := copyExact(ctx, f, u.PartOffset(n), size, r, s.copyStream); err != nil {
		return ingest.WrittenPart{}, fmt.Errorf("write part %d: %w", n, err)
	}
	// The bytes are durable before WritePart answers, so before the caller records the part
	// (DESIGN.md §6). fdatasync, not fsync: it flushes the bytes and the block allocations needed
	// to read them back, and leaves out only the file's times.
	if err := durable.Fdatasync(f); err != nil {
		return ingest.WrittenPart{}, fmt.Errorf("write part %d: %w", n, err)
	}
	if err := f.Close(); err != nil {
		return ingest.WrittenPart{}, fmt.Errorf("write part %d: %w", n, err)
	}
	return ingest.WrittenPart{Number: n, Size: size}, nil
}

// copyExact writes exactly size bytes from r to f at off with write (copyAt or copyStream), then
// asks r for one byte more, so that a body longer than size is noticed; none of the excess is
// written.
func copyExact(ctx context.Context, f *os.File, off, size int64, r io.Reader,
	write func(context.Context, *os.File, int64, int64, io.Reader) (int64, error)) error {
	written, err := write(ctx, f, off, size, r)
	var readErr *bodyError
	switch {
	case errors.As(err, &readErr):
		return fmt.Errorf("read body: %w", readErr.err)
	case err != nil:
		return err
	case written < size:
		return ingest.Errorf(ingest.EPartSizeMismatch, "the part has %d bytes, %d expected", written, size)
	}
	var extra [1]byte
	if n, err := fill(r, extra[:]); n > 0 {
		return ingest.Errorf(ingest.EPartSizeMismatch, "the part has more than the %d bytes expected", size)
	} else if err != nil && err != io.EOF {
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

// fill reads from r until buf is full or r fails. Unlike io.ReadFull it returns io.EOF, and only
// io.EOF, when r has ended, so that a reader's own io.ErrUnexpectedEOF (a client gone mid-body)
// stays a read error instead of passing for a short body.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		nr, err := r.Read(buf[n:])
		n += nr
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadPart returns the bytes of part n as they are in the data file now. It returns EValidation
// for a part number outside the upload and ENotFound when the upload is gone.
func (s *Store) ReadPart(ctx context.Context, u ingest.BlobUpload, n int) (io.ReadCloser, error) {
	if err := checkPart(u, n); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.dataPath(u))
	if isNotExist(err) {
		return nil, ingest.Errorf(ingest.ENotFound, "upload %s not found", u.SessionID)
	} else if err != nil {
		return nil, fmt.Errorf("read part %d: %w", n, err)
	}
	rc, err := newSection(f, u.PartOffset(n), u.PartSize(n))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read part %d: %w", n, err)
	}
	if rc.off%directAlign == 0 {
		return &directSection{section: rc, store: s}, nil
	}
	return rc, nil
}

// CompleteUpload renames the data file to root/<key>. parts must count every part of u, in order;
// a local store needs nothing else from them. When the data file is gone because an earlier
// completion moved it, the object is checked and synced and the call succeeds; when neither
// exists (the upload was aborted or never created) it returns ENotFound.
func (s *Store) CompleteUpload(ctx context.Context, u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	if err := checkKey(u.Key); err != nil {
		return err
	}
	if err := checkParts(u, parts); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.moveData(u); err != nil {
		return fmt.Errorf("complete upload %s: %w", u.SessionID, err)
	}
	if err := s.removeSession(u); err != nil {
		return fmt.Errorf("complete upload %s: %w", u.SessionID, err)
	}
	return nil
}

// moveData makes the data file the object: sync, rename, sync the directory. Or, when the data
// file is gone, it confirms that an earlier call did so.
func (s *Store) moveData(u ingest.BlobUpload) error {
	data, obj := s.dataPath(u), s.objectPath(u.Key)
	f, err := os.OpenFile(data, os.O_RDWR, 0)
	if isNotExist(err) {
		return s.confirmObject(u)
	} else if err != nil {
		return err
	}
	defer f.Close()
	if u.Streamed {
		// A streamed upload whose length came late may have bytes past it that a refused write
		// left; they were never counted.
		if err := trimTo(f, u.Size); err != nil {
			return err
		}
	}
	if err := checkSize(f, u.Size); err != nil {
		return err
	}
	// Every part was synced as it was written; this also covers anything else still dirty, so
	// that the rename can never publish bytes the disk does not hold.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := s.objectDir(obj); err != nil {
		return err
	}
	if err := os.Rename(data, obj); isNotExist(err) {
		// Another completion (or an abort) of the same upload got there first.
		return s.confirmObject(u)
	} else if err != nil {
		return err
	}
	return s.volume.SyncDir(filepath.Dir(obj))
}

// objectDir makes the directory of the object at path durable, once per directory and process.
func (s *Store) objectDir(path string) error {
	dir := filepath.Dir(path)
	if _, done := s.durable.Load(dir); done {
		return nil
	}
	if err := makeDirs(dir, s.root); err != nil {
		return err
	}
	s.durable.Store(dir, struct{}{})
	return nil
}

// PutObject stores exactly size bytes of r as the object at key in one go, durably: see
// PutObjectDeferred, whose flush it waits for.
func (s *Store) PutObject(ctx context.Context, key string, r io.Reader, size int64) error {
	flush, err := s.PutObjectDeferred(ctx, key, r, size)
	if err != nil || flush == nil {
		return err
	}
	if err := flush.Wait(); err != nil {
		s.DeleteObject(context.WithoutCancel(ctx), key) // a failure leaves an object no row points to
		return err
	}
	return nil
}

// PutObjectDeferred implements ingest.DeferredPutter. It writes the object straight to its name.
// The object is visible at its key while it is written, which is safe because a key belongs to
// one file and nothing reads it before the database records the object: a crash part-way leaves
// an object that no row points to, never a row without its object. Writing at the key spares a
// temporary name and a rename, which showed in the profile of many small uploads at once.
//
// With durable.Files the object is fsynced, and its directory, before it returns (the flush is
// nil). With durable.Filesystem it returns at once with a flush that waits for a syncfs begun after
// the write: one flush of the moment covers every object and commit written before it.
//
// It returns EPartSizeMismatch when r yields fewer or more bytes, and removes what it wrote when
// it fails.
func (s *Store) PutObjectDeferred(ctx context.Context, key string, r io.Reader, size int64) (ingest.Pending, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "an object has at least 0 bytes, not %d", size)
	}
	obj := s.objectPath(key)
	if err := s.objectDir(obj); err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	f, err := os.OpenFile(obj, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	written := false
	defer func() {
		if !written {
			f.Close()
			os.Remove(obj)
		}
	}()
	if err := copyExact(ctx, f, 0, size, r, s.copyAt); err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	flush, err := s.volume.CloseNew(f)
	if err != nil {
		return nil, fmt.Errorf("put object: %w", err)
	}
	written = true
	if flush == nil {
		return nil, nil
	}
	return objectFlush{flush}, nil
}

// objectFlush is the pending flush of a put object; its error says so.
type objectFlush struct{ durable.Pending }

func (p objectFlush) Wait() error {
	if err := p.Pending.Wait(); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	return nil
}

// confirmObject checks that the object of u exists with u's size, and syncs it and the directories
// above it before CompleteUpload answers success: the call that renamed it may have crashed before
// doing so, and its caller is about to record the object as stored.
func (s *Store) confirmObject(u ingest.BlobUpload) error {
	obj := s.objectPath(u.Key)
	f, err := os.Open(obj)
	if isNotExist(err) {
		return ingest.Errorf(ingest.ENotFound, "upload %s has neither data nor an object", u.SessionID)
	} else if err != nil {
		return err
	}
	defer f.Close()
	if err := checkSize(f, u.Size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return syncDirs(filepath.Dir(obj), s.root)
}

// checkSize returns an error unless f is a regular file of size bytes.
func checkSize(f *os.File, size int64) error {
	fi, err := f.Stat()
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", f.Name())
	case fi.Size() != size:
		return fmt.Errorf("%s has %d bytes, want %d", f.Name(), fi.Size(), size)
	}
	return nil
}

// AbortUpload removes the session's directory. A completed object is not in it, so it is safe
// after completion too.
func (s *Store) AbortUpload(ctx context.Context, u ingest.BlobUpload) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.removeSession(u); err != nil {
		return fmt.Errorf("abort upload %s: %w", u.SessionID, err)
	}
	return nil
}

// removeSession removes the session's directory, if it is there, and syncs its parent, so that a
// power cut cannot bring the data of a finished upload back.
func (s *Store) removeSession(u ingest.BlobUpload) error {
	dir := s.sessionDir(u)
	if _, err := os.Lstat(dir); isNotExist(err) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return durable.SyncDir(s.uploads)
}

// ReadObject returns length bytes of the object at key from offset, or the bytes to its end when
// length is negative; a range past the end is cut at the end. It returns EValidation for a key
// outside the store or a negative offset, and ENotFound when there is no object at key.
func (s *Store) ReadObject(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "offset %d is negative", offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.objectPath(key))
	if isNotExist(err) {
		return nil, ingest.Errorf(ingest.ENotFound, "object %s not found", key)
	} else if err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read object: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, ingest.Errorf(ingest.ENotFound, "object %s not found", key)
	}
	offset = min(offset, fi.Size())
	n := fi.Size() - offset
	if length >= 0 {
		n = min(n, length)
	}
	rc, err := newSection(f, offset, n)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read object: %w", err)
	}
	return rc, nil
}

// StatObject returns the size of the object at key. It returns EValidation for a key outside the
// store and ENotFound when there is no object at key.
func (s *Store) StatObject(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.objectPath(key))
	switch {
	case isNotExist(err):
		return 0, ingest.Errorf(ingest.ENotFound, "object %s not found", key)
	case err != nil:
		return 0, fmt.Errorf("stat object: %w", err)
	case !fi.Mode().IsRegular():
		return 0, ingest.Errorf(ingest.ENotFound, "object %s not found", key)
	}
	return fi.Size(), nil
}

// DeleteObject removes the object at key and syncs its directory. A missing object, or a
// directory at key, which is no object, is left as it is. It returns EValidation for a key outside
// the store.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	obj := s.objectPath(key)
	fi, err := os.Lstat(obj)
	switch {
	case isNotExist(err):
		return nil
	case err != nil:
		return fmt.Errorf("delete object: %w", err)
	case fi.IsDir():
		return nil
	}
	if err := os.Remove(obj); isNotExist(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	if err := durable.SyncDir(filepath.Dir(obj)); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	return nil
}

// Ping checks that the store's directory takes new files by creating and removing one.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// MkdirAll first: a store whose uploads' directory was removed still works, for CreateUpload
	// makes it again, and so must not be reported down.
	if err := os.MkdirAll(s.uploads, dirMode); err != nil {
		return fmt.Errorf("ping local blob store: %w", err)
	}
	f, err := os.CreateTemp(s.uploads, "ping-*")
	if err != nil {
		return fmt.Errorf("ping local blob store: %w", err)
	}
	name := f.Name()
	cerr := f.Close()
	if err := errors.Join(cerr, os.Remove(name)); err != nil {
		return fmt.Errorf("ping local blob store: %w", err)
	}
	return nil
}

// sessionDir is where the upload's temporary data lives. It follows from the session id alone, not
// from u.StorageID, so that no stored string can point the store at another path.
func (s *Store) sessionDir(u ingest.BlobUpload) string {
	return filepath.Join(s.root, filepath.FromSlash(ingest.UploadPrefix("", u.SessionID)))
}

func (s *Store) dataPath(u ingest.BlobUpload) string {
	return filepath.Join(s.sessionDir(u), dataName)
}

// objectPath is the file of the object at key, which checkKey has accepted.
func (s *Store) objectPath(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// checkKey returns EValidation unless key names a file inside the root and outside the uploads'
// directory: a key must neither escape the store nor reach another upload's temporary data.
func checkKey(key string) error {
	p := filepath.Clean(filepath.FromSlash(key))
	if !filepath.IsLocal(p) || p == "." {
		return ingest.Errorf(ingest.EValidation, "key %q is not a path inside the store", key)
	}
	// EqualFold: on a case-insensitive filesystem .Uploads is the same directory.
	if first, _, _ := strings.Cut(p, string(filepath.Separator)); strings.EqualFold(first, uploadsDir) {
		return ingest.Errorf(ingest.EValidation, "key %q is inside the uploads' directory", key)
	}
	return nil
}

// checkUpload returns EValidation for an upload that no session could have: without it a zero
// chunk size would divide by zero in TotalParts.
func checkUpload(u ingest.BlobUpload) error {
	switch {
	case u.SessionID == uuid.Nil:
		return ingest.Errorf(ingest.EValidation, "the upload has no session id")
	case u.Size < 0:
		return ingest.Errorf(ingest.EValidation, "upload size %d is negative", u.Size)
	case u.ChunkSize <= 0:
		return ingest.Errorf(ingest.EValidation, "chunk size %d is not positive", u.ChunkSize)
	}
	return nil
}

// checkPart returns EValidation unless n is a part of u.
func checkPart(u ingest.BlobUpload, n int) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	if n < 1 || n > u.TotalParts() {
		return ingest.Errorf(ingest.EValidation, "part %d is not in 1..%d", n, u.TotalParts())
	}
	return nil
}

// checkParts returns EValidation unless parts are the parts of u in order, which is what the
// contract promises; anything else is a caller's bug that would publish an incomplete object.
func checkParts(u ingest.BlobUpload, parts []ingest.WrittenPart) error {
	if len(parts) != u.TotalParts() {
		return ingest.Errorf(ingest.EValidation, "%d parts given, the upload has %d", len(parts), u.TotalParts())
	}
	for i, p := range parts {
		if p.Number != i+1 || p.Size != u.PartSize(i+1) {
			return ingest.Errorf(ingest.EValidation, "part %d of %d bytes is not part %d of %d bytes", p.Number, p.Size, i+1, u.PartSize(i+1))
		}
	}
	return nil
}

// isNotExist reports whether err says that a path is not there. ENOTDIR counts: it is what a key
// whose parent is a file, not a directory, gets.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// makeDirs creates dir and its missing parents, then syncs every directory from dir's parent up to
// top. Syncing the whole chain, not only the parents of the directories this call created, also
// makes durable what an earlier call created and crashed before syncing.
func makeDirs(dir, top string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	if dir == top {
		return nil
	}
	return syncDirs(filepath.Dir(dir), top)
}

// existingParent returns dir, if it exists, or its nearest parent that does.
func existingParent(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

// syncDirs syncs dir and each of its parents up to and including top, which must be dir or above
// it. Syncing a directory whose entries have not changed costs next to nothing.
func syncDirs(dir, top string) error {
	for {
		if err := durable.SyncDir(dir); err != nil {
			return err
		}
		if dir == top || filepath.Dir(dir) == dir {
			return nil
		}
		dir = filepath.Dir(dir)
	}
}

// section reads n bytes of a file from an offset, and closes the file. It reads through an
// io.LimitedReader over the *os.File rather than an io.SectionReader because that is the shape
// net.TCPConn.ReadFrom recognises: a download copied to a plain TCP connection then goes out with
// sendfile(2), without passing through user space.
type section struct {
	io.LimitedReader
	f   *os.File
	off int64 // where the section starts in f
}

// newSection returns the n bytes of f from off. f's offset is its own: every reader opens the file
// anew.
func newSection(f *os.File, off, n int64) (*section, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return &section{LimitedReader: io.LimitedReader{R: f, N: n}, f: f, off: off}, nil
}

// WriteTo hands w the limited file itself, which is what lets w use sendfile(2).
func (s *section) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &s.LimitedReader) }

// Close closes the file.
func (s *section) Close() error { return s.f.Close() }
