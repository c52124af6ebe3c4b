// Package uppy speaks the S3 routes of Uppy's Companion, so that Uppy's @uppy/aws-s3 plugin, its
// companionEndpoint pointed at the portal, uploads to it unchanged (DESIGN.md §8, docs/browser.md).
// It is a protocol adapter over the upload service beside the native API and tus: Uppy believes
// it signs S3 requests, but every URL it is given is the portal's own, and what it uploads is an
// upload session whose bytes arrive in order (upload.Service.Append), hashed once as they come.
//
// It is mounted twice: at /uppy/g/{grant_token}/ an upload grant in the path authenticates the
// requests (Uppy sends no headers of its own to its companion), and at /uppy/ the admin console's
// session cookie does, from the portal's own origin or an allowed one.
//
// Under either prefix:
//
//	GET    s3/params                          a form POST's URL and signed fields
//	POST   s3/upload                          that form POST: the file, streamed, last
//	POST   s3/multipart                       a multipart upload: {key, uploadId}
//	GET    s3/multipart/{uploadId}/{n}        a signed URL for part n: {url}
//	PUT    s3/multipart/{uploadId}/{n}        that URL: part n, answered with an ETag
//	GET    s3/multipart/{uploadId}            the parts held: [{PartNumber, ETag, Size}]
//	POST   s3/multipart/{uploadId}/complete   {parts} → {location, key}
//	DELETE s3/multipart/{uploadId}            abort: 204
package uppy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/httperr"
	"github.com/ingest-portal/ingest/upload"
)

// Prefix is where the server is mounted; the grant variant lives under Prefix + "g/".
const Prefix = "/uppy/"

// Stable codes particular to Uppy's routes.
const (
	// CodeSignatureInvalid answers a signed URL or form whose signature does not match.
	CodeSignatureInvalid ingest.Code = "SIGNATURE_INVALID"
	// CodeSignatureExpired answers a signed URL or form used after it expired.
	CodeSignatureExpired ingest.Code = "SIGNATURE_EXPIRED"
	// CodeOriginNotAllowed answers a request of the cookie variant from another origin.
	CodeOriginNotAllowed ingest.Code = "ORIGIN_NOT_ALLOWED"
)

// Config is what the server needs.
type Config struct {
	Service   *upload.Service
	PartSizes ingest.PartSizeStore
	// AdmitUpload returns the user a request speaks for by its Authorization header, an upload
	// grant included, within the rate limit (httpapi.Server.AdmitUpload); it may set headers on w.
	AdmitUpload func(w http.ResponseWriter, r *http.Request) (*ingest.User, error)
	// Session returns the admin signed in to the console by the request's cookie
	// (admin.Handler.UserFromRequest); nil turns the cookie variant off.
	Session func(r *http.Request) (*ingest.User, error)
	// Origins are the other origins allowed to use the cookie variant (--cors-allowed-origins;
	// "*" is not honoured here). The portal's own origin always is.
	Origins []string
	// PublicURL, when set, is the portal's base URL: the origin of the cookie variant and the
	// base of every URL handed to Uppy; otherwise they start with the request's scheme and host.
	PublicURL string
	// SigningKey signs part URLs and form fields; every instance behind one address needs the
	// same (--signing-key).
	SigningKey []byte
	// URLExpiry is how long a signed URL or form stays usable; 0 means 15 minutes.
	URLExpiry time.Duration
	// IdleReadTimeout drops a client that sends nothing of a body for that long; 0 means 1 minute.
	IdleReadTimeout time.Duration
	// MinPartRate, in bytes per second, is the least an upload body (a part, a PATCH) must bring
	// over each MinRateWindow, so that a trickling client cannot hold a part's lock forever; 0
	// means no minimum rate.
	MinPartRate int64
	// MinRateWindow is the span MinPartRate is measured over; 0 means 30 seconds.
	MinRateWindow time.Duration
	// PartWait is how long a part that arrived before the parts ahead of it waits for them; 0
	// means 2 minutes.
	PartWait time.Duration
	Logger   *slog.Logger
	// Now reads the time, time.Now by default.
	Now func() time.Time
}

// Server is the handler, to be mounted at Prefix.
type Server struct {
	cfg    Config
	logger *slog.Logger
}

// New returns the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.URLExpiry == 0 {
		cfg.URLExpiry = 15 * time.Minute
	}
	if cfg.IdleReadTimeout == 0 {
		cfg.IdleReadTimeout = time.Minute
	}
	if cfg.PartWait == 0 {
		cfg.PartWait = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return &Server{cfg: cfg, logger: cfg.Logger}
}

