package client

import (
	"io"
	"os"
	"syscall"
)

// FileSection returns the opener of a request body of length bytes of the file at path from
// offset: each call opens the file again, so a retried request resends the same bytes. Only the
// open file is held, whatever the length: the bytes go from the page cache to the socket with
// sendfile(2) where the platform has it.
func FileSection(path string, offset, length int64) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return &sectionBody{f: f, end: offset + length}, nil
	}
}

// sectionBody is a range of a file as a request body. The transport reads a body through
// io.LimitReader(body, ContentLength), and a TCP connection sends an io.LimitedReader over anything
// with a SyscallConn with sendfile, which advances the file's offset; Read then goes on from that
// offset and ends at the end of the range, which is what the transport checks after the copy.
type sectionBody struct {
	f   *os.File
	end int64 // the offset just past the range
}

func (b *sectionBody) Read(p []byte) (int, error) {
	pos, err := b.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if pos >= b.end {
		return 0, io.EOF
	}
	if int64(len(p)) > b.end-pos {
		p = p[:b.end-pos]
	}
	return b.f.Read(p)
}

// SyscallConn is what lets the connection use sendfile(2).
func (b *sectionBody) SyscallConn() (syscall.RawConn, error) { return b.f.SyscallConn() }

func (b *sectionBody) Close() error { return b.f.Close() }
