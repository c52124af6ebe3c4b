package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// act confirms and performs an action as an operator does: open the confirmation page, submit
// its form.
func (b *browser) act(t *testing.T, path string) *response {
	t.Helper()
	b.get(path).want(t, http.StatusOK).contains(t, `action="`+path+`"`)
	return b.submit(path, path, nil)
}

// wantLogged fails unless the log records the action by root on target.
func (e *env) wantLogged(t *testing.T, action string, target uuid.UUID) {
	t.Helper()
	for _, line := range strings.Split(e.log.String(), "\n") {
		if strings.Contains(line, "action="+action) && strings.Contains(line, "target="+target.String()) &&
			strings.Contains(line, "admin_id="+e.root.ID.String()) && strings.Contains(line, "admin=root") {
			return
		}
	}
	t.Fatalf("no log line of %s on %s by root in\n%s", action, target, e.log)
}

func TestAbortAnUploadSession(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		path := "/admin/sessions/" + w.uploading.ID.String()
		b.get(path).contains(t, `href="`+path+`/abort"`)
		resp := b.act(t, path+"/abort").want(t, http.StatusSeeOther)
		if got := resp.Header.Get("Location"); got != path+"?done=sessions.abort" {
			t.Errorf("redirect to %q", got)
		}
		b.get(resp.Header.Get("Location")).want(t, http.StatusOK).contains(t, "The upload session was aborted.", "ABORTED")
		if s, _ := e.store.UploadSession(e.ctx, w.uploading.ID); s.Status != ingest.SessionAborted {
			t.Errorf("session is %s, want ABORTED", s.Status)
		}
		e.wantLogged(t, "sessions.abort", w.uploading.ID)
		// An ended session offers no abort, and one asked for anyway is refused by the state machine.
		if strings.Contains(b.get(path).body, path+"/abort") {
			t.Errorf("an aborted session still offers abort")
		}
		b.get(path+"/abort").want(t, http.StatusConflict).contains(t, "is ABORTED and cannot become ABORTED")
	})
}

func TestSealAndCancelABatch(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		path := "/admin/batches/" + w.batch.ID.String()
		b.get(path).contains(t, path+"/seal", path+"/cancel")
		b.act(t, path+"/seal").want(t, http.StatusSeeOther)
		page := b.get(path).contains(t, "SEALED", path+"/cancel")
		if strings.Contains(page.body, path+"/seal") {
			t.Errorf("a sealed batch still offers seal")
		}
		e.wantLogged(t, "batches.seal", w.batch.ID)
		b.act(t, path+"/cancel").want(t, http.StatusSeeOther)
		if got, _ := e.store.Batch(e.ctx, w.batch.ID); got.Status != ingest.BatchCancelled || got.FailedCount != 1 {
			t.Errorf("batch = %s with %d failed, want CANCELLED with the upload in progress failed", got.Status, got.FailedCount)
		}
		if s, _ := e.store.UploadSession(e.ctx, w.uploading.ID); s.Status != ingest.SessionAborted {
			t.Errorf("the batch's upload is %s, want ABORTED", s.Status)
		}
		e.wantLogged(t, "batches.cancel", w.batch.ID)
	})
}

func TestAnIllegalActionIsRefusedWithTheStateMachinesMessage(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		path := "/admin/batches/" + w.batch.ID.String() + "/cancel"
		csrf := b.csrf(path)
		// Another operator cancels first: this one's confirmed form now asks for the impossible.
		if _, err := e.svc.CancelBatch(e.ctx, e.root, w.batch.ID); err != nil {
			t.Fatal(err)
		}
		want := "upload batch " + w.batch.ID.String() + " is CANCELLED and cannot become CANCELLED"
		b.post(path, url.Values{"csrf_token": {csrf}}).want(t, http.StatusConflict).contains(t, want)
		b.get(path).want(t, http.StatusConflict).contains(t, want)
		b.get("/admin/batches/"+w.batch.ID.String()+"/seal").want(t, http.StatusConflict).
			contains(t, "is CANCELLED and cannot become SEALED")
		b.get("/admin/events/"+w.event.ID.String()+"/retry").want(t, http.StatusConflict).
			contains(t, "outbox event "+w.event.ID.String()+" is PENDING and cannot become PENDING")
		if !strings.Contains(e.log.String(), "admin: action refused") {
			t.Errorf("the refusal is not logged")
		}
	})
}

func TestAnActionWithoutTheCSRFTokenIsRefused(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		path := "/admin/batches/" + w.batch.ID.String() + "/cancel"
		b.post(path, url.Values{}).want(t, http.StatusForbidden).contains(t, "CSRF token is missing or wrong")
		// A token of another session does not do either.
		other := e.signedIn().csrf("/admin/")
		b.post(path, url.Values{"csrf_token": {other}}).want(t, http.StatusForbidden)
		if got, _ := e.store.Batch(e.ctx, w.batch.ID); got.Status != ingest.BatchOpen {
			t.Errorf("batch is %s after refused posts, want OPEN", got.Status)
		}
	})
}

