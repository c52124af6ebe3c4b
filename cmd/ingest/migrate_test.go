package main

import (
	"slices"
	"strings"
	"testing"
)

func TestMigrateUpDownUpRoundTrip(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		r := mustSucceed(t, "migrate", "up", "--database-url", url)
		if got, want := r.stdout, "applied migration 1\n"; got != want {
			t.Errorf("migrate up: got %q, want %q", got, want)
		}
		if got := existingPortalTables(t, dialect, url); !slices.Equal(got, portalTables) {
			t.Fatalf("after migrate up: got tables %q, want %q", got, portalTables)
		}
		r = mustSucceed(t, "check", "--database-url", url)
		if got, want := r.stdout, "ok: "+dialect+" database at version 1, no pending migration\n"; got != want {
			t.Errorf("check: got %q, want %q", got, want)
		}

		r = mustSucceed(t, "migrate", "up", "--database-url", url)
		if got, want := r.stdout, "database is up to date (version 1)\n"; got != want {
			t.Errorf("second migrate up: got %q, want %q", got, want)
		}

		r = mustSucceed(t, "migrate", "down", "--to", "0", "--database-url", url)
		if got, want := r.stdout, "rolled back migration 1\ndatabase at version 0\n"; got != want {
			t.Errorf("migrate down --to 0: got %q, want %q", got, want)
		}
		if got := existingPortalTables(t, dialect, url); len(got) != 0 {
			t.Fatalf("after migrate down --to 0: want no portal table, got %q", got)
		}
		r = mustFail(t, "check", "--database-url", url)
		wantErr := `ingest: check: 1 migration pending (database at version 0, binary knows 1); run "ingest migrate up"` + "\n"
		if r.stderr != wantErr {
			t.Errorf("check after migrate down: got stderr %q, want %q", r.stderr, wantErr)
		}

		r = mustSucceed(t, "migrate", "up", "--database-url", url)
		if got, want := r.stdout, "applied migration 1\n"; got != want {
			t.Errorf("migrate up after down: got %q, want %q", got, want)
		}
		if got := existingPortalTables(t, dialect, url); !slices.Equal(got, portalTables) {
			t.Errorf("after migrate up again: got tables %q, want %q", got, portalTables)
		}
		mustSucceed(t, "check", "--database-url", url)
	})
}

func TestMigrateDownWithoutToRollsBackTheNewestMigration(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect, url string) {
		mustSucceed(t, "migrate", "up", "--database-url", url)
		r := mustSucceed(t, "migrate", "down", "--database-url", url)
		if got, want := r.stdout, "rolled back migration 1\ndatabase at version 0\n"; got != want {
			t.Errorf("migrate down: got %q, want %q", got, want)
		}
		if got := existingPortalTables(t, dialect, url); len(got) != 0 {
			t.Errorf("after migrate down: want no portal table, got %q", got)
		}
		r = mustSucceed(t, "migrate", "down", "--database-url", url)
		if got, want := r.stdout, "nothing to roll back (database at version 0)\n"; got != want {
			t.Errorf("migrate down at version 0: got %q, want %q", got, want)
		}
	})
}

func TestMigrateDownRejectsANegativeVersion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect, url string) {
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
	forEachDialect(t, func(t *testing.T, dialect, url string) {
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
		if state != "pending" || summary != "database at version 0 (binary knows 1)" {
			t.Errorf("before migrate up: got %q, %q; want pending, database at version 0 (binary knows 1)", state, summary)
		}
		mustSucceed(t, "migrate", "up", "--database-url", url)
		state, summary = migrationState(t)
		if state != "applied" || summary != "database at version 1 (binary knows 1)" {
			t.Errorf("after migrate up: got %q, %q; want applied, database at version 1 (binary knows 1)", state, summary)
		}
		mustSucceed(t, "migrate", "down", "--to", "0", "--database-url", url)
		if state, _ := migrationState(t); state != "pending" {
			t.Errorf("after migrate down: got %q, want pending", state)
		}
	})
}
