package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/readmodel"
)

type dashboardView struct {
	Files          chart
	Bytes          chart
	StoredFiles    string
	StoredBytes    string
	ActiveSessions int
	Backlog        []backlogCount
	Oldest         *oldestEvent
	FailedFiles    section
	FailedEvents   section
}

type backlogCount struct {
	Status string
	Count  int
	Href   string
}

type oldestEvent struct {
	Href   string
	Status string
	Age    string
}

// chart is a bar chart drawn as SVG on the server: one bar per hour, scaled to the largest.
type chart struct {
	Label  string
	Width  int
	Height int
	Bars   []bar
	Max    string
	First  string // the first hour's label, under the left end
	Last   string // the last hour's label, under the right end
}

type bar struct {
	X, Y, W, H string
	Title      string
}

const (
	chartWidth  = 480
	chartHeight = 120
)

// dashboard serves the console's first page: the last 24 hours of ingest, the active uploads,
// the outbox backlog and the most recent failures.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request, a *actor) error {
	now := h.cfg.Now().UTC()
	d, err := h.store.Dashboard(r.Context(), now.Add(-23*time.Hour))
	if err != nil {
		return err
	}
	v := dashboardView{ActiveSessions: d.ActiveSessions}
	var files, size int64
	fileValues, byteValues := make([]float64, len(d.Hours)), make([]float64, len(d.Hours))
	for i, hr := range d.Hours {
		files += int64(hr.Files)
		size += hr.Bytes
		fileValues[i], byteValues[i] = float64(hr.Files), float64(hr.Bytes)
	}
	v.StoredFiles, v.StoredBytes = strconv.FormatInt(files, 10), formatBytes(size)
	v.Files = barChart("Files stored per hour", d.Hours, fileValues, fileCount)
	v.Bytes = barChart("Bytes ingested per hour", d.Hours, byteValues, func(x float64) string { return formatBytes(int64(x)) })
	for _, st := range []ingest.OutboxStatus{ingest.OutboxPending, ingest.OutboxSending, ingest.OutboxFailed} {
		v.Backlog = append(v.Backlog, backlogCount{Status: string(st), Count: d.Backlog[st], Href: "/admin/events?status=" + string(st)})
	}
	if e := d.OldestUndelivered; e != nil {
		v.Oldest = &oldestEvent{Href: "/admin/events/" + e.ID.String(), Status: string(e.Status), Age: age(now.Sub(e.CreatedAt))}
	}
	v.FailedFiles = section{Title: "Recent failed files", Columns: []string{"File", "Name", "Code", "Reason", "Updated"}, More: "/admin/files?status=FAILED"}
	for _, f := range d.RecentFailedFiles {
		v.FailedFiles.Rows = append(v.FailedFiles.Rows, []cell{idCell("files", f.ID),
			{Text: f.OriginalFilename, Href: "/admin/files/" + f.ID.String(), Class: "name"},
			{Text: string(f.FailureCode), Class: "mono"}, textCell(f.FailureReason), timeCell(f.UpdatedAt)})
	}
	v.FailedEvents = section{Title: "Recent failed events", Columns: []string{"Event", "Type", "Attempts", "Last error", "Updated"}, More: "/admin/events?status=FAILED"}
	for _, e := range d.RecentFailedEvents {
		v.FailedEvents.Rows = append(v.FailedEvents.Rows, []cell{idCell("events", e.ID), textCell(e.EventType),
			numberCell(int64(e.AttemptCount)), {Text: truncate(e.LastError, 80), Title: e.LastError}, timeCell(e.UpdatedAt)})
	}
	h.render(w, http.StatusOK, "dashboard", view{Title: "Dashboard", Section: "dashboard", User: a.user, CSRF: a.session.CSRFToken, Data: v})
	return nil
}

// barChart lays out one bar per hour; the tallest fills the chart's height.
func barChart(label string, hours []readmodel.HourlyIngest, values []float64, format func(float64) string) chart {
	c := chart{Label: label, Width: chartWidth, Height: chartHeight}
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	c.Max = format(peak)
	if len(hours) == 0 {
		return c
	}
	c.First, c.Last = hours[0].Hour.Format("Jan 2 15:04"), hours[len(hours)-1].Hour.Format("Jan 2 15:04")
	slot := float64(chartWidth) / float64(len(hours))
	for i, v := range values {
		height := 0.0
		if peak > 0 {
			height = v / peak * (chartHeight - 2)
		}
		c.Bars = append(c.Bars, bar{
			X: px(float64(i)*slot + 1), Y: px(chartHeight - height), W: px(slot - 2), H: px(height),
			Title: fmt.Sprintf("%s–%s UTC: %s", hours[i].Hour.Format("Jan 2 15:04"), hours[i].Hour.Add(time.Hour).Format("15:04"), format(v)),
		})
	}
	return c
}

func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// age renders a duration the way a person reads an age: its largest unit.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// fileCount renders a number of files, in the singular for one.
func fileCount(x float64) string {
	if x == 1 {
		return "1 file"
	}
	return strconv.FormatFloat(x, 'f', 0, 64) + " files"
}
