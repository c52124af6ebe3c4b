package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

// detailView is a model's detail page: its fields, the actions it allows now, and its related
// rows, each linked to their own pages.
type detailView struct {
	Kind     string
	Title    string
	Done     string // what an action just did, shown once after its redirect
	Fields   []field
	Actions  []actionLink
	PartMap  []partSquare
	Payload  string
	Sections []section
}

type field struct {
	Label string
	Value cell
}

type section struct {
	Title   string
	Columns []string
	Rows    [][]cell
	More    string // a link to the full, filtered list
}

type partSquare struct {
	Number int
	Status string
}

// relatedLimit is how many related rows a detail page shows before linking to the full list.
const relatedLimit = 20

// detail serves a model's detail page: load reads the row by id and describes it.
func (h *Handler) detail(m readmodel.Model, load func(h *Handler, ctx context.Context, id uuid.UUID, d *detailView) error) func(w http.ResponseWriter, r *http.Request, a *actor) error {
	return func(w http.ResponseWriter, r *http.Request, a *actor) error {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return ingest.Errorf(ingest.ENotFound, "%s %q not found", m, r.PathValue("id"))
		}
		d := &detailView{Done: doneMessages[r.URL.Query().Get("done")]}
		if err := load(h, r.Context(), id, d); err != nil {
			return err
		}
		if d.Actions, err = h.offered(r.Context(), a, m, id); err != nil {
			return err
		}
		h.render(w, http.StatusOK, "detail", view{Title: d.Title, Section: string(m), User: a.user, CSRF: a.session.CSRFToken, Data: d})
		return nil
	}
}

var details = map[readmodel.Model]func(h *Handler, ctx context.Context, id uuid.UUID, d *detailView) error{
	readmodel.ModelBatches:  (*Handler).batchDetail,
	readmodel.ModelFiles:    (*Handler).fileDetail,
	readmodel.ModelSessions: (*Handler).sessionDetail,
	readmodel.ModelParts:    (*Handler).partDetail,
	readmodel.ModelEvents:   (*Handler).eventDetail,
	readmodel.ModelUsers:    (*Handler).userDetail,
	readmodel.ModelTokens:   (*Handler).tokenDetail,
	readmodel.ModelGrants:   (*Handler).grantDetail,
}

func (h *Handler) batchDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	b, err := h.store.Batch(ctx, id)
	if err != nil {
		return err
	}
	users := h.userNames(ctx)
	d.Kind, d.Title = "Upload batch", "Batch "+orID(b.Name, b.ID)
	d.Fields = []field{
		{"Id", cell{Text: b.ID.String(), Class: "mono"}},
		{"Name", textCell(b.Name)},
		{"Status", statusCell(string(b.Status))},
		{"Files", numberCell(int64(b.TotalFiles))},
		{"Stored", numberCell(int64(b.StoredCount))},
		{"Failed", numberCell(int64(b.FailedCount))},
		{"Created by", users.cell(b.CreatedByID)},
		{"Created", timeCell(b.CreatedAt)},
		{"Updated", timeCell(b.UpdatedAt)},
		{"Sealed", optionalTimeCell(b.SealedAt)},
	}
	return h.relatedFiles(ctx, d, readmodel.ListQuery{BatchID: &b.ID}, "/admin/files?batch="+b.ID.String())
}

// relatedFiles adds a section of the files q selects.
func (h *Handler) relatedFiles(ctx context.Context, d *detailView, q readmodel.ListQuery, more string) error {
	q.Limit = relatedLimit
	files, err := h.store.FindFiles(ctx, q)
	if err != nil {
		return err
	}
	s := section{Title: "Files", Columns: []string{"File", "Name", "Status", "Size", "Created"}}
	for _, f := range files.Items {
		s.Rows = append(s.Rows, []cell{idCell("files", f.ID), {Text: f.OriginalFilename, Href: "/admin/files/" + f.ID.String(), Class: "name"},
			statusCell(string(f.Status)), bytesCell(f.SizeBytes), timeCell(f.CreatedAt)})
	}
	if files.More {
		s.More = more
	}
	d.Sections = append(d.Sections, s)
	return nil
}

