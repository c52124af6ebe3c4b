// Package tus is the portal's tus 1.0 server (https://tus.io/protocols/resumable-upload), a
// protocol adapter over the upload service beside the native API: tus-js-client, Uppy's @uppy/tus,
// TUSKit and tus-android-client upload to it unchanged. An upload is an upload session whose bytes
// arrive as a stream (upload.Service.Append); its URL is /tus/{session id}.
//
// It speaks core tus and the extensions creation, creation-with-upload, creation-defer-length,
// termination, concatenation, checksum and expiration. Unlike tusd, every request is
// authenticated and an upload answers only its owner (anyone else gets 404); the offset counts
// only bytes the storage holds durably; and a completed upload is a STORED file with a SHA-256 the
// server computed, announced by its file.stored event (docs/tus.md).
package tus

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/httperr"
	"github.com/ingest-portal/ingest/internal/idleread"
	"github.com/ingest-portal/ingest/upload"
)

// Version is the one tus version spoken.
const Version = "1.0.0"

// Extensions is the Tus-Extension header: what this server supports beyond the core.
const Extensions = "creation,creation-with-upload,creation-defer-length,termination,concatenation,checksum,expiration"

// ChecksumAlgorithms is the Tus-Checksum-Algorithm header.
const ChecksumAlgorithms = "sha1,sha256,md5,crc32c"

// StatusChecksumMismatch is tus's status for a body that contradicts its Upload-Checksum.
const StatusChecksumMismatch = 460

// Prefix is where the server is mounted: uploads are Prefix + id.
const Prefix = "/tus/"

// Config is what the server needs.
type Config struct {
	Service *upload.Service
	// Admit returns the user a request speaks for, within the user's rate limit, as the API's
	// upload routes see it (httpapi.Server.AdmitUpload: an upload grant too); it may set headers
	// of the answer on w.
	Admit func(w http.ResponseWriter, r *http.Request) (*ingest.User, error)
	// Observe, when set, records each answered request (httpapi.Server.ObserveRequest): route is
	// Prefix or Prefix+"{id}", err the error answered, if any.
	Observe func(r *http.Request, route string, status int, written int64, actor *ingest.User, err error, elapsed time.Duration)
	// PublicURL, when set, makes Location headers absolute (PublicURL + /tus/{id}); otherwise
	// they are relative, which every tus client resolves against the URL it posted to.
	PublicURL string
	// IdleReadTimeout drops a client that sends nothing of a body for that long; 0 means 1 minute.
	IdleReadTimeout time.Duration
	// MinPartRate, in bytes per second, is the least an upload body (a part, a PATCH) must bring
	// over each MinRateWindow, so that a trickling client cannot hold a part's lock forever; 0
	// means no minimum rate.
	MinPartRate int64
	// MinRateWindow is the span MinPartRate is measured over; 0 means 30 seconds.
	MinRateWindow time.Duration
	Logger        *slog.Logger
}

// Server is the tus handler, to be mounted at Prefix.
type Server struct {
	cfg    Config
	logger *slog.Logger
}

// New returns the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleReadTimeout == 0 {
		cfg.IdleReadTimeout = time.Minute
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Server{cfg: cfg, logger: cfg.Logger}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Observe == nil {
		s.route(w, r)
		return
	}
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	s.route(rec, r)
	route := Prefix + "{id}"
	if strings.Trim(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(Prefix, "/")), "/") == "" {
		route = Prefix
	}
	s.cfg.Observe(r, route, rec.status, rec.written, rec.actor, rec.err, time.Since(start))
}

