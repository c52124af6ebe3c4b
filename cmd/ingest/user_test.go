package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestUserCreate(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		db := openDB(t, url)
		created := regexp.MustCompile(`^created user (\S+) \(id ([0-9a-f-]{36})(, admin)?\)\n$`)

		for _, tc := range []struct {
			args  []string
			name  string
			admin bool
		}{
			{[]string{"user", "create", "alice", "--admin"}, "alice", true},
			{[]string{"user", "create", "bob"}, "bob", false},
		} {
			r := mustSucceed(t, append(tc.args, "--database-url", url)...)
			m := created.FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("%v: got stdout %q, want it to match %s", tc.args, r.stdout, created)
			}
			if m[1] != tc.name || (m[3] != "") != tc.admin {
				t.Errorf("%v: got stdout %q, want user %s, admin %v", tc.args, r.stdout, tc.name, tc.admin)
			}
			var id string
			var admin bool
			err := db.QueryRowContext(t.Context(), `SELECT id, is_admin FROM users WHERE username = $1`, tc.name).Scan(&id, &admin)
			if err != nil {
				t.Fatalf("read user %s: %v", tc.name, err)
			}
			if id != m[2] || admin != tc.admin {
				t.Errorf("stored user %s: got id %s, admin %v; want id %s, admin %v", tc.name, id, admin, m[2], tc.admin)
			}
		}
	})
}

func TestUserCreateRefusesATakenName(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		mustSucceed(t, "user", "create", "alice", "--database-url", url)
		r := mustFail(t, "user", "create", "alice", "--admin", "--database-url", url)
		// The domain's message, not the driver's text.
		if want := "ingest: username alice is taken\n"; r.stderr != want {
			t.Errorf("got stderr %q, want %q", r.stderr, want)
		}
		var n int
		if err := openDB(t, url).QueryRowContext(t.Context(), `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("got %d users, want 1", n)
		}
	})
}

func TestUserCreateDoesNotMigrate(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		// A database whose schema was removed: it exists, and its migration is pending.
		mustSucceed(t, "migrate", "up", "--database-url", url)
		mustSucceed(t, "migrate", "down", "--to", "0", "--database-url", url)

		r := mustFail(t, "user", "create", "alice", "--database-url", url)
		want := allPending(t, "user create")
		if r.stderr != want {
			t.Errorf("got stderr %q, want %q", r.stderr, want)
		}
		if got := existingPortalTables(t, dialect, url); len(got) != 0 {
			t.Errorf("user create created tables %q", got)
		}
	})
}

func TestUserCreateOnANewDatabaseSaysToMigrate(t *testing.T) {
	t.Parallel()
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		r := mustFail(t, "user", "create", "alice", "--database-url", url)
		if !strings.Contains(r.stderr, `run "ingest migrate up"`) {
			t.Errorf("want advice to migrate, got %q", r.stderr)
		}
		if got := existingPortalTables(t, dialect, url); len(got) != 0 {
			t.Errorf("user create created tables %q", got)
		}
	})
}

func TestUserCreateRefusesBadArguments(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		for name, tc := range map[string]struct {
			args []string
			want string
		}{
			"no name":      {[]string{"user", "create"}, "got 0"},
			"two names":    {[]string{"user", "create", "alice", "bob"}, "got 2"},
			"invalid name": {[]string{"user", "create", "bad name"}, `username "bad name" must be`},
		} {
			t.Run(name, func(t *testing.T) {
				r := mustFail(t, append(tc.args, "--database-url", url)...)
				if !strings.Contains(r.stderr, tc.want) {
					t.Errorf("got stderr %q, want it to contain %q", r.stderr, tc.want)
				}
			})
		}
		var n int
		if err := openDB(t, url).QueryRowContext(t.Context(), `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("got %d users, want none", n)
		}
	})
}
