package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/httperr"
	"github.com/ingest-portal/ingest/internal/reqtext"
	"github.com/ingest-portal/ingest/readmodel"
)

// The JSON of the API's resources: their columns, ids as strings, times in RFC 3339, NULL as
// null. Internal columns (a session's hash state and storage handle, a part's temporary key and
// tag) are left out.

type batchJSON struct {
	ID          uuid.UUID          `json:"id"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
	Status      ingest.BatchStatus `json:"status"`
	Name        string             `json:"name"`
	CreatedByID uuid.UUID          `json:"created_by_id"`
	TotalFiles  int                `json:"total_files"`
	StoredCount int                `json:"stored_count"`
	FailedCount int                `json:"failed_count"`
	SealedAt    *time.Time         `json:"sealed_at"`
}

func batchView(b *ingest.Batch) batchJSON {
	return batchJSON{b.ID, b.CreatedAt, b.UpdatedAt, b.Status, b.Name, b.CreatedByID, b.TotalFiles, b.StoredCount, b.FailedCount, b.SealedAt}
}

type fileJSON struct {
	ID               uuid.UUID         `json:"id"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	Status           ingest.FileStatus `json:"status"`
	SHA256           *string           `json:"sha256"`
	SizeBytes        int64             `json:"size_bytes"`
	StorageBackend   *string           `json:"storage_backend"`
	StorageBucket    *string           `json:"storage_bucket"`
	StorageKey       *string           `json:"storage_key"`
	OriginalFilename string            `json:"original_filename"`
	ContentType      string            `json:"content_type"`
	UploadedByID     uuid.UUID         `json:"uploaded_by_id"`
	BatchID          *uuid.UUID        `json:"batch_id"`
	GrantID          *uuid.UUID        `json:"grant_id"`
	StoredAt         *time.Time        `json:"stored_at"`
	FailureReason    *string           `json:"failure_reason"`
	Metadata         map[string]string `json:"metadata"`
}

func fileView(f *ingest.File) fileJSON {
	meta := f.Metadata
	if meta == nil {
		meta = map[string]string{} // {} rather than null: every file has metadata, maybe empty
	}
	return fileJSON{f.ID, f.CreatedAt, f.UpdatedAt, f.Status, null(f.SHA256), f.SizeBytes, null(string(f.StorageBackend)),
		null(f.StorageBucket), null(f.StorageKey), f.OriginalFilename, f.ContentType, f.UploadedByID, f.BatchID, f.GrantID, f.StoredAt,
		null(f.FailureReason), meta}
}

type sessionJSON struct {
	ID                 uuid.UUID            `json:"id"`
	CreatedAt          time.Time            `json:"created_at"`
	UpdatedAt          time.Time            `json:"updated_at"`
	FileID             uuid.UUID            `json:"file_id"`
	Status             ingest.SessionStatus `json:"status"`
	ChunkSizeBytes     int64                `json:"chunk_size_bytes"`
	TotalParts         int                  `json:"total_parts"`
	ReceivedPartsCount int                  `json:"received_parts_count"`
	HashedParts        int                  `json:"hashed_parts"`
	IdempotencyKey     *string              `json:"idempotency_key"`
	UploadedByID       uuid.UUID            `json:"uploaded_by_id"`
	ExpiresAt          time.Time            `json:"expires_at"`
	DeclaredSHA256     *string              `json:"declared_sha256"`
	CompletedAt        *time.Time           `json:"completed_at"`
}

func sessionView(s *ingest.UploadSession) sessionJSON {
	return sessionJSON{s.ID, s.CreatedAt, s.UpdatedAt, s.FileID, s.Status, s.ChunkSizeBytes, s.TotalParts,
		s.ReceivedPartsCount, s.HashedParts, null(s.IdempotencyKey), s.UploadedByID, s.ExpiresAt, null(s.DeclaredSHA256),
		s.CompletedAt}
}

