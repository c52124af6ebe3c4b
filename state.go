package ingest

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// machine is a state machine's transition table: the states each state may move to. A state with
// no entry is terminal.
type machine[S ~string] struct {
	entity string
	code   Code // the code of a refused transition
	states []S
	next   map[S][]S
}

func (m machine[S]) valid(s S) bool { return slices.Contains(m.states, s) }

func (m machine[S]) allows(from, to S) bool { return slices.Contains(m.next[from], to) }

func (m machine[S]) terminal(s S) bool { return m.valid(s) && len(m.next[s]) == 0 }

// sources lists the states from which to may be reached, in declaration order.
func (m machine[S]) sources(to S) []S {
	var from []S
	for _, s := range m.states {
		if m.allows(s, to) {
			from = append(from, s)
		}
	}
	return from
}

func (m machine[S]) check(id uuid.UUID, from, to S) error {
	if m.allows(from, to) {
		return nil
	}
	return m.refuse(id, from, to)
}

// refuse returns the error of a refused transition.
func (m machine[S]) refuse(id uuid.UUID, from, to S) error {
	return &TransitionError{Entity: m.entity, ID: id, From: string(from), To: string(to), Code: m.code}
}

// TransitionError is returned for every transition a state machine does not allow, whether the
// domain refused it up front or a compare-and-set found the row already moved by someone else.
type TransitionError struct {
	Entity string // "upload batch", "ingest file", "upload session", "upload part", "outbox event"
	ID     uuid.UUID
	From   string
	To     string
	Code   Code
}

// Error implements the error interface.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s %s is %s and cannot become %s", e.Entity, e.ID, e.From, e.To)
}

// ErrorCode returns the code the transition is refused with.
func (e *TransitionError) ErrorCode() Code { return e.Code }

// ErrorMessage is the same as Error: it holds nothing internal.
func (e *TransitionError) ErrorMessage() string { return e.Error() }