// request is one request as routed: who sends it, under which prefix, and what is left of its path.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	actor *ingest.User
	base  string   // "/uppy" or "/uppy/g/{token}": where the URLs handed to Uppy start
	path  []string // after base and "s3"
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := s.admit(w, r)
	if err == nil {
		err = s.route(req)
	}
	if err != nil {
		s.answerError(w, r, err)
	}
}

// admit authenticates the request by the prefix it came under and splits its path.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (*request, error) {
	rest := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(Prefix, "/"))
	req := &request{w: w, r: r, base: strings.TrimSuffix(Prefix, "/")}
	var err error
	if token, tail, ok := strings.Cut(strings.TrimPrefix(rest, "/g/"), "/"); ok && strings.HasPrefix(rest, "/g/") {
		req.base += "/g/" + token
		rest = "/" + tail
		req.actor, err = s.admitGrant(w, r, token)
	} else {
		req.actor, err = s.admitSession(r)
	}
	if err != nil {
		return nil, err
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] != "s3" {
		return nil, ingest.Errorf(ingest.ENotFound, "no route at %s", r.URL.Path)
	}
	req.path = parts[1:]
	return req, nil
}

// admitGrant authenticates a grant in the path exactly as the same secret in an Authorization
// header: the API's authentication, cache and rate limit. Only a grant goes in a path; an API
// token is refused there, for URLs end up in logs.
func (s *Server) admitGrant(w http.ResponseWriter, r *http.Request, token string) (*ingest.User, error) {
	if !ingest.IsGrantToken(token) {
		return nil, ingest.Errorf(ingest.EUnauthenticated, "the path holds no upload grant: use %sg/<ingest_grant_…>/", Prefix)
	}
	authed := r.Clone(r.Context())
	authed.Header.Set("Authorization", "Bearer "+token)
	return s.cfg.AdmitUpload(w, authed)
}

// admitSession authenticates the console's session cookie, after checking that the request comes
// from the portal's own pages or an allowed origin: a cookie goes with requests other sites make.
func (s *Server) admitSession(r *http.Request) (*ingest.User, error) {
	if s.cfg.Session == nil {
		return nil, ingest.Errorf(ingest.EUnauthenticated, "use an upload grant: %sg/<grant>/", Prefix)
	}
	if err := s.checkOrigin(r); err != nil {
		return nil, err
	}
	return s.cfg.Session(r)
}

// checkOrigin accepts a request whose Origin is the portal's own or an allowed one. Browsers send
// Origin with every request but a same-origin GET; a GET without it must not say it came from
// another site (Sec-Fetch-Site), and any other method must send it.
func (s *Server) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		site := r.Header.Get("Sec-Fetch-Site")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (site == "" || site == "same-origin") {
			return nil
		}
		return ingest.Errorf(CodeOriginNotAllowed, "the console's session is used from its own origin only, and this request names none")
	}
	if origin == s.ownOrigin(r) || (origin != "*" && slices.Contains(s.cfg.Origins, origin)) {
		return nil
	}
	return ingest.Errorf(CodeOriginNotAllowed, "origin %s may not use the console's session", origin)
}

