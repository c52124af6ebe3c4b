package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// listQuery is a list page's query string, as the operator wrote it (it is echoed back into the
// filter form) and as the store reads it.
type listQuery struct {
	Q, Status, Batch, User, File, Session, EventType, From, To string
	Grant, Sort, Order, Limit                                  string
	store                                                      readmodel.ListQuery
}

// Any reports whether the query filters or searches at all.
func (q listQuery) Any() bool {
	return q.Q != "" || q.Status != "" || q.Batch != "" || q.User != "" || q.File != "" || q.Session != "" ||
		q.EventType != "" || q.From != "" || q.To != "" || q.Grant != ""
}

// values returns the query string of the query's filters and sort, without a cursor.
func (q listQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "status": q.Status, "batch": q.Batch, "user": q.User,
		"file": q.File, "session": q.Session, "event_type": q.EventType, "from": q.From, "to": q.To, "grant": q.Grant,
		"sort": q.Sort, "order": q.Order, "limit": q.Limit} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// parseListQuery reads a list page's query string. It returns EValidation for an id or a date
// that does not parse; the store refuses filters the model does not have.
func parseListQuery(r *http.Request) (listQuery, error) {
	get := r.URL.Query().Get
	q := listQuery{Q: get("q"), Status: get("status"), Batch: get("batch"), User: get("user"), File: get("file"),
		Session: get("session"), EventType: get("event_type"), From: get("from"), To: get("to"), Grant: get("grant"),
		Sort: get("sort"), Order: get("order"), Limit: get("limit")}
	s := &q.store
	s.Search, s.Status, s.EventType, s.Sort = q.Q, q.Status, q.EventType, q.Sort
	s.Asc = q.Order == "asc"
	var err error
	for _, f := range []struct {
		name, value string
		into        **uuid.UUID
	}{{"file", q.File, &s.FileID}, {"session", q.Session, &s.SessionID}, {"grant", q.Grant, &s.GrantID},
		{"after", get("after"), &s.Cursor.After}, {"before", get("before"), &s.Cursor.Before}} {
		if *f.into, err = optionalID(f.name, f.value); err != nil {
			return q, err
		}
	}
	s.BatchID, s.BatchName = idOrName(q.Batch)
	s.UserID, s.Username = idOrName(q.User)
	s.Cursor.Last = get("last") == "1"
	if s.CreatedFrom, err = optionalDate("from", q.From, 0); err != nil {
		return q, err
	}
	// "to" is the last day included: rows created before the next midnight.
	if s.CreatedTo, err = optionalDate("to", q.To, 24*time.Hour); err != nil {
		return q, err
	}
	if q.Limit != "" {
		if s.Limit, err = strconv.Atoi(q.Limit); err != nil {
			return q, ingest.Errorf(ingest.EValidation, "limit %q is not a number", q.Limit)
		}
	}
	return q, nil
}

// idOrName reads the batch or user filter, which takes an id or a name.
func idOrName(value string) (*uuid.UUID, string) {
	value = strings.TrimSpace(value)
	if id, err := uuid.Parse(value); err == nil {
		return &id, ""
	}
	return nil, value
}

func optionalID(name, value string) (*uuid.UUID, error) {
	if value == "" {
		return nil, nil
	}
	id, err := uuid.Parse(value)
	if err != nil {
		return nil, ingest.Errorf(ingest.EValidation, "%s %q is not an id", name, value)
	}
	return &id, nil
}

func optionalDate(name, value string, plus time.Duration) (*time.Time, error) {
	if value == "" {
		return nil, nil
	}
	t, err := time.Parse(time.DateOnly, value)
	if err != nil {
		return nil, ingest.Errorf(ingest.EValidation, "%s %q is not a date (YYYY-MM-DD)", name, value)
	}
	t = t.Add(plus)
	return &t, nil
}

// cell is one value of a table: text, optionally a link or a status badge. Templates escape
// every field, so a hostile file name is only ever text.
type cell struct {
	Text   string
	Href   string
	Title  string
	Status string
	Class  string
}

