package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ingest-portal/ingest"
)

// createdToken matches the line that describes a new token.
var createdToken = regexp.MustCompile(`^created token ([0-9a-f-]{36}) \(prefix (ingest_[a-z0-9]+)\) for user (\S+)$`)

// assertTokenCreated checks the standard output of "ingest token create" against the database: a
// line describing the token, then the secret alone on the last line; the database holds the
// secret's SHA-256 and never the secret. It returns the secret.
func assertTokenCreated(t *testing.T, dialect, url, stdout, username, label string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines on stdout, got %q", stdout)
	}
	secret := lines[1]
	if !strings.HasPrefix(secret, "ingest_") || strings.ContainsAny(secret, " \t") {
		t.Fatalf("want the secret alone on the last line, got %q", secret)
	}
	m := createdToken.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("got %q, want it to match %s", lines[0], createdToken)
	}
	id, prefix := m[1], m[2]
	if m[3] != username || !strings.HasPrefix(secret, prefix) {
		t.Errorf("got %q for secret %q, want user %s and a prefix of the secret", lines[0], secret, username)
	}

	db := openDB(t, url)
	var gotHash, gotPrefix, gotName, gotUser string
	err := db.QueryRowContext(t.Context(), `
		SELECT t.token_hash, t.prefix, t.name, u.username
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1`, id).
		Scan(&gotHash, &gotPrefix, &gotName, &gotUser)
	if err != nil {
		t.Fatalf("read token %s: %v", id, err)
	}
	if want := ingest.HashToken(secret); gotHash != want {
		t.Errorf("stored token_hash %q, want sha256(secret) %q", gotHash, want)
	}
	if gotPrefix != prefix || gotName != label || gotUser != username {
		t.Errorf("stored prefix %q, name %q, user %q; want %q, %q, %q", gotPrefix, gotName, gotUser, prefix, label, username)
	}

	// The secret must be nowhere: not whole, and not the part of it the prefix does not show.
	hidden := secret[len(prefix):]
	rows, err := db.QueryContext(t.Context(), `SELECT * FROM api_tokens`)
	if err != nil {
		t.Fatalf("read api_tokens: %v", err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		values := make([]any, len(columns))
		pointers := make([]any, len(columns))
		for i := range values {
			pointers[i] = &values[i]
		}
		if err := rows.Scan(pointers...); err != nil {
			t.Fatalf("read api_tokens: %v", err)
		}
		for i, v := range values {
			if s := fmt.Sprintf("%s", v); strings.Contains(s, hidden) {
				t.Errorf("api_tokens.%s holds the secret: %q", columns[i], s)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read api_tokens: %v", err)
	}
	if dialect == "sqlite" {
		// Also look at the bytes on disk, the write-ahead log included.
		path := strings.TrimPrefix(url, "sqlite://")
		files, err := filepath.Glob(path + "*")
		if err != nil || len(files) == 0 {
			t.Fatalf("find the database files of %s: %v, %q", path, err, files)
		}
		for _, file := range files {
			content, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(content, []byte(hidden)) {
				t.Errorf("%s holds the secret", file)
			}
		}
	}
	return secret
}

func TestTokenCreate(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		mustSucceed(t, "user", "create", "alice", "--database-url", url)

		r := mustSucceed(t, "token", "create", "--user", "alice", "--name", "laptop", "--database-url", url)
		first := assertTokenCreated(t, dialect, url, r.stdout, "alice", "laptop")
		r = mustSucceed(t, "token", "create", "--user", "alice", "--database-url", url)
		second := assertTokenCreated(t, dialect, url, r.stdout, "alice", "")
		if first == second {
			t.Errorf("two tokens share the secret %q", first)
		}
	})
}

func TestTokenCreateForAnUnknownUserFails(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		r := mustFail(t, "token", "create", "--user", "nobody", "--database-url", url)
		if want := `ingest: no user named "nobody"; create it with "ingest user create nobody"` + "\n"; r.stderr != want {
			t.Errorf("got stderr %q, want %q", r.stderr, want)
		}
		if r.stdout != "" {
			t.Errorf("want nothing on stdout, got %q", r.stdout)
		}
		var n int
		if err := openDB(t, url).QueryRowContext(t.Context(), `SELECT count(*) FROM api_tokens`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("got %d tokens, want none", n)
		}
	})
}

func TestTokenCreateWithoutUserFails(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		r := mustFail(t, "token", "create", "--database-url", url)
		if !strings.Contains(r.stderr, `"user"`) {
			t.Errorf("want the missing flag named, got %q", r.stderr)
		}
	})
}

// TestUserAndTokenListsAndRevocation: "user ls" and "token ls" list what "create" made, oldest
// first, and never a secret; "token revoke" revokes a token once.
func TestUserAndTokenListsAndRevocation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		alice, bob := "alice-"+ingest.NewID().String()[24:], "bob-"+ingest.NewID().String()[24:]
		mustSucceed(t, "user", "create", alice, "--database-url", url)
		mustSucceed(t, "user", "create", bob, "--admin", "--database-url", url)
		created := mustSucceed(t, "token", "create", "--user", alice, "--name", "laptop", "--database-url", url)
		m := createdToken.FindStringSubmatch(strings.Split(created.stdout, "\n")[0])
		if m == nil {
			t.Fatalf("token create: %q", created.stdout)
		}
		id, secret := m[1], lastLine(created.stdout)

		users := mustSucceed(t, "user", "ls", "--database-url", url).stdout
		a, b := strings.Index(users, alice), strings.Index(users, bob)
		if a < 0 || b < a || !regexp.MustCompile(bob+`\s+\S+\s+admin\s+active`).MatchString(users) {
			t.Errorf("user ls: want %s before %s, an admin:\n%s", alice, bob, users)
		}
		tokens := mustSucceed(t, "token", "ls", "--user", alice, "--database-url", url).stdout
		if !regexp.MustCompile(id+`\s+ingest_\S+\s+`+alice+`\s+laptop\s+ACTIVE\s+never`).MatchString(tokens) || strings.Contains(tokens, secret) {
			t.Errorf("token ls --user %s: want token %s ACTIVE and no secret:\n%s", alice, id, tokens)
		}
		if r := mustFail(t, "token", "ls", "--user", "nobody-at-all", "--database-url", url); !strings.Contains(r.stderr, `no user named "nobody-at-all"`) {
			t.Errorf("token ls of an unknown user: %q", r.stderr)
		}

		mustSucceed(t, "token", "revoke", id, "--database-url", url)
		if tokens := mustSucceed(t, "token", "ls", "--user", alice, "--database-url", url).stdout; !strings.Contains(tokens, "REVOKED") {
			t.Errorf("token ls after revoke:\n%s", tokens)
		}
		if r := mustFail(t, "token", "revoke", id, "--database-url", url); !strings.Contains(r.stderr, "REVOKED") {
			t.Errorf("a second revoke: %q, want it to say the token is REVOKED already", r.stderr)
		}
		mustFail(t, "token", "revoke", "not-an-id", "--database-url", url)
	})
}