func TestRetryAFailedEventAndAllFailedEvents(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		path := "/admin/events/" + w.failed.ID.String()
		b.get(path).contains(t, path+"/retry", "webhook answered 400")
		b.act(t, path+"/retry").want(t, http.StatusSeeOther)
		if got, _ := e.store.OutboxEvent(e.ctx, w.failed.ID); got.Status != ingest.OutboxPending {
			t.Errorf("event is %s, want PENDING", got.Status)
		}
		e.wantLogged(t, "events.retry", w.failed.ID)

		e.failEvent(w.failed)
		e.failEvent(w.event)
		resp := b.act(t, "/admin/events/retry-failed").want(t, http.StatusSeeOther)
		b.get(resp.Header.Get("Location")).want(t, http.StatusOK).contains(t, "Every FAILED event was made pending again.")
		for _, id := range []uuid.UUID{w.failed.ID, w.event.ID} {
			if got, _ := e.store.OutboxEvent(e.ctx, id); got.Status != ingest.OutboxPending {
				t.Errorf("event %s is %s, want PENDING", id, got.Status)
			}
		}
		if !strings.Contains(e.log.String(), "action=events.retry-failed") || !strings.Contains(e.log.String(), "retried=2") {
			t.Errorf("retry-all is not logged with its count:\n%s", e.log)
		}
		b.get("/admin/events/retry-failed").want(t, http.StatusConflict).contains(t, "nothing to retry")
	})
}

func TestRevokeATokenAndDisableAUser(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		w := e.world()
		b := e.signedIn()
		token := "/admin/tokens/" + w.token.ID.String()
		b.act(t, token+"/revoke").want(t, http.StatusSeeOther)
		b.get(token).contains(t, "REVOKED")
		b.get(token+"/revoke").want(t, http.StatusConflict).contains(t, "is REVOKED and cannot become REVOKED")
		e.wantLogged(t, "tokens.revoke", w.token.ID)
		if got := e.revocations.Load(); got != 1 {
			t.Errorf("after a revocation the API was told to forget its authentications %d times, want 1", got)
		}

		// An admin signed in elsewhere loses their session when disabled.
		other, _ := e.user("other-admin", true)
		_, otherToken := e.user("third-admin", true)
		ob := e.browser()
		ob.signIn("third-admin", otherToken).want(t, http.StatusSeeOther)
		third, _ := e.store.UserByUsername(e.ctx, "third-admin")
		user := "/admin/users/" + third.ID.String()
		resp := b.act(t, user+"/disable").want(t, http.StatusSeeOther)
		ob.get("/admin/").want(t, http.StatusSeeOther)
		b.get(resp.Header.Get("Location")).contains(t, "DISABLED", "The user was disabled.")
		b.get(user+"/disable").want(t, http.StatusConflict).contains(t, "is DISABLED and cannot become DISABLED")
		e.wantLogged(t, "users.disable", third.ID)
		if got := e.revocations.Load(); got != 2 {
			t.Errorf("after a user was disabled the API was told to forget its authentications %d times in all, want 2", got)
		}

		// Nobody disables themselves from the console.
		self := "/admin/users/" + e.root.ID.String()
		if strings.Contains(b.get(self).body, self+"/disable") {
			t.Errorf("an admin is offered to disable themselves")
		}
		b.post(self+"/disable", url.Values{"csrf_token": {b.csrf(self)}}).want(t, http.StatusBadRequest)
		b.get("/admin/users/"+other.ID.String()).contains(t, "/disable")
	})
}

func TestAnAdminWhoLosesTheRoleIsRefused(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.signedIn()
		if _, err := e.store.DB().ExecContext(e.ctx, `UPDATE users SET is_admin = $1 WHERE id = $2`, false, e.root.ID); err != nil {
			t.Fatal(err)
		}
		b.get("/admin/files").want(t, http.StatusForbidden).contains(t, "user root is not an administrator")
	})
}

func TestTheAPIAcceptsAConsoleSessionOnlyWithItsCSRFHeader(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, e *env) {
		b := e.signedIn()
		csrf := b.csrf("/admin/")
		u, _ := url.Parse(e.server.URL)
		req := func(header string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, e.server.URL+"/api/v1/batches", nil)
			for _, c := range b.client.Jar.Cookies(u) {
				r.AddCookie(c)
			}
			if header != "" {
				r.Header.Set("X-CSRF-Token", header)
			}
			return r
		}
		if got, err := e.handler.AuthenticateAPI(req(csrf)); err != nil || got.ID != e.root.ID {
			t.Errorf("with the header: %v, %v; want root", got, err)
		}
		if _, err := e.handler.AuthenticateAPI(req("")); ingest.ErrorCode(err) != ingest.EForbidden {
			t.Errorf("without the header: %v, want FORBIDDEN", err)
		}
		if got, err := e.handler.UserFromRequest(req("")); err != nil || got.ID != e.root.ID {
			t.Errorf("UserFromRequest: %v, %v; want root", got, err)
		}
		anonymous, _ := http.NewRequest(http.MethodGet, e.server.URL+"/api/v1/batches", nil)
		if _, err := e.handler.AuthenticateAPI(anonymous); ingest.ErrorCode(err) != ingest.EUnauthenticated {
			t.Errorf("without a session: %v, want UNAUTHENTICATED", err)
		}
	})
}
