package admin

import (
	"net/http"
)

// uploadParallelFiles is how many files the upload page sends at once.
const uploadParallelFiles = 4

// uploadPage is what the upload page's template and script need: where the API, the tus server
// and the console are.
type uploadPage struct {
	API             string
	Tus             string
	Console         string
	ParallelUploads int
}

// upload serves the upload page. The page is Uppy Dashboard (static/uppy-upload.js, built from
// admin/ui), which creates a batch through the API and uploads to the tus server with the
// session's cookie and CSRF token (see AuthenticateAPI); the console itself changes nothing here.
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
		Data:    uploadPage{API: "/api/v1", Tus: "/tus/", Console: "/admin", ParallelUploads: uploadParallelFiles},
	})
	return nil
}