func (h *Handler) fileDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	f, err := h.store.File(ctx, id)
	if err != nil {
		return err
	}
	users := h.userNames(ctx)
	d.Kind, d.Title = "Ingest file", "File "+f.OriginalFilename
	d.Fields = []field{
		{"Id", cell{Text: f.ID.String(), Class: "mono"}},
		{"Name", textCell(f.OriginalFilename)},
		{"Status", statusCell(string(f.Status))},
		{"Size", bytesCell(f.SizeBytes)},
		{"SHA-256", cell{Text: orDash(f.SHA256), Class: "mono"}},
		{"Content type", textCell(f.ContentType)},
		{"Storage", textCell(storageOf(f))},
		{"Batch", h.batchNames(ctx).optionalCell(f.BatchID)},
		{"Uploaded by", users.cell(f.UploadedByID)},
		{"Upload grant", optionalIDCell("grants", f.GrantID)},
		{"Created", timeCell(f.CreatedAt)},
		{"Updated", timeCell(f.UpdatedAt)},
		{"Stored", optionalTimeCell(f.StoredAt)},
		{"Failure code", cell{Text: orDash(string(f.FailureCode)), Class: "mono"}},
		{"Failure reason", textCell(f.FailureReason)},
	}
	d.Sections = append(d.Sections, metadataSection(f.Metadata))
	sess, err := h.store.SessionOfFile(ctx, f.ID)
	switch ingest.ErrorCode(err) {
	case "":
		d.Sections = append(d.Sections, section{Title: "Upload session", Columns: []string{"Session", "Status", "Parts", "Expires"},
			Rows: [][]cell{{idCell("sessions", sess.ID), statusCell(string(sess.Status)),
				{Text: fmt.Sprintf("%d / %d", sess.ReceivedPartsCount, sess.TotalParts), Class: "num"}, timeCell(sess.ExpiresAt)}}})
	case ingest.ENotFound:
	default:
		return err
	}
	return h.relatedEvents(ctx, d, f.ID)
}

// metadataSection lists a file's metadata by key; each value links to the files whose same key
// holds it (the list's key:value search).
func metadataSection(m map[string]string) section {
	s := section{Title: "Metadata", Columns: []string{"Key", "Value"}}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		value := textCell(m[k])
		if m[k] != "" {
			value.Href, value.Title = "/admin/files?q="+url.QueryEscape(k+":"+m[k]), "files with this "+k
		}
		s.Rows = append(s.Rows, []cell{{Text: k, Class: "mono"}, value})
	}
	return s
}

func storageOf(f *ingest.File) string {
	if f.StorageKey == "" {
		return ""
	}
	if f.StorageBucket != "" {
		return fmt.Sprintf("%s://%s/%s", f.StorageBackend, f.StorageBucket, f.StorageKey)
	}
	return fmt.Sprintf("%s: %s", f.StorageBackend, f.StorageKey)
}

func (h *Handler) relatedEvents(ctx context.Context, d *detailView, fileID uuid.UUID) error {
	events, err := h.store.FindEvents(ctx, readmodel.ListQuery{FileID: &fileID, Limit: relatedLimit})
	if err != nil {
		return err
	}
	s := section{Title: "Outbox events", Columns: []string{"Event", "Type", "Status", "Attempts", "Created"}}
	for _, e := range events.Items {
		s.Rows = append(s.Rows, []cell{idCell("events", e.ID), textCell(e.EventType), statusCell(string(e.Status)),
			numberCell(int64(e.AttemptCount)), timeCell(e.CreatedAt)})
	}
	if events.More {
		s.More = "/admin/events?file=" + fileID.String()
	}
	d.Sections = append(d.Sections, s)
	return nil
}

