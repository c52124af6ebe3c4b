package sqlstore

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

var (
	_ readmodel.Store    = (*Store)(nil)
	_ ingest.AccessStore = (*Store)(nil)
)

// WithSearchWindow sets how many rows a console search that no index serves reads per page
// (readmodel.SearchWindow by default), so that tests can see it stop without a large table.
func WithSearchWindow(rows int) Option {
	return func(s *Store) { s.searchWindow = rows }
}

// consoleTable describes how the read model's lists (the console's and the API's) read one
// table: which filters it has and on which columns, how its search and its status filter read,
// and which columns it sorts by.
type consoleTable struct {
	model   readmodel.Model
	name    string
	columns map[filter]string // the column each id or type filter compares; every table has status and created_at
	// status turns a value of the status filter (readmodel.Statuses) into a condition (nil:
	// the status column equals it).
	status func(s *Store, w *where, status string)
	// search adds the condition of a search term that is not an id (nil: only ids are searched)
	// and reports whether no index serves it, so that only a bounded window of rows is read.
	search func(s *Store, w *where, term string) (scan bool)
	sorts  map[string]string // sort name → column; SortCreated is always id
}

// filter is one of the ListQuery fields that select rows by an id or a type.
type filter int

const (
	byBatch filter = iota
	byUser
	byFile
	bySession
	byEventType
	byGrant
)

var consoleTables = map[readmodel.Model]*consoleTable{
	readmodel.ModelBatches: {
		model: readmodel.ModelBatches, name: "upload_batches",
		columns: map[filter]string{byUser: "created_by_id"},
		search:  nameContains("name"),
	},
	readmodel.ModelFiles: {
		model: readmodel.ModelFiles, name: "ingest_files",
		columns: map[filter]string{byBatch: "batch_id", byUser: "uploaded_by_id", byGrant: "grant_id"},
		search:  fileSearch,
		sorts:   map[string]string{"size": "size_bytes"},
	},
	readmodel.ModelSessions: {
		model: readmodel.ModelSessions, name: "upload_sessions",
		columns: map[filter]string{byUser: "uploaded_by_id", byFile: "file_id"},
	},
	readmodel.ModelParts: {
		model: readmodel.ModelParts, name: "upload_parts",
		columns: map[filter]string{bySession: "session_id"},
	},
	readmodel.ModelEvents: {
		model: readmodel.ModelEvents, name: "portal_event_outbox",
		columns: map[filter]string{byFile: "file_id", byEventType: "event_type"},
	},
	readmodel.ModelUsers: {
		model: readmodel.ModelUsers, name: "users",
		status: userStatus,
		search: nameContains("username"),
	},
	readmodel.ModelTokens: {
		model: readmodel.ModelTokens, name: "api_tokens",
		columns: map[filter]string{byUser: "user_id"},
		status:  tokenStatus,
		search:  nameContains("name"),
	},
	readmodel.ModelGrants: {
		model: readmodel.ModelGrants, name: "upload_grants",
		columns: map[filter]string{byUser: "created_by_id"},
		status:  tokenStatus, // a grant is a credential as a token is, one that always expires
		search:  nameContains("prefix"),
	},
}

func userStatus(_ *Store, w *where, status string) {
	switch status {
	case readmodel.UserActive:
		w.conds = append(w.conds, "disabled_at IS NULL")
	case readmodel.UserDisabled:
		w.conds = append(w.conds, "disabled_at IS NOT NULL")
	case readmodel.UserAdmin:
		w.conds = append(w.conds, "is_admin")
	}
}

func tokenStatus(s *Store, w *where, status string) {
	switch ingest.TokenState(status) {
	case ingest.TokenActive:
		w.add("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", at(s.clock()))
	case ingest.TokenExpired:
		w.add("revoked_at IS NULL AND expires_at <= ?", at(s.clock()))
	case ingest.TokenRevoked:
		w.conds = append(w.conds, "revoked_at IS NOT NULL")
	}
}

