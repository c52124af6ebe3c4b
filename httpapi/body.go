package httpapi

import (
	"io"
	"net/http"

	"github.com/ingest-portal/ingest/internal/idleread"
)

// deadlineBody returns the request body with a deadline on each read (Config.IdleReadTimeout).
func (s *Server) deadlineBody(w http.ResponseWriter, r *http.Request) io.Reader {
	return idleread.Body(w, r, idleread.Limits{Idle: s.cfg.IdleReadTimeout, MinRate: s.cfg.MinPartRate, Window: s.cfg.MinRateWindow})
}
