package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// referenceCommand is the hidden subcommand that runs the reference server.
const referenceCommand = "reference"

// referenceBuffer is what the reference reads from a body before each write: 1 MiB, what the
// portal's local blob store used when the targets were set (it now uses 256 KiB, to hold less
// memory with many parts in flight; for one stream the difference does not show).
const referenceBuffer = 1 << 20

// referenceServer is the least an ingest server must do to store a file durably with a verified
// hash: one request per file, body → SHA-256 → file (write) → fsync → rename → fsync of the
// directory. No database, no authentication, no parts. It answers 201 with
// {"sha256": …, "size_bytes": …}.
type referenceServer struct {
	dir     string
	seq     atomic.Uint64
	buffers sync.Pool
}

func newReferenceServer(dir string) *referenceServer {
	return &referenceServer{dir: dir, buffers: sync.Pool{New: func() any {
		b := make([]byte, referenceBuffer)
		return &b
	}}}
}

// referenceReply is the reference's answer.
type referenceReply struct {
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size_bytes"`
}

func (s *referenceServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != "/files":
		http.Error(w, "not found", http.StatusNotFound)
		return
	case r.Method != http.MethodPost:
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	case r.ContentLength < 0:
		http.Error(w, "send a Content-Length", http.StatusLengthRequired)
		return
	}
	sum, n, err := s.store(r.Body, r.ContentLength)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(referenceReply{SHA256: sum, SizeBytes: n})
}

// store writes size bytes of body to a new file durably and returns their SHA-256.
func (s *referenceServer) store(body io.Reader, size int64) (string, int64, error) {
	final := filepath.Join(s.dir, strconv.FormatUint(s.seq.Add(1), 10))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", 0, err
	}
	n, sum, err := s.copyHashed(f, body)
	if err == nil && n != size {
		err = fmt.Errorf("the body has %d bytes, the Content-Length says %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", 0, err
	}
	return sum, n, nil
}

// copyHashed copies body to f through a pooled buffer, hashing it on the way.
func (s *referenceServer) copyHashed(f *os.File, body io.Reader) (int64, string, error) {
	bp := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(bp)
	h := sha256.New()
	var total int64
	for {
		n, rerr := fill(body, *bp)
		if n > 0 {
			h.Write((*bp)[:n])
			if _, err := f.Write((*bp)[:n]); err != nil {
				return total, "", err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, hex.EncodeToString(h.Sum(nil)), nil
		} else if rerr != nil {
			return total, "", fmt.Errorf("read body: %w", rerr)
		}
	}
}

// fill reads from r until buf is full or r fails; it returns io.EOF when r has ended.
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

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// runReference is "ingest-bench reference --addr HOST:PORT --dir DIR": it serves until ctx ends,
// after printing "url=http://HOST:PORT" on stdout.
func runReference(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(referenceCommand, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "where to listen")
	dir := fs.String("dir", "", "where to store files (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newReferenceServer(*dir), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "reference listening url=http://%s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
