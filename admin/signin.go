package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/attempts"
	"github.com/ingest-portal/ingest/internal/reqtext"
)

type signInPage struct {
	Next     string
	Username string
	Error    string
}

// signInForm shows the sign-in form. Its CSRF token is a random value in a cookie that the form
// repeats (double submit): a session does not exist yet, and a forged sign-in (into the
// attacker's account) is refused too.
func (h *Handler) signInForm(w http.ResponseWriter, r *http.Request) {
	if _, err := h.session(r); err == nil {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.showSignIn(w, r, http.StatusOK, signInPage{Next: r.URL.Query().Get("next")})
}

func (h *Handler) showSignIn(w http.ResponseWriter, r *http.Request, status int, p signInPage) {
	token := ""
	if c, err := r.Cookie(signInCookie); err == nil && len(c.Value) >= 32 {
		token = c.Value
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		token = base64.RawURLEncoding.EncodeToString(b)
		h.setCookie(w, r, signInCookie, token, 3600)
	}
	h.render(w, status, "signin", view{Title: "Sign in", CSRF: token, Data: p})
}

// signIn checks a username with a password or an API token, and starts a session for an admin.
// Every refusal of the credentials reads the same, so that the page does not tell which usernames
// exist; a valid user who is not an admin is told so.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	username := strings.TrimSpace(r.PostFormValue("username"))
	secret := r.PostFormValue("secret")
	p := signInPage{Next: r.PostFormValue("next"), Username: username}
	c, err := r.Cookie(signInCookie)
	if err != nil || !sameSecret(r.PostFormValue(csrfField), c.Value) {
		p.Error = "The sign-in form expired; please try again."
		h.showSignIn(w, r, http.StatusForbidden, p)
		return
	}
	if !reqtext.Valid(username) {
		p.Error, p.Username = "No username has a NUL byte or bytes that are not UTF-8.", ""
		h.showSignIn(w, r, http.StatusBadRequest, p)
		return
	}
	// Every attempt counts against its address, whatever it holds (an empty username too). A
	// password counts against its username as well, a token does not: the username's lockout
	// stops guessing its password, and a valid API token of the admin still signs in.
	now := h.cfg.Now()
	if !h.signIns.Allow(attempts.AddressKey(attempts.ClientAddress(r)), now) {
		p.Error = "Too many sign-in attempts; wait a minute and try again."
		h.logger.Warn("admin: sign-in rate limited", "username", username, "addr", attempts.ClientAddress(r))
		h.showSignIn(w, r, http.StatusTooManyRequests, p)
		return
	}
	if !isToken(secret) && !h.passwords.Allow(attempts.UsernameKey(username), now) {
		p.Error = "Too many wrong passwords for this username; wait a few minutes, or sign in with an API token."
		h.logger.Warn("admin: password sign-in locked", "username", username, "addr", attempts.ClientAddress(r))
		h.showSignIn(w, r, http.StatusTooManyRequests, p)
		return
	}
	u, err := h.checkCredentials(r.Context(), username, secret)
	if err != nil {
		status := statusOf(ingest.ErrorCode(err))
		switch ingest.ErrorCode(err) {
		case ingest.EUnauthenticated:
			p.Error = "Wrong username, password or token."
		case ingest.EForbidden:
			p.Error = ingest.ErrorMessage(err)
		default:
			h.logger.Error("admin: sign-in", "err", err)
			p.Error = "The sign-in failed on our side; try again later."
		}
		h.logger.Info("admin: sign-in refused", "username", username, "addr", attempts.ClientAddress(r), "code", ingest.ErrorCode(err))
		h.showSignIn(w, r, status, p)
		return
	}
	s, cookie := ingest.NewConsoleSession(u.ID, now.Add(h.cfg.SessionTTL))
	if err := h.store.CreateConsoleSession(r.Context(), s); err != nil {
		h.fail(w, r, nil, err)
		return
	}
	h.setCookie(w, r, signInCookie, "", -1)
	h.setCookie(w, r, sessionCookie, cookie, int(h.cfg.SessionTTL.Seconds()))
	h.logger.Info("admin: signed in", "admin_id", u.ID, "admin", u.Username, "addr", attempts.ClientAddress(r))
	http.Redirect(w, r, localPath(p.Next), http.StatusSeeOther)
}

// checkCredentials returns the admin the username and secret prove, EUnauthenticated when they
// prove no one, and EForbidden for a user who is disabled or no admin. A secret that looks like
// an API token is checked as one; anything else as the user's password.
func (h *Handler) checkCredentials(ctx context.Context, username, secret string) (*ingest.User, error) {
	refused := ingest.Errorf(ingest.EUnauthenticated, "wrong username, password or token")
	var u *ingest.User
	if isToken(secret) {
		var err error
		u, err = h.store.Authenticate(ctx, ingest.HashToken(secret))
		switch ingest.ErrorCode(err) {
		case "":
		case ingest.EUnauthenticated:
			return nil, refused
		default:
			return nil, err
		}
		if u.Username != username {
			return nil, refused
		}
	} else {
		if secret == "" {
			return nil, refused
		}
		found, hash, err := h.store.UserPassword(ctx, username)
		if err != nil && ingest.ErrorCode(err) != ingest.ENotFound {
			return nil, err
		}
		// An unknown user or one without a password costs the same hashing as a wrong password,
		// so the time taken does not tell which usernames exist.
		if hash == "" {
			hash = decoyHash
		}
		ok, err := VerifyPassword(hash, secret)
		if err != nil {
			return nil, err
		}
		if !ok || found == nil || hash == decoyHash {
			return nil, refused
		}
		u = found
	}
	if u.DisabledAt != nil {
		return nil, ingest.Errorf(ingest.EForbidden, "user %s is disabled", u.Username)
	}
	if !u.IsAdmin {
		return nil, ingest.Errorf(ingest.EForbidden, "user %s is not an administrator", u.Username)
	}
	return u, nil
}

// signOut ends the session and forgets its cookie.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, a *actor) error {
	c, err := r.Cookie(sessionCookie)
	if err == nil {
		if err := h.store.DeleteConsoleSession(r.Context(), ingest.HashToken(c.Value)); err != nil {
			return err
		}
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	h.logger.Info("admin: signed out", "admin_id", a.user.ID, "admin", a.user.Username)
	http.Redirect(w, r, "/admin/signin", http.StatusSeeOther)
	return nil
}

// isToken reports whether the secret of the sign-in form is to be checked as an API token rather
// than as a password.
func isToken(secret string) bool { return strings.HasPrefix(secret, "ingest_") }
