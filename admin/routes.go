package admin

import (
	"net/http"

	"github.com/ingest-portal/ingest"
)

// routes registers every console page. A page behind sign-in is wrapped by h.page, which also
// checks the CSRF token of every POST.
func (h *Handler) routes() {
	h.mux.Handle("GET /admin/static/", h.static)
	h.mux.HandleFunc("GET /admin/signin", h.signInForm)
	h.mux.HandleFunc("POST /admin/signin", h.signIn)
	h.mux.Handle("POST /admin/signout", h.page(h.signOut))
	h.mux.Handle("GET /admin/{$}", h.page(h.dashboard))
	h.mux.Handle("GET /admin/upload", h.page(h.upload))
	h.mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	h.mux.Handle("/admin/", h.page(func(w http.ResponseWriter, r *http.Request, a *actor) error {
		return ingest.Errorf(ingest.ENotFound, "the console has no page %s", r.URL.Path)
	}))
	for _, m := range modelLists {
		h.mux.Handle("GET /admin/"+string(m.model), h.page(h.list(m)))
		h.mux.Handle("GET /admin/"+string(m.model)+"/{id}", h.page(h.detail(m.model, details[m.model])))
	}
	for _, act := range actions {
		pattern := "/admin/" + string(act.model) + "/{id}/" + act.name
		h.mux.Handle("GET "+pattern, h.page(h.confirm(act)))
		h.mux.Handle("POST "+pattern, h.page(h.perform(act)))
	}
	h.mux.Handle("GET /admin/events/retry-failed", h.page(h.confirmRetryAll))
	h.mux.Handle("POST /admin/events/retry-failed", h.page(h.retryAll))
}
