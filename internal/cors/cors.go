// Package cors answers the browser's cross-origin checks for the portal's HTTP routes: pages on
// other origins (an application's upload page running Uppy or tus-js-client) may call the portal
// when their origin is allowed. Preflights are answered here, before any authentication, since a
// browser sends them without credentials.
package cors

import (
	"net/http"
	"slices"
)

// What an allowed origin may send, and what its scripts may read from answers: every tus header,
// and the portal's own. X-Request-ID is what tus-js-client (and so Uppy) sends with its
// addRequestId option: a browser blocks every request of a client that sends a header the
// preflight answer does not list.
const (
	methods        = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
	requestHeaders = "Authorization, Content-Type, Content-Digest, Idempotency-Key, Tus-Resumable, Upload-Offset, " +
		"Upload-Length, Upload-Defer-Length, Upload-Metadata, Upload-Concat, Upload-Checksum, X-HTTP-Method-Override, " +
		"X-Request-ID, X-Requested-With, X-CSRF-Token"
	exposedHeaders = "Location, ETag, Ingest-File-Id, Repr-Digest, Retry-After, Tus-Resumable, Tus-Version, " +
		"Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm, Upload-Offset, Upload-Length, Upload-Defer-Length, " +
		"Upload-Metadata, Upload-Concat, Upload-Expires"
)

// Handler returns next behind the cross-origin checks for origins ("*" allows any). With no
// origins it returns next itself: nothing cross-origin is allowed, the portal's default.
func Handler(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	anyOrigin := slices.Contains(origins, "*")
	allowed := func(origin string) bool { return origin != "" && (anyOrigin || slices.Contains(origins, origin)) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if !allowed(origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", requestHeaders)
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", exposedHeaders)
		next.ServeHTTP(w, r)
	})
}