type partJSON struct {
	ID         uuid.UUID         `json:"id"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	SessionID  uuid.UUID         `json:"session_id"`
	PartNumber int               `json:"part_number"`
	Status     ingest.PartStatus `json:"status"`
	SizeBytes  int64             `json:"size_bytes"`
	CRC32C     *uint32           `json:"crc32c"`
	SHA256     *string           `json:"sha256"`
}

func partView(p *ingest.Part) partJSON {
	return partJSON{p.ID, p.CreatedAt, p.UpdatedAt, p.SessionID, p.PartNumber, p.Status, p.SizeBytes, p.CRC32C, null(p.SHA256)}
}

// null is nil for "" (a NULL column) and the string otherwise.
func null(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// listJSON is a page of a list: next_cursor is absent on the last page.
type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// page renders a listing as a list page: when more items follow, the cursor points after the
// page's last item.
func page[E any, T any](l *readmodel.Listing[E], view func(E) T, id func(E) uuid.UUID) listJSON[T] {
	out := listJSON[T]{Items: make([]T, len(l.Items))}
	for i, item := range l.Items {
		out.Items[i] = view(item)
	}
	if l.More && len(l.Items) > 0 {
		out.NextCursor = id(l.Items[len(l.Items)-1]).String()
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // answers are JSON, never embedded in HTML: keep "<token>" readable
	_ = enc.Encode(v)
}

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 1 << 20

// decodeJSON reads a JSON object into v, refusing unknown fields (a typo must not pass silently)
// and trailing data. An empty body decodes as {} when allowEmpty.
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		// The deadline stays: the server's read of what is left of the body ends with it, and so
		// does the connection.
		return &ingest.Error{Code: httperr.ClientClosed, Message: "the client stopped sending the request's body", Err: err}
	}
	if d, ok := r.Context().Value(bodyDeadlineKey{}).(bodyDeadline); ok {
		d.set(time.Time{}) // read whole: the handler's work has no deadline
	}
	if len(body) > maxJSONBody {
		return ingest.Errorf(ingest.EPayloadTooLarge, "a JSON body has at most %d bytes", maxJSONBody)
	}
	if len(body) == 0 && allowEmpty {
		return nil
	}
	if reqtext.HasEscapedNUL(body) {
		return ingest.Errorf(ingest.EValidation, "the body has a NUL character (\\u0000), which no text of the portal takes")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return ingest.Errorf(ingest.EValidation, "the body is not the JSON this endpoint takes: %s", jsonProblem(err))
	}
	// Not dec.More, which reports false for a stray "}" or "]" after the object.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ingest.Errorf(ingest.EValidation, "the body has data after its JSON object")
	}
	return nil
}

// bodyDeadline is the read deadline of a request's connection, set by ServeHTTP for a request
// with a body and lifted once a JSON body is read.
type bodyDeadline struct{ rc *http.ResponseController }

type bodyDeadlineKey struct{}

// set moves the deadline; the zero time lifts it. Servers without deadlines (tests' recorders)
// answer ErrNotSupported: read on without.
func (d bodyDeadline) set(t time.Time) { _ = d.rc.SetReadDeadline(t) }

// jsonProblem describes a decoding error without echoing the body back.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return "the body must be a JSON object"
	case errors.As(err, &typeErr):
		return "field " + strconv.Quote(typeErr.Field) + " must be " + jsonKind(typeErr.Type)
	case errors.As(err, &syntaxErr):
		return "invalid JSON at byte " + strconv.FormatInt(syntaxErr.Offset, 10)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return err.Error() // "json: unknown field \"x\"" and the like name only the field
}

// jsonKind names what JSON value decodes into t, in JSON's words rather than Go's.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string" // ids, times
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// pathID parses the path parameter name as a UUID; a malformed id names nothing: ENotFound.
func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, ingest.Errorf(ingest.ENotFound, "%s %q is not an id", name, r.PathValue(name))
	}
	return id, nil
}

// queryPage parses ?cursor= and ?limit= into a query of the list's first page or the one after
// the cursor, newest first.
func queryPage(r *http.Request) (readmodel.ListQuery, error) {
	var lq readmodel.ListQuery
	q := r.URL.Query()
	if c := q.Get("cursor"); c != "" {
		id, err := uuid.Parse(c)
		if err != nil {
			return lq, ingest.Errorf(ingest.EValidation, "cursor %q is not a cursor this API gave", c)
		}
		lq.Cursor.After = &id
	}
	lq.Limit = ingest.DefaultPageLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > ingest.MaxPageLimit {
			return lq, ingest.Errorf(ingest.EValidation, "limit must be 1 to %d", ingest.MaxPageLimit)
		}
		lq.Limit = n
	}
	return lq, nil
}

// queryID parses the optional id ?name= into *into, leaving it nil when absent.
func queryID(r *http.Request, name string, into **uuid.UUID) error {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return ingest.Errorf(ingest.EValidation, "%s %q is not an id", name, v)
	}
	*into = &id
	return nil
}

// queryStatus parses the optional ?status= into *into, refusing a status that is not one of S.
func queryStatus[S interface {
	~string
	Valid() bool
}](r *http.Request, into *string) error {
	v := r.URL.Query().Get("status")
	if v == "" {
		return nil
	}
	if !S(v).Valid() {
		return ingest.Errorf(ingest.EValidation, "status %q is not one of this resource's statuses", v)
	}
	*into = v
	return nil
}