func (h *Handler) sessionDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	s, err := h.store.UploadSession(ctx, id)
	if err != nil {
		return err
	}
	users := h.userNames(ctx)
	d.Kind, d.Title = "Upload session", "Session "+shortID(s.ID)
	d.Fields = []field{
		{"Id", cell{Text: s.ID.String(), Class: "mono"}},
		{"Status", statusCell(string(s.Status))},
		{"File", idCell("files", s.FileID)},
		{"Parts received", cell{Text: fmt.Sprintf("%d of %d", s.ReceivedPartsCount, s.TotalParts)}},
		{"Parts hashed", numberCell(int64(s.HashedParts))},
		{"Part size", bytesCell(s.ChunkSizeBytes)},
		{"Declared SHA-256", cell{Text: orDash(s.DeclaredSHA256), Class: "mono"}},
		{"Idempotency key", textCell(s.IdempotencyKey)},
		{"Uploaded by", users.cell(s.UploadedByID)},
		{"Created", timeCell(s.CreatedAt)},
		{"Updated", timeCell(s.UpdatedAt)},
		{"Expires", timeCell(s.ExpiresAt)},
		{"Completed", optionalTimeCell(s.CompletedAt)},
	}
	parts, err := h.store.Parts(ctx, s.ID)
	if err != nil {
		return err
	}
	// The part map: one square per part of the file, coloured by the part's state; parts never
	// begun are grey.
	d.PartMap = make([]partSquare, s.TotalParts)
	for i := range d.PartMap {
		d.PartMap[i] = partSquare{Number: i + 1, Status: "MISSING"}
	}
	sec := section{Title: "Parts", Columns: []string{"Part", "Number", "Status", "Size", "CRC32C", "Updated"}}
	for _, p := range parts {
		if p.PartNumber >= 1 && p.PartNumber <= len(d.PartMap) {
			d.PartMap[p.PartNumber-1].Status = string(p.Status)
		}
		if len(sec.Rows) < relatedLimit {
			sec.Rows = append(sec.Rows, []cell{idCell("parts", p.ID), numberCell(int64(p.PartNumber)), statusCell(string(p.Status)),
				bytesCell(p.SizeBytes), crcCell(p.CRC32C), timeCell(p.UpdatedAt)})
		}
	}
	if len(parts) > relatedLimit {
		sec.More = "/admin/parts?session=" + s.ID.String()
	}
	d.Sections = append(d.Sections, sec)
	return nil
}

func (h *Handler) partDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	l, err := h.store.FindParts(ctx, readmodel.ListQuery{Search: id.String(), Limit: 1})
	if err != nil {
		return err
	}
	if len(l.Items) == 0 {
		return ingest.Errorf(ingest.ENotFound, "upload part %s not found", id)
	}
	p := l.Items[0]
	d.Kind, d.Title = "Upload part", fmt.Sprintf("Part %d of session %s", p.PartNumber, shortID(p.SessionID))
	d.Fields = []field{
		{"Id", cell{Text: p.ID.String(), Class: "mono"}},
		{"Session", idCell("sessions", p.SessionID)},
		{"Number", numberCell(int64(p.PartNumber))},
		{"Status", statusCell(string(p.Status))},
		{"Size", bytesCell(p.SizeBytes)},
		{"CRC32C", crcCell(p.CRC32C)},
		{"SHA-256", cell{Text: orDash(p.SHA256), Class: "mono"}},
		{"ETag", textCell(p.ETag)},
		{"Temporary key", cell{Text: p.TempKey, Class: "mono"}},
		{"Created", timeCell(p.CreatedAt)},
		{"Updated", timeCell(p.UpdatedAt)},
	}
	return nil
}

func (h *Handler) eventDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	e, err := h.store.OutboxEvent(ctx, id)
	if err != nil {
		return err
	}
	d.Kind, d.Title = "Outbox event", e.EventType+" event "+shortID(e.ID)
	d.Fields = []field{
		{"Id", cell{Text: e.ID.String(), Class: "mono"}},
		{"Event id", cell{Text: e.EventID.String(), Class: "mono"}},
		{"Type", textCell(e.EventType)},
		{"Status", statusCell(string(e.Status))},
		{"Attempts", numberCell(int64(e.AttemptCount))},
		{"Next attempt", nextAttemptCell(e)},
		{"Last error", textCell(e.LastError)},
		{"File", idCell("files", e.FileID)},
		{"Idempotency key", cell{Text: e.IdempotencyKey, Class: "mono"}},
		{"Created", timeCell(e.CreatedAt)},
		{"Updated", timeCell(e.UpdatedAt)},
		{"Delivered", optionalTimeCell(e.DeliveredAt)},
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, e.Payload, "", "  ") == nil {
		d.Payload = pretty.String()
	} else {
		d.Payload = string(e.Payload)
	}
	return nil
}

