// Package powercut is a FUSE file system for power-cut tests (DESIGN.md §9): it passes every
// write through to a backing directory but remembers, per file and per directory, what has been
// made durable, and a Cut throws away everything else.
//
// What becomes durable is the POSIX worst case, not what ext4 happens to keep:
//   - a file's bytes and size, at an fsync or fdatasync of that file;
//   - a directory's entries (new names, renames into or out of it, unlinks), at an fsync of that
//     directory: a new file whose directory was never fsynced is gone after a cut, whatever was
//     fsynced of its bytes, and a renamed file may be found under both names or neither;
//   - everything, at an fsync of the marker file (Marker): Linux never forwards syncfs(2) to a
//     FUSE server, so the process under test tells the harness of each syncfs by fsyncing the
//     marker first (durable.Flusher.BeforeSyncfs).
//
// A cut (Freeze, then Cut once the process under test is dead) unmounts the file system, rebuilds
// the backing directory from the durable state alone and mounts it again at the same place.
package powercut

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Marker is the name, in the root of the file system, of the file whose fsync makes everything
// written so far durable, as a syncfs(2) would.
const Marker = ".powercut-syncfs"

// FS is a mounted power-cut file system. Its methods are safe for concurrent use.
type FS struct {
	t       testing.TB
	base    string // holds the backing and shadow directories of every generation
	mnt     string // where the file system is mounted
	ignore  bool   // the marker's fsync makes nothing durable (Options.IgnoreSyncfs)
	gen     int    // the generation: 1 at Mount, one more after each cut
	live    string // the backing directory of this generation
	shadows string // the durable bytes of this generation's files, one file per record id
	server  *fuse.Server

	// ns is held shared by every change of names (create, mkdir, unlink, rmdir, rename) and
	// exclusively by a capture of directories, so that a capture never sees half a rename.
	ns sync.RWMutex

	mu      sync.Mutex // guards what follows
	byIno   map[uint64]*record
	nextID  int
	root    *record
	marker  *record
	frozen  bool
	syncs   int                    // fsync requests seen since the last cut (the marker's among them)
	cutWhen func(what string) bool // see CutWhen; nil for none
}

// record is one inode of the backing directory and what of it is durable.
type record struct {
	id  int
	dir bool

	mu sync.Mutex
	// A file's changes since its last capture: the byte ranges written, and the smallest size
	// it was truncated to (-1 for none).
	spans   []span
	shrunk  int64
	entries map[string]*record // a directory's durable entries
	// A file's durable bytes are in the shadow file named after its id; none means empty.
}

type span struct{ off, end int64 }

// Options changes how the file system behaves.
type Options struct {
	// IgnoreSyncfs makes the marker's fsync answer success while making nothing durable: a
	// syncfs that does nothing, so that a test can show that the harness finds what is lost
	// without it.
	IgnoreSyncfs bool
}

// Mount mounts an empty power-cut file system in a temporary directory; the test's cleanup
// unmounts it, also after a failure.
func Mount(t testing.TB, opts Options) *FS {
	t.Helper()
	base := t.TempDir()
	h := &FS{t: t, base: base, mnt: filepath.Join(base, "mnt"), ignore: opts.IgnoreSyncfs, gen: 1}
	h.live, h.shadows = h.dirs(h.gen)
	for _, dir := range []string{h.mnt, h.live, h.shadows} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.live, Marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.unmount(); err != nil {
			t.Errorf("unmount %s: %v", h.mnt, err)
		}
	})
	return h
}

// Dir returns where the file system is mounted.
func (h *FS) Dir() string { return h.mnt }

// MarkerPath returns the path of the marker file in the mounted file system.
func (h *FS) MarkerPath() string { return filepath.Join(h.mnt, Marker) }

// Syncs returns how many fsync requests (of files, directories and the marker) the file system
// has had since it was mounted or last cut.
func (h *FS) Syncs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.syncs
}

