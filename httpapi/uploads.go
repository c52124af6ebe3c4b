package httpapi

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/upload"
)

// createUploadRequest is the body of POST /api/v1/uploads.
type createUploadRequest struct {
	Filename       string            `json:"filename"`
	ContentType    string            `json:"content_type"`
	SizeBytes      *int64            `json:"size_bytes"`
	ChunkSizeBytes int64             `json:"chunk_size_bytes"`
	BatchID        *uuid.UUID        `json:"batch_id"`
	SHA256         string            `json:"sha256"`
	Metadata       map[string]string `json:"metadata"`
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	var req createUploadRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.SizeBytes == nil {
		return ingest.Errorf(ingest.EValidation, "size_bytes is required")
	}
	if req.Filename == "" {
		return ingest.Errorf(ingest.EValidation, "filename is required")
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	sess, created, err := s.cfg.Service.CreateSession(r.Context(), actor, upload.CreateRequest{
		Filename: req.Filename, ContentType: req.ContentType, SizeBytes: *req.SizeBytes, ChunkSizeBytes: req.ChunkSizeBytes,
		BatchID: req.BatchID, SHA256: req.SHA256, IdempotencyKey: key, Metadata: req.Metadata,
	})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/api/v1/uploads/"+sess.ID.String())
	writeJSON(w, status, sessionView(sess))
	return nil
}

// idempotencyKey returns the request's Idempotency-Key: printable ASCII, at most 255 bytes.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > ingest.MaxIdempotencyKeyLength {
		return "", ingest.Errorf(ingest.EValidation, "an Idempotency-Key has at most %d bytes", ingest.MaxIdempotencyKeyLength)
	}
	for _, c := range key {
		if c < 0x21 || c > 0x7e {
			return "", ingest.Errorf(ingest.EValidation, "an Idempotency-Key is printable ASCII without spaces")
		}
	}
	return key, nil
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.Session, sessionView)
}

func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.Abort, sessionView)
}

func (s *Server) putPart(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "part number %q is not a number", r.PathValue("n"))
	}
	if r.ContentLength < 0 {
		return ingest.Errorf(ingest.EValidation, "send the part with a Content-Length")
	}
	digest, err := parseContentDigest(r.Header.Get("Content-Digest"))
	if err != nil {
		return err
	}
	body := s.deadlineBody(w, r)
	p, err := s.cfg.Service.PutPart(r.Context(), actor, id, n, r.ContentLength, body, digest)
	if err != nil {
		return err
	}
	s.cfg.Metrics.partReceived(p.SizeBytes)
	w.Header().Set("ETag", partETag(p))
	writeJSON(w, http.StatusOK, partView(p))
	return nil
}

// partETag is a part's entity tag: its CRC32C.
func partETag(p *ingest.Part) string {
	if p.CRC32C == nil {
		return ""
	}
	return fmt.Sprintf(`"%08x"`, *p.CRC32C)
}

func (s *Server) listParts(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.Parts, func(parts []*ingest.Part) listJSON[partJSON] {
		return page(&readmodel.Listing[*ingest.Part]{Items: parts}, partView, func(p *ingest.Part) uuid.UUID { return p.ID })
	})
}

// completeUploadRequest is the optional body of POST /api/v1/uploads/{id}/complete.
type completeUploadRequest struct {
	// SHA256 is the whole-file hash the client computed while it sent the parts, verified like the
	// one declared at creation.
	SHA256 string `json:"sha256"`
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	var req completeUploadRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	complete := func(ctx context.Context, actor *ingest.User, id uuid.UUID) (*ingest.File, error) {
		f, err := s.cfg.Service.CompleteDeclared(ctx, actor, id, req.SHA256)
		s.cfg.Metrics.completion(ingest.ErrorCode(err))
		return f, err
	}
	return onPathID(w, r, actor, complete, fileView)
}

// dispositionFilename returns the file name of a Content-Disposition header, or "".
func dispositionFilename(header string) string {
	if header == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(header)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(params["filename"])
}