// recorder remembers what a request's answer was, for Observe.
type recorder struct {
	http.ResponseWriter
	status  int
	written int64
	actor   *ingest.User
	err     error
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.written += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// route answers a request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Tus-Resumable", Version)
	method := r.Method
	if override := r.Header.Get("X-HTTP-Method-Override"); override != "" && method == http.MethodPost {
		method = strings.ToUpper(override)
	}
	if method == http.MethodOptions {
		s.options(w)
		return
	}
	if r.Header.Get("Tus-Resumable") != Version {
		h.Set("Tus-Version", Version)
		s.fail(w, r, http.StatusPreconditionFailed, "UNSUPPORTED_VERSION", "this server speaks tus "+Version+": send Tus-Resumable: "+Version, nil)
		return
	}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(Prefix, "/")), "/")
	if rest == "" {
		if method != http.MethodPost {
			h.Set("Allow", "OPTIONS, POST")
			s.fail(w, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", method+" is not allowed on "+Prefix, nil)
			return
		}
		s.serve(w, r, s.create)
		return
	}
	id, err := uuid.Parse(rest)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, string(ingest.ENotFound), "no upload at "+r.URL.Path, nil)
		return
	}
	switch method {
	case http.MethodHead:
		s.serve(w, r, func(w http.ResponseWriter, r *http.Request, actor *ingest.User) error { return s.head(w, r, actor, id) })
	case http.MethodPatch:
		s.serve(w, r, func(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
			return s.patch(w, r, actor, id)
		})
	case http.MethodDelete:
		s.serve(w, r, func(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
			return s.terminate(w, r, actor, id)
		})
	default:
		h.Set("Allow", "OPTIONS, HEAD, PATCH, DELETE")
		s.fail(w, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", method+" is not allowed on an upload", nil)
	}
}

// options answers the discovery request, which needs neither a version nor credentials.
func (s *Server) options(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Tus-Version", Version)
	h.Set("Tus-Extension", Extensions)
	h.Set("Tus-Checksum-Algorithm", ChecksumAlgorithms)
	h.Set("Tus-Max-Size", strconv.FormatInt(s.cfg.Service.Config().MaxFileSize, 10))
	w.WriteHeader(http.StatusNoContent)
}

// serve authenticates the request, runs handle and answers its error.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, handle func(http.ResponseWriter, *http.Request, *ingest.User) error) {
	actor, err := s.cfg.Admit(w, r)
	if err == nil {
		err = handle(w, r, actor)
	}
	if err != nil {
		s.answerError(w, r, err)
	}
	if rec, ok := w.(*recorder); ok {
		rec.actor, rec.err = actor, err
	}
}

