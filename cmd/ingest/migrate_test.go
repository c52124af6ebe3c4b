package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestMigrateUpDownUpRoundTrip(t *testing.T) {
	t.Parallel()
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		r := mustSucceed(t, "migrate", "up", "--database-url", url)
		if got, want := r.stdout, appliedAll(t); got != want {
			t.Errorf("migrate up: got %q, want %q", got, want)
		}
		if got := existingPortalTables(t, dialect, url); !slices.Equal(got, portalTables) {
			t.Fatalf("after migrate up: got tables %q, want %q", got, portalTables)
		}
		r = mustSucceed(t, "check", "--database-url", url)
		if got, want := r.stdout, checkOK(t, dialect); got != want {
			t.Errorf("check: got %q, want %q", got, want)
		}

		r = mustSucceed(t, "migrate", "up", "--database-url", url)
		if got, want := r.stdout, fmt.Sprintf("database is up to date (version %d)\n", latest(t)); got != want {
			t.Errorf("second migrate up: got %q, want %q", got, want)
		}

		r = mustSucceed(t, "migrate", "down", "--to", "0", "--database-url", url)
		if got, want := r.stdout, rolledBackAll(t); got != want {
			t.Errorf("migrate down --to 0: got %q, want %q", got, want)
		}
		if got := existingPortalTables(t, dialect, url); len(got) != 0 {
			t.Fatalf("after migrate down --to 0: want no portal table, got %q", got)
		}
		r = mustFail(t, "check", "--database-url", url)
		wantErr := allPending(t, "check")
		if r.stderr != wantErr {
			t.Errorf("check after migrate down: got stderr %q, want %q", r.stderr, wantErr)
		}

		r = mustSucceed(t, "migrate", "up", "--database-url", url)
		if got, want := r.stdout, appliedAll(t); got != want {
			t.Errorf("migrate up after down: got %q, want %q", got, want)
		}
		if got := existingPortalTables(t, dialect, url); !slices.Equal(got, portalTables) {
			t.Errorf("after migrate up again: got tables %q, want %q", got, portalTables)
		}
		mustSucceed(t, "check", "--database-url", url)
	})
}

func TestMigrateDownWithoutToRollsBackTheNewestMigration(t *testing.T) {
	t.Parallel()
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		for _, v := range slices.Backward(versions(t)) {
			r := mustSucceed(t, "migrate", "down", "--database-url", url)
			want := fmt.Sprintf("rolled back migration %d\ndatabase at version %d\n", v, previous(t, v))
			if got := r.stdout; got != want {
				t.Errorf("migrate down from %d: got %q, want %q", v, got, want)
			}
			tables := existingPortalTables(t, dialect, url)
			if v > 1 && !slices.Equal(tables, portalTables) {
				t.Errorf("after rolling back only migration %d: got tables %q, want %q", v, tables, portalTables)
			}
			if v == 1 && len(tables) != 0 {
				t.Errorf("after rolling back migration 1: want no portal table, got %q", tables)
			}
		}
		r := mustSucceed(t, "migrate", "down", "--database-url", url)
		if got, want := r.stdout, "nothing to roll back (database at version 0)\n"; got != want {
			t.Errorf("migrate down at version 0: got %q, want %q", got, want)
		}
	})
}

// TestMigrateDownRefusesToDestroyDataWithoutYes: a rollback that would drop tables or columns
// holding data says what it would destroy and changes nothing, unless told --yes; one that drops
// nothing but empty tables goes ahead.
func TestMigrateDownRefusesToDestroyDataWithoutYes(t *testing.T) {
	t.Parallel()
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		mustSucceed(t, "user", "create", "alice", "--database-url", url)
		r := mustFail(t, "migrate", "down", "--to", "0", "--database-url", url)
		if !strings.Contains(r.stderr, "table users (1 row)") || !strings.Contains(r.stderr, "--yes") {
			t.Errorf("migrate down --to 0 of a database with users: stderr %q, want it to name table users (1 row) and --yes", r.stderr)
		}
		if got := existingPortalTables(t, dialect, url); !slices.Equal(got, portalTables) {
			t.Fatalf("a refused migrate down changed the schema: got tables %q", got)
		}
		mustSucceed(t, "migrate", "down", "--database-url", url) // the newest migration's table is empty
		mustSucceed(t, "migrate", "down", "--to", "0", "--yes", "--database-url", url)
		if got := existingPortalTables(t, dialect, url); len(got) != 0 {
			t.Errorf("after migrate down --to 0 --yes: want no portal table, got %q", got)
		}
	})
}

func TestMigrateDownRejectsANegativeVersion(t *testing.T) {
	t.Parallel()
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		r := mustFail(t, "migrate", "down", "--to", "-1", "--database-url", url)
		if !strings.Contains(r.stderr, "--to -1") {
			t.Errorf("want the bad value in the message, got %q", r.stderr)
		}
		if got := existingPortalTables(t, dialect, url); !slices.Equal(got, portalTables) {
			t.Errorf("a refused migrate down changed the schema: got tables %q", got)
		}
	})
}

func TestMigrateStatus(t *testing.T) {
	t.Parallel()
	forEachNewDatabase(t, func(t *testing.T, dialect, url string) {
		// migrationState returns the state column of migration 1 and the last line of the status.
		migrationState := func(t *testing.T) (string, string) {
			t.Helper()
			r := mustSucceed(t, "migrate", "status", "--database-url", url)
			for line := range strings.Lines(r.stdout) {
				if fields := strings.Fields(line); len(fields) == 3 && fields[0] == "1" {
					if fields[1] != "00001_domain_model.sql" {
						t.Errorf("migration 1: got name %q, want %q", fields[1], "00001_domain_model.sql")
					}
					return fields[2], lastLine(r.stdout)
				}
			}
			t.Fatalf("migrate status lists no migration 1:\n%v", r)
			return "", ""
		}

		state, summary := migrationState(t)
		if want := fmt.Sprintf("database at version 0 (binary knows %d)", latest(t)); state != "pending" || summary != want {
			t.Errorf("before migrate up: got %q, %q; want pending, %s", state, summary, want)
		}
		mustSucceed(t, "migrate", "up", "--database-url", url)
		state, summary = migrationState(t)
		if want := fmt.Sprintf("database at version %d (binary knows %d)", latest(t), latest(t)); state != "applied" || summary != want {
			t.Errorf("after migrate up: got %q, %q; want applied, %s", state, summary, want)
		}
		mustSucceed(t, "migrate", "down", "--to", "0", "--database-url", url)
		if state, _ := migrationState(t); state != "pending" {
			t.Errorf("after migrate down: got %q, want pending", state)
		}
	})
}
