// Package readmodel is how the portal's rows are read as lists and figures: one query type for
// every list (filters, search, sorting, keyset cursors), the page it returns, and the console's
// dashboard. The API's lists and the admin console's use the same queries, so there is one paging
// system; the store implements Store (sqlstore/console.go).
package readmodel

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

// Store finds pages of every model's rows, counts them by status, and gathers the dashboard's
// figures. Implementations pass the console part of the storetest suite.
type Store interface {
	Lists
	// CountByStatus counts the model's rows in each status, each count stopping at limit+1 so that
	// it stays cheap on a large table: a count above limit means "more than limit". It returns
	// EValidation for a model without a status.
	CountByStatus(ctx context.Context, m Model, limit int) (map[string]int, error)
	// APIToken returns the token with the id, or ENotFound.
	APIToken(ctx context.Context, id uuid.UUID) (*ingest.APIToken, error)
	// SessionOfFile returns the upload session of the file, or ENotFound.
	SessionOfFile(ctx context.Context, fileID uuid.UUID) (*ingest.UploadSession, error)
	// Dashboard returns the figures of the console's first page, the chart covering the hours
	// from since to now.
	Dashboard(ctx context.Context, since time.Time) (*Dashboard, error)
}

// Lists returns one page of a model's rows that match q. Each method returns EValidation for a
// filter or a sort the model does not have (see Sorts), and for a bad page size.
type Lists interface {
	FindBatches(ctx context.Context, q ListQuery) (*Listing[*ingest.Batch], error)
	FindFiles(ctx context.Context, q ListQuery) (*Listing[*ingest.File], error)
	FindSessions(ctx context.Context, q ListQuery) (*Listing[*ingest.UploadSession], error)
	FindParts(ctx context.Context, q ListQuery) (*Listing[*ingest.Part], error)
	FindEvents(ctx context.Context, q ListQuery) (*Listing[*ingest.OutboxEvent], error)
	FindUsers(ctx context.Context, q ListQuery) (*Listing[*ingest.User], error)
	FindTokens(ctx context.Context, q ListQuery) (*Listing[*ingest.APIToken], error)
	FindGrants(ctx context.Context, q ListQuery) (*Listing[*ingest.UploadGrant], error)
}

// Model names one of the portal's tables as a list.
type Model string

// The models that are listed.
const (
	ModelBatches  Model = "batches"
	ModelFiles    Model = "files"
	ModelSessions Model = "sessions"
	ModelParts    Model = "parts"
	ModelEvents   Model = "events"
	ModelUsers    Model = "users"
	ModelTokens   Model = "tokens"
	ModelGrants   Model = "grants" // upload grants
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

// ListQuery selects one page of a list. Zero fields select all.
type ListQuery struct {
	Status    string     // the row's status
	BatchID   *uuid.UUID // files of the batch
	UserID    *uuid.UUID // the uploader, the creator or the owner of the row
	BatchName string     // files of every batch of the name (names need not be unique)
	Username  string     // as UserID, by the user's name: operators know names, not ids
	GrantID   *uuid.UUID // files uploaded with the upload grant
	FileID    *uuid.UUID // the file's session or events
	SessionID *uuid.UUID // the session's parts
	EventType string
	// ExcludePartial leaves out the files of partial uploads (ingest.File.Partial), which only
	// the console shows.
	ExcludePartial bool
	// CreatedFrom and CreatedTo bound created_at: From inclusive, To exclusive.
	CreatedFrom, CreatedTo *time.Time
	// Search matches an id exactly (a UUID), a SHA-256 prefix (6 to 64 lower-case hex digits, for
	// files) or else a part of the name (a file's name, a batch's, a user's, a token's, an upload
	// grant's prefix), case insensitively.
	Search string
	Sort   string // one of Sorts(model); "" is SortCreated
	Asc    bool   // ascending; the default is descending, newest (or largest) first
	Cursor Cursor
	Limit  int // 1..ingest.MaxPageLimit; 0 is ingest.DefaultPageLimit
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
	Backlog map[ingest.OutboxStatus]int
	// OldestUndelivered is the oldest event not yet delivered, or nil.
	OldestUndelivered  *ingest.OutboxEvent
	RecentFailedFiles  []*ingest.File
	RecentFailedEvents []*ingest.OutboxEvent
}

// HourlyIngest is what was stored in one hour.
type HourlyIngest struct {
	Hour  time.Time
	Files int
	Bytes int64
}

// User states as lists filter them. Users have no status column: ACTIVE and
// DISABLED follow from disabled_at, ADMIN from is_admin.
const (
	UserActive   = "ACTIVE"
	UserDisabled = "DISABLED"
	UserAdmin    = "ADMIN"
)

// Statuses returns the values of a model's status filter.
func Statuses(m Model) []string {
	switch m {
	case ModelBatches:
		return stringsOf(ingest.BatchStatuses())
	case ModelFiles:
		return stringsOf(ingest.FileStatuses())
	case ModelSessions:
		return stringsOf(ingest.SessionStatuses())
	case ModelParts:
		return stringsOf(ingest.PartStatuses())
	case ModelEvents:
		return stringsOf(ingest.OutboxStatuses())
	case ModelUsers:
		return []string{UserActive, UserDisabled, UserAdmin}
	case ModelTokens, ModelGrants:
		return stringsOf([]ingest.TokenState{ingest.TokenActive, ingest.TokenExpired, ingest.TokenRevoked})
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
