// Package admin is the portal's admin console, served under /admin/: an operator's view of every
// model (lists with filters, search, sorting and keyset pages; detail pages linked both ways), a
// dashboard, and the few safe actions an operator needs, each confirmed and logged. It renders
// HTML on the server (html/template, embedded templates and assets, htmx where a page gains from
// it) and changes data only through the upload service and the store's compare-and-set methods,
// so it can never break an invariant the API keeps.
package admin

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/attempts"
	"github.com/ingest-portal/ingest/internal/reqtext"
	"github.com/ingest-portal/ingest/readmodel"
	"github.com/ingest-portal/ingest/upload"
)

//go:embed templates static
var assets embed.FS

// Store is what the console reads and changes beside the upload service: the lists, counts and
// dashboard of the read model, one row of each model by id, the retry of an event, the three
// one-way changes that end access, and sign-in.
type Store interface {
	readmodel.Store

	User(ctx context.Context, id uuid.UUID) (*ingest.User, error)
	Batch(ctx context.Context, id uuid.UUID) (*ingest.Batch, error)
	File(ctx context.Context, id uuid.UUID) (*ingest.File, error)
	UploadSession(ctx context.Context, id uuid.UUID) (*ingest.UploadSession, error)
	Parts(ctx context.Context, sessionID uuid.UUID) ([]*ingest.Part, error)
	OutboxEvent(ctx context.Context, id uuid.UUID) (*ingest.OutboxEvent, error)
	RetryEvent(ctx context.Context, id uuid.UUID) error

	RevokeAPIToken(ctx context.Context, id uuid.UUID) (*ingest.APIToken, error)
	DisableUser(ctx context.Context, id uuid.UUID) (*ingest.User, error)
	Grant(ctx context.Context, id uuid.UUID) (*ingest.UploadGrant, error)
	RevokeGrant(ctx context.Context, id uuid.UUID) (*ingest.UploadGrant, error)

	Authenticate(ctx context.Context, tokenHash string) (*ingest.User, error)
	UserPassword(ctx context.Context, username string) (*ingest.User, string, error)
	CreateConsoleSession(ctx context.Context, s *ingest.ConsoleSession) error
	ConsoleSession(ctx context.Context, secretHash string) (*ingest.ConsoleSession, *ingest.User, error)
	DeleteConsoleSession(ctx context.Context, secretHash string) error
}

// Config is what the console needs.
type Config struct {
	Service *upload.Service // the actions that belong to the upload service go through it
	Store   Store
	Logger  *slog.Logger
	// SessionTTL is how long a sign-in lasts; 0 means 12 hours.
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure on every response, for a console served over
	// https by a proxy in front of the portal (a request that reached the portal over TLS gets
	// Secure anyway).
	SecureCookies bool
	// SignInsPerMinute bounds the sign-in attempts of each client address (an IPv6 /64), on this
	// instance; 0 means 10. The same number of wrong passwords locks a username's password
	// sign-in, which then refills over PasswordLockout; a valid API token still signs in.
	SignInsPerMinute float64
	// PasswordLockout is how long a username's password sign-in takes to recover fully from a
	// lockout; 0 means 15 minutes.
	PasswordLockout time.Duration
	// SignInTableSize bounds the addresses and usernames the limiters remember, each; 0 means
	// 100,000. A full table forgets only keys whose count has run out, and new keys then share
	// one overflow count.
	SignInTableSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnAccessRevoked, when set, is called after a token was revoked or a user disabled, so that
	// the API of this process stops trusting authentications it cached before (ingest serve wires
	// it to httpapi's Server.ForgetAuthentications).
	OnAccessRevoked func()
}

// Handler serves the console. Mount it at /admin/.
type Handler struct {
	cfg       Config
	store     Store
	mux       *http.ServeMux
	logger    *slog.Logger
	pages     map[string]*template.Template
	static    http.Handler
	signIns   *attempts.Limiter // per client address
	passwords *attempts.Limiter // password attempts per username
}

// New returns the console's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Store == nil {
		return nil, ingest.Errorf(ingest.EValidation, "the admin console needs the upload service and the store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.SessionTTL < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "the console session TTL must be positive")
	}
	if cfg.SignInsPerMinute == 0 {
		cfg.SignInsPerMinute = 10
	}
	if cfg.PasswordLockout == 0 {
		cfg.PasswordLockout = 15 * time.Minute
	}
	if cfg.SignInTableSize == 0 {
		cfg.SignInTableSize = attempts.DefaultKeys
	}
	if cfg.SignInsPerMinute < 0 || cfg.PasswordLockout < 0 || cfg.SignInTableSize < 0 {
		return nil, ingest.Errorf(ingest.EValidation, "the console's sign-in limits must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg:       cfg,
		store:     cfg.Store,
		mux:       http.NewServeMux(),
		logger:    cfg.Logger,
		pages:     pages,
		static:    http.StripPrefix("/admin/static/", filesOnly(static)),
		signIns:   attempts.New(cfg.SignInsPerMinute, time.Minute, cfg.SignInTableSize),
		passwords: attempts.New(cfg.SignInsPerMinute, cfg.PasswordLockout, cfg.SignInTableSize),
	}
	h.routes()
	return h, nil
}

