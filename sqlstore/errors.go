package sqlstore

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ingest-portal/ingest"
)

// constraintKind is what kind of constraint the database says a statement broke.
type constraintKind int

const (
	noConstraint constraintKind = iota
	uniqueViolation
	foreignKeyViolation
	otherViolation // CHECK, NOT NULL, trigger
)

// violation classifies err by the driver's error code, never by its message.
func violation(err error) constraintKind {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return uniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return foreignKeyViolation
		}
		if se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
			return otherViolation
		}
		return noConstraint
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return uniqueViolation
		case "23503":
			return foreignKeyViolation
		case "23502", "23514":
			return otherViolation
		}
	}
	return noConstraint
}

// translate turns driver errors into the domain's: a unique violation becomes EConflict and any
// other constraint violation EConstraintViolation, each keeping the driver error as its cause for
// the log. Other errors pass unchanged and reach clients as INTERNAL.
func (s *Store) translate(err error) error {
	switch violation(err) {
	case uniqueViolation:
		return &ingest.Error{Code: ingest.EConflict, Message: "a row with the same unique value exists", Err: err}
	case foreignKeyViolation, otherViolation:
		return &ingest.Error{Code: ingest.EConstraintViolation, Message: "the database refused a row that breaks an invariant", Err: err}
	}
	return err
}