// nameContains searches a text column for a part, ignoring case: SQLite's LIKE ignores the case
// of ASCII letters, PostgreSQL's ILIKE that of every letter. No index serves it.
func nameContains(column string) func(s *Store, w *where, term string) bool {
	return func(s *Store, w *where, term string) bool {
		w.add(column+" "+s.dialect.like+` ? ESCAPE '\'`, "%"+escapeLike(term)+"%")
		return true
	}
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func escapeLike(s string) string { return likeEscaper.Replace(s) }

var (
	sha256Prefix = regexp.MustCompile(`^[0-9a-f]{6,64}$`)
	// metadataPair is a search for one metadata key's value: key:value.
	metadataPair = regexp.MustCompile(`^([A-Za-z0-9._-]{1,64}):(.+)$`)
)

// fileSearch reads a run of hex digits as a SHA-256 prefix, a range on the sha256 index (every
// hash that starts with p sorts at or after p and before p+"g", 'g' following every hex digit),
// and anything else as a part of the file's name or of one of its metadata values, ignoring case
// as nameContains does. A term of the form key:value also finds the files whose metadata key
// holds value. No index serves the name and metadata search: like a name search, it reads a
// bounded window of rows.
func fileSearch(s *Store, w *where, term string) bool {
	if p := strings.ToLower(term); sha256Prefix.MatchString(p) {
		w.add("sha256 >= ?", p)
		w.add("sha256 < ?", p+"g")
		return false
	}
	// Most files have no metadata: the empty object is skipped before it is taken apart.
	like, each, empty := s.dialect.like, s.dialect.jsonEach+"(metadata)", s.dialect.emptyJSON
	w.args = append(w.args, "%"+escapeLike(term)+"%")
	n := len(w.args)
	values := fmt.Sprintf(`EXISTS (SELECT 1 FROM %s WHERE value %s $%d ESCAPE '\')`, each, like, n)
	if m := metadataPair.FindStringSubmatch(term); m != nil {
		w.args = append(w.args, m[1], "%"+escapeLike(m[2])+"%")
		values += fmt.Sprintf(` OR EXISTS (SELECT 1 FROM %s WHERE key = $%d AND value %s $%d ESCAPE '\')`, each, n+1, like, n+2)
	}
	w.conds = append(w.conds, fmt.Sprintf(`(original_filename %s $%d ESCAPE '\' OR (metadata <> %s AND (%s)))`, like, n, empty, values))
	return true
}

// sortColumn returns the column of a sort name, or EValidation.
func (t *consoleTable) sortColumn(sort string) (string, error) {
	if sort == "" || sort == readmodel.SortCreated {
		return "id", nil
	}
	if c, ok := t.sorts[sort]; ok {
		return c, nil
	}
	return "", ingest.Errorf(ingest.EValidation, "%s cannot be sorted by %q", t.model, sort)
}

// conditions turns the query's filters and search into the WHERE conditions of the table. The
// conditions no index serves (a search for part of a name) come back apart, as scan.
func (t *consoleTable) conditions(s *Store, q readmodel.ListQuery) (w *where, scan []string, err error) {
	w, err = t.filters(s, q)
	if err != nil {
		return nil, nil, err
	}
	if term := strings.TrimSpace(q.Search); term != "" {
		n := len(w.conds)
		if t.addSearch(s, w, term) {
			scan = w.conds[n:]
			w.conds = w.conds[:n:n]
		}
	}
	return w, scan, nil
}

// filters returns the conditions of every filter but the search.
func (t *consoleTable) filters(s *Store, q readmodel.ListQuery) (*where, error) {
	var w where
	ids := []struct {
		f  filter
		id *uuid.UUID
	}{{byBatch, q.BatchID}, {byUser, q.UserID}, {byFile, q.FileID}, {bySession, q.SessionID}, {byGrant, q.GrantID}}
	for _, c := range ids {
		if c.id == nil {
			continue
		}
		col, ok := t.columns[c.f]
		if !ok {
			return nil, ingest.Errorf(ingest.EValidation, "%s cannot be filtered that way", t.model)
		}
		w.add(col+" = ?", *c.id)
	}
	names := []struct {
		f           filter
		name, query string
	}{{byBatch, q.BatchName, "SELECT id FROM upload_batches WHERE name = ?"}, {byUser, q.Username, "SELECT id FROM users WHERE username = ?"}}
	for _, c := range names {
		if c.name == "" {
			continue
		}
		col, ok := t.columns[c.f]
		if !ok {
			return nil, ingest.Errorf(ingest.EValidation, "%s cannot be filtered that way", t.model)
		}
		w.add(col+" IN ("+c.query+")", c.name)
	}
	if q.Status != "" {
		if err := t.addStatus(s, &w, q.Status); err != nil {
			return nil, err
		}
	}
	if q.EventType != "" {
		col, ok := t.columns[byEventType]
		if !ok {
			return nil, ingest.Errorf(ingest.EValidation, "%s have no event type", t.model)
		}
		w.add(col+" = ?", q.EventType)
	}
	if q.ExcludePartial {
		if t.model != readmodel.ModelFiles {
			return nil, ingest.Errorf(ingest.EValidation, "%s have no partial uploads", t.model)
		}
		w.add("partial = ?", false)
	}
	if q.CreatedFrom != nil {
		w.add("created_at >= ?", at(*q.CreatedFrom))
	}
	if q.CreatedTo != nil {
		w.add("created_at < ?", at(*q.CreatedTo))
	}
	return &w, nil
}

func (t *consoleTable) addStatus(s *Store, w *where, status string) error {
	if !slices.Contains(readmodel.Statuses(t.model), status) {
		return ingest.Errorf(ingest.EValidation, "%s have no status %q", t.model, status)
	}
	if t.status != nil {
		t.status(s, w, status)
		return nil
	}
	// The status is one of the domain's constants (checked above), written into the query as
	// statusList does: PostgreSQL then plans each status with its own statistics, where a
	// parameter would get one generic plan after a few runs — a sequential scan, for a status as
	// rare as FAILED, that took half a second on a million files.
	w.conds = append(w.conds, "status = "+statusList([]string{status}))
	return nil
}

// addSearch matches an id exactly (and an event's event_id), or else the table's own search. It
// reports whether the condition it added needs a scan.
func (t *consoleTable) addSearch(s *Store, w *where, term string) bool {
	if id, err := uuid.Parse(term); err == nil {
		if t.model == readmodel.ModelEvents {
			w.add("(id = ? OR event_id = ?)", id)
			return false
		}
		w.add("id = ?", id)
		return false
	}
	if t.search == nil {
		// Only ids are searched here: nothing else matches.
		w.conds = append(w.conds, "1 = 0")
		return false
	}
	return t.search(s, w, term)
}

// findRows runs a list: the rows matching q, in (sort column, id) order, one page of them
// after, before or at the end of the cursor. Every page is one seek on the index of the sort
// column: the cursor names a row by id, and the row's sort value is read by its primary key. A
// search no index serves reads at most the store's search window of rows (readmodel.SearchWindow
// unless WithSearchWindow says otherwise) from the cursor on; when those
// hold less than a page, the listing says where the next window starts (Resume).
func findRows[T any](ctx context.Context, s *Store, m readmodel.Model, q readmodel.ListQuery, columns string,
	scan func(interface{ Scan(...any) error }) (T, error)) (*readmodel.Listing[T], error) {
	t := consoleTables[m]
	limit := q.Limit
	switch {
	case limit == 0:
		limit = ingest.DefaultPageLimit
	case limit < 0 || limit > ingest.MaxPageLimit:
		return nil, ingest.Errorf(ingest.EValidation, "a page holds 1 to %d items", ingest.MaxPageLimit)
	}
	k, err := t.keyset(q)
	if err != nil {
		return nil, err
	}
	w, scanConds, err := t.conditions(s, q)
	if err != nil {
		return nil, err
	}
	k.after(w)
	var query string
	if len(scanConds) == 0 {
		w.args = append(w.args, limit+1)
		query = `SELECT ` + columns + ` FROM ` + t.name + whereClause(w.conds) + k.orderBy() + fmt.Sprintf(` LIMIT $%d`, len(w.args))
	} else {
		w.args = append(w.args, s.searchWindow, limit+1)
		query = `SELECT ` + columns + ` FROM (SELECT ` + columns + ` FROM ` + t.name + whereClause(w.conds) + k.orderBy() +
			fmt.Sprintf(` LIMIT $%d) AS window_rows`, len(w.args)-1) + whereClause(scanConds) + k.orderBy() + fmt.Sprintf(` LIMIT $%d`, len(w.args))
	}
	items, err := uncachedList(ctx, s, query, w.args, scan)
	if err != nil {
		return nil, err
	}
	l := &readmodel.Listing[T]{Items: items, More: len(items) > limit}
	if l.More {
		l.Items = l.Items[:limit]
	} else if len(scanConds) > 0 {
		if l.Resume, err = windowEnd(ctx, s, t, q, k); err != nil {
			return nil, err
		}
		l.More = l.Resume != nil
	}
	if k.backwards {
		slices.Reverse(l.Items)
	}
	return l, nil
}

// windowEnd returns the id of the last row a windowed search read when more rows follow it, or
// nil when the search read to the end of the list.
func windowEnd(ctx context.Context, s *Store, t *consoleTable, q readmodel.ListQuery, k keyset) (*uuid.UUID, error) {
	w, err := t.filters(s, q)
	if err != nil {
		return nil, err
	}
	k.after(w)
	// The window's last row and the one after it, if there is one.
	w.args = append(w.args, s.searchWindow-1)
	ids, err := uncachedList(ctx, s, `SELECT id FROM `+t.name+whereClause(w.conds)+k.orderBy()+fmt.Sprintf(` LIMIT 2 OFFSET $%d`, len(w.args)),
		w.args, func(row interface{ Scan(...any) error }) (uuid.UUID, error) {
			var id uuid.UUID
			return id, row.Scan(&id)
		})
	if err != nil || len(ids) < 2 {
		return nil, err
	}
	return &ids[0], nil
}

// uncachedList runs a list query without preparing it: a console query's text depends on which
// filters, sort and cursor the operator chose, thousands of combinations that the statement cache,
// which keeps every text it sees on every connection, must not collect.
func uncachedList[T any](ctx context.Context, s *Store, query string, args []any,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.translate(err)
	}
	items, err := scanRows(rows, scan)
	return items, s.translate(err)
}

