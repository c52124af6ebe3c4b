// Package httpapi is the portal's HTTP interface: routes, authentication, JSON, and the one place
// where error codes become HTTP statuses. Clients see an error's code and message; an unexpected
// error reaches them as INTERNAL with nothing more, and its detail goes to the log.
package httpapi

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/attempts"
	"github.com/ingest-portal/ingest/internal/httperr"
	"github.com/ingest-portal/ingest/internal/reqtext"
	"github.com/ingest-portal/ingest/upload"
)

// Check is one dependency that /readyz verifies, such as the database.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Config is what the server needs.
type Config struct {
	Service *upload.Service
	Users   ingest.UserStore // authenticates bearer tokens
	// Grants authenticates upload grants (ingest_grant_… bearer secrets); nil refuses them all.
	Grants  GrantAuthenticator
	Logger  *slog.Logger
	Checks  []Check // what /readyz verifies
	Metrics *Metrics
	// IdleReadTimeout bounds the wait for each read of a request body, so that a stalled client
	// cannot hold a part open forever; 0 means 1 minute.
	IdleReadTimeout time.Duration
	// MinPartRate, in bytes per second, is the least an upload body (a part, a PATCH) must bring
	// over each MinRateWindow, so that a trickling client cannot hold a part's lock forever; 0
	// means no minimum rate.
	MinPartRate int64
	// MinRateWindow is the span MinPartRate is measured over; 0 means 30 seconds.
	MinRateWindow time.Duration
	// RateLimit is the sustained requests per second allowed to each user, with bursts of twice
	// that; 0 means no limit.
	RateLimit float64
	// SessionAuth, when set, authenticates a request that has no Authorization header by other
	// means: the admin console's session cookie, which must come with the session's CSRF token in
	// a header because a browser sends cookies on requests other sites make it send. It returns
	// the user, EUnauthenticated when the request carries no valid session, and EForbidden when the
	// session is valid but the CSRF header is missing or wrong. A request with an Authorization
	// header is always authenticated by its bearer token alone.
	SessionAuth func(r *http.Request) (*ingest.User, error)
	// AuthCacheTTL is how long a token that authenticated is trusted again without asking Users;
	// 0 means every request asks. A token revoked, or a user disabled, meanwhile still works until
	// then.
	AuthCacheTTL time.Duration
	// BadTokensPerMinute bounds the requests with an unknown, revoked or expired token that each
	// client address (an IPv6 /64) may send, in bursts of as many; once its bucket is empty, every
	// request with a token from that address is refused with RATE_LIMITED before the token is looked
	// up, a valid one too, until the bucket refills. 0 means no limit.
	BadTokensPerMinute float64
	// BadTokenTableSize bounds the addresses that limit remembers; 0 means attempts.DefaultKeys.
	BadTokenTableSize int
	// Now is the clock of the rate limits; nil means time.Now.
	Now func() time.Time
}

// GrantAuthenticator finds the active upload grant of a secret's hash and its creator
// (ingest.GrantStore.AuthenticateGrant).
type GrantAuthenticator interface {
	AuthenticateGrant(ctx context.Context, tokenHash string) (*ingest.UploadGrant, *ingest.User, error)
}

// Server is the portal's HTTP handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	logger  *slog.Logger
	limiter *rateLimiter
	tokens  *tokenCache
	// badTokens counts the failed authentications of each client address (nil: no limit).
	badTokens *attempts.Limiter
}

// route is one endpoint. The table is also what the OpenAPI test checks the document against.
type route struct {
	method, pattern string
	public          bool // no token needed
	grant           bool // an upload grant may use it: it uploads, or reads what the grant uploaded
	handle          func(s *Server, w http.ResponseWriter, r *http.Request, actor *ingest.User) error
}

