package admin

import (
	"context"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// actionDef is an operator's action on one row. Each is confirmed on a page of its own (GET) and
// done by the form there (POST), then logged with the acting admin. check says whether the row's
// state allows the action now (the state machine's own verdict), so that a page offers only the
// actions that can succeed; do goes through the service or the store's compare-and-set, whose
// refusal is what a raced request gets.
type actionDef struct {
	model    readmodel.Model
	name     string
	label    string
	question string
	explain  string
	done     string
	danger   bool
	// revokesAccess: once done, tokens that authenticated before must not be trusted any longer
	// (Config.OnAccessRevoked).
	revokesAccess bool
	check         func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error
	do            func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error
}

var actions = []*actionDef{
	{
		model: readmodel.ModelSessions, name: "abort", label: "Abort upload", danger: true,
		question: "Abort this upload session?",
		explain:  "The session becomes ABORTED and its file FAILED; the parts received so far are deleted. The client cannot resume it.",
		done:     "The upload session was aborted.",
		check: func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
			s, err := h.store.UploadSession(ctx, id)
			if err != nil {
				return err
			}
			return ingest.CheckSessionTransition(id, s.Status, ingest.SessionAborted)
		},
		do: func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error {
			_, err := h.cfg.Service.Abort(ctx, a.user, id)
			return err
		},
	},
	{
		model: readmodel.ModelBatches, name: "seal", label: "Seal batch",
		question: "Seal this batch?",
		explain:  "The batch takes no new files. Once every file in it has ended, it becomes COMPLETE, PARTIAL or FAILED.",
		done:     "The batch was sealed.",
		check:    batchCheck(ingest.BatchSealed),
		do: func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error {
			_, err := h.cfg.Service.SealBatch(ctx, a.user, id)
			return err
		},
	},
	{
		model: readmodel.ModelBatches, name: "cancel", label: "Cancel batch", danger: true,
		question: "Cancel this batch?",
		explain:  "The batch becomes CANCELLED: its unfinished uploads are aborted and their files FAILED. Files already stored stay stored.",
		done:     "The batch was cancelled.",
		check:    batchCheck(ingest.BatchCancelled),
		do: func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error {
			_, err := h.cfg.Service.CancelBatch(ctx, a.user, id)
			return err
		},
	},
	{
		model: readmodel.ModelEvents, name: "retry", label: "Retry delivery",
		question: "Retry delivering this event?",
		explain:  "The event becomes PENDING again, due now; the relay delivers it like any other. Consumers deduplicate by its event id.",
		done:     "The event is pending again.",
		check: func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
			e, err := h.store.OutboxEvent(ctx, id)
			if err != nil {
				return err
			}
			return ingest.CheckOutboxRetry(id, e.Status)
		},
		do: func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
			return h.store.RetryEvent(ctx, id)
		},
	},
	{
		model: readmodel.ModelTokens, name: "revoke", label: "Revoke token", danger: true, revokesAccess: true,
		question: "Revoke this API token?",
		explain:  "Requests with the token are refused from now on. This cannot be undone; the user needs a new token.",
		done:     "The token was revoked.",
		check: func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
			t, err := h.store.APIToken(ctx, id)
			if err != nil {
				return err
			}
			if t.RevokedAt != nil {
				return ingest.ErrTokenRevoked(id)
			}
			return nil
		},
		do: func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
			_, err := h.store.RevokeAPIToken(ctx, id)
			return err
		},
	},
	{
		model: readmodel.ModelGrants, name: "revoke", label: "Revoke grant", danger: true, revokesAccess: true,
		question: "Revoke this upload grant?",
		explain:  "Requests with the grant are refused from now on, its unfinished uploads included. This cannot be undone; the files it uploaded stay.",
		done:     "The upload grant was revoked.",
		check: func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
			g, err := h.store.Grant(ctx, id)
			if err != nil {
				return err
			}
			if g.RevokedAt != nil {
				return ingest.ErrGrantRevoked(id)
			}
			return nil
		},
		do: func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
			_, err := h.store.RevokeGrant(ctx, id)
			return err
		},
	},
	{
		model: readmodel.ModelUsers, name: "disable", label: "Disable user", danger: true, revokesAccess: true,
		question: "Disable this user?",
		explain:  "Every request with the user's tokens is refused from now on, and their console sessions end. Their files stay.",
		done:     "The user was disabled.",
		check: func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error {
			u, err := h.store.User(ctx, id)
			if err != nil {
				return err
			}
			if u.DisabledAt != nil {
				return ingest.ErrUserDisabled(id)
			}
			return notSelf(a, id)
		},
		do: func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error {
			if err := notSelf(a, id); err != nil {
				return err
			}
			_, err := h.store.DisableUser(ctx, id)
			return err
		},
	},
}

// notSelf refuses an admin's disabling of their own user, which would lock them out mid-session.
func notSelf(a *actor, id uuid.UUID) error {
	if a.user.ID == id {
		return ingest.Errorf(ingest.EValidation, "you cannot disable your own user")
	}
	return nil
}

func batchCheck(to ingest.BatchStatus) func(h *Handler, ctx context.Context, a *actor, id uuid.UUID) error {
	return func(h *Handler, ctx context.Context, _ *actor, id uuid.UUID) error {
		b, err := h.store.Batch(ctx, id)
		if err != nil {
			return err
		}
		return ingest.CheckBatchTransition(id, b.Status, to)
	}
}

// doneMessages maps the "done" parameter of a redirect after an action to what the page says.
var doneMessages = func() map[string]string {
	m := map[string]string{retryAllName: "Every FAILED event was made pending again."}
	for _, act := range actions {
		m[act.key()] = act.done
	}
	return m
}()

func (act *actionDef) key() string { return string(act.model) + "." + act.name }