// columnDef is a column of a model's list; Sort names the store sort that orders by it.
type columnDef struct {
	Title string
	Sort  string
}

// filterDef is an input of a list's filter form besides search and status.
type filterDef struct {
	Label, Name string
	Hint        string // the input's placeholder; "" is "id"
	Date        bool
}

// modelList is how the console lists one model.
type modelList struct {
	model      readmodel.Model
	title      string
	searchHint string
	filters    []filterDef
	columns    []columnDef
	counts     bool // counts by status are cheap (an index on status) and shown
	// rows reads one page and renders it.
	rows func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error)
}

var (
	filterBatch     = filterDef{Label: "Batch", Name: "batch", Hint: "name or id"}
	filterUser      = filterDef{Label: "User", Name: "user", Hint: "username or id"}
	filterFile      = filterDef{Label: "File", Name: "file"}
	filterSession   = filterDef{Label: "Session", Name: "session"}
	filterGrant     = filterDef{Label: "Grant", Name: "grant"}
	filterEventType = filterDef{Label: "Type", Name: "event_type"}
	filterFrom      = filterDef{Label: "From", Name: "from", Date: true}
	filterTo        = filterDef{Label: "To", Name: "to", Date: true}
)

// renderedPage is a page of a list rendered as cells, and what its links to other pages need: the
// ids of its first and last rows, whether more rows lie beyond, and where a windowed search
// resumes.
type renderedPage struct {
	rows        [][]cell
	first, last *uuid.UUID
	more        bool
	resume      *uuid.UUID
}

// pageOf renders a listing with row.
func pageOf[T any](l *readmodel.Listing[T], err error, id func(T) uuid.UUID, row func(T) []cell) (*renderedPage, error) {
	if err != nil {
		return nil, err
	}
	p := &renderedPage{rows: make([][]cell, len(l.Items)), more: l.More, resume: l.Resume}
	for i, it := range l.Items {
		p.rows[i] = row(it)
	}
	if n := len(l.Items); n > 0 {
		first, last := id(l.Items[0]), id(l.Items[n-1])
		p.first, p.last = &first, &last
	}
	return p, nil
}

type listView struct {
	Title      string
	Done       string
	Windowed   bool   // a search read its window of rows without filling the page
	Window     string // how many rows that is
	Path       string
	SearchHint string
	Query      listQuery
	Statuses   []string
	Filters    []listFilter
	Counts     []statusCount
	AllHref    string
	Columns    []columnHead
	Rows       [][]cell
	Actions    []actionLink
	First      string
	Prev       string
	Next       string
	Last       string
}

type listFilter struct {
	filterDef
	Value string
}

type statusCount struct {
	Status string
	Label  string
	Href   string
	On     bool
}

type columnHead struct {
	Title string
	Href  string
	Arrow string
}

type actionLink struct {
	Label  string
	Href   string
	Danger bool
}

// countCap is where counts by status stop: beyond it a page says "10000+".
const countCap = 10_000

