package admin

import "net/http"

// dashboard serves the console's first page.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request, a *actor) error {
	h.render(w, http.StatusOK, "dashboard", view{Title: "Dashboard", Section: "dashboard", User: a.user, CSRF: a.session.CSRFToken})
	return nil
}