func (act *actionDef) path(id uuid.UUID) string {
	return "/admin/" + string(act.model) + "/" + id.String() + "/" + act.name
}

// offered returns the links to the actions the row allows now.
func (h *Handler) offered(ctx context.Context, a *actor, m readmodel.Model, id uuid.UUID) ([]actionLink, error) {
	var links []actionLink
	for _, act := range actions {
		if act.model != m {
			continue
		}
		switch err := act.check(h, ctx, a, id); ingest.ErrorCode(err) {
		case "":
			links = append(links, actionLink{Label: act.label + "…", Href: act.path(id), Danger: act.danger})
		case ingest.EInternal, ingest.EConstraintViolation, ingest.EDatabaseUnavailable, ingest.EStorageUnavailable:
			return nil, err // a failure, not a refusal of the action
		}
	}
	return links, nil
}

type confirmView struct {
	Question string
	Explain  string
	Target   string
	Back     string
	Action   string
	Label    string
	Danger   bool
}

// confirm shows an action's confirmation form, or the state machine's refusal when the row's
// state does not allow it.
func (h *Handler) confirm(act *actionDef) func(w http.ResponseWriter, r *http.Request, a *actor) error {
	return func(w http.ResponseWriter, r *http.Request, a *actor) error {
		id, err := parseID(r)
		if err != nil {
			return err
		}
		if err := act.check(h, r.Context(), a, id); err != nil {
			return err
		}
		back := "/admin/" + string(act.model) + "/" + id.String()
		h.render(w, http.StatusOK, "confirm", view{Title: act.question, Section: string(act.model), User: a.user, CSRF: a.session.CSRFToken,
			Data: confirmView{Question: act.question, Explain: act.explain, Target: string(act.model) + " " + id.String(), Back: back,
				Action: act.path(id), Label: act.label, Danger: act.danger}})
		return nil
	}
}

// perform does a confirmed action and logs it with the acting admin, success or refusal.
func (h *Handler) perform(act *actionDef) func(w http.ResponseWriter, r *http.Request, a *actor) error {
	return func(w http.ResponseWriter, r *http.Request, a *actor) error {
		id, err := parseID(r)
		if err != nil {
			return err
		}
		err = act.do(h, r.Context(), a, id)
		h.logAction(a, act.key(), id.String(), err)
		if err != nil {
			return err
		}
		if act.revokesAccess && h.cfg.OnAccessRevoked != nil {
			h.cfg.OnAccessRevoked()
		}
		http.Redirect(w, r, "/admin/"+string(act.model)+"/"+id.String()+"?done="+act.key(), http.StatusSeeOther)
		return nil
	}
}

// logAction records an operator's action: who, what, on which row, and how it ended.
func (h *Handler) logAction(a *actor, action, target string, err error, more ...any) {
	attrs := append([]any{"action", action, "target", target, "admin_id", a.user.ID, "admin", a.user.Username}, more...)
	if err != nil {
		h.logger.Warn("admin: action refused", append(attrs, "code", ingest.ErrorCode(err), "err", err)...)
		return
	}
	h.logger.Info("admin: action", attrs...)
}

func parseID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, ingest.Errorf(ingest.ENotFound, "%q is not an id", r.PathValue("id"))
	}
	return id, nil
}

const retryAllName = "events.retry-failed"

// retryAllBatch is how many FAILED events each round of "retry all" reads.
const retryAllBatch = 500

// confirmRetryAll shows how many events a retry of every FAILED event would touch.
func (h *Handler) confirmRetryAll(w http.ResponseWriter, r *http.Request, a *actor) error {
	counts, err := h.store.CountByStatus(r.Context(), readmodel.ModelEvents, countCap)
	if err != nil {
		return err
	}
	n := counts[string(ingest.OutboxFailed)]
	if n == 0 {
		return ingest.Errorf(ingest.EInvalidTransition, "no outbox event is FAILED: there is nothing to retry")
	}
	label := strconv.Itoa(n)
	if n > countCap {
		label = "more than " + strconv.Itoa(countCap)
	}
	h.render(w, http.StatusOK, "confirm", view{Title: "Retry every FAILED event?", Section: "events", User: a.user, CSRF: a.session.CSRFToken,
		Data: confirmView{Question: "Retry every FAILED event?", Explain: label + " FAILED events become PENDING again, due now.",
			Target: "FAILED outbox events", Back: "/admin/events?status=FAILED", Action: "/admin/events/retry-failed", Label: "Retry them all"}})
	return nil
}

// retryAll makes every FAILED event pending, one compare-and-set each: the events are read in
// rounds, each retried one leaving the FAILED range of the index, until a round finds none.
func (h *Handler) retryAll(w http.ResponseWriter, r *http.Request, a *actor) error {
	ctx := r.Context()
	retried := 0
	var err error
	for err == nil {
		var page *readmodel.Listing[*ingest.OutboxEvent]
		page, err = h.store.FindEvents(ctx, readmodel.ListQuery{Status: string(ingest.OutboxFailed), Limit: retryAllBatch})
		if err != nil || len(page.Items) == 0 {
			break
		}
		before := retried
		for _, e := range page.Items {
			// A relay or another operator may move an event first: that one is no longer FAILED,
			// which is all this asks.
			switch rerr := h.store.RetryEvent(ctx, e.ID); ingest.ErrorCode(rerr) {
			case "":
				retried++
			case ingest.EInvalidTransition, ingest.EConflict, ingest.ENotFound:
			default:
				err = rerr
			}
		}
		if retried == before {
			break // every event of the round moved under us: stop rather than spin
		}
	}
	h.logAction(a, retryAllName, "FAILED events", err, "retried", retried)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/events?status=PENDING&done="+retryAllName, http.StatusSeeOther)
	return nil
}
