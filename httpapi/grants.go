package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// grantJSON is an upload grant: its columns but the secret's hash, and its state.
type grantJSON struct {
	ID            uuid.UUID         `json:"id"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	CreatedByID   uuid.UUID         `json:"created_by_id"`
	Prefix        string            `json:"prefix"`
	State         ingest.TokenState `json:"state"`
	BatchID       *uuid.UUID        `json:"batch_id"`
	MaxFiles      int               `json:"max_files"`
	MaxFileBytes  *int64            `json:"max_file_bytes"`
	MaxTotalBytes *int64            `json:"max_total_bytes"`
	ContentTypes  []string          `json:"content_types"`
	Metadata      map[string]string `json:"metadata"`
	ExpiresAt     time.Time         `json:"expires_at"`
	RevokedAt     *time.Time        `json:"revoked_at"`
	FilesUsed     int               `json:"files_used"`
	BytesUsed     int64             `json:"bytes_used"`
}

func grantView(g *ingest.UploadGrant) grantJSON {
	types, meta := g.ContentTypes, g.Metadata
	if types == nil {
		types = []string{}
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return grantJSON{g.ID, g.CreatedAt, g.UpdatedAt, g.CreatedByID, g.Prefix, g.State(time.Now()), g.BatchID, g.MaxFiles,
		g.MaxFileBytes, g.MaxTotalBytes, types, meta, g.ExpiresAt, g.RevokedAt, g.FilesUsed, g.BytesUsed}
}

// newGrantJSON is a grant just made, with its secret: the one answer that shows it.
type newGrantJSON struct {
	grantJSON
	Token string `json:"token"`
}

// createGrantRequest is the body of POST /api/v1/upload-grants.
type createGrantRequest struct {
	BatchID       *uuid.UUID        `json:"batch_id"`
	MaxFiles      int               `json:"max_files"`
	MaxFileBytes  *int64            `json:"max_file_bytes"`
	MaxTotalBytes *int64            `json:"max_total_bytes"`
	ContentTypes  []string          `json:"content_types"`
	Metadata      map[string]string `json:"metadata"`
	ExpiresIn     int64             `json:"expires_in"` // seconds
}

func (s *Server) createGrant(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	var req createGrantRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	if req.ExpiresIn < 0 || req.ExpiresIn > int64(ingest.MaxGrantExpiry/time.Second) {
		return ingest.Errorf(ingest.EValidation, "expires_in must be 1 to %d seconds", int64(ingest.MaxGrantExpiry/time.Second))
	}
	g, secret, err := s.cfg.Service.CreateGrant(r.Context(), actor, ingest.GrantRequest{
		BatchID: req.BatchID,
		GrantLimits: ingest.GrantLimits{MaxFiles: req.MaxFiles, MaxFileBytes: req.MaxFileBytes, MaxTotalBytes: req.MaxTotalBytes,
			ContentTypes: req.ContentTypes},
		Metadata:  req.Metadata,
		ExpiresIn: time.Duration(req.ExpiresIn) * time.Second,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/upload-grants/"+g.ID.String())
	writeJSON(w, http.StatusCreated, newGrantJSON{grantView(g), secret})
	return nil
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	q, err := queryPage(r)
	if err != nil {
		return err
	}
	grants, err := s.cfg.Service.ListGrants(r.Context(), actor, q.Cursor.After, q.Limit+1)
	if err != nil {
		return err
	}
	l := &readmodel.Listing[*ingest.UploadGrant]{Items: grants, More: len(grants) > q.Limit}
	if l.More {
		l.Items = grants[:q.Limit]
	}
	writeJSON(w, http.StatusOK, page(l, grantView, func(g *ingest.UploadGrant) uuid.UUID { return g.ID }))
	return nil
}

func (s *Server) getGrant(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.Grant, grantView)
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.cfg.Service.RevokeGrant(r.Context(), actor, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
