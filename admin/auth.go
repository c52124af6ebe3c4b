package admin

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/ingest-portal/ingest"
)

// The console's cookies. The session cookie's path is "/" so that the console's own scripts may
// call the API with it (and the CSRF header); the sign-in cookie only guards the sign-in form.
const (
	sessionCookie = "ingest_admin_session"
	signInCookie  = "ingest_admin_signin"
	csrfField     = "csrf_token"
	// CSRFHeader carries the session's CSRF token on API requests a console page makes.
	CSRFHeader = "X-CSRF-Token"
)

// actor is the signed-in admin of a request and their session.
type actor struct {
	user    *ingest.User
	session *ingest.ConsoleSession
}

// session returns the request's console session and its user: EUnauthenticated without a valid
// session, EForbidden for a user who is not (or no longer) an admin, or is disabled.
func (h *Handler) session(r *http.Request) (*actor, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, ingest.Errorf(ingest.EUnauthenticated, "sign in to the admin console")
	}
	s, u, err := h.store.ConsoleSession(r.Context(), ingest.HashToken(c.Value))
	if err != nil {
		return nil, err
	}
	if u.DisabledAt != nil {
		return nil, ingest.Errorf(ingest.EUnauthenticated, "user %s is disabled", u.Username)
	}
	if !u.IsAdmin {
		return nil, ingest.Errorf(ingest.EForbidden, "user %s is not an administrator", u.Username)
	}
	return &actor{user: u, session: s}, nil
}

// UserFromRequest returns the admin signed in to the console by the request's session cookie. It
// returns EUnauthenticated when the request has no valid session and EForbidden when its user is
// not an admin. It does not check a CSRF token: see AuthenticateAPI for requests that change data.
func (h *Handler) UserFromRequest(r *http.Request) (*ingest.User, error) {
	a, err := h.session(r)
	if err != nil {
		return nil, err
	}
	return a.user, nil
}

// AuthenticateAPI authenticates an API request made by a console page: the session cookie
// together with the session's CSRF token in the X-CSRF-Token header, which another site cannot
// read and so cannot send. It returns EUnauthenticated without a valid session and EForbidden
// when the header is missing or wrong, or the user is not an admin.
func (h *Handler) AuthenticateAPI(r *http.Request) (*ingest.User, error) {
	a, err := h.session(r)
	if err != nil {
		return nil, err
	}
	if !sameSecret(r.Header.Get(CSRFHeader), a.session.CSRFToken) {
		return nil, ingest.Errorf(ingest.EForbidden, "a console session must send its CSRF token in the %s header", CSRFHeader)
	}
	return a.user, nil
}

// sameSecret compares two secrets in constant time; an empty one never matches.
func sameSecret(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// page wraps a console page: without a session it redirects to the sign-in page (coming back
// afterwards), a non-admin is refused, and a POST must carry the session's CSRF token.
func (h *Handler) page(fn func(w http.ResponseWriter, r *http.Request, a *actor) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := h.session(r)
		switch ingest.ErrorCode(err) {
		case "":
		case ingest.EUnauthenticated:
			next := r.URL.Path
			if r.Method == http.MethodGet && r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, "/admin/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		default:
			h.fail(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost && !sameSecret(r.PostFormValue(csrfField), a.session.CSRFToken) {
			h.fail(w, r, a, ingest.Errorf(ingest.EForbidden, "the form's CSRF token is missing or wrong; reload the page and try again"))
			return
		}
		if err := fn(w, r, a); err != nil {
			h.fail(w, r, a, err)
		}
	})
}

// secure reports whether cookies must be Secure: the request came over TLS, or the operator says
// the console is served over https.
func (h *Handler) secure(r *http.Request) bool {
	return h.cfg.SecureCookies || r.TLS != nil
}

// setCookie sets a console cookie: HttpOnly, SameSite=Lax, Secure behind https. maxAge < 0
// removes it.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   h.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// localPath returns next when it is a path of the console, and the dashboard otherwise, so the
// sign-in page cannot be made to redirect elsewhere.
func localPath(next string) string {
	if strings.HasPrefix(next, "/admin/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/admin/"
}
