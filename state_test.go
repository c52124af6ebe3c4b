package ingest_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// machineCase is one state machine under test: its states, the literal list of allowed
// transitions from DESIGN.md §1, and the domain's answer for a pair.
type machineCase struct {
	name    string
	states  []string
	allowed []string // "FROM>TO"
	code    ingest.Code
	check   func(from, to string) error
	can     func(from, to string) bool
	term    func(s string) bool
	valid   func(s string) bool
}

func strs[S ~string](ss []S) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

var id = uuid.MustParse("01936d2e-0000-7000-8000-000000000001")

var machines = []machineCase{
	{
		name:   "batch",
		states: strs(ingest.BatchStatuses()),
		allowed: []string{"OPEN>SEALED", "OPEN>CANCELLED", "SEALED>COMPLETE", "SEALED>PARTIAL", "SEALED>FAILED",
			"SEALED>CANCELLED"},
		code: ingest.EBatchNotOpen,
		check: func(f, t string) error {
			return ingest.CheckBatchTransition(id, ingest.BatchStatus(f), ingest.BatchStatus(t))
		},
		can:   func(f, t string) bool { return ingest.BatchStatus(f).CanBecome(ingest.BatchStatus(t)) },
		term:  func(s string) bool { return ingest.BatchStatus(s).Terminal() },
		valid: func(s string) bool { return ingest.BatchStatus(s).Valid() },
	},
	{
		name:    "file",
		states:  strs(ingest.FileStatuses()),
		allowed: []string{"UPLOADING>STORED", "UPLOADING>FAILED"},
		code:    ingest.EInvalidTransition,
		check: func(f, t string) error {
			return ingest.CheckFileTransition(id, ingest.FileStatus(f), ingest.FileStatus(t))
		},
		can:   func(f, t string) bool { return ingest.FileStatus(f).CanBecome(ingest.FileStatus(t)) },
		term:  func(s string) bool { return ingest.FileStatus(s).Terminal() },
		valid: func(s string) bool { return ingest.FileStatus(s).Valid() },
	},
	{
		name:   "session",
		states: strs(ingest.SessionStatuses()),
		allowed: []string{"INIT>IN_PROGRESS", "INIT>COMPLETE", "IN_PROGRESS>COMPLETE", "INIT>ABORTED", "IN_PROGRESS>ABORTED",
			"INIT>FAILED", "IN_PROGRESS>FAILED"},
		code: ingest.ESessionNotActive,
		check: func(f, t string) error {
			return ingest.CheckSessionTransition(id, ingest.SessionStatus(f), ingest.SessionStatus(t))
		},
		can:   func(f, t string) bool { return ingest.SessionStatus(f).CanBecome(ingest.SessionStatus(t)) },
		term:  func(s string) bool { return ingest.SessionStatus(s).Terminal() },
		valid: func(s string) bool { return ingest.SessionStatus(s).Valid() },
	},
	{
		name:    "part",
		states:  strs(ingest.PartStatuses()),
		allowed: []string{"PENDING>RECEIVED", "PENDING>FAILED", "FAILED>PENDING"},
		code:    ingest.EInvalidTransition,
		check: func(f, t string) error {
			return ingest.CheckPartTransition(id, ingest.PartStatus(f), ingest.PartStatus(t))
		},
		can:   func(f, t string) bool { return ingest.PartStatus(f).CanBecome(ingest.PartStatus(t)) },
		term:  func(s string) bool { return ingest.PartStatus(s).Terminal() },
		valid: func(s string) bool { return ingest.PartStatus(s).Valid() },
	},
	{
		name:   "outbox",
		states: strs(ingest.OutboxStatuses()),
		allowed: []string{"PENDING>SENDING", "SENDING>DELIVERED", "SENDING>PENDING", "SENDING>FAILED", "FAILED>PENDING",
			"SENDING>SENDING"},
		code: ingest.EInvalidTransition,
		check: func(f, t string) error {
			return ingest.CheckOutboxTransition(id, ingest.OutboxStatus(f), ingest.OutboxStatus(t))
		},
		can:   func(f, t string) bool { return ingest.OutboxStatus(f).CanBecome(ingest.OutboxStatus(t)) },
		term:  func(s string) bool { return ingest.OutboxStatus(s).Terminal() },
		valid: func(s string) bool { return ingest.OutboxStatus(s).Valid() },
	},
}

