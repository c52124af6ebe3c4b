package powercut

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is go-fuse's loopback node, told what the harness must know: new inodes, changes of
// names, writes and fsyncs.
type node struct {
	*fs.LoopbackNode
	h *FS
}

var (
	_ fs.NodeWrapChilder     = (*node)(nil)
	_ fs.NodeCreater         = (*node)(nil)
	_ fs.NodeOpener          = (*node)(nil)
	_ fs.NodeOpendirHandler  = (*node)(nil)
	_ fs.NodeSetattrer       = (*node)(nil)
	_ fs.NodeCopyFileRanger  = (*node)(nil)
	_ fs.FileWriter          = (*file)(nil)
	_ fs.FileFsyncer         = (*file)(nil)
	_ fs.FileReaddirenter    = (*dirHandle)(nil)
	_ fs.FileFsyncdirer      = (*dirHandle)(nil)
	_ fs.FilePassthroughFder = (*file)(nil)
)

// WrapChild makes every node of the tree a node of the harness.
func (n *node) WrapChild(_ context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), h: n.h}
}

// backing returns the node's path in the backing directory.
func (n *node) backing() string { return filepath.Join(n.RootData.Path, n.Path(nil)) }

// Direct I/O is turned into ordinary I/O on the backing file: go-fuse's buffers are not aligned
// as O_DIRECT needs, and the page cache of the backing file is not what a cut throws away.
const dropFlags = syscall.O_DIRECT

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.h.ns.RLock()
	defer n.h.ns.RUnlock()
	ch, fh, fuseFlags, errno := n.LoopbackNode.Create(ctx, name, flags&^dropFlags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	r := n.h.newRecord(ch.StableAttr().Ino, false)
	f, errno := n.h.wrap(fh, r, ch)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return ch, f, fuseFlags, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, flags&^dropFlags)
	if errno != 0 {
		return nil, 0, errno
	}
	f, errno := n.h.wrap(fh, n.h.recordOf(n.StableAttr().Ino, false), n.EmbeddedInode())
	return f, fuseFlags, errno
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.h.ns.RLock()
	defer n.h.ns.RUnlock()
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno == 0 {
		n.h.newRecord(ch.StableAttr().Ino, true)
	}
	return ch, errno
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	n.h.ns.RLock()
	defer n.h.ns.RUnlock()
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	n.h.ns.RLock()
	defer n.h.ns.RUnlock()
	return n.LoopbackNode.Rmdir(ctx, name)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	n.h.ns.RLock()
	defer n.h.ns.RUnlock()
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

// Link, Symlink and Mknod make inodes or names the harness does not follow; the portal uses
// none of them.
func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

func (n *node) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

// CopyFileRange is refused, so that the kernel copies with reads and writes the harness sees.
func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := n.LoopbackNode.Setattr(ctx, f, in, out); errno != 0 {
		return errno
	}
	if size, ok := in.GetSize(); ok && !n.IsDir() {
		n.h.recordOf(n.StableAttr().Ino, false).resized(int64(size))
	}
	return 0
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ds, errno := fs.NewLoopbackDirStream(n.backing())
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{ds: ds, n: n}, 0, 0
}

// file is an open file: go-fuse's loopback file, whose writes the harness records and whose
// fsync captures it.
type file struct {
	*fs.LoopbackFile
	h     *FS
	rec   *record
	inode *fs.Inode
	ro    *os.File // the same file, for captures, however it was opened
}

func (h *FS) wrap(fh fs.FileHandle, r *record, inode *fs.Inode) (*file, syscall.Errno) {
	lf := fh.(*fs.LoopbackFile)
	fd, _ := lf.PassthroughFd()
	ro, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		lf.Release(context.Background())
		return nil, fs.ToErrno(err)
	}
	return &file{LoopbackFile: lf, h: h, rec: r, inode: inode, ro: ro}, 0
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, errno := f.LoopbackFile.Write(ctx, data, off)
	f.rec.wrote(off, off+int64(n))
	return n, errno
}

func (f *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	n, errno := f.LoopbackFile.Writev(ctx, data, off)
	f.rec.wrote(off, off+int64(n))
	return n, errno
}

func (f *file) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	errno := f.LoopbackFile.Allocate(ctx, off, size, mode)
	f.rec.wrote(int64(off), int64(off+size))
	return errno
}

// Fsync (and fdatasync, which keeps no less in the worst case) captures the file; the marker's
// captures everything.
func (f *file) Fsync(context.Context, uint32) syscall.Errno {
	if f.rec == f.h.marker {
		if f.h.ignore {
			return 0
		}
		return f.h.fsync("syncfs", f.h.captureAll)
	}
	return f.h.fsync("fsync "+f.inode.Path(nil), func() error { return f.h.captureFile(f.rec, f.ro) })
}

// PassthroughFd says no: passthrough I/O would bypass the harness.
func (f *file) PassthroughFd() (int, bool) { return 0, false }

func (f *file) Release(ctx context.Context) syscall.Errno {
	f.ro.Close()
	return f.LoopbackFile.Release(ctx)
}

// dirHandle is an open directory, whose fsync captures its entries.
type dirHandle struct {
	ds fs.DirStream
	n  *node
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.ds.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.ds.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.ds.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

func (d *dirHandle) Fsyncdir(context.Context, uint32) syscall.Errno {
	return d.n.h.fsync("directory fsync "+d.n.Path(nil), func() error { return d.n.h.captureDir(d.n.backing()) })
}
