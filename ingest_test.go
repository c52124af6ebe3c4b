package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

func TestErrorCodesAndMessages(t *testing.T) {
	coded := &ingest.Error{Code: ingest.EMissingParts, Message: "2 of 3 parts are missing", Details: map[string]any{"missing": []int{2}},
		Err: errors.New("pq: secret internals")}
	wrapped := fmt.Errorf("complete session: %w", coded)
	for _, tc := range []struct {
		err         error
		wantCode    ingest.Code
		wantMessage string
	}{
		{nil, "", "internal error"},
		{errors.New("dial tcp: connection refused"), ingest.EInternal, "internal error"},
		{coded, ingest.EMissingParts, "2 of 3 parts are missing"},
		{wrapped, ingest.EMissingParts, "2 of 3 parts are missing"},
		{fmt.Errorf("seal: %w", ingest.CheckBatchTransition(id, ingest.BatchComplete, ingest.BatchSealed)), ingest.EBatchNotOpen,
			"upload batch " + id.String() + " is COMPLETE and cannot become SEALED"},
	} {
		if got := ingest.ErrorCode(tc.err); got != tc.wantCode {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.wantCode)
		}
		if tc.err == nil {
			continue
		}
		if got := ingest.ErrorMessage(tc.err); got != tc.wantMessage {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tc.err, got, tc.wantMessage)
		}
	}
	if strings.Contains(ingest.ErrorMessage(wrapped), "secret") {
		t.Errorf("the client message leaks the cause")
	}
	if !strings.Contains(wrapped.Error(), "secret internals") {
		t.Errorf("the log text %q lost the cause", wrapped.Error())
	}
	if d := ingest.ErrorDetails(wrapped); d["missing"].([]int)[0] != 2 {
		t.Errorf("details = %v", d)
	}
}

func TestPartArithmetic(t *testing.T) {
	for _, tc := range []struct {
		size, chunk int64
		parts       int
		last        int64
	}{
		{0, 8, 0, 0},
		{1, 8, 1, 1},
		{8, 8, 1, 8},
		{9, 8, 2, 1},
		{1 << 30, 8 << 20, 128, 8 << 20},
		{(1 << 30) + 5, 8 << 20, 129, 5},
	} {
		if got := ingest.TotalParts(tc.size, tc.chunk); got != tc.parts {
			t.Errorf("TotalParts(%d, %d) = %d, want %d", tc.size, tc.chunk, got, tc.parts)
		}
		if tc.parts > 0 {
			if got := ingest.PartSize(tc.size, tc.chunk, tc.parts); got != tc.last {
				t.Errorf("PartSize of the last of %d = %d, want %d", tc.parts, got, tc.last)
			}
			if tc.parts > 1 && ingest.PartSize(tc.size, tc.chunk, 1) != tc.chunk {
				t.Errorf("the first part is not a full chunk")
			}
		}
	}
}

func TestStoredObjectEnforcesTheStoredInvariant(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	ok := []ingest.StoredObject{
		{SHA256: sha, SizeBytes: 0, Backend: ingest.StorageLocal, Key: "k"},
		{SHA256: sha, SizeBytes: 5, Backend: ingest.StorageS3, Bucket: "b", Key: "k"},
		{SHA256: sha, SizeBytes: 5, Backend: ingest.StorageGCS, Bucket: "b", Key: "k"},
		{SHA256: sha, SizeBytes: 5, Backend: ingest.StorageAzure, Bucket: "c", Key: "k"},
	}
	bad := []ingest.StoredObject{
		{SizeBytes: 1, Backend: ingest.StorageLocal, Key: "k"},
		{SHA256: strings.ToUpper(sha), Backend: ingest.StorageLocal, Key: "k"},
		{SHA256: sha[:62], Backend: ingest.StorageLocal, Key: "k"},
		{SHA256: sha, SizeBytes: -1, Backend: ingest.StorageLocal, Key: "k"},
		{SHA256: sha, Backend: "ftp", Key: "k"},
		{SHA256: sha, Backend: ingest.StorageGCS, Key: "k"},
		{SHA256: sha, Backend: ingest.StorageAzure, Key: "k"},
		{SHA256: sha, Backend: ingest.StorageLocal},
		{SHA256: sha, Backend: ingest.StorageS3, Key: "k"},
	}
	for _, o := range ok {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, o := range bad {
		if err := o.Validate(); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("%+v: %v, want VALIDATION_FAILED", o, err)
		}
	}
}

