package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/httpapi"
)

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func serve(t *testing.T, h http.Handler, method, path string) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s answered %q, not JSON: %v", method, path, rec.Body.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return answer{rec.Code, rec.Header(), body}
}

func errorCode(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestHealthzIsAlwaysOK(t *testing.T) {
	t.Parallel()
	h := httpapi.New(httpapi.Config{Checks: []httpapi.Check{{Name: "database", Probe: func(context.Context) error { return errors.New("down") }}}})
	if a := serve(t, h, "GET", "/healthz"); a.status != 200 || a.body["status"] != "ok" {
		t.Errorf("healthz = %d %v", a.status, a.body)
	}
}

func TestReadyzNamesFailedChecksWithoutTheirErrors(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	down := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	checks := []httpapi.Check{
		{Name: "database", Probe: func(context.Context) error { return down }},
		{Name: "storage", Probe: func(context.Context) error { return nil }},
	}
	h := httpapi.New(httpapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Checks: checks})
	a := serve(t, h, "GET", "/readyz")
	want := map[string]any{"database": "unavailable", "storage": "ok"}
	got, _ := a.body["checks"].(map[string]any)
	if a.status != 503 || a.body["status"] != "unavailable" || got["database"] != want["database"] || got["storage"] != want["storage"] {
		t.Errorf("readyz = %d %v", a.status, a.body)
	}
	raw, _ := json.Marshal(a.body)
	if strings.Contains(string(raw), "10.0.0.7") {
		t.Errorf("readyz leaks the check's error: %s", raw)
	}
	if !strings.Contains(logs.String(), "10.0.0.7") {
		t.Errorf("the log lacks the check's error: %s", logs.String())
	}

	checks[0].Probe = func(context.Context) error { return nil }
	h = httpapi.New(httpapi.Config{Checks: checks})
	if a := serve(t, h, "GET", "/readyz"); a.status != 200 || a.body["status"] != "ok" {
		t.Errorf("readyz with every check passing = %d %v", a.status, a.body)
	}
}

func TestUnknownRoutesAnswerJSONErrors(t *testing.T) {
	t.Parallel()
	h := httpapi.New(httpapi.Config{})
	if a := serve(t, h, "GET", "/nope"); a.status != 404 || errorCode(a) != "NOT_FOUND" {
		t.Errorf("GET /nope = %d %v", a.status, a.body)
	}
	a := serve(t, h, "DELETE", "/healthz")
	if a.status != 405 || errorCode(a) != "METHOD_NOT_ALLOWED" || !strings.Contains(a.header.Get("Allow"), "GET") {
		t.Errorf("DELETE /healthz = %d %v, Allow %q", a.status, a.body, a.header.Get("Allow"))
	}
}

func TestHeadIsServedLikeGet(t *testing.T) {
	t.Parallel()
	h := httpapi.New(httpapi.Config{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("HEAD /healthz = %d", rec.Code)
	}
	_, _ = io.Copy(io.Discard, rec.Body)
}
