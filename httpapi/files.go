package httpapi

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/httperr"
	"github.com/ingest-portal/ingest/upload"
)

// putFile is the single-request upload: the raw body is the file.
func (s *Server) putFile(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	q := r.URL.Query()
	name := q.Get("filename")
	if name == "" {
		name = dispositionFilename(r.Header.Get("Content-Disposition"))
	}
	if name == "" {
		return ingest.Errorf(ingest.EValidation, "name the file: ?filename= or Content-Disposition: attachment; filename=…")
	}
	if r.ContentLength < 0 {
		return ingest.Errorf(ingest.EValidation, "send the file with a Content-Length")
	}
	req := upload.CreateRequest{Filename: name, ContentType: r.Header.Get("Content-Type"), SizeBytes: r.ContentLength,
		SHA256: strings.ToLower(q.Get("sha256"))}
	if err := queryID(r, "batch_id", &req.BatchID); err != nil {
		return err
	}
	var err error
	if req.Metadata, err = queryMetadata(q); err != nil {
		return err
	}
	if req.IdempotencyKey, err = idempotencyKey(r); err != nil {
		return err
	}
	digest, err := parseContentDigest(r.Header.Get("Content-Digest"))
	if err != nil {
		return err
	}
	f, created, err := s.cfg.Service.Put(r.Context(), actor, req, s.deadlineBody(w, r), digest)
	s.cfg.Metrics.completion(ingest.ErrorCode(err))
	if err != nil {
		return err
	}
	if created {
		s.cfg.Metrics.partReceived(f.SizeBytes)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/api/v1/files/"+f.ID.String())
	writeJSON(w, status, fileView(f))
	return nil
}

// queryMetadata reads a file's metadata from ?metadata[key]=value parameters (OpenAPI's
// deepObject style), nil when there are none. The service checks the keys and values.
func queryMetadata(q url.Values) (map[string]string, error) {
	var m map[string]string
	for name, values := range q {
		inner, ok := strings.CutPrefix(name, "metadata[")
		if !ok && name != "metadata" {
			continue
		}
		key, closed := strings.CutSuffix(inner, "]")
		if !ok || !closed {
			return nil, ingest.Errorf(ingest.EValidation, "give metadata as ?metadata[key]=value, one parameter per key")
		}
		if len(values) > 1 {
			return nil, ingest.Errorf(ingest.EValidation, "metadata key %q is given %d times", key, len(values))
		}
		if m == nil {
			m = map[string]string{}
		}
		m[key] = values[0]
	}
	return m, nil
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	q, err := queryPage(r)
	if err != nil {
		return err
	}
	if err := queryStatus[ingest.FileStatus](r, &q.Status); err != nil {
		return err
	}
	if err := queryID(r, "batch_id", &q.BatchID); err != nil {
		return err
	}
	files, err := s.cfg.Service.ListFiles(r.Context(), actor, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page(files, fileView, func(f *ingest.File) uuid.UUID { return f.ID }))
	return nil
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.File, fileView)
}

// getContent downloads a stored file: one byte range at most (a multi-range request gets the
// whole file, as RFC 9110 allows), the sha256 as a strong ETag, and always as an attachment with
// nosniff and a sandboxing CSP, because the content type is whatever the uploader said.
func (s *Server) getContent(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	f, err := s.cfg.Service.File(r.Context(), actor, id)
	if err != nil {
		return err
	}
	if f.Status != ingest.FileStored {
		return ingest.Errorf(ingest.ENotFound, "ingest file %s has no content: it is %s", id, f.Status)
	}
	etag := `"` + f.SHA256 + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.OriginalFilename}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	offset, length, status := int64(0), f.SizeBytes, http.StatusOK
	if rng := r.Header.Get("Range"); rng != "" && (r.Header.Get("If-Range") == "" || r.Header.Get("If-Range") == etag) {
		start, end, ok, satisfiable := parseRange(rng, f.SizeBytes)
		if !satisfiable {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", f.SizeBytes))
			h.Set("Content-Type", "application/json")
			return &ingest.Error{Code: httperr.RangeNotSatisfiable, Message: "the range is outside the file"}
		}
		if ok {
			offset, length, status = start, end-start+1, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, f.SizeBytes))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	_, body, err := s.cfg.Service.Content(r.Context(), actor, id, offset, length)
	if err != nil {
		h.Del("Content-Length")
		return err
	}
	defer body.Close()
	w.WriteHeader(status)
	if err := s.send(w, body); err != nil {
		// The status is sent; all that is left is to log why the body broke off.
		s.logger.Warn("download broke off", "file", id, "err", err)
	}
	return nil
}

// downloadStep is how much of a download must leave within the idle timeout: a client that
// takes longer to read it loses its connection.
const downloadStep = 4 << 20

// send copies body to w a step at a time, each with its own write deadline, so that a client that
// stops reading cannot hold the connection (and the file open) forever, however large the file.
// Each step is one io.CopyN, which the server still sends with sendfile(2) where it can.
func (s *Server) send(w http.ResponseWriter, body io.Reader) error {
	rc := http.NewResponseController(w)
	for {
		// Servers without deadlines (tests' recorders) answer ErrNotSupported: write on without.
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.IdleReadTimeout))
		if _, err := io.CopyN(w, body, downloadStep); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// etagMatches reports whether an If-None-Match header names etag: "*", or a list of tags compared
// weakly (W/ ignored), as RFC 9110 §13.1.2 says.
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// bytePos parses a byte position of a Range header: decimal digits only. A position past what an
// int64 holds is past the end of any file (RFC 9110 lets a client ask for more than there is).
func bytePos(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxInt64, true
	}
	return n, err == nil
}

// parseRange parses a single "bytes=" range of a file of size bytes into the first and last byte.
// ok is false for a header to ignore (not bytes, several ranges, malformed); satisfiable is false
// for a well-formed range wholly outside the file.
func parseRange(header string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(header, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, true
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, true
	}
	if first == "" { // the last N bytes
		n, ok := bytePos(last)
		if !ok {
			return 0, 0, false, true
		}
		if n == 0 || size == 0 {
			return 0, 0, false, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	start, ok = bytePos(first)
	if !ok {
		return 0, 0, false, true
	}
	end = size - 1
	if last != "" {
		if end, ok = bytePos(last); !ok || end < start {
			return 0, 0, false, true
		}
		end = min(end, size-1)
	}
	if start >= size {
		return 0, 0, false, false
	}
	return start, end, true, true
}
