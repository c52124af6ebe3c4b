package uppy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/idleread"
	"github.com/ingest-portal/ingest/upload"
)

// maxJSONBytes bounds the JSON bodies Uppy sends: a creation, or a completion's list of parts.
const maxJSONBytes = 2 << 20

// readJSON decodes a bounded JSON body into v.
func readJSON(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, maxJSONBytes)).Decode(v); err != nil {
		return ingest.Errorf(ingest.EValidation, "the body is not the JSON expected")
	}
	return nil
}

// create is POST s3/multipart {filename, type, metadata}: an upload whose size is not known,
// whose parts Uppy sends numbered; uploadId is its session, key its file.
func (s *Server) create(q *request) error {
	var body struct {
		Filename string         `json:"filename"`
		Type     string         `json:"type"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := readJSON(q.r, &body); err != nil {
		return err
	}
	meta, err := metadataValues(body.Metadata)
	if err != nil {
		return err
	}
	info := fileInfo{Filename: body.Filename, Type: body.Type, Metadata: meta}
	sess, err := s.cfg.Service.CreateStream(q.r.Context(), q.actor, upload.StreamRequest{CreateRequest: info.request(), LengthDeferred: true})
	if err != nil {
		return err
	}
	return writeJSON(q.w, http.StatusOK, map[string]string{"key": sess.FileID.String(), "uploadId": sess.ID.String()})
}

// upload returns the multipart upload with the id, provided the request's key names its file.
func (s *Server) upload(q *request, id uuid.UUID) (*upload.StreamState, error) {
	st, err := s.cfg.Service.Stream(q.r.Context(), q.actor, id)
	if err != nil {
		return nil, err
	}
	if q.r.URL.Query().Get("key") != st.File.ID.String() {
		return nil, ingest.Errorf(ingest.ENotFound, "upload %s has no key %q", id, q.r.URL.Query().Get("key"))
	}
	return st, nil
}

// signPart is GET s3/multipart/{uploadId}/{n}?key: a short-lived URL for PUT of part n of that
// upload, signed over the upload, the part number, the uploader and its expiry.
func (s *Server) signPart(q *request, id uuid.UUID, n int) error {
	st, err := s.upload(q, id)
	if err != nil {
		return err
	}
	expires := s.expiry()
	query := url.Values{"key": {st.File.ID.String()}, "expires": {expires},
		"signature": {s.sign(partSigned(q.actor, expires, id, n)...)}}
	return writeJSON(q.w, http.StatusOK, map[string]any{
		"url": s.url(q, "multipart/"+id.String()+"/"+strconv.Itoa(n), query), "expires": int64(s.cfg.URLExpiry.Seconds()),
	})
}

// partSigned is what a part URL's signature covers, after its expiry.
func partSigned(actor *ingest.User, expires string, id uuid.UUID, n int) []string {
	return []string{expires, "part", scope(actor), id.String(), strconv.Itoa(n)}
}

// etag is part n's ETag: the portal's signature of the upload, the part and its size, so that
// every instance answers the same tag for the same part without storing it.
func (s *Server) etag(id uuid.UUID, n int, size int64) string {
	return `"` + s.sign("etag", id.String(), strconv.Itoa(n), strconv.FormatInt(size, 10))[:32] + `"`
}

// putPart is PUT of a signed part URL. The parts are one stream: part n is written at (n-1)·P,
// where P, the part size Uppy chose, is fixed by part 1. A part that arrives before those ahead
// of it waits for them (Uppy sends several at once); a part larger than P, or one after a part
// shorter than P, answers PART_SIZE_MISMATCH.
func (s *Server) putPart(q *request, id uuid.UUID, n int) error {
	v := q.r.URL.Query()
	expires := v.Get("expires")
	if err := s.verify(v.Get("signature"), expires, partSigned(q.actor, expires, id, n)[1:]...); err != nil {
		return err
	}
	size := q.r.ContentLength
	if size < 0 {
		return ingest.Errorf(ingest.EValidation, "a part is sent with its Content-Length")
	}
	if _, err := s.upload(q, id); err != nil {
		return err
	}
	ctx := q.r.Context()
	deadline := s.cfg.Now().Add(s.cfg.PartWait)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		done, err := s.tryPart(q, id, n, size)
		if done || err != nil {
			return err
		}
		if !s.cfg.Now().Before(deadline) {
			return ingest.Errorf(ingest.EUploadLocked, "part %d waited too long for the parts before it; send it again", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// tryPart writes part n if the upload has reached it, and reports whether the part is answered;
// false asks the caller to wait for the parts ahead.
func (s *Server) tryPart(q *request, id uuid.UUID, n int, size int64) (bool, error) {
	ctx := q.r.Context()
	p, err := s.partSize(ctx, id, n, size)
	if err != nil || p == 0 {
		return false, err
	}
	if n > 1 && size > p {
		return false, partSizeMismatch(n, size, p)
	}
	st, err := s.cfg.Service.Stream(ctx, q.actor, id)
	if err != nil {
		return false, err
	}
	// While the length is deferred, no short part has come: an offset inside a part is a part
	// still streaming, whose progress is recorded as it goes.
	at, offset, deferred := int64(n-1)*p, st.Offset(), st.Session.LengthDeferred
	switch {
	case offset > at && offset < at+size && deferred:
		return false, nil // part n is being written by another request: wait for its outcome
	case offset > at:
		// Part n is in already: a retry, answered again if it is the same size.
		if offset < at+size || (offset > at+size && size != p) {
			return false, partSizeMismatch(n, size, p)
		}
		return true, s.partDone(q, id, n, size)
	case offset < at && !deferred:
		// A part before n was shorter than P, so it was the last: there is no part n.
		return false, partSizeMismatch(n-1, st.File.SizeBytes%p, p)
	case offset < at:
		return false, nil
	}
	req := upload.AppendRequest{Offset: at, Body: idleread.Body(q.w, q.r, idleread.Limits{Idle: s.cfg.IdleReadTimeout, MinRate: s.cfg.MinPartRate, Window: s.cfg.MinRateWindow}), Length: size}
	if size < p {
		// A part shorter than P is the last: the upload's length is known, and it completes with it.
		length := at + size
		req.DeclaredLength = &length
	}
	after, err := s.cfg.Service.Append(ctx, q.actor, id, req)
	switch ingest.ErrorCode(err) {
	case ingest.EOffsetMismatch, ingest.EUploadLocked:
		return false, nil // another writer moved first: look again
	case "":
	default:
		return false, err
	}
	if after.Offset() != at+size {
		return false, fmt.Errorf("part %d: the upload is at %d, not %d", n, after.Offset(), at+size)
	}
	return true, s.partDone(q, id, n, size)
}

// partSize returns the upload's part size, fixing it with part 1; 0 while part 1 is yet to come.
func (s *Server) partSize(ctx context.Context, id uuid.UUID, n int, size int64) (int64, error) {
	if n == 1 {
		p, err := s.cfg.PartSizes.FixPartSize(ctx, id, max(size, 1))
		if err == nil && p != max(size, 1) {
			return 0, partSizeMismatch(1, size, p)
		}
		return p, err
	}
	p, err := s.cfg.PartSizes.PartSize(ctx, id)
	if ingest.ErrorCode(err) == ingest.ENotFound {
		return 0, nil
	}
	return p, err
}

func partSizeMismatch(n int, size, p int64) error {
	return &ingest.Error{Code: ingest.EPartSizeMismatch,
		Message: fmt.Sprintf("part %d has %d bytes, but this upload's parts have %d (fixed by part 1), all but the last", n, size, p),
		Details: map[string]any{"part_number": n, "expected_size_bytes": p}}
}

// partDone answers a part held: 200 with its ETag.
func (s *Server) partDone(q *request, id uuid.UUID, n int, size int64) error {
	q.w.Header().Set("ETag", s.etag(id, n, size))
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// part is one part as Uppy lists it.
type part struct {
	PartNumber int    `json:"PartNumber"`
	ETag       string `json:"ETag"`
	Size       int64  `json:"Size"`
}

// held returns the parts the upload holds: whole parts of P, and a last shorter one.
func (s *Server) held(ctx context.Context, st *upload.StreamState) ([]part, error) {
	parts := []part{}
	offset := st.Offset()
	if offset == 0 {
		return parts, nil
	}
	p, err := s.cfg.PartSizes.PartSize(ctx, st.Session.ID)
	if err != nil {
		return nil, err
	}
	for n, at := 1, int64(0); at < offset; n, at = n+1, at+p {
		size := min(p, offset-at)
		parts = append(parts, part{PartNumber: n, ETag: s.etag(st.Session.ID, n, size), Size: size})
	}
	return parts, nil
}

// listParts is GET s3/multipart/{uploadId}?key: the parts held, for Uppy to resume.
func (s *Server) listParts(q *request, id uuid.UUID) error {
	st, err := s.upload(q, id)
	if err != nil {
		return err
	}
	parts, err := s.held(q.r.Context(), st)
	if err != nil {
		return err
	}
	return writeJSON(q.w, http.StatusOK, parts)
}

// complete is POST s3/multipart/{uploadId}/complete?key {parts}: the parts named must be those
// held, with their ETags; the upload's length is then what it holds, and the file is stored.
func (s *Server) complete(q *request, id uuid.UUID) error {
	st, err := s.upload(q, id)
	if err != nil {
		return err
	}
	var body struct {
		Parts []part `json:"parts"`
	}
	if err := readJSON(q.r, &body); err != nil {
		return err
	}
	ctx := q.r.Context()
	held, err := s.held(ctx, st)
	if err != nil {
		return err
	}
	sort.Slice(body.Parts, func(i, j int) bool { return body.Parts[i].PartNumber < body.Parts[j].PartNumber })
	if err := sameParts(body.Parts, held); err != nil {
		return err
	}
	if st.Session.Status != ingest.SessionComplete {
		size := st.Offset()
		st, err = s.cfg.Service.Append(ctx, q.actor, id, upload.AppendRequest{Offset: size, Body: bytes.NewReader(nil), DeclaredLength: &size})
		if err != nil {
			return err
		}
	}
	q.w.Header().Set("Ingest-File-Id", st.File.ID.String())
	return writeJSON(q.w, http.StatusOK, map[string]string{"location": s.location(q, st.File), "key": st.File.ID.String()})
}

// unquote is an ETag without its quotes: @uppy/aws-s3 (6.x) strips them before naming the parts,
// and S3 takes either.
func unquote(etag string) string { return strings.Trim(etag, `"`) }

// sameParts returns EMissingParts unless the parts a completion names are those held.
func sameParts(named, held []part) error {
	ok := len(named) == len(held)
	for i := 0; ok && i < len(named); i++ {
		ok = named[i].PartNumber == held[i].PartNumber && unquote(named[i].ETag) == unquote(held[i].ETag)
	}
	if ok {
		return nil
	}
	numbers := make([]int, len(held))
	for i, p := range held {
		numbers[i] = p.PartNumber
	}
	return &ingest.Error{Code: ingest.EMissingParts, Message: "the parts named are not the parts this upload holds",
		Details: map[string]any{"held": numbers}}
}

// abort is DELETE s3/multipart/{uploadId}?key: the upload is aborted and its bytes removed.
func (s *Server) abort(q *request, id uuid.UUID) error {
	if _, err := s.upload(q, id); err != nil {
		return err
	}
	if _, err := s.cfg.Service.Abort(q.r.Context(), q.actor, id); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
