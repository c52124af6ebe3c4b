package ingest

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/google/uuid"
)

// ConsoleStore is what the admin console reads and changes beyond Store: every model listed with
// filters, search, sorting and keyset pages, counts by status, the dashboard's figures, the two
// actions that have no service of their own (revoking a token, disabling a user), passwords and
// console sessions. Implementations pass the console part of the storetest suite.
type ConsoleStore interface {
	// FindBatches, FindFiles, FindSessions, FindParts, FindEvents, FindUsers and FindTokens
	// return one page of a model's rows that match q. They return EValidation for a filter or a
	// sort the model does not have (see Sorts), and for a bad page size.
	FindBatches(ctx context.Context, q ListQuery) (*Listing[*Batch], error)
	FindFiles(ctx context.Context, q ListQuery) (*Listing[*File], error)
	FindSessions(ctx context.Context, q ListQuery) (*Listing[*UploadSession], error)
	FindParts(ctx context.Context, q ListQuery) (*Listing[*Part], error)
	FindEvents(ctx context.Context, q ListQuery) (*Listing[*OutboxEvent], error)
	FindUsers(ctx context.Context, q ListQuery) (*Listing[*User], error)
	FindTokens(ctx context.Context, q ListQuery) (*Listing[*APIToken], error)
	// CountByStatus counts the model's rows in each status, each count stopping at limit+1 so that
	// it stays cheap on a large table: a count above limit means "more than limit". It returns
	// EValidation for a model without a status.
	CountByStatus(ctx context.Context, m Model, limit int) (map[string]int, error)

	// APIToken returns the token with the id, or ENotFound.
	APIToken(ctx context.Context, id uuid.UUID) (*APIToken, error)
	// SessionOfFile returns the upload session of the file, or ENotFound.
	SessionOfFile(ctx context.Context, fileID uuid.UUID) (*UploadSession, error)
	// RevokeAPIToken marks an unrevoked token revoked (compare-and-set). It returns ENotFound, or a
	// *TransitionError (INVALID_TRANSITION) when the token is already revoked.
	RevokeAPIToken(ctx context.Context, id uuid.UUID) (*APIToken, error)
	// DisableUser marks an enabled user disabled (compare-and-set) and ends their console
	// sessions. It returns ENotFound, or a *TransitionError (INVALID_TRANSITION) when the user is
	// already disabled.
	DisableUser(ctx context.Context, id uuid.UUID) (*User, error)
	// Dashboard returns the figures of the console's first page, the chart covering the hours
	// from since to now.
	Dashboard(ctx context.Context, since time.Time) (*Dashboard, error)

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

// Model names one of the portal's tables in the console.
type Model string

// The models the console lists.
const (
	ModelBatches  Model = "batches"
	ModelFiles    Model = "files"
	ModelSessions Model = "sessions"
	ModelParts    Model = "parts"
	ModelEvents   Model = "events"
	ModelUsers    Model = "users"
	ModelTokens   Model = "tokens"
)

// SortCreated is the default sort of every list: by creation, which is id order (UUIDv7).
const SortCreated = "created"

// Sorts returns the columns a model's list may be sorted by, SortCreated first. Each other column
// has an index on (column, id), so that every page of a sorted list is one index seek.
func Sorts(m Model) []string {
	if m == ModelFiles {
		return []string{SortCreated, "size"}
	}
	return []string{SortCreated}
}

// ListQuery selects one page of a console list. Zero fields select all.
type ListQuery struct {
	Status    string     // the row's status
	BatchID   *uuid.UUID // files of the batch
	UserID    *uuid.UUID // the uploader, the creator or the owner of the row
	FileID    *uuid.UUID // the file's session or events
	SessionID *uuid.UUID // the session's parts
	EventType string
	// CreatedFrom and CreatedTo bound created_at: From inclusive, To exclusive.
	CreatedFrom, CreatedTo *time.Time
	// Search matches an id exactly (a UUID), a SHA-256 prefix (6 to 64 lower-case hex digits, for
	// files) or else a part of the name (a file's name, a batch's, a user's, a token's), case
	// insensitively.
	Search string
	Sort   string // one of Sorts(model); "" is SortCreated
	Asc    bool   // ascending; the default is descending, newest (or largest) first
	Cursor Cursor
	Limit  int // 1..MaxPageLimit; 0 is DefaultPageLimit
}

// Cursor says which page of a sorted list to return: the first (the zero Cursor), the one after
// or before the row with an id, or the last.
type Cursor struct {
	After  *uuid.UUID
	Before *uuid.UUID
	Last   bool
}

// Listing is one page of a list, in the list's order, and whether more rows lie beyond it in the
// direction it was read: after it for the first page or an After cursor, before it for a Before
// cursor or the last page.
type Listing[T any] struct {
	Items []T
	More  bool
	// Resume is set when a search that no index serves read SearchWindow rows without filling the
	// page: the id of the last row it read, from which the next page in the direction of reading
	// continues (instead of from the last item).
	Resume *uuid.UUID
}

// SearchWindow is how many rows one page of a search for part of a name reads at most. Such a
// search cannot use an index, so it reads rows in the list's order and tests each; the window
// bounds the cost of a page on a large table (60–75 ms for 50,000 files on SQLite here, 40 ms on
// PostgreSQL: docs/performance.md), and the operator continues page by page into older rows.
const SearchWindow = 50_000

// Dashboard holds the figures of the console's first page.
type Dashboard struct {
	// Hours has one entry per hour from the since argument's hour to now's, oldest first, each
	// counting the files stored in that hour and their bytes.
	Hours          []HourlyIngest
	ActiveSessions int
	// Backlog counts outbox events by status (PENDING, SENDING, FAILED; DELIVERED is not backlog).
	Backlog map[OutboxStatus]int
	// OldestUndelivered is the oldest event not yet delivered, or nil.
	OldestUndelivered  *OutboxEvent
	RecentFailedFiles  []*File
	RecentFailedEvents []*OutboxEvent
}

// HourlyIngest is what was stored in one hour.
type HourlyIngest struct {
	Hour  time.Time
	Files int
	Bytes int64
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

// User and token states as the console filters them. Users have no status column: ACTIVE and
// DISABLED follow from disabled_at, ADMIN from is_admin.
const (
	UserActive   = "ACTIVE"
	UserDisabled = "DISABLED"
	UserAdmin    = "ADMIN"
)

// ConsoleStatuses returns the values of a model's status filter in the console.
func ConsoleStatuses(m Model) []string {
	switch m {
	case ModelBatches:
		return stringsOf(BatchStatuses())
	case ModelFiles:
		return stringsOf(FileStatuses())
	case ModelSessions:
		return stringsOf(SessionStatuses())
	case ModelParts:
		return stringsOf(PartStatuses())
	case ModelEvents:
		return stringsOf(OutboxStatuses())
	case ModelUsers:
		return []string{UserActive, UserDisabled, UserAdmin}
	case ModelTokens:
		return stringsOf([]TokenState{TokenActive, TokenExpired, TokenRevoked})
	}
	return nil
}

func stringsOf[S ~string](values []S) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