// CutWhen makes the file system ask cut, at every sync request from now until the next cut and
// before making anything durable, whether the power goes off in the middle of that request; if
// cut answers true, it must already have frozen the file system (Freeze) and stopped the process
// under test, without waiting for it to exit, and the request fails. cut is told what the
// request is: "syncfs", "fsync <path>" or "directory fsync <path>", paths relative to Dir. It is
// called by several goroutines at once.
func (h *FS) CutWhen(cut func(what string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cutWhen = cut
}

// Freeze is the instant of the power cut: from now on nothing more becomes durable, and every
// fsync fails. An answer the process under test gives after Freeze proves nothing.
func (h *FS) Freeze() {
	// Under the lock of names, so that a capture of directories in progress, which began before
	// the cut, ends first.
	h.ns.Lock()
	defer h.ns.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.frozen = true
}

// Sync makes everything written so far durable, as sync(2) would.
func (h *FS) Sync() error { return h.captureAll() }

// Cut throws away everything that is not durable and mounts what is left at the same place. The
// process under test must have exited: its files keep the mount busy. It freezes the file system
// first if the caller has not.
func (h *FS) Cut() error {
	h.Freeze()
	if err := h.unmount(); err != nil {
		return err
	}
	h.gen++
	live, shadows := h.dirs(h.gen)
	if err := os.Mkdir(live, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(shadows, 0o755); err != nil {
		return err
	}
	if err := h.restore(h.root, live, map[*record]bool{}); err != nil {
		return fmt.Errorf("rebuild from the durable state: %w", err)
	}
	// The previous generation is not needed any more: free the space.
	if err := os.RemoveAll(h.live); err != nil {
		return err
	}
	if err := os.RemoveAll(h.shadows); err != nil {
		return err
	}
	h.live, h.shadows = live, shadows
	return h.start()
}

func (h *FS) dirs(gen int) (live, shadows string) {
	return filepath.Join(h.base, fmt.Sprintf("live%d", gen)), filepath.Join(h.base, fmt.Sprintf("shadow%d", gen))
}

// start records the backing directory as wholly durable and mounts it.
func (h *FS) start() error {
	h.mu.Lock()
	h.byIno, h.nextID, h.frozen, h.syncs, h.cutWhen = map[uint64]*record{}, 0, false, 0, nil
	h.mu.Unlock()
	root, err := h.register(h.live)
	if err != nil {
		return err
	}
	h.root = root
	h.marker = root.entries[Marker]
	if h.marker == nil {
		return fmt.Errorf("the marker %s is missing", Marker)
	}
	loop, err := fs.NewLoopbackRoot(h.live)
	if err != nil {
		return err
	}
	lb := loop.(*fs.LoopbackNode)
	top := &node{LoopbackNode: lb, h: h}
	lb.RootData.RootNode = top
	timeout := time.Duration(0) // the kernel caches nothing: after a cut, names change under it
	h.server, err = fs.Mount(h.mnt, top, &fs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true, // root mounts by itself: no fusermount needed
			FsName:            "powercut",
			Name:              "powercut",
		},
	})
	return err
}