// create is POST /tus/: a new upload, with its first bytes when the request has a body
// (creation-with-upload), or the concatenation of partial uploads.
func (s *Server) create(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	req, err := s.createRequest(r)
	if err != nil {
		return err
	}
	concat := r.Header.Get("Upload-Concat")
	if strings.HasPrefix(concat, "final;") || concat == "final" {
		return s.createFinal(w, r, actor, req.CreateRequest, concat)
	}
	switch concat {
	case "":
	case "partial":
		req.Partial = true
	default:
		return badRequest("Upload-Concat is partial or final;<upload URLs>")
	}
	withBody := r.Header.Get("Content-Type") == "application/offset+octet-stream"
	if !withBody && r.ContentLength > 0 {
		return &statusError{http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "the bytes of an upload have Content-Type: application/offset+octet-stream"}
	}
	if !req.Partial && !req.LengthDeferred && r.Header.Get("Upload-Checksum") == "" &&
		r.ContentLength == req.SizeBytes && req.SizeBytes <= s.cfg.Service.Config().MaxSingleUpload {
		// The whole file in the creation request: stored in one transaction, as a single-request
		// upload of the native API is.
		file, id, err := s.cfg.Service.PutWhole(r.Context(), actor, req.CreateRequest, s.body(w, r))
		if err != nil {
			return err
		}
		w.Header().Set("Location", s.location(id))
		s.completed(w, file)
		w.Header().Set("Upload-Offset", strconv.FormatInt(file.SizeBytes, 10))
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	sess, err := s.cfg.Service.CreateStream(r.Context(), actor, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", s.location(sess.ID))
	state := &upload.StreamState{Session: sess}
	if withBody || (!req.LengthDeferred && req.SizeBytes == 0) {
		// The first bytes, or the completion of an empty upload.
		state, err = s.append(w, r, actor, sess.ID, 0)
		if err != nil && state == nil {
			// The upload exists; the client learns its offset with HEAD and goes on from there.
			s.logger.Info("the first bytes of a tus upload were refused", "session", sess.ID, "err", err)
			state = &upload.StreamState{Session: sess}
		}
	}
	s.describe(w, state)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// createRequest reads an upload's length and metadata from a creation request.
func (s *Server) createRequest(r *http.Request) (upload.StreamRequest, error) {
	var req upload.StreamRequest
	meta, err := parseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return req, err
	}
	if err := fromMetadata(meta, &req.CreateRequest); err != nil {
		return req, err
	}
	req.Tus.Metadata = strings.TrimSpace(r.Header.Get("Upload-Metadata"))
	length, deferred := r.Header.Get("Upload-Length"), r.Header.Get("Upload-Defer-Length")
	switch {
	case deferred != "" && deferred != "1":
		return req, badRequest("Upload-Defer-Length takes the value 1")
	case deferred != "" && length != "":
		return req, badRequest("send Upload-Length or Upload-Defer-Length, not both")
	case deferred == "1":
		req.LengthDeferred = true
	case strings.HasPrefix(r.Header.Get("Upload-Concat"), "final"):
	default:
		n, err := parseSize(length)
		if err != nil {
			return req, badRequest("Upload-Length must be the upload's size in bytes")
		}
		req.SizeBytes = n
	}
	return req, nil
}

// createFinal is the creation of a final upload: the concatenation of the partial uploads it
// names, stored at once.
func (s *Server) createFinal(w http.ResponseWriter, r *http.Request, actor *ingest.User, req upload.CreateRequest, header string) error {
	_, list, _ := strings.Cut(header, ";")
	var ids []uuid.UUID
	for _, ref := range strings.Fields(list) {
		id, err := s.uploadID(ref)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return badRequest("Upload-Concat: final; names the partial uploads to concatenate")
	}
	req.Tus.Concat = header
	file, sess, err := s.cfg.Service.Concatenate(r.Context(), actor, req, ids)
	if err != nil {
		return err
	}
	w.Header().Set("Location", s.location(sess.ID))
	s.completed(w, file)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// uploadID reads the id out of an upload URL, absolute or relative.
func (s *Server) uploadID(ref string) (uuid.UUID, error) {
	u, err := url.Parse(ref)
	if err != nil || !strings.HasPrefix(u.Path, Prefix) {
		return uuid.Nil, badRequest("Upload-Concat names uploads by their URLs (" + Prefix + "{id})")
	}
	id, err := uuid.Parse(path.Base(u.Path))
	if err != nil {
		return uuid.Nil, ingest.Errorf(ingest.ENotFound, "no upload at %s", u.Path)
	}
	return id, nil
}

// head is HEAD /tus/{id}: where an upload stands.
func (s *Server) head(w http.ResponseWriter, r *http.Request, actor *ingest.User, id uuid.UUID) error {
	state, err := s.cfg.Service.Stream(r.Context(), actor, id)
	if err != nil {
		return err
	}
	s.describe(w, state)
	if md := state.Session.TusMetadata; md != "" {
		w.Header().Set("Upload-Metadata", md)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// patch is PATCH /tus/{id}: bytes at an offset.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, actor *ingest.User, id uuid.UUID) error {
	if r.Header.Get("Content-Type") != "application/offset+octet-stream" {
		return &statusError{http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "a PATCH has Content-Type: application/offset+octet-stream"}
	}
	offset, err := parseSize(r.Header.Get("Upload-Offset"))
	if err != nil {
		return badRequest("Upload-Offset must be the offset of the bytes sent")
	}
	state, err := s.append(w, r, actor, id, offset)
	if err != nil {
		return err
	}
	s.describe(w, state)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// append sends the request's body to the upload at offset.
func (s *Server) append(w http.ResponseWriter, r *http.Request, actor *ingest.User, id uuid.UUID, offset int64) (*upload.StreamState, error) {
	req := upload.AppendRequest{Offset: offset, Body: s.body(w, r), Length: r.ContentLength}
	if v := r.Header.Get("Upload-Length"); v != "" && r.Method != http.MethodPost {
		n, err := parseSize(v)
		if err != nil {
			return nil, badRequest("Upload-Length must be the upload's size in bytes")
		}
		req.DeclaredLength = &n
	}
	if v := r.Header.Get("Upload-Checksum"); v != "" {
		c, err := parseChecksum(v)
		if err != nil {
			return nil, err
		}
		req.Checksum = c
	}
	state, err := s.cfg.Service.Append(r.Context(), actor, id, req)
	if err != nil && state != nil {
		// Some bytes counted before the body failed: the client, if it is still there, resumes
		// from the offset it is told.
		s.logger.Info("a tus upload's body ended early", "session", id, "offset", state.Offset(), "err", err)
		return state, nil
	}
	return state, err
}

// terminate is DELETE /tus/{id}: the upload is aborted and its bytes removed.
func (s *Server) terminate(w http.ResponseWriter, r *http.Request, actor *ingest.User, id uuid.UUID) error {
	if _, err := s.cfg.Service.Stream(r.Context(), actor, id); err != nil {
		return err
	}
	if _, err := s.cfg.Service.Abort(r.Context(), actor, id); err != nil {
		if ingest.ErrorCode(err) == ingest.ESessionNotActive {
			// A stored file: refused for good, since clients retry a 409.
			return &statusError{http.StatusForbidden, string(ingest.EForbidden), "upload " + id.String() + " is a stored file; it cannot be terminated"}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// describe sets the headers that say where an upload stands.
func (s *Server) describe(w http.ResponseWriter, st *upload.StreamState) {
	h := w.Header()
	sess := st.Session
	h.Set("Upload-Offset", strconv.FormatInt(st.Offset(), 10))
	switch {
	case sess.LengthDeferred:
		h.Set("Upload-Defer-Length", "1")
	case st.File != nil:
		h.Set("Upload-Length", strconv.FormatInt(st.File.SizeBytes, 10))
	}
	switch {
	case sess.Partial:
		h.Set("Upload-Concat", "partial")
	case sess.TusConcat != "":
		h.Set("Upload-Concat", sess.TusConcat)
	}
	if sess.Status.Active() {
		h.Set("Upload-Expires", sess.ExpiresAt.UTC().Format(http.TimeFormat))
	}
	if st.File != nil && st.File.Status == ingest.FileStored {
		s.completed(w, st.File)
	}
}

// completed sets the headers of a stored file: its id, and the SHA-256 the server computed.
func (s *Server) completed(w http.ResponseWriter, f *ingest.File) {
	h := w.Header()
	h.Set("Ingest-File-Id", f.ID.String())
	h.Set("Upload-Length", strconv.FormatInt(f.SizeBytes, 10))
	if sum, err := hexToBase64(f.SHA256); err == nil {
		h.Set("Repr-Digest", "sha-256=:"+sum+":")
	}
}

func (s *Server) location(id uuid.UUID) string { return s.cfg.PublicURL + Prefix + id.String() }

func (s *Server) body(w http.ResponseWriter, r *http.Request) io.Reader {
	return idleread.Body(w, r, idleread.Limits{Idle: s.cfg.IdleReadTimeout, MinRate: s.cfg.MinPartRate, Window: s.cfg.MinRateWindow})
}

// statusError is an answer particular to tus, with its status.
type statusError struct {
	status  int
	code    string
	message string
}

func (e *statusError) Error() string { return e.message }

func badRequest(message string) error { return ingest.Errorf(ingest.EValidation, "%s", message) }

// statusOf is the HTTP status of code, as the API's (httperr.Status) but for the codes only tus
// answers with: an offset mismatch (409) and a locked upload (423). A request whose body
// contradicts its Upload-Checksum answers 460 (see answerError).
func statusOf(code ingest.Code) (int, bool) {
	switch code {
	case ingest.EOffsetMismatch:
		return http.StatusConflict, true
	case ingest.EUploadLocked:
		return http.StatusLocked, true
	}
	return httperr.Status(code)
}

// answerError answers err as the API does, in JSON with a stable code, with tus's statuses. An
// error with no status here is ours: the client sees INTERNAL and the log gets the rest.
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, err error) {
	var se *statusError
	if errors.As(err, &se) {
		s.fail(w, r, se.status, se.code, se.message, nil)
		return
	}
	code := ingest.ErrorCode(err)
	status, known := statusOf(code)
	if !known {
		s.logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		s.fail(w, r, http.StatusInternalServerError, string(ingest.EInternal), "internal error", nil)
		return
	}
	if errors.Is(err, upload.ErrAppendChecksum) {
		status = StatusChecksumMismatch
	}
	if status >= 500 { // a dependency failed (STORAGE_UNAVAILABLE): the operator needs the cause
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if code == ingest.EUploadLocked {
		w.Header().Set("Retry-After", "1")
	}
	s.fail(w, r, status, string(code), ingest.ErrorMessage(err), ingest.ErrorDetails(err))
}

// fail writes an error answer; HEAD answers carry no body.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, message string, details map[string]any) {
	httperr.Write(w, r, status, httperr.Fields{Code: ingest.Code(code), Message: message, Details: details})
}

// parseSize reads a non-negative decimal integer header: digits only, without a leading zero
// (strconv alone would take "+1" and "-0").
func parseSize(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || strings.Trim(v, "0123456789") != "" || (len(v) > 1 && v[0] == '0') {
		return 0, errors.New("not a size")
	}
	return n, nil
}

// parseMetadata reads Upload-Metadata: comma-separated pairs of a key and its base64 value (the
// value may be left out).
func parseMetadata(v string) (map[string]string, error) {
	meta := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return meta, nil
	}
	for pair := range strings.SplitSeq(v, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, badRequest("Upload-Metadata is comma-separated pairs of a key and a base64 value")
		}
		if strings.ContainsAny(strings.TrimSpace(value), " \t") {
			// tus-js-client sends any key it is given: "my key" arrives as the key "my" with the
			// value "key <base64>", which is not base64 — but the key is what is wrong.
			return nil, badRequest("the Upload-Metadata pair " + strconv.Quote(strings.TrimSpace(pair)) +
				" is not a key and a base64 value: keys hold no spaces or commas")
		}
		if _, dup := meta[key]; dup {
			return nil, badRequest("Upload-Metadata has the key " + strconv.Quote(key) + " twice")
		}
		decoded, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil {
			return nil, badRequest("the Upload-Metadata value of " + strconv.Quote(key) + " is not base64")
		}
		meta[key] = string(decoded)
	}
	return meta, nil
}

// fromMetadata fills req from tus metadata: the name and type keys tus clients send, batch_id,
// sha256 (a declared whole-file hash), and the rest as the file's metadata.
func fromMetadata(meta map[string]string, req *upload.CreateRequest) error {
	rest := map[string]string{}
	for k, v := range meta {
		switch k {
		case "filename", "name":
			if req.Filename == "" || k == "filename" {
				req.Filename = v
			}
		case "filetype", "type":
			if req.ContentType == "" || k == "filetype" {
				req.ContentType = v
			}
		case "batch_id":
			id, err := uuid.Parse(v)
			if err != nil {
				return badRequest("the batch_id metadata is not a batch id")
			}
			req.BatchID = &id
		case "sha256":
			req.SHA256 = v
		default:
			rest[k] = v
		}
	}
	if len(rest) > 0 {
		req.Metadata = rest
	}
	return nil
}

// parseChecksum reads Upload-Checksum: an algorithm and the base64 checksum of the body.
func parseChecksum(v string) (*upload.Checksum, error) {
	alg, sum, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return nil, badRequest("Upload-Checksum is an algorithm and a base64 checksum")
	}
	decoded, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sum))
	if err != nil {
		return nil, badRequest("the Upload-Checksum is not base64")
	}
	var h hash.Hash
	switch alg {
	case "sha1":
		h = sha1.New()
	case "sha256":
		h = sha256.New()
	case "md5":
		h = md5.New()
	case "crc32c":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	default:
		return nil, badRequest("Upload-Checksum algorithms are " + ChecksumAlgorithms)
	}
	if len(decoded) != h.Size() {
		return nil, badRequest("the Upload-Checksum has the wrong length for " + alg)
	}
	return &upload.Checksum{Hash: h, Sum: decoded}, nil
}

func hexToBase64(s string) (string, error) {
	b, err := hex.DecodeString(s)
	return base64.StdEncoding.EncodeToString(b), err
}