// filesOnly serves the files of fsys and lists no directory: a path that names one is not found.
func filesOnly(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(r.URL.Path, "/")
		if info, err := fs.Stat(fsys, name); name == "" || (err == nil && info.IsDir()) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler: every answer carries the console's security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// Scripts and styles come only from the console's own files: no inline script, no eval, so
	// an injected tag does nothing even if escaping ever failed. Framing is refused (clickjacking).
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if err := reqtext.Check(r); err != nil {
		h.fail(w, r, nil, err)
		return
	}
	if r.Method == http.MethodPost {
		if err := readForm(w, r); err != nil {
			h.fail(w, r, nil, err)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// maxFormBytes bounds a console form: its largest, the sign-in, holds a username and a password
// or an API token.
const maxFormBytes = 16 << 10

// readForm parses a POST's form before any handler sees it: URL-encoded and at most maxFormBytes,
// so that a client cannot make the console read, or spool to disk, more than a form. A multipart
// body is refused unread; the console's forms send none.
func readForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt != "application/x-www-form-urlencoded" && (mt != "" || r.ContentLength != 0):
		return ingest.Errorf(ingest.EValidation, "the console takes forms as application/x-www-form-urlencoded")
	case r.ContentLength > maxFormBytes:
		return ingest.Errorf(ingest.EPayloadTooLarge, "a console form has at most %d bytes", maxFormBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return ingest.Errorf(ingest.EPayloadTooLarge, "a console form has at most %d bytes", maxFormBytes)
		}
		return ingest.Errorf(ingest.EValidation, "the form cannot be read")
	}
	for _, values := range r.PostForm {
		for _, v := range values {
			if !reqtext.Valid(v) {
				return ingest.Errorf(ingest.EValidation, "a form field has a NUL byte or bytes that are not UTF-8")
			}
		}
	}
	return nil
}

// parsePages parses every page template of templates/ together with the layout, one template set
// per page, named after the page's file without ".html".
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse the console layout: %w", err)
	}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(assets, f)
		if err != nil {
			return nil, fmt.Errorf("parse the console page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page template receives.
type view struct {
	Title   string
	Section string // the navigation entry to highlight
	User    *ingest.User
	CSRF    string // the session's CSRF token, for forms and for scripts calling the API
	Data    any
}

// render writes a page of the layout with status.
func (h *Handler) render(w http.ResponseWriter, status int, name string, v view) {
	t, ok := h.pages[name]
	if !ok {
		h.logger.Error("admin: no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		h.logger.Error("admin: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// statusOf maps an error's code to the status of the page that shows it.
func statusOf(code ingest.Code) int {
	switch code {
	case ingest.EValidation:
		return http.StatusBadRequest
	case ingest.EPayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case ingest.EUnauthenticated:
		return http.StatusUnauthorized
	case ingest.EForbidden:
		return http.StatusForbidden
	case ingest.ENotFound:
		return http.StatusNotFound
	case ingest.ERateLimited:
		return http.StatusTooManyRequests
	case ingest.EStorageUnavailable, ingest.EDatabaseUnavailable:
		return http.StatusServiceUnavailable
	case ingest.EInternal, ingest.EConstraintViolation:
		return http.StatusInternalServerError
	}
	// The state machines' refusals, conflicts of racing requests.
	return http.StatusConflict
}

// fail renders err as an error page. An unexpected error is logged and shown as "internal
// error", never with its text.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, a *actor, err error) {
	status := statusOf(ingest.ErrorCode(err))
	msg := ingest.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		h.logger.Error("admin: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	if status == http.StatusServiceUnavailable { // a dependency is down: the operator needs the cause
		h.logger.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	v := view{Title: http.StatusText(status), Data: errorPage{Status: status, Message: msg, Back: backLink(r)}}
	if a != nil {
		v.User, v.CSRF = a.user, a.session.CSRFToken
	}
	h.render(w, status, "error", v)
}

type errorPage struct {
	Status  int
	Message string
	Back    string
}

// backLink is where an error page leads back to: the page an action was confirmed on.
func backLink(r *http.Request) string {
	p := r.URL.Path
	if r.Method == http.MethodPost {
		if i := strings.LastIndex(p, "/"); i > len("/admin") {
			return p[:i]
		}
	}
	return "/admin/"
}
