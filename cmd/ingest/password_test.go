package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest/admin"
)

// setPasswordFrom runs "ingest user set-password NAME" with stdin.
func setPasswordFrom(t *testing.T, stdin, name, url string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := newApp(&stdout, &stderr)
	app.Reader = strings.NewReader(stdin)
	err := app.Run(t.Context(), []string{"ingest", "user", "set-password", name, "--database-url", url})
	return stdout.String(), err
}

func TestUserSetPassword(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		mustSucceed(t, "user", "create", "root", "--admin", "--database-url", url)
		out, err := setPasswordFrom(t, "correct horse battery staple\n", "root", url)
		if err != nil || out != "set the password of user root\n" {
			t.Fatalf("set-password = %q, %v", out, err)
		}
		var hash string
		if err := openDB(t, url).QueryRowContext(t.Context(), `SELECT password_hash FROM users WHERE username = 'root'`).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "staple") {
			t.Errorf("stored %q, want an Argon2id PHC string", hash)
		}
		if ok, err := admin.VerifyPassword(hash, "correct horse battery staple"); err != nil || !ok {
			t.Errorf("the stored hash does not verify the password: %v, %v", ok, err)
		}

		if _, err := setPasswordFrom(t, "short\n", "root", url); err == nil || !strings.Contains(err.Error(), "a password has 12 to 1024 bytes") {
			t.Errorf("a short password: %v", err)
		}
		if _, err := setPasswordFrom(t, "correct horse battery staple\n", "nobody", url); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("an unknown user: %v", err)
		}
		// The password never comes from the command line.
		r := mustFail(t, "user", "set-password", "root", "correct horse battery staple", "--database-url", url)
		if !strings.Contains(r.stderr, "takes one argument") {
			t.Errorf("a password in argv: %v", r)
		}
	})
}