func (h *Handler) userDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	u, err := h.store.User(ctx, id)
	if err != nil {
		return err
	}
	d.Kind, d.Title = "User", "User "+u.Username
	d.Fields = []field{
		{"Id", cell{Text: u.ID.String(), Class: "mono"}},
		{"Username", textCell(u.Username)},
		{"State", statusCell(userState(u))},
		{"Admin", yesNo(u.IsAdmin)},
		{"Disabled", optionalTimeCell(u.DisabledAt)},
		{"Created", timeCell(u.CreatedAt)},
		{"Updated", timeCell(u.UpdatedAt)},
	}
	tokens, err := h.store.FindTokens(ctx, readmodel.ListQuery{UserID: &u.ID, Limit: relatedLimit})
	if err != nil {
		return err
	}
	now := h.cfg.Now()
	s := section{Title: "API tokens", Columns: []string{"Token", "Name", "Prefix", "State", "Last used"}}
	for _, t := range tokens.Items {
		s.Rows = append(s.Rows, []cell{idCell("tokens", t.ID), textCell(t.Name), {Text: t.Prefix + "…", Class: "mono"},
			statusCell(string(t.State(now))), optionalTimeCell(t.LastUsedAt)})
	}
	if tokens.More {
		s.More = "/admin/tokens?user=" + u.ID.String()
	}
	d.Sections = append(d.Sections, s)
	batches, err := h.store.FindBatches(ctx, readmodel.ListQuery{UserID: &u.ID, Limit: relatedLimit})
	if err != nil {
		return err
	}
	bs := section{Title: "Batches", Columns: []string{"Batch", "Name", "Status", "Files", "Created"}}
	for _, b := range batches.Items {
		bs.Rows = append(bs.Rows, []cell{idCell("batches", b.ID), textCell(b.Name), statusCell(string(b.Status)),
			numberCell(int64(b.TotalFiles)), timeCell(b.CreatedAt)})
	}
	if batches.More {
		bs.More = "/admin/batches?user=" + u.ID.String()
	}
	d.Sections = append(d.Sections, bs)
	return h.relatedFiles(ctx, d, readmodel.ListQuery{UserID: &u.ID}, "/admin/files?user="+u.ID.String())
}

func userState(u *ingest.User) string {
	if u.DisabledAt != nil {
		return readmodel.UserDisabled
	}
	return readmodel.UserActive
}

func (h *Handler) tokenDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	t, err := h.store.APIToken(ctx, id)
	if err != nil {
		return err
	}
	users := h.userNames(ctx)
	d.Kind, d.Title = "API token", "Token "+orID(t.Name, t.ID)
	d.Fields = []field{
		{"Id", cell{Text: t.ID.String(), Class: "mono"}},
		{"Name", textCell(t.Name)},
		{"Prefix", cell{Text: t.Prefix + "…", Class: "mono"}},
		{"State", statusCell(string(t.State(h.cfg.Now())))},
		{"User", users.cell(t.UserID)},
		{"Last used", optionalTimeCell(t.LastUsedAt)},
		{"Expires", optionalTimeCell(t.ExpiresAt)},
		{"Revoked", optionalTimeCell(t.RevokedAt)},
		{"Created", timeCell(t.CreatedAt)},
	}
	return nil
}

func (h *Handler) grantDetail(ctx context.Context, id uuid.UUID, d *detailView) error {
	g, err := h.store.Grant(ctx, id)
	if err != nil {
		return err
	}
	users := h.userNames(ctx)
	types := "any"
	if len(g.ContentTypes) > 0 {
		types = strings.Join(g.ContentTypes, ", ")
	}
	d.Kind, d.Title = "Upload grant", "Grant "+g.Prefix+"…"
	d.Fields = []field{
		{"Id", cell{Text: g.ID.String(), Class: "mono"}},
		{"Prefix", cell{Text: g.Prefix + "…", Class: "mono"}},
		{"State", statusCell(string(g.State(h.cfg.Now())))},
		{"Created by", users.cell(g.CreatedByID)},
		{"Batch", h.batchNames(ctx).optionalCell(g.BatchID)},
		{"Files", grantFilesCell(g)},
		{"Bytes", grantBytesCell(g)},
		{"Max file size", optionalBytesCell(g.MaxFileBytes)},
		{"Content types", textCell(types)},
		{"Expires", timeCell(g.ExpiresAt)},
		{"Revoked", optionalTimeCell(g.RevokedAt)},
		{"Created", timeCell(g.CreatedAt)},
		{"Updated", timeCell(g.UpdatedAt)},
	}
	meta := metadataSection(g.Metadata)
	meta.Title = "Metadata given to its files"
	d.Sections = append(d.Sections, meta)
	return h.relatedFiles(ctx, d, readmodel.ListQuery{GrantID: &g.ID}, "/admin/files?grant="+g.ID.String())
}

func orID(name string, id uuid.UUID) string {
	if name != "" {
		return name
	}
	return shortID(id)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