func TestStateMachinesAllowExactlyTheDesignedTransitions(t *testing.T) {
	for _, m := range machines {
		t.Run(m.name, func(t *testing.T) {
			for _, from := range m.states {
				for _, to := range m.states {
					want := slices.Contains(m.allowed, from+">"+to)
					if got := m.can(from, to); got != want {
						t.Errorf("%s → %s allowed = %v, want %v", from, to, got, want)
					}
					err := m.check(from, to)
					if want {
						if err != nil {
							t.Errorf("%s → %s: %v", from, to, err)
						}
						continue
					}
					var te *ingest.TransitionError
					if !errors.As(err, &te) {
						t.Fatalf("%s → %s: error %v (%T), want a *TransitionError", from, to, err, err)
					}
					if te.From != from || te.To != to || te.ID != id || te.Code != m.code || ingest.ErrorCode(err) != m.code {
						t.Errorf("%s → %s: %+v, want code %s", from, to, te, m.code)
					}
				}
			}
		})
	}
}

func TestTerminalStatesHaveNoWayOut(t *testing.T) {
	terminal := map[string][]string{
		"batch":   {"COMPLETE", "PARTIAL", "FAILED", "CANCELLED"},
		"file":    {"STORED", "FAILED"},
		"session": {"COMPLETE", "FAILED", "ABORTED"},
		"part":    {"RECEIVED"},
		"outbox":  {"DELIVERED"},
	}
	for _, m := range machines {
		for _, s := range m.states {
			if got, want := m.term(s), slices.Contains(terminal[m.name], s); got != want {
				t.Errorf("%s %s terminal = %v, want %v", m.name, s, got, want)
			}
			if !m.valid(s) {
				t.Errorf("%s %s is not valid", m.name, s)
			}
		}
		for _, bad := range []string{"", "BOGUS", "open", "stored"} {
			if m.valid(bad) {
				t.Errorf("%s %q is valid", m.name, bad)
			}
			if m.can(bad, m.states[0]) || m.can(m.states[0], bad) {
				t.Errorf("%s allows a transition with %q", m.name, bad)
			}
		}
	}
}

func TestOnlyFailedEventsAreRetriedByHand(t *testing.T) {
	for _, s := range ingest.OutboxStatuses() {
		err := ingest.CheckOutboxRetry(id, s)
		if (err == nil) != (s == ingest.OutboxFailed) {
			t.Errorf("retry by hand from %s: %v", s, err)
		}
	}
}

func TestOnlySendingEventsTakeDeliveryResults(t *testing.T) {
	for _, from := range ingest.OutboxStatuses() {
		for _, to := range []ingest.OutboxStatus{ingest.OutboxDelivered, ingest.OutboxPending, ingest.OutboxFailed} {
			err := ingest.CheckOutboxResult(id, from, to)
			if (err == nil) != (from == ingest.OutboxSending) {
				t.Errorf("result %s on a %s event: %v", to, from, err)
			}
		}
	}
}

func TestTransitionErrorSaysWhatHappened(t *testing.T) {
	err := ingest.CheckSessionTransition(id, ingest.SessionComplete, ingest.SessionAborted)
	want := fmt.Sprintf("upload session %s is COMPLETE and cannot become ABORTED", id)
	if err.Error() != want || ingest.ErrorMessage(err) != want {
		t.Errorf("error = %q, message = %q, want %q", err, ingest.ErrorMessage(err), want)
	}
}