func TestAFailureCodeEndsItsSessionOneWay(t *testing.T) {
	// The designed pairs, literally: a failure code and how the file's session ends with it.
	want := map[ingest.Code]ingest.SessionStatus{
		"CHECKSUM_MISMATCH":  ingest.SessionFailed,
		"SESSION_EXPIRED":    ingest.SessionFailed,
		"SESSION_NOT_ACTIVE": ingest.SessionFailed,
		"ABORTED":            ingest.SessionAborted,
		"BATCH_CANCELLED":    ingest.SessionAborted,
	}
	codes := ingest.FailureCodes()
	if len(codes) != len(want) {
		t.Errorf("FailureCodes() = %v, want the %d codes of the table", codes, len(want))
	}
	for _, code := range append(codes, "", ingest.EMissingParts, ingest.EInternal, "aborted") {
		for _, to := range ingest.SessionStatuses() {
			err := ingest.CheckFailure(to, code)
			switch ok := want[code] == to; {
			case ok && err != nil:
				t.Errorf("CheckFailure(%s, %q) = %v, want nil", to, code, err)
			case !ok && ingest.ErrorCode(err) != ingest.EValidation:
				t.Errorf("CheckFailure(%s, %q) = %v, want VALIDATION_FAILED", to, code, err)
			}
		}
	}
}

func TestAPITokenSecretIsShownOnceAndStoredHashed(t *testing.T) {
	user := ingest.NewID()
	tok, secret := ingest.NewAPIToken(user, "ci")
	other, otherSecret := ingest.NewAPIToken(user, "ci")
	if !strings.HasPrefix(secret, "ingest_") || len(secret) < 32 || secret == otherSecret {
		t.Errorf("secret %q", secret)
	}
	if tok.TokenHash != ingest.HashToken(secret) || tok.TokenHash == other.TokenHash || strings.Contains(tok.TokenHash, secret) {
		t.Errorf("hash %q", tok.TokenHash)
	}
	if !strings.HasPrefix(secret, tok.Prefix) || len(tok.Prefix) >= len(secret)/2 {
		t.Errorf("prefix %q of %q", tok.Prefix, secret)
	}
	if tok.UserID != user || tok.Name != "ci" || tok.ID.Version() != 7 {
		t.Errorf("token %+v", tok)
	}
}

func TestFileStoredEventAnnouncesOnlyStoredFiles(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	batch := ingest.NewID()
	f := &ingest.File{ID: ingest.NewID(), Status: ingest.FileUploading, BatchID: &batch, SizeBytes: 3, OriginalFilename: "a.txt"}
	if _, err := ingest.NewFileStoredEvent(f, now); ingest.ErrorCode(err) != ingest.EValidation {
		t.Errorf("event of an UPLOADING file: %v", err)
	}
	f.Status, f.StoredAt, f.SHA256, f.StorageBackend, f.StorageKey = ingest.FileStored, &now, strings.Repeat("0", 64), ingest.StorageLocal, "k"
	e, err := ingest.NewFileStoredEvent(f, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.EventType != "file.stored" || e.IdempotencyKey != f.ID.String() || e.FileID != f.ID || e.Status != ingest.OutboxPending ||
		!e.NextAttemptAt.Equal(now) || e.EventID == uuid.Nil {
		t.Errorf("event = %+v", e)
	}
	var data map[string]any
	if err := json.Unmarshal(e.Payload, &data); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"file_id": f.ID.String(), "batch_id": batch.String(), "size_bytes": 3.0,
		"original_filename": "a.txt", "storage_key": "k", "stored_at": "2026-11-26T12:00:00Z"} {
		if data[key] != want {
			t.Errorf("payload %s = %v, want %v", key, data[key], want)
		}
	}
	if m, ok := data["metadata"].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("payload metadata of a file without any = %#v, want {}", data["metadata"])
	}

	f.Metadata = map[string]string{"relative_path": "q4/a.txt", "note": "größe"}
	if e, err = ingest.NewFileStoredEvent(f, now); err != nil {
		t.Fatal(err)
	}
	var withMeta ingest.FileStoredData
	if err := json.Unmarshal(e.Payload, &withMeta); err != nil {
		t.Fatal(err)
	}
	if len(withMeta.Metadata) != 2 || withMeta.Metadata["relative_path"] != "q4/a.txt" || withMeta.Metadata["note"] != "größe" {
		t.Errorf("payload metadata = %v", withMeta.Metadata)
	}
}