// ownOrigin is the portal's origin: its public URL's, or the request's own scheme and host.
func (s *Server) ownOrigin(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		if u, err := url.Parse(s.cfg.PublicURL); err == nil {
			return u.Scheme + "://" + u.Host
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// route answers an admitted request.
func (s *Server) route(q *request) error {
	p, m := q.path, q.r.Method
	switch {
	case len(p) == 1 && p[0] == "params":
		return s.only(q, http.MethodGet, s.params)
	case len(p) == 1 && p[0] == "upload":
		return s.only(q, http.MethodPost, s.formUpload)
	case len(p) == 1 && p[0] == "multipart":
		return s.only(q, http.MethodPost, s.create)
	case len(p) < 2 || p[0] != "multipart":
		return ingest.Errorf(ingest.ENotFound, "no route at %s", q.r.URL.Path)
	}
	id, err := uuid.Parse(p[1])
	if err != nil {
		return ingest.Errorf(ingest.ENotFound, "no upload %s", p[1])
	}
	switch {
	case len(p) == 2 && m == http.MethodGet:
		return s.listParts(q, id)
	case len(p) == 2 && m == http.MethodDelete:
		return s.abort(q, id)
	case len(p) == 2:
		return methodNotAllowed(q, "GET, DELETE")
	case len(p) == 3 && p[2] == "complete":
		return s.only(q, http.MethodPost, func(q *request) error { return s.complete(q, id) })
	case len(p) == 3:
		n, err := strconv.Atoi(p[2])
		if err != nil || n < 1 || n > ingest.MaxParts {
			return ingest.Errorf(ingest.EValidation, "a part number is 1 to %d", ingest.MaxParts)
		}
		switch m {
		case http.MethodGet:
			return s.signPart(q, id, n)
		case http.MethodPut:
			return s.putPart(q, id, n)
		}
		return methodNotAllowed(q, "GET, PUT")
	}
	return ingest.Errorf(ingest.ENotFound, "no route at %s", q.r.URL.Path)
}

func (s *Server) only(q *request, method string, handle func(*request) error) error {
	if q.r.Method != method {
		return methodNotAllowed(q, method)
	}
	return handle(q)
}

func methodNotAllowed(q *request, allow string) error {
	q.w.Header().Set("Allow", allow)
	return ingest.Errorf(httperr.MethodNotAllowed, "%s is not allowed on %s", q.r.Method, q.r.URL.Path)
}

// url is an absolute URL of this server, as handed to Uppy. It is absolute even without a
// public URL: @uppy/aws-s3 resolves a relative one against the page, which may be on another
// origin than the portal's.
func (s *Server) url(q *request, path string, query url.Values) string {
	u := s.baseURL(q.r) + q.base + "/s3/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

// location is where a stored file is read through the API, absolute as url's.
func (s *Server) location(q *request, f *ingest.File) string {
	return s.baseURL(q.r) + "/api/v1/files/" + f.ID.String()
}

// baseURL is the portal's public URL, or else the request's own scheme and host.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return s.ownOrigin(r)
}

// sign is the HMAC-SHA256, in hex, of the fields joined: what binds a URL or a form to its scope.
func (s *Server) sign(fields ...string) string {
	m := hmac.New(sha256.New, s.cfg.SigningKey)
	for _, f := range fields {
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// expiry returns when a URL signed now expires, as the decimal Unix time it carries.
func (s *Server) expiry() string {
	return strconv.FormatInt(s.cfg.Now().Add(s.cfg.URLExpiry).Unix(), 10)
}

// verify checks a signature over fields and its expiry.
func (s *Server) verify(signature, expires string, fields ...string) error {
	want := s.sign(append([]string{expires}, fields...)...)
	if !hmac.Equal([]byte(signature), []byte(want)) {
		return ingest.Errorf(CodeSignatureInvalid, "the signature does not match; ask for a new one")
	}
	at, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || !s.cfg.Now().Before(time.Unix(at, 0)) {
		return ingest.Errorf(CodeSignatureExpired, "the signed URL has expired; ask for a new one")
	}
	return nil
}

// scope names who a signature was made for, so that it serves no one else: the grant, or the user.
func scope(actor *ingest.User) string {
	if actor.Grant != nil {
		return "grant:" + actor.Grant.ID.String()
	}
	return "user:" + actor.ID.String()
}

// statusOf is the HTTP status of code: the API's, and the codes of streamed uploads and of these
// routes.
func statusOf(code ingest.Code) (int, bool) {
	switch code {
	case ingest.EOffsetMismatch:
		return http.StatusConflict, true
	case ingest.EUploadLocked:
		return http.StatusLocked, true
	case CodeSignatureInvalid, CodeSignatureExpired, CodeOriginNotAllowed:
		return http.StatusForbidden, true
	}
	return httperr.Status(code)
}

// answerError answers err in JSON with its stable code; an error with no status is ours: the
// client sees INTERNAL and the log gets the rest.
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, err error) {
	code := ingest.ErrorCode(err)
	status, known := statusOf(code)
	if !known {
		s.logger.Error("internal error", "method", r.Method, "path", redact(r.URL.Path), "err", err)
		httperr.Write(w, r, http.StatusInternalServerError, httperr.Fields{Code: ingest.EInternal, Message: "internal error"})
		return
	}
	if status >= 500 { // a dependency failed (STORAGE_UNAVAILABLE): the operator needs the cause
		s.logger.Error("request failed", "method", r.Method, "path", redact(r.URL.Path), "code", code, "err", err)
	}
	if code == ingest.EUploadLocked {
		w.Header().Set("Retry-After", "1")
	}
	httperr.Write(w, r, status, httperr.Fields{Code: code, Message: ingest.ErrorMessage(err), Details: ingest.ErrorDetails(err)})
}

// redact hides a grant's secret in a path written to the log.
func redact(path string) string {
	if rest, ok := strings.CutPrefix(path, Prefix+"g/"); ok {
		if _, tail, found := strings.Cut(rest, "/"); found {
			return Prefix + "g/…/" + tail
		}
	}
	return path
}