// list serves a model's list page.
func (h *Handler) list(m *modelList) func(w http.ResponseWriter, r *http.Request, a *actor) error {
	return func(w http.ResponseWriter, r *http.Request, a *actor) error {
		q, err := parseListQuery(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		page, err := m.rows(h, ctx, q.store)
		if err != nil {
			return err
		}
		path := "/admin/" + string(m.model)
		v := listView{Title: m.title, Done: doneMessages[r.URL.Query().Get("done")], Path: path, SearchHint: m.searchHint, Query: q, Rows: page.rows,
			Windowed: page.resume != nil, Window: strconv.Itoa(readmodel.SearchWindow),
			Statuses: readmodel.Statuses(m.model), AllHref: link(path, without(q.values(), "status"))}
		for _, f := range m.filters {
			v.Filters = append(v.Filters, listFilter{f, q.values().Get(f.Name)})
		}
		if m.counts {
			if v.Counts, err = h.counts(ctx, m.model, path, q); err != nil {
				return err
			}
		}
		v.Columns = sortHeads(m.columns, path, q)
		v.First, v.Prev, v.Next, v.Last = pageLinks(path, q, page)
		if m.model == readmodel.ModelEvents && someFailed(v.Counts) {
			v.Actions = append(v.Actions, actionLink{Label: "Retry all FAILED events…", Href: "/admin/events/retry-failed"})
		}
		h.render(w, http.StatusOK, "list", view{Title: m.title, Section: string(m.model), User: a.user, CSRF: a.session.CSRFToken, Data: v})
		return nil
	}
}

// counts returns the model's counts by status, each a link to the list filtered by it.
func (h *Handler) counts(ctx context.Context, m readmodel.Model, path string, q listQuery) ([]statusCount, error) {
	counts, err := h.store.CountByStatus(ctx, m, countCap)
	if err != nil {
		return nil, err
	}
	var out []statusCount
	for _, st := range readmodel.Statuses(m) {
		n := counts[st]
		label := strconv.Itoa(n)
		if n > countCap {
			label = strconv.Itoa(countCap) + "+"
		}
		v := without(q.values(), "status")
		v.Set("status", st)
		out = append(out, statusCount{Status: st, Label: label, Href: link(path, v), On: q.Status == st})
	}
	return out, nil
}

// someFailed reports whether the counts by status hold FAILED rows.
func someFailed(counts []statusCount) bool {
	for _, c := range counts {
		if c.Status == string(ingest.OutboxFailed) {
			return c.Label != "0"
		}
	}
	return false
}

// nextAttemptCell is when an event is next sent: none once it is DELIVERED or FAILED.
func nextAttemptCell(e *ingest.OutboxEvent) cell {
	if e.Status == ingest.OutboxDelivered || e.Status == ingest.OutboxFailed {
		return textCell("")
	}
	return timeCell(e.NextAttemptAt)
}

// sortHeads renders the column headers, sortable ones as links that sort by them, the current
// sort column toggling its direction.
func sortHeads(columns []columnDef, path string, q listQuery) []columnHead {
	current := q.Sort
	if current == "" {
		current = readmodel.SortCreated
	}
	heads := make([]columnHead, len(columns))
	for i, c := range columns {
		heads[i] = columnHead{Title: c.Title}
		if c.Sort == "" {
			continue
		}
		v := without(q.values(), "sort", "order")
		v.Set("sort", c.Sort)
		if c.Sort == current {
			if q.Order == "asc" {
				heads[i].Arrow = " ▲"
			} else {
				heads[i].Arrow = " ▼"
				v.Set("order", "asc")
			}
		}
		heads[i].Href = link(path, v)
	}
	return heads
}

// pageLinks returns the links to the first, previous, next and last pages of a keyset list. The
// page was read forwards (the first page, an After cursor) or backwards (a Before cursor, the
// last page); "more" is about the direction it was read in, and a windowed search resumes from
// where its window ended rather than from the page's edge.
func pageLinks(path string, q listQuery, p *renderedPage) (first, prev, next, last string) {
	c := q.store.Cursor
	backwards := c.Before != nil || c.Last
	atStart := (c.After == nil && !backwards) || (backwards && !p.more)
	atEnd := c.Last || (!backwards && !p.more)
	before, after := p.first, p.last
	if p.resume != nil {
		if backwards {
			before = p.resume
		} else {
			after = p.resume
		}
	}
	if !atStart && before != nil {
		first = link(path, q.values())
		v := q.values()
		v.Set("before", before.String())
		prev = link(path, v)
	}
	if !atEnd && after != nil {
		v := q.values()
		v.Set("after", after.String())
		next = link(path, v)
		v = q.values()
		v.Set("last", "1")
		last = link(path, v)
	}
	return first, prev, next, last
}

func without(v url.Values, keys ...string) url.Values {
	for _, k := range keys {
		v.Del(k)
	}
	return v
}

func link(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// Formatting of cells.

func idCell(kind string, id uuid.UUID) cell {
	return cell{Text: shortID(id), Href: "/admin/" + kind + "/" + id.String(), Title: id.String()}
}

func optionalIDCell(kind string, id *uuid.UUID) cell {
	if id == nil {
		return cell{Text: "—"}
	}
	return idCell(kind, *id)
}

// shortID is the last twelve hex digits of an id: the random part of a UUIDv7, which tells rows
// created in the same millisecond apart.
func shortID(id uuid.UUID) string {
	s := id.String()
	return "…" + s[len(s)-12:]
}

func statusCell(s string) cell { return cell{Status: s} }

func timeCell(t time.Time) cell {
	return cell{Text: t.UTC().Format("2006-01-02 15:04:05"), Title: t.UTC().Format(time.RFC3339Nano), Class: "time"}
}

func optionalTimeCell(t *time.Time) cell {
	if t == nil {
		return cell{Text: "—"}
	}
	return timeCell(*t)
}

func textCell(s string) cell {
	if s == "" {
		return cell{Text: "—"}
	}
	return cell{Text: s}
}

func numberCell(n int64) cell { return cell{Text: strconv.FormatInt(n, 10), Class: "num"} }

func bytesCell(n int64) cell {
	return cell{Text: formatBytes(n), Title: strconv.FormatInt(n, 10) + " bytes", Class: "num"}
}

// formatBytes renders a size in binary units, as operators read them.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// names resolves the ids of users or batches a page shows to their names, one read per distinct
// id, each shown as a link to the row with its id as the title. Operators know batches and users
// by name, not by id.
type names struct {
	kind  string // the rows' path under /admin/
	read  func(uuid.UUID) (string, error)
	names map[uuid.UUID]string
}

func (h *Handler) userNames(ctx context.Context) *names {
	return &names{kind: "users", names: map[uuid.UUID]string{}, read: func(id uuid.UUID) (string, error) {
		u, err := h.store.User(ctx, id)
		if err != nil {
			return "", err
		}
		return u.Username, nil
	}}
}

func (h *Handler) batchNames(ctx context.Context) *names {
	return &names{kind: "batches", names: map[uuid.UUID]string{}, read: func(id uuid.UUID) (string, error) {
		b, err := h.store.Batch(ctx, id)
		if err != nil {
			return "", err
		}
		return b.Name, nil
	}}
}

func (n *names) cell(id uuid.UUID) cell {
	name, ok := n.names[id]
	if !ok {
		name, _ = n.read(id)
		name = orID(name, id)
		n.names[id] = name
	}
	return cell{Text: name, Href: "/admin/" + n.kind + "/" + id.String(), Title: id.String()}
}

// optionalCell is cell, or a dash for no id.
func (n *names) optionalCell(id *uuid.UUID) cell {
	if id == nil {
		return cell{Text: "—"}
	}
	return n.cell(*id)
}

var modelLists = []*modelList{
	{
		model: readmodel.ModelBatches, title: "Upload batches", searchHint: "id or name", counts: true,
		filters: []filterDef{filterUser, filterFrom, filterTo},
		columns: []columnDef{{"Batch", ""}, {"Name", ""}, {"Status", ""}, {"Files", ""}, {"Stored", ""},
			{"Failed", ""}, {"Created by", ""}, {"Created", readmodel.SortCreated}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindBatches(ctx, q)
			users := h.userNames(ctx)
			return pageOf(l, err, func(b *ingest.Batch) uuid.UUID { return b.ID }, func(b *ingest.Batch) []cell {
				return []cell{idCell("batches", b.ID), textCell(b.Name), statusCell(string(b.Status)), numberCell(int64(b.TotalFiles)),
					numberCell(int64(b.StoredCount)), numberCell(int64(b.FailedCount)), users.cell(b.CreatedByID), timeCell(b.CreatedAt)}
			})
		},
	},
	{
		model: readmodel.ModelFiles, title: "Files", searchHint: "id, SHA-256 prefix, file name, metadata value or key:value", counts: true,
		filters: []filterDef{filterBatch, filterUser, filterGrant, filterFrom, filterTo},
		columns: []columnDef{{"File", ""}, {"Name", ""}, {"Status", ""}, {"Size", "size"}, {"SHA-256", ""},
			{"Batch", ""}, {"Uploaded by", ""}, {"Created", readmodel.SortCreated}, {"Stored", ""}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindFiles(ctx, q)
			users, batches := h.userNames(ctx), h.batchNames(ctx)
			return pageOf(l, err, func(f *ingest.File) uuid.UUID { return f.ID }, func(f *ingest.File) []cell {
				return []cell{idCell("files", f.ID), {Text: f.OriginalFilename, Href: "/admin/files/" + f.ID.String(), Class: "name"},
					statusCell(string(f.Status)), bytesCell(f.SizeBytes), hashCell(f.SHA256), batches.optionalCell(f.BatchID),
					users.cell(f.UploadedByID), timeCell(f.CreatedAt), optionalTimeCell(f.StoredAt)}
			})
		},
	},
	{
		model: readmodel.ModelSessions, title: "Upload sessions", searchHint: "id", counts: true,
		filters: []filterDef{filterUser, filterFile, filterFrom, filterTo},
		columns: []columnDef{{"Session", ""}, {"Status", ""}, {"File", ""}, {"Parts", ""}, {"Part size", ""},
			{"Uploaded by", ""}, {"Expires", ""}, {"Created", readmodel.SortCreated}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindSessions(ctx, q)
			users := h.userNames(ctx)
			return pageOf(l, err, func(s *ingest.UploadSession) uuid.UUID { return s.ID }, func(s *ingest.UploadSession) []cell {
				return []cell{idCell("sessions", s.ID), statusCell(string(s.Status)), idCell("files", s.FileID),
					{Text: fmt.Sprintf("%d / %d", s.ReceivedPartsCount, s.TotalParts), Class: "num"}, bytesCell(s.ChunkSizeBytes),
					users.cell(s.UploadedByID), timeCell(s.ExpiresAt), timeCell(s.CreatedAt)}
			})
		},
	},
	{
		model: readmodel.ModelParts, title: "Upload parts", searchHint: "id",
		filters: []filterDef{filterSession, filterFrom, filterTo},
		columns: []columnDef{{"Part", ""}, {"Session", ""}, {"Number", ""}, {"Status", ""}, {"Size", ""},
			{"CRC32C", ""}, {"Created", readmodel.SortCreated}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindParts(ctx, q)
			return pageOf(l, err, func(p *ingest.Part) uuid.UUID { return p.ID }, func(p *ingest.Part) []cell {
				return []cell{idCell("parts", p.ID), idCell("sessions", p.SessionID), numberCell(int64(p.PartNumber)),
					statusCell(string(p.Status)), bytesCell(p.SizeBytes), crcCell(p.CRC32C), timeCell(p.CreatedAt)}
			})
		},
	},
	{
		model: readmodel.ModelEvents, title: "Outbox events", searchHint: "id or event id", counts: true,
		filters: []filterDef{filterFile, filterEventType, filterFrom, filterTo},
		columns: []columnDef{{"Event", ""}, {"Type", ""}, {"Status", ""}, {"Attempts", ""}, {"Next attempt", ""},
			{"File", ""}, {"Last error", ""}, {"Created", readmodel.SortCreated}, {"Delivered", ""}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindEvents(ctx, q)
			return pageOf(l, err, func(e *ingest.OutboxEvent) uuid.UUID { return e.ID }, func(e *ingest.OutboxEvent) []cell {
				return []cell{idCell("events", e.ID), textCell(e.EventType), statusCell(string(e.Status)), numberCell(int64(e.AttemptCount)),
					nextAttemptCell(e), idCell("files", e.FileID), {Text: truncate(e.LastError, 80), Title: e.LastError},
					timeCell(e.CreatedAt), optionalTimeCell(e.DeliveredAt)}
			})
		},
	},
	{
		model: readmodel.ModelUsers, title: "Users", searchHint: "id or username", counts: true,
		filters: []filterDef{filterFrom, filterTo},
		columns: []columnDef{{"User", ""}, {"Username", ""}, {"Admin", ""}, {"Disabled", ""}, {"Created", readmodel.SortCreated}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindUsers(ctx, q)
			return pageOf(l, err, func(u *ingest.User) uuid.UUID { return u.ID }, func(u *ingest.User) []cell {
				return []cell{idCell("users", u.ID), {Text: u.Username, Href: "/admin/users/" + u.ID.String()},
					yesNo(u.IsAdmin), optionalTimeCell(u.DisabledAt), timeCell(u.CreatedAt)}
			})
		},
	},
	{
		model: readmodel.ModelTokens, title: "API tokens", searchHint: "id or name", counts: true,
		filters: []filterDef{filterUser, filterFrom, filterTo},
		columns: []columnDef{{"Token", ""}, {"Name", ""}, {"Prefix", ""}, {"State", ""}, {"User", ""},
			{"Last used", ""}, {"Expires", ""}, {"Created", readmodel.SortCreated}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindTokens(ctx, q)
			users, now := h.userNames(ctx), h.cfg.Now()
			return pageOf(l, err, func(t *ingest.APIToken) uuid.UUID { return t.ID }, func(t *ingest.APIToken) []cell {
				return []cell{idCell("tokens", t.ID), textCell(t.Name), {Text: t.Prefix + "…", Class: "mono"}, statusCell(string(t.State(now))),
					users.cell(t.UserID), optionalTimeCell(t.LastUsedAt), optionalTimeCell(t.ExpiresAt), timeCell(t.CreatedAt)}
			})
		},
	},
	{
		model: readmodel.ModelGrants, title: "Upload grants", searchHint: "id or prefix", counts: true,
		filters: []filterDef{filterUser, filterFrom, filterTo},
		columns: []columnDef{{"Grant", ""}, {"Prefix", ""}, {"State", ""}, {"Created by", ""}, {"Files", ""},
			{"Bytes", ""}, {"Max file", ""}, {"Expires", ""}, {"Created", readmodel.SortCreated}},
		rows: func(h *Handler, ctx context.Context, q readmodel.ListQuery) (*renderedPage, error) {
			l, err := h.store.FindGrants(ctx, q)
			users, now := h.userNames(ctx), h.cfg.Now()
			return pageOf(l, err, func(g *ingest.UploadGrant) uuid.UUID { return g.ID }, func(g *ingest.UploadGrant) []cell {
				return []cell{idCell("grants", g.ID), {Text: g.Prefix + "…", Href: "/admin/grants/" + g.ID.String(), Class: "mono"},
					statusCell(string(g.State(now))), users.cell(g.CreatedByID), grantFilesCell(g), grantBytesCell(g),
					optionalBytesCell(g.MaxFileBytes), timeCell(g.ExpiresAt), timeCell(g.CreatedAt)}
			})
		},
	},
}

// grantFilesCell is the files a grant counts against its maximum.
func grantFilesCell(g *ingest.UploadGrant) cell {
	return cell{Text: fmt.Sprintf("%d / %d", g.FilesUsed, g.MaxFiles), Class: "num"}
}

// grantBytesCell is the bytes a grant counts, against its maximum when it has one.
func grantBytesCell(g *ingest.UploadGrant) cell {
	c := bytesCell(g.BytesUsed)
	if g.MaxTotalBytes != nil {
		c.Text += " / " + formatBytes(*g.MaxTotalBytes)
	}
	return c
}

// optionalBytesCell is a limit in bytes, "—" for none.
func optionalBytesCell(n *int64) cell {
	if n == nil {
		return cell{Text: "—", Class: "num"}
	}
	return bytesCell(*n)
}

func hashCell(sum string) cell {
	if sum == "" {
		return cell{Text: "—"}
	}
	return cell{Text: sum[:12] + "…", Title: sum, Class: "mono"}
}

func crcCell(c *uint32) cell {
	if c == nil {
		return cell{Text: "—"}
	}
	return cell{Text: fmt.Sprintf("%08x", *c), Class: "mono"}
}

func yesNo(b bool) cell {
	if b {
		return cell{Text: "yes"}
	}
	return cell{Text: "no"}
}

// truncate shortens s to n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
