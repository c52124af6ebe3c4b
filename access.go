package ingest

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/google/uuid"
)

// AccessStore keeps what decides who may use the console and the API beyond Store: passwords,
// console sessions, and the two one-way changes that end access (revoking a token, disabling a
// user). Implementations pass the console part of the storetest suite.
type AccessStore interface {
	// RevokeAPIToken marks an unrevoked token revoked (compare-and-set). It returns ENotFound, or a
	// *TransitionError (INVALID_TRANSITION) when the token is already revoked.
	RevokeAPIToken(ctx context.Context, id uuid.UUID) (*APIToken, error)
	// DisableUser marks an enabled user disabled (compare-and-set) and ends their console
	// sessions. It returns ENotFound, or a *TransitionError (INVALID_TRANSITION) when the user is
	// already disabled.
	DisableUser(ctx context.Context, id uuid.UUID) (*User, error)

	// SetPassword stores the encoded hash of the user's password ("" removes it). It returns
	// ENotFound.
	SetPassword(ctx context.Context, userID uuid.UUID, encodedHash string) error
	// UserPassword returns the user with the name and the encoded hash of their password ("" when
	// they have none), or ENotFound.
	UserPassword(ctx context.Context, username string) (*User, string, error)
	// CreateConsoleSession inserts s, filling in its id and timestamps. It returns ENotFound when
	// its user does not exist.
	CreateConsoleSession(ctx context.Context, s *ConsoleSession) error
	// ConsoleSession returns the unexpired session whose secret has the hash, and its user. It
	// returns EUnauthenticated for an unknown or expired session.
	ConsoleSession(ctx context.Context, secretHash string) (*ConsoleSession, *User, error)
	// DeleteConsoleSession removes the session whose secret has the hash, if there is one, and
	// every expired session.
	DeleteConsoleSession(ctx context.Context, secretHash string) error
}

// ConsoleSession is a signed-in admin console session. Its secret lives only in the browser's
// cookie; the store keeps its SHA-256.
type ConsoleSession struct {
	ID         uuid.UUID
	CreatedAt  time.Time
	UpdatedAt  time.Time
	UserID     uuid.UUID
	SecretHash string // lower-case hex SHA-256 of the cookie's secret
	CSRFToken  string // sent back with every form and API request the session makes
	ExpiresAt  time.Time
}

// NewConsoleSession returns a session for userID that ends at expiresAt, and the secret its
// cookie holds.
func NewConsoleSession(userID uuid.UUID, expiresAt time.Time) (*ConsoleSession, string) {
	secret := randomToken()
	return &ConsoleSession{
		UserID:     userID,
		SecretHash: HashToken(secret),
		CSRFToken:  randomToken(),
		ExpiresAt:  expiresAt,
	}, secret
}

// TokenState is the state of an API token, which follows from its revoked_at and expires_at.
type TokenState string

// The states of an API token.
const (
	TokenActive  TokenState = "ACTIVE"
	TokenExpired TokenState = "EXPIRED"
	TokenRevoked TokenState = "REVOKED"
)

// State returns the token's state at now.
func (t *APIToken) State(now time.Time) TokenState {
	switch {
	case t.RevokedAt != nil:
		return TokenRevoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return TokenExpired
	}
	return TokenActive
}

// ErrTokenRevoked is the refusal to revoke a token twice.
func ErrTokenRevoked(id uuid.UUID) error {
	return &TransitionError{Entity: "API token", ID: id, From: string(TokenRevoked), To: string(TokenRevoked), Code: EInvalidTransition}
}

// ErrUserDisabled is the refusal to disable a user twice.
func ErrUserDisabled(id uuid.UUID) error {
	return &TransitionError{Entity: "user", ID: id, From: "DISABLED", To: "DISABLED", Code: EInvalidTransition}
}

// randomToken returns 256 random bits in URL-safe base64, 43 characters.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}
