package admin

import (
	"net/http"
)

// uploadParallelParts is how many parts the upload page sends at once, over all its files.
const uploadParallelParts = 4

// uploadPage is what the upload page's template and script need: where the API and the console
// are.
type uploadPage struct {
	API           string
	Console       string
	ParallelParts int
}

// upload serves the upload page. The page is its script (static/upload.js), which uploads
// through the API with the session's cookie and CSRF token (see AuthenticateAPI); the console
// itself changes nothing here.
func (h *Handler) upload(w http.ResponseWriter, r *http.Request, a *actor) error {
	if r.Header.Get("HX-Request") == "true" {
		// A boosted link would swap the page in without running its script (the console lets
		// htmx run none), so the browser is sent to load it whole.
		w.Header().Set("HX-Redirect", r.URL.Path)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	h.render(w, http.StatusOK, "upload", view{
		Title:   "Upload",
		Section: "upload",
		User:    a.user,
		CSRF:    a.session.CSRFToken,
		Data:    uploadPage{API: "/api/v1", Console: "/admin", ParallelParts: uploadParallelParts},
	})
	return nil
}