func TestValidateMetadata(t *testing.T) {
	many := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("k%02d", i)] = "v"
		}
		return m
	}
	big := func(keys, valueBytes int) map[string]string {
		m := map[string]string{}
		for i := range keys {
			m[fmt.Sprintf("k%02d", i)] = strings.Repeat("x", valueBytes)
		}
		return m
	}
	for _, c := range []struct {
		name    string
		m       map[string]string
		wantKey string // "" for valid metadata
		wantMsg string
	}{
		{"none", nil, "", ""},
		{"empty", map[string]string{}, "", ""},
		{"32 keys", many(32), "", ""},
		{"every key character, a UTF-8 value", map[string]string{"Az09._-": "ünïcødé ✓", strings.Repeat("k", 64): ""}, "", ""},
		{"a 1 KiB value", map[string]string{"v": strings.Repeat("é", 512)}, "", ""},
		{"8 KiB in all", big(8, 1024-3), "", ""},
		{"33 keys", many(33), "", "more than 32"},
		{"an empty key", map[string]string{"": "v"}, `""`, "characters"},
		{"a 65-byte key", map[string]string{strings.Repeat("k", 65): "v"}, strings.Repeat("k", 65), "1 to 64"},
		{"a space in a key", map[string]string{"file name": "v"}, "file name", "characters"},
		{"a slash in a key", map[string]string{"a/b": "v"}, "a/b", "characters"},
		{"a non-ASCII key", map[string]string{"größe": "v"}, "größe", "characters"},
		{"a value over 1 KiB", map[string]string{"v": strings.Repeat("x", 1025)}, `"v"`, "more than 1024"},
		{"a value of invalid UTF-8", map[string]string{"bad": "a\xffb"}, `"bad"`, "UTF-8"},
		{"over 8 KiB in all", big(8, 1024-2), `"k07"`, "more than 8192"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ingest.ValidateMetadata(c.m)
			if c.wantMsg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if ingest.ErrorCode(err) != ingest.EValidation {
				t.Fatalf("error %v, want VALIDATION_FAILED", err)
			}
			msg := ingest.ErrorMessage(err)
			if !strings.Contains(msg, c.wantMsg) || !strings.Contains(msg, c.wantKey) {
				t.Errorf("message %q does not name %s and %q", msg, c.wantKey, c.wantMsg)
			}
		})
	}
	f := &ingest.File{SizeBytes: 1, OriginalFilename: "a", Metadata: many(33)}
	if ingest.ErrorCode(ingest.ValidateUpload(f, &ingest.UploadSession{ChunkSizeBytes: 1, TotalParts: 1})) != ingest.EValidation {
		t.Error("ValidateUpload accepted 33 metadata keys")
	}
}

func TestValidateUpload(t *testing.T) {
	f := &ingest.File{SizeBytes: 10, OriginalFilename: "a"}
	s := &ingest.UploadSession{ChunkSizeBytes: 4, TotalParts: 3}
	if err := ingest.ValidateUpload(f, s); err != nil {
		t.Fatal(err)
	}
	s.TotalParts = 2
	if ingest.ErrorCode(ingest.ValidateUpload(f, s)) != ingest.EValidation {
		t.Error("a wrong part count was accepted")
	}
}

func TestUsernames(t *testing.T) {
	for name, want := range map[string]bool{"alice": true, "ci-bot@example.com": true, "a.b_c": true, "": false,
		"-x": false, "../x": false, "a b": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false} {
		if got := ingest.ValidateUsername(name) == nil; got != want {
			t.Errorf("ValidateUsername(%q) ok = %v, want %v", name, got, want)
		}
	}
}