var routes = []route{
	{method: "GET", pattern: "/healthz", public: true, handle: (*Server).healthz},
	{method: "GET", pattern: "/readyz", public: true, handle: (*Server).readyz},
	{method: "GET", pattern: "/metrics", public: true, handle: (*Server).metrics},
	{method: "GET", pattern: "/api/openapi.json", public: true, handle: (*Server).openAPI},

	{method: "POST", pattern: "/api/v1/batches", handle: (*Server).createBatch},
	{method: "GET", pattern: "/api/v1/batches", handle: (*Server).listBatches},
	{method: "GET", pattern: "/api/v1/batches/{id}", handle: (*Server).getBatch},
	{method: "POST", pattern: "/api/v1/batches/{id}/seal", handle: (*Server).sealBatch},
	{method: "POST", pattern: "/api/v1/batches/{id}/cancel", handle: (*Server).cancelBatch},

	{method: "POST", pattern: "/api/v1/uploads", grant: true, handle: (*Server).createUpload},
	{method: "GET", pattern: "/api/v1/uploads/{id}", grant: true, handle: (*Server).getUpload},
	{method: "DELETE", pattern: "/api/v1/uploads/{id}", grant: true, handle: (*Server).abortUpload},
	{method: "PUT", pattern: "/api/v1/uploads/{id}/parts/{n}", grant: true, handle: (*Server).putPart},
	{method: "GET", pattern: "/api/v1/uploads/{id}/parts", grant: true, handle: (*Server).listParts},
	{method: "POST", pattern: "/api/v1/uploads/{id}/complete", grant: true, handle: (*Server).completeUpload},

	{method: "POST", pattern: "/api/v1/files", grant: true, handle: (*Server).putFile},
	{method: "GET", pattern: "/api/v1/files", handle: (*Server).listFiles},
	{method: "GET", pattern: "/api/v1/files/{id}", grant: true, handle: (*Server).getFile},
	{method: "GET", pattern: "/api/v1/files/{id}/content", handle: (*Server).getContent},

	{method: "POST", pattern: "/api/v1/upload-grants", handle: (*Server).createGrant},
	{method: "GET", pattern: "/api/v1/upload-grants", handle: (*Server).listGrants},
	{method: "GET", pattern: "/api/v1/upload-grants/{id}", handle: (*Server).getGrant},
	{method: "DELETE", pattern: "/api/v1/upload-grants/{id}", handle: (*Server).revokeGrant},
}

// New returns the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleReadTimeout == 0 {
		cfg.IdleReadTimeout = time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), logger: cfg.Logger, limiter: newRateLimiter(cfg.RateLimit),
		tokens: newTokenCache(cfg.AuthCacheTTL)}
	if cfg.BadTokensPerMinute > 0 {
		s.badTokens = attempts.New(cfg.BadTokensPerMinute, time.Minute, cmp.Or(cfg.BadTokenTableSize, attempts.DefaultKeys))
	}
	for _, rt := range routes {
		s.mux.Handle(rt.method+" "+rt.pattern, s.endpoint(rt))
	}
	return s
}

// endpoint wraps a route's handler: authentication, rate limiting, the error answer, metrics and
// the request log.
func (s *Server) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &responseRecorder{ResponseWriter: w, status: http.StatusOK}
		var actor *ingest.User
		var err error
		if !rt.public {
			actor, err = s.admit(rec, r, rt.grant)
		}
		if err == nil {
			err = rt.handle(s, rec, r, actor)
		}
		if err != nil {
			s.writeError(rec, r, err)
		}
		s.ObserveRequest(r, rt.pattern, rec.status, rec.written, actor, err, time.Since(start))
	})
}

// Admit returns the user a request speaks for, as the API's routes see it — a bearer token
// (cached for AuthCacheTTL) or the console's session — once the user's rate limit lets the
// request in. It returns EUnauthenticated (with a WWW-Authenticate header on w), EForbidden, or
// ERateLimited (with Retry-After). Protocol adapters mounted beside the API (tus) admit their
// requests through it, so that every route trusts the same credentials under one limit. It
// refuses upload grants (FORBIDDEN); AdmitUpload takes them.
func (s *Server) Admit(w http.ResponseWriter, r *http.Request) (*ingest.User, error) {
	return s.admit(w, r, false)
}

// AdmitUpload is Admit for a protocol adapter's upload routes (Uppy's), which an upload grant may
// use within its limits, as it uses the native upload routes.
func (s *Server) AdmitUpload(w http.ResponseWriter, r *http.Request) (*ingest.User, error) {
	return s.admit(w, r, true)
}