// keyset is the order a page is read in and where it starts.
type keyset struct {
	table     string
	col       string // the sort column; id breaks ties
	cmp, dir  string // "<" and "DESC", or ">" and "ASC"
	cursor    *uuid.UUID
	backwards bool // a Before cursor or the last page: read against the list's order, turn round after
}

func (t *consoleTable) keyset(q readmodel.ListQuery) (keyset, error) {
	col, err := t.sortColumn(q.Sort)
	if err != nil {
		return keyset{}, err
	}
	k := keyset{table: t.name, col: col, backwards: q.Cursor.Before != nil || q.Cursor.Last, cmp: ">", dir: "ASC"}
	if !q.Asc != k.backwards {
		k.cmp, k.dir = "<", "DESC"
	}
	k.cursor = q.Cursor.After
	if q.Cursor.Before != nil {
		k.cursor = q.Cursor.Before
	}
	if q.Cursor.Last {
		k.cursor = nil
	}
	return k, nil
}

// after adds the condition of the rows past the cursor.
func (k keyset) after(w *where) {
	switch {
	case k.cursor == nil:
	case k.col == "id":
		w.add("id "+k.cmp+" ?", *k.cursor)
	default:
		w.add("("+k.col+", id) "+k.cmp+" ((SELECT "+k.col+" FROM "+k.table+" WHERE id = ?), ?)", *k.cursor)
	}
}

