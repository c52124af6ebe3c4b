package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/durable"
)

// WriteStream implements ingest.StreamWriter. The bytes go in place into the session's data file,
// as parts do, and are synced before it returns, whether they fill the part or end inside it: a
// tail is kept where it will stay. It reads r only up to the end of part n. When r fails, the
// bytes read before the failure are synced and returned with the error.
func (s *Store) WriteStream(ctx context.Context, u ingest.BlobUpload, n int, from int64, r io.Reader, _ int64) (ingest.StreamWrite, error) {
	if err := checkPart(u, n); err != nil {
		return ingest.StreamWrite{}, err
	}
	size := u.PartSize(n)
	if from < 0 || from >= size {
		return ingest.StreamWrite{}, ingest.Errorf(ingest.EValidation, "part %d has %d bytes; it cannot continue at byte %d", n, size, from)
	}
	if err := ctx.Err(); err != nil {
		return ingest.StreamWrite{}, err
	}
	f, err := os.OpenFile(s.dataPath(u), os.O_WRONLY, 0)
	if isNotExist(err) {
		return ingest.StreamWrite{}, ingest.Errorf(ingest.ENotFound, "upload %s not found", u.SessionID)
	} else if err != nil {
		return ingest.StreamWrite{}, fmt.Errorf("write stream: %w", err)
	}
	defer f.Close()
	taken, err := copyAt(ctx, f, u.PartOffset(n)+from, size-from, r)
	var readErr *bodyError
	if err != nil && !errors.As(err, &readErr) {
		return ingest.StreamWrite{}, fmt.Errorf("write stream: %w", err)
	}
	if taken > 0 {
		if err := durable.Fdatasync(f); err != nil {
			return ingest.StreamWrite{}, fmt.Errorf("write stream: %w", err)
		}
	}
	w := ingest.StreamWrite{Taken: taken}
	if from+taken == size {
		w.Part = &ingest.WrittenPart{Number: n, Size: size}
	}
	if readErr != nil {
		return w, fmt.Errorf("write stream: read body: %w", readErr.err)
	}
	return w, nil
}

// bodyError is a failure to read the body, as opposed to one to write the file: the bytes read
// before it are good.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }

// copyAt writes at most limit bytes of r to f from off, until r ends, and returns how many. When
// reading r fails (or ctx ends) it returns a *bodyError with the bytes written before; when a
// write fails, nothing written counts.
func copyAt(ctx context.Context, f *os.File, off, limit int64, r io.Reader) (int64, error) {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	var written int64
	for written < limit {
		if err := ctx.Err(); err != nil {
			return written, &bodyError{err}
		}
		buf := (*bp)[:min(int64(len(*bp)), limit-written)]
		nr, rerr := fill(r, buf)
		if nr > 0 {
			if _, err := f.WriteAt(buf[:nr], off+written); err != nil {
				return 0, err
			}
			written += int64(nr)
		}
		if rerr == io.EOF {
			break
		} else if rerr != nil {
			return written, &bodyError{rerr}
		}
	}
	return written, nil
}

// trimTo cuts f down to size bytes if it is longer.
func trimTo(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > size {
		return f.Truncate(size)
	}
	return nil
}

// ConcatObjects implements ingest.ObjectConcatenator. The sources are copied into the new object
// by the kernel (io.Copy between files uses copy_file_range(2), which shares blocks where the
// filesystem can), never through the portal's memory; the object is synced and its directory too
// before it returns.
func (s *Store) ConcatObjects(ctx context.Context, dst string, srcs []string, sizes []int64) error {
	if err := checkKey(dst); err != nil {
		return err
	}
	if len(srcs) != len(sizes) {
		return ingest.Errorf(ingest.EValidation, "%d sources and %d sizes", len(srcs), len(sizes))
	}
	for _, src := range srcs {
		if err := checkKey(src); err != nil {
			return err
		}
	}
	obj := s.objectPath(dst)
	if err := s.objectDir(obj); err != nil {
		return fmt.Errorf("concatenate objects: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(obj), ".concat-*")
	if err != nil {
		return fmt.Errorf("concatenate objects: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	for i, src := range srcs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := appendFile(tmp, s.objectPath(src), sizes[i]); err != nil {
			if isNotExist(err) {
				return ingest.Errorf(ingest.ENotFound, "object %s not found", src)
			}
			return fmt.Errorf("concatenate objects: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("concatenate objects: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("concatenate objects: %w", err)
	}
	if err := os.Rename(tmp.Name(), obj); err != nil {
		return fmt.Errorf("concatenate objects: %w", err)
	}
	if err := s.syncDir(filepath.Dir(obj)); err != nil {
		return fmt.Errorf("concatenate objects: %w", err)
	}
	return nil
}

// appendFile copies the file at path, which must have size bytes, to the end of dst.
func appendFile(dst *os.File, path string, size int64) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := checkSize(src, size); err != nil {
		return err
	}
	n, err := io.Copy(dst, src)
	if err == nil && n != size {
		err = fmt.Errorf("%s: copied %d bytes, want %d", path, n, size)
	}
	return err
}