// unmount unmounts the file system, waiting while the exiting process under test still holds
// files open in it.
func (h *FS) unmount() error {
	if h.server == nil {
		return nil
	}
	var err error
	for range 100 {
		if err = h.server.Unmount(); err == nil {
			h.server.Wait()
			h.server = nil
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// register records the tree under path as durable as it is: a record per inode, each file's bytes
// copied to its shadow.
func (h *FS) register(path string) (*record, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	r := h.newRecord(ino(fi), fi.IsDir())
	if !fi.IsDir() {
		return r, copyFile(path, h.shadowOf(r))
	}
	list, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		c, err := h.register(filepath.Join(path, e.Name()))
		if err != nil {
			return nil, err
		}
		r.entries[e.Name()] = c
	}
	return r, nil
}

// newRecord records a new inode, with nothing durable yet: an empty file or directory.
func (h *FS) newRecord(ino uint64, dir bool) *record {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	r := &record{id: h.nextID, dir: dir, shrunk: -1}
	if dir {
		r.entries = map[string]*record{}
	}
	h.byIno[ino] = r
	return r
}

// recordOf returns the record of the inode ino, a new one if the inode is not known.
func (h *FS) recordOf(ino uint64, dir bool) *record {
	h.mu.Lock()
	r := h.byIno[ino]
	h.mu.Unlock()
	if r == nil || r.dir != dir {
		r = h.newRecord(ino, dir)
	}
	return r
}

func (h *FS) shadowOf(r *record) string {
	return filepath.Join(h.shadows, fmt.Sprint(r.id))
}

// restore writes the durable state of r to path.
func (h *FS) restore(r *record, path string, seen map[*record]bool) error {
	if !r.dir {
		err := copyFile(h.shadowOf(r), path)
		if errors.Is(err, os.ErrNotExist) { // never captured: an empty file
			err = os.WriteFile(path, nil, 0o644)
		}
		return err
	}
	if seen[r] { // a directory renamed and found under two names: once is enough
		return nil
	}
	seen[r] = true
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	for name, c := range r.entries {
		if err := h.restore(c, filepath.Join(path, name), seen); err != nil {
			return err
		}
	}
	return nil
}

// fsync is an fsync request (what, as CutWhen tells it): unless the file system is frozen, or
// the request is the one that cuts the power, capture makes its target durable.
func (h *FS) fsync(what string, capture func() error) syscall.Errno {
	h.mu.Lock()
	if h.frozen {
		h.mu.Unlock()
		return syscall.EIO
	}
	h.syncs++
	cut := h.cutWhen
	h.mu.Unlock()
	if cut != nil && cut(what) {
		return syscall.EIO
	}
	if err := capture(); err != nil {
		h.t.Logf("powercut: capture: %v", err)
		return syscall.EIO
	}
	return 0
}

// captureAll makes everything durable: every directory's entries and every file's bytes.
func (h *FS) captureAll() error {
	h.ns.Lock()
	defer h.ns.Unlock()
	return h.captureTree(h.live, h.root)
}

func (h *FS) captureTree(path string, r *record) error {
	entries, err := h.liveEntries(path)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.entries = entries
	r.mu.Unlock()
	for name, c := range entries {
		p := filepath.Join(path, name)
		if c.dir {
			if err := h.captureTree(p, c); err != nil {
				return err
			}
			continue
		}
		if !c.changed() {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = h.captureFile(c, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// captureDir makes the entries of the directory at path durable.
func (h *FS) captureDir(path string) error {
	h.ns.Lock()
	defer h.ns.Unlock()
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	entries, err := h.liveEntries(path)
	if err != nil {
		return err
	}
	r := h.recordOf(ino(fi), true)
	r.mu.Lock()
	r.entries = entries
	r.mu.Unlock()
	return nil
}

// liveEntries returns the records of the entries of the backing directory at path.
func (h *FS) liveEntries(path string) (map[string]*record, error) {
	list, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	entries := make(map[string]*record, len(list))
	for _, e := range list {
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile by a process the lock does not stop (the harness's own)
		}
		if err != nil {
			return nil, err
		}
		entries[e.Name()] = h.recordOf(ino(fi), fi.IsDir())
	}
	return entries, nil
}

// captureFile makes the bytes and size of the file src (of record r) durable: its shadow takes
// the ranges written since the last capture.
func (h *FS) captureFile(r *record, src *os.File) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.spans) == 0 && r.shrunk < 0 {
		return nil
	}
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(h.shadowOf(r), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer dst.Close()
	if r.shrunk >= 0 {
		if err := dst.Truncate(r.shrunk); err != nil {
			return err
		}
	}
	for _, s := range r.spans {
		end := min(s.end, fi.Size())
		if end <= s.off {
			continue
		}
		if _, err := io.Copy(io.NewOffsetWriter(dst, s.off), io.NewSectionReader(src, s.off, end-s.off)); err != nil {
			return err
		}
	}
	if err := dst.Truncate(fi.Size()); err != nil {
		return err
	}
	r.spans, r.shrunk = nil, -1
	return nil
}

// changed says whether the file has changed since its last capture.
func (r *record) changed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.spans) > 0 || r.shrunk >= 0
}

// wrote records that [off, end) of the file was written.
func (r *record) wrote(off, end int64) {
	if end <= off {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.spans); n > 0 && off <= r.spans[n-1].end && end >= r.spans[n-1].off {
		last := &r.spans[n-1]
		last.off, last.end = min(last.off, off), max(last.end, end)
		return
	}
	r.spans = append(r.spans, span{off, end})
}

// resized records that the file was truncated or extended to size.
func (r *record) resized(size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shrunk < 0 || size < r.shrunk {
		r.shrunk = size
	}
}

func ino(fi os.FileInfo) uint64 { return fi.Sys().(*syscall.Stat_t).Ino }

// copyFile copies the file at src to a new file at dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
