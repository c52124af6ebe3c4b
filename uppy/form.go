package uppy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/idleread"
	"github.com/ingest-portal/ingest/upload"
)

// maxFieldBytes bounds each form field read before the file: they are small and signed.
const maxFieldBytes = 16 << 10

// fileField is the form field that holds the file; it comes last, as Uppy sends it.
const fileField = "file"

// fileInfo is what Uppy says of a file: its name, media type and metadata.
type fileInfo struct {
	Filename string
	Type     string
	Metadata map[string]string
}

// request returns the upload request of the file: Uppy's name and type keys are the file's name
// and type, relativePath its relative_path, and the rest its metadata.
func (f fileInfo) request() upload.CreateRequest {
	req := upload.CreateRequest{Filename: f.Filename, ContentType: f.Type}
	meta := map[string]string{}
	for k, v := range f.Metadata {
		switch k {
		case "name":
			if req.Filename == "" {
				req.Filename = v
			}
		case "type":
			if req.ContentType == "" {
				req.ContentType = v
			}
		case "relativePath":
			meta["relative_path"] = v
		default:
			meta[k] = v
		}
	}
	if len(meta) > 0 {
		req.Metadata = meta
	}
	return req
}

// metadataValues reads Uppy's metadata: string values, numbers and booleans as text, null left out.
func metadataValues(raw map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case nil:
		case string:
			out[k] = v
		case float64, bool:
			out[k] = fmt.Sprint(v)
		default:
			return nil, ingest.Errorf(ingest.EValidation, "metadata %q is not a string", k)
		}
	}
	return out, ingest.ValidateMetadata(out)
}

// params is GET s3/params?filename&type&metadata[k]=v: where and how to POST the file. The fields
// are signed over the uploader, so a page can change none of them.
func (s *Server) params(q *request) error {
	v := q.r.URL.Query()
	info := fileInfo{Filename: v.Get("filename"), Type: v.Get("type"), Metadata: map[string]string{}}
	for k, vals := range v {
		if name, ok := cutBrackets(k, "metadata"); ok && len(vals) > 0 {
			info.Metadata[name] = vals[0]
		}
	}
	if err := ingest.ValidateMetadata(info.Metadata); err != nil {
		return err
	}
	meta, err := json.Marshal(info.Metadata)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	expires := s.expiry()
	fields := map[string]string{
		// The id the file will have: @uppy/aws-s3 (6.3) requires a key in the fields and reports
		// it, not the answer's, as the uploaded object's.
		"key":      ingest.NewID().String(),
		"filename": info.Filename,
		"type":     info.Type,
		"metadata": string(meta),
		"expires":  expires,
	}
	fields["signature"] = s.sign(formSigned(q.actor, expires, fields)...)
	exp, _ := strconv.ParseInt(expires, 10, 64)
	return writeJSON(q.w, http.StatusOK, map[string]any{
		"method": "POST", "url": s.url(q, "upload", nil), "fields": fields, "expires": exp - s.cfg.Now().Unix(),
	})
}

// formSigned is what a form's signature covers, after its expiry.
func formSigned(actor *ingest.User, expires string, f map[string]string) []string {
	return []string{expires, "form", scope(actor), f["key"], f["filename"], f["type"], f["metadata"]}
}

// cutBrackets reads "name[key]" as key.
func cutBrackets(s, name string) (string, bool) {
	if len(s) < len(name)+3 || s[:len(name)+1] != name+"[" || s[len(s)-1] != ']' {
		return "", false
	}
	return s[len(name)+1 : len(s)-1], true
}

