package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

func (s *Server) createBatch(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	b, err := s.cfg.Service.CreateBatch(r.Context(), actor, req.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/batches/"+b.ID.String())
	writeJSON(w, http.StatusCreated, batchView(b))
	return nil
}

func (s *Server) listBatches(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	q, err := queryPage(r)
	if err != nil {
		return err
	}
	if err := queryStatus[ingest.BatchStatus](r, &q.Status); err != nil {
		return err
	}
	batches, err := s.cfg.Service.ListBatches(r.Context(), actor, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page(batches, batchView, func(b *ingest.Batch) uuid.UUID { return b.ID }))
	return nil
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.Batch, batchView)
}

func (s *Server) sealBatch(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.SealBatch, batchView)
}

func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request, actor *ingest.User) error {
	return onPathID(w, r, actor, s.cfg.Service.CancelBatch, batchView)
}

// onPathID calls do on the resource the path's {id} names and answers 200 with the view of what
// it returns.
func onPathID[T, V any](w http.ResponseWriter, r *http.Request, actor *ingest.User,
	do func(ctx context.Context, actor *ingest.User, id uuid.UUID) (T, error), view func(T) V) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := do(r.Context(), actor, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view(v))
	return nil
}