func (k keyset) orderBy() string {
	return fmt.Sprintf(` ORDER BY %s %s, id %s`, k.col, k.dir, k.dir)
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// FindBatches implements readmodel.Store.
func (s *Store) FindBatches(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.Batch], error) {
	return findRows(ctx, s, readmodel.ModelBatches, q, batchColumns, scanBatch)
}

// FindFiles implements readmodel.Store.
func (s *Store) FindFiles(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.File], error) {
	return findRows(ctx, s, readmodel.ModelFiles, q, fileColumns, scanFile)
}

// FindSessions implements readmodel.Store.
func (s *Store) FindSessions(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.UploadSession], error) {
	return findRows(ctx, s, readmodel.ModelSessions, q, sessionColumns, scanSession)
}

// FindParts implements readmodel.Store.
func (s *Store) FindParts(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.Part], error) {
	return findRows(ctx, s, readmodel.ModelParts, q, partColumns, scanPart)
}

// FindEvents implements readmodel.Store.
func (s *Store) FindEvents(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.OutboxEvent], error) {
	return findRows(ctx, s, readmodel.ModelEvents, q, eventColumns, scanEvent)
}

// FindUsers implements readmodel.Store.
func (s *Store) FindUsers(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.User], error) {
	return findRows(ctx, s, readmodel.ModelUsers, q, userColumns, scanUser)
}

// FindTokens implements readmodel.Store.
func (s *Store) FindTokens(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.APIToken], error) {
	return findRows(ctx, s, readmodel.ModelTokens, q, tokenColumns, scanToken)
}

// FindGrants implements readmodel.Store.
func (s *Store) FindGrants(ctx context.Context, q readmodel.ListQuery) (*readmodel.Listing[*ingest.UploadGrant], error) {
	return findRows(ctx, s, readmodel.ModelGrants, q, grantColumns, scanGrant)
}

// CountByStatus implements readmodel.Store. Each status is counted by its own query that
// stops at limit+1 rows: on the (status, id) indexes that is a short index range, however large
// the table, where a GROUP BY would read every row.
func (s *Store) CountByStatus(ctx context.Context, m readmodel.Model, limit int) (map[string]int, error) {
	t := consoleTables[m]
	if t == nil || t.model == readmodel.ModelParts {
		return nil, ingest.Errorf(ingest.EValidation, "%s are not counted by status", m)
	}
	counts := map[string]int{}
	for _, status := range readmodel.Statuses(m) {
		var w where
		if err := t.addStatus(s, &w, status); err != nil {
			return nil, err
		}
		w.args = append(w.args, limit+1)
		query := fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT $%d) AS capped`,
			t.name, strings.Join(w.conds, " AND "), len(w.args))
		var n int
		if err := s.q().QueryRowContext(ctx, query, w.args...).Scan(&n); err != nil {
			return nil, s.translate(err)
		}
		counts[status] = n
	}
	return counts, nil
}