// formUpload is POST s3/upload: a multipart/form-data body of the signed fields, then the file.
// The fields are read and checked first; the file then streams into an upload whose length is
// declared when it ends, so nothing is held in memory and its SHA-256 is computed as it arrives.
func (s *Server) formUpload(q *request) error {
	ct, _, err := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" {
		return ingest.Errorf(ingest.EValidation, "the upload is a multipart/form-data POST")
	}
	q.r.Body = io.NopCloser(idleread.Body(q.w, q.r, idleread.Limits{Idle: s.cfg.IdleReadTimeout, MinRate: s.cfg.MinPartRate, Window: s.cfg.MinRateWindow}))
	mr, err := q.r.MultipartReader()
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "the upload is a multipart/form-data POST")
	}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return ingest.Errorf(ingest.EValidation, "the form has no %q field: the file comes last", fileField)
		}
		if err != nil {
			return ingest.Errorf(ingest.EValidation, "the form cannot be read")
		}
		if part.FormName() == fileField {
			return s.storeForm(q, fields, part)
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil || len(b) > maxFieldBytes {
			return ingest.Errorf(ingest.EValidation, "form field %q is too long or cannot be read", part.FormName())
		}
		fields[part.FormName()] = string(b)
	}
}

// storeForm checks the form's signature and streams its file into a stored file.
func (s *Server) storeForm(q *request, fields map[string]string, file io.Reader) error {
	expires := fields["expires"]
	if err := s.verify(fields["signature"], expires, formSigned(q.actor, expires, fields)[1:]...); err != nil {
		return err
	}
	fileID, err := uuid.Parse(fields["key"])
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "the form's key is not a file id")
	}
	info := fileInfo{Filename: fields["filename"], Type: fields["type"]}
	if err := json.Unmarshal([]byte(fields["metadata"]), &info.Metadata); err != nil {
		return ingest.Errorf(ingest.EValidation, "the metadata field is not a JSON object")
	}
	ctx := q.r.Context()
	sess, err := s.cfg.Service.CreateStream(ctx, q.actor, upload.StreamRequest{CreateRequest: info.request(), LengthDeferred: true, FileID: fileID})
	if err != nil {
		return err
	}
	// The last byte is held back until the file ends, so that it goes with the declared length:
	// the upload completes with bytes, as a tus upload declaring its length with its last PATCH.
	held := &holdLast{r: file}
	st, err := s.cfg.Service.Append(ctx, q.actor, sess.ID, upload.AppendRequest{Body: held, Length: -1})
	if err != nil {
		s.abandon(q, sess.ID)
		return err
	}
	offset := st.Offset()
	size := offset + int64(len(held.last))
	st, err = s.cfg.Service.Append(ctx, q.actor, sess.ID, upload.AppendRequest{Offset: offset, Body: bytes.NewReader(held.last),
		Length: int64(len(held.last)), DeclaredLength: &size})
	if err != nil {
		s.abandon(q, sess.ID)
		return err
	}
	q.w.Header().Set("Location", s.location(q, st.File))
	q.w.Header().Set("Ingest-File-Id", st.File.ID.String())
	return writeJSON(q.w, http.StatusCreated, map[string]any{
		"location": s.location(q, st.File), "key": st.File.ID.String(), "file_id": st.File.ID, "sha256": st.File.SHA256,
		"size_bytes": st.File.SizeBytes,
	})
}

// abandon aborts the upload of a form that failed, and removes its bytes: nobody can resume it.
func (s *Server) abandon(q *request, id uuid.UUID) {
	if _, err := s.cfg.Service.Abort(context.WithoutCancel(q.r.Context()), q.actor, id); err != nil && ingest.ErrorCode(err) != ingest.ESessionNotActive {
		s.logger.Warn("abort the upload of a failed form", "session", id, "err", err)
	}
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// holdLast reads r but for its last byte, which it keeps in last once r ends.
type holdLast struct {
	r    io.Reader
	last []byte // the byte held back: empty until r has given one
	buf  []byte
	err  error
}

func (h *holdLast) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read into p after the held byte, then hand out all but the newest byte.
	if cap(h.buf) < len(p)+1 {
		h.buf = make([]byte, len(p)+1)
	}
	buf := h.buf[:len(p)+1]
	copy(buf, h.last)
	n, err := h.r.Read(buf[len(h.last):])
	total := len(h.last) + n
	if err != nil {
		h.err = err
	}
	if total == 0 {
		return 0, h.err
	}
	out := copy(p, buf[:total-1])
	h.last = append(h.last[:0], buf[total-1])
	if out == 0 && h.err == nil {
		return h.Read(p)
	}
	return out, nil
}
