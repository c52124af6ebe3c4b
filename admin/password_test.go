package admin_test

import (
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/admin"
)

func TestPasswordsAreHashedWithArgon2id(t *testing.T) {
	t.Parallel()
	const password = "correct horse battery staple"
	a, err := admin.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := admin.HashPassword(password)
	if a == b {
		t.Errorf("two hashes of one password are equal: the salt is not random")
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Count(a, "$") != 5 {
		t.Errorf("hash %q is not a PHC Argon2id string", a)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{{password, true}, {password + " ", false}, {"", false}, {strings.Repeat("x", admin.MaxPasswordLength+1), false}} {
		if got, err := admin.VerifyPassword(a, tc.password); err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%.20q) = %v, %v; want %v", tc.password, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=0,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=8,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=8,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, err := admin.VerifyPassword(bad, password); err == nil {
			t.Errorf("VerifyPassword accepted the hash %q", bad)
		}
	}
	for _, p := range []string{"short", strings.Repeat("x", admin.MaxPasswordLength+1)} {
		if _, err := admin.HashPassword(p); ingest.ErrorCode(err) != ingest.EValidation {
			t.Errorf("HashPassword of %d bytes: %v, want VALIDATION_FAILED", len(p), err)
		}
	}
}