// admit is Admit for a route that an upload grant may use, or not. A grant's requests share one
// rate limit per grant, not its creator's.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, grant bool) (*ingest.User, error) {
	address := attempts.AddressKey(attempts.ClientAddress(r))
	if wait := s.badTokenWait(r, address); wait > 0 {
		return nil, rateLimited(w, wait, "bad_tokens")
	}
	actor, err := s.authenticate(r)
	if err != nil {
		if ingest.ErrorCode(err) == ingest.EUnauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ingest"`)
			s.countBadToken(r, address)
		}
		return nil, err
	}
	limited := actor.ID
	if actor.Grant != nil {
		if !grant {
			return nil, &ingest.Error{Code: ingest.EForbidden, Message: "an upload grant may only upload, and read what it uploaded",
				Details: map[string]any{"reason": "upload_grant"}}
		}
		limited = actor.Grant.ID
	}
	if wait, ok := s.limiter.allow(limited, s.cfg.Now()); !ok {
		return nil, rateLimited(w, wait, "requests")
	}
	return actor, nil
}

// badTokenWait returns how long the client address must wait before a request of its with a
// bearer token is looked at again, 0 when it need not. A request without one costs no lookup and
// is not limited here.
func (s *Server) badTokenWait(r *http.Request, address string) time.Duration {
	if s.badTokens == nil || r.Header.Get("Authorization") == "" {
		return 0
	}
	return s.badTokens.Wait(address, s.cfg.Now())
}

// countBadToken takes one attempt of the address's bucket for a request whose bearer token
// authenticated nobody.
func (s *Server) countBadToken(r *http.Request, address string) {
	if s.badTokens != nil && r.Header.Get("Authorization") != "" {
		s.badTokens.Allow(address, s.cfg.Now())
	}
}

// rateLimited is the RATE_LIMITED answer with its Retry-After; reason says which limit
// ("requests" of a user, "bad_tokens" of a client address).
func rateLimited(w http.ResponseWriter, wait time.Duration, reason string) error {
	w.Header().Set("Retry-After", retryAfter(wait))
	return &ingest.Error{Code: ingest.ERateLimited, Message: "too many requests; slow down",
		Details: map[string]any{"retry_after_seconds": wait.Seconds(), "reason": reason}}
}

// ObserveRequest records an answered request in the request metrics and the request log: the
// API's routes, and those of the protocol adapters mounted beside it (tus), under route.
func (s *Server) ObserveRequest(r *http.Request, route string, status int, written int64, actor *ingest.User, err error, elapsed time.Duration) {
	s.cfg.Metrics.observeRequest(route, r.Method, status, ingest.ErrorCode(err), elapsed)
	attrs := []any{"method", r.Method, "route", route, "status", status, "duration", elapsed, "bytes_out", written}
	if actor != nil {
		attrs = append(attrs, "user", actor.Username)
	}
	if err != nil {
		attrs = append(attrs, "code", ingest.ErrorCode(err))
	}
	s.logger.Info("request", attrs...)
}

// responseRecorder remembers the status and size of an answer, for metrics and the log.
type responseRecorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (r *responseRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (for read deadlines).
func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ServeHTTP implements http.Handler. Requests no route matches get the API's JSON errors, not
// the mux's plain text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := reqtext.Check(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.ContentLength != 0 {
		// A body has the idle timeout to begin, and a JSON body to arrive whole, even one the
		// handler refuses unread (the server reads a little of it to keep the connection);
		// bodies that stream move the deadline as they go (internal/idleread).
		d := bodyDeadline{rc: http.NewResponseController(w)}
		d.set(time.Now().Add(s.cfg.IdleReadTimeout))
		r = r.WithContext(context.WithValue(r.Context(), bodyDeadlineKey{}, d))
	}
	// Routing twice is cheap; serving through the mux itself is what fills in r.PathValue.
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// The mux answers 405 with an Allow header when the path exists under another method.
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, &ingest.Error{Code: httperr.MethodNotAllowed, Message: r.Method + " is not allowed on " + r.URL.Path})
		return
	}
	s.writeError(w, r, ingest.Errorf(ingest.ENotFound, "no route for %s %s", r.Method, r.URL.Path))
}

// statusRecorder catches what the mux's fallback handler would answer, to answer it in JSON.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *ingest.User) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 when every check passes and 503 otherwise, naming the failed checks but not
// why: the reason goes to the log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *ingest.User) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	status, results := http.StatusOK, map[string]string{}
	for _, c := range s.cfg.Checks {
		if err := c.Probe(ctx); err != nil {
			s.logger.Warn("readiness check failed", "check", c.Name, "err", err)
			status, results[c.Name] = http.StatusServiceUnavailable, "unavailable"
			continue
		}
		results[c.Name] = "ok"
	}
	state := "ok"
	if status != http.StatusOK {
		state = "unavailable"
	}
	writeJSON(w, status, map[string]any{"status": state, "checks": results})
	return nil
}
