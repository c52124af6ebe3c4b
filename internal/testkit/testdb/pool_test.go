package testdb_test

import (
	"database/sql"
	"net/url"
	"testing"

	"github.com/ingest-portal/ingest/internal/testkit/testdb"
)

// The tests below run one after the other: a schema given back is the next one taken in this
// binary, and nothing else here takes one.

func TestAPooledSchemaComesBackEmpty(t *testing.T) {
	var first string
	t.Run("fills it", func(t *testing.T) {
		u := testdb.MigratedURL(t, "postgres")
		first = schemaOf(t, u)
		db := open(t, u)
		if _, err := db.Exec(`INSERT INTO users (id, created_at, updated_at, username)
			VALUES (gen_random_uuid(), now(), now(), 'someone')`); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("takes it again", func(t *testing.T) {
		u := testdb.MigratedURL(t, "postgres")
		if got := schemaOf(t, u); got != first {
			t.Fatalf("took schema %s, want %s, the one given back", got, first)
		}
		var users, migrations int
		db := open(t, u)
		if err := db.QueryRow(`SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM goose_db_version)`).Scan(&users, &migrations); err != nil {
			t.Fatal(err)
		}
		if users != 0 || migrations == 0 {
			t.Errorf("the schema taken again has %d users and %d migrations, want none and every one", users, migrations)
		}
	})
}

func TestAPooledSchemaATestAlteredIsDropped(t *testing.T) {
	var altered string
	t.Run("alters it", func(t *testing.T) {
		u := testdb.MigratedURL(t, "postgres")
		altered = schemaOf(t, u)
		if _, err := open(t, u).Exec(`ALTER TABLE users ADD COLUMN nickname text`); err != nil {
			t.Fatal(err)
		}
	})
	u := testdb.MigratedURL(t, "postgres")
	if got := schemaOf(t, u); got == altered {
		t.Fatalf("took the altered schema %s again", got)
	}
	var exists bool
	if err := open(t, u).QueryRow(`SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, altered).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s, altered by its test, is still there; want it dropped", altered)
	}
}

// schemaOf returns the schema a testdb URL puts its sessions in.
func schemaOf(t *testing.T, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Query().Get("search_path")
}

func open(t *testing.T, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
