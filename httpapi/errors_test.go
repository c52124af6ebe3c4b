package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/httpapi"
)

func TestEveryCodeAnswersItsDesignedStatus(t *testing.T) {
	t.Parallel()
	// DESIGN.md §4, plus the documented additions.
	for code, want := range map[ingest.Code]int{
		"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "VALIDATION_FAILED": 400, "PART_SIZE_MISMATCH": 400,
		"PAYLOAD_TOO_LARGE": 413, "IDEMPOTENCY_CONFLICT": 409, "PART_ALREADY_RECEIVED": 409, "SESSION_NOT_ACTIVE": 409,
		"MISSING_PARTS": 409, "BATCH_NOT_OPEN": 409, "SESSION_EXPIRED": 410, "CHECKSUM_MISMATCH": 422, "RATE_LIMITED": 429,
		"CONFLICT": 409, "INVALID_TRANSITION": 409,
		"STORAGE_UNAVAILABLE":  503,
		"DATABASE_UNAVAILABLE": 503,
	} {
		s := httpapi.New(httpapi.Config{})
		rec := httptest.NewRecorder()
		err := fmt.Errorf("wrapped: %w", &ingest.Error{Code: code, Message: "the message", Details: map[string]any{"missing": []int{2}}})
		s.WriteError(rec, httptest.NewRequest("GET", "/x", nil), err)
		var body struct {
			Error struct {
				Code    string         `json:"code"`
				Message string         `json:"message"`
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != want || body.Error.Code != string(code) || body.Error.Message != "the message" || body.Error.Details["missing"] == nil {
			t.Errorf("%s: %d %s, want %d with code, message and details", code, rec.Code, rec.Body, want)
		}
	}
}

func TestStorageUnavailableAnswers503WithRetryAfterAndNoCause(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := httpapi.New(httpapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rec := httptest.NewRecorder()
	err := &ingest.Error{Code: ingest.EStorageUnavailable, Message: "the storage is unavailable; try again later",
		Err: errors.New("s3: write part 1: dial tcp 10.0.0.7:9000: connection refused")}
	s.WriteError(rec, httptest.NewRequest("PUT", "/api/v1/uploads/x/parts/1", nil), err)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "5" ||
		strings.TrimSpace(rec.Body.String()) != `{"error":{"code":"STORAGE_UNAVAILABLE","message":"the storage is unavailable; try again later"}}` {
		t.Errorf("answered %d, Retry-After %q, %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if !strings.Contains(logs.String(), "10.0.0.7") {
		t.Errorf("the log lacks the cause: %s", logs.String())
	}
}

func TestInternalErrorsSayNothingMore(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		errors.New("pq: password authentication failed for user app at 10.0.0.7"),
		&ingest.Error{Code: ingest.EConstraintViolation, Message: "upload_batches_counts_check at 10.0.0.7", Err: errors.New("23514")},
		&ingest.Error{Code: ingest.EInternal, Message: "disk /var/lib/ingest at 10.0.0.7 full"},
	} {
		var logs bytes.Buffer
		s := httpapi.New(httpapi.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		rec := httptest.NewRecorder()
		s.WriteError(rec, httptest.NewRequest("PUT", "/api/v1/uploads/x/parts/1", nil), err)
		if rec.Code != 500 || strings.TrimSpace(rec.Body.String()) != `{"error":{"code":"INTERNAL","message":"internal error"}}` {
			t.Errorf("%v answered %d %s", err, rec.Code, rec.Body)
		}
		if !strings.Contains(logs.String(), "10.0.0.7") {
			t.Errorf("the log lacks the detail of %v: %s", err, logs.String())
		}
	}
}
