package ingest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

func TestNewUploadGrantDefaultsAndSecret(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	creator := ingest.NewID()
	g, secret, err := ingest.NewUploadGrant(creator, ingest.GrantRequest{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "ingest_grant_") || !ingest.IsGrantToken(secret) {
		t.Errorf("secret %q lacks the grant prefix", secret)
	}
	if g.TokenHash != ingest.HashToken(secret) || strings.Contains(g.TokenHash, secret) || !strings.HasPrefix(secret, g.Prefix) {
		t.Errorf("hash %q, prefix %q do not follow from the secret", g.TokenHash, g.Prefix)
	}
	if g.MaxFiles != 1 || !g.ExpiresAt.Equal(now.Add(time.Hour)) || g.CreatedByID != creator {
		t.Errorf("defaults: max_files %d, expires_at %s", g.MaxFiles, g.ExpiresAt)
	}
	_, token := ingest.NewAPIToken(creator, "t")
	if ingest.IsGrantToken(token) {
		t.Errorf("an API token %q reads as a grant", token)
	}
}

func TestUploadGrantRequestsOutsideTheLimitsAreRefused(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for name, req := range map[string]ingest.GrantRequest{
		"expiry beyond 7 days":       {ExpiresIn: 7*24*time.Hour + time.Second},
		"negative expiry":            {ExpiresIn: -time.Minute},
		"no files":                   {GrantLimits: ingest.GrantLimits{MaxFiles: -1}},
		"too many files":             {GrantLimits: ingest.GrantLimits{MaxFiles: ingest.MaxGrantFiles + 1}},
		"zero bytes per file":        {GrantLimits: ingest.GrantLimits{MaxFileBytes: n(0)}},
		"zero bytes in all":          {GrantLimits: ingest.GrantLimits{MaxTotalBytes: n(0)}},
		"a content type that is not": {GrantLimits: ingest.GrantLimits{ContentTypes: []string{"images"}}},
		"a content type with params": {GrantLimits: ingest.GrantLimits{ContentTypes: []string{"text/plain; charset=utf-8"}}},
		"bad metadata":               {Metadata: map[string]string{"a b": "c"}},
	} {
		if _, _, err := ingest.NewUploadGrant(ingest.NewID(), req, time.Now()); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("%s: %v, want VALIDATION_FAILED", name, err)
		}
	}
	if _, _, err := ingest.NewUploadGrant(ingest.NewID(), ingest.GrantRequest{ExpiresIn: 7 * 24 * time.Hour}, time.Now()); err != nil {
		t.Errorf("7 days: %v", err)
	}
}

func TestUploadGrantCheckReserve(t *testing.T) {
	now := time.Now()
	n := func(v int64) *int64 { return &v }
	g, _, err := ingest.NewUploadGrant(ingest.NewID(), ingest.GrantRequest{GrantLimits: ingest.GrantLimits{
		MaxFiles: 2, MaxFileBytes: n(100), MaxTotalBytes: n(150), ContentTypes: []string{"image/*", "Text/CSV"}}}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		files     int
		bytes     int64
		size      int64
		ct        string
		at        time.Time
		want      ingest.Code
		revokedAt *time.Time
	}{
		{name: "fits", size: 100, ct: "image/png", at: now},
		{name: "csv with parameters", size: 1, ct: "text/csv; charset=utf-8", at: now},
		{name: "file too large", size: 101, ct: "image/png", at: now, want: ingest.EPayloadTooLarge},
		{name: "type not allowed", size: 1, ct: "application/pdf", at: now, want: ingest.EValidation},
		{name: "no file left", files: 2, size: 1, ct: "image/png", at: now, want: ingest.EGrantLimitReached},
		{name: "not enough bytes left", files: 1, bytes: 100, size: 51, ct: "image/png", at: now, want: ingest.EGrantLimitReached},
		{name: "expired", size: 1, ct: "image/png", at: g.ExpiresAt, want: ingest.EUnauthenticated},
		{name: "revoked", size: 1, ct: "image/png", at: now, revokedAt: &now, want: ingest.EUnauthenticated},
	} {
		c := *g
		c.FilesUsed, c.BytesUsed, c.RevokedAt = tc.files, tc.bytes, tc.revokedAt
		if got := ingest.ErrorCode(c.CheckReserve(tc.size, tc.ct, tc.at)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUploadGrantMetadataWinsOverTheFiles(t *testing.T) {
	g, _, err := ingest.NewUploadGrant(ingest.NewID(), ingest.GrantRequest{Metadata: map[string]string{"owner": "backend"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.FileMetadata(map[string]string{"owner": "browser", "name": "a"})
	if err != nil || got["owner"] != "backend" || got["name"] != "a" {
		t.Errorf("merged metadata %v, %v", got, err)
	}
	many := map[string]string{}
	for i := range ingest.MaxMetadataKeys {
		many[uuid.NewString()[:8]+string(rune('a'+i%26))] = "v"
	}
	if _, err := g.FileMetadata(many); ingest.ErrorCode(err) != ingest.EValidation {
		t.Errorf("33 keys together: %v, want VALIDATION_FAILED", err)
	}
}
