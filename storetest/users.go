package storetest

import (
	"testing"

	"github.com/google/uuid"

	"github.com/ingest-portal/ingest"
)

func testUsers(t *testing.T, open Opener) {
	t.Run("created user reads back by id and name", func(t *testing.T) {
		f := newFixture(t, open)
		u := &ingest.User{Username: "alice", IsAdmin: true}
		if err := f.Store.CreateUser(f.ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.ID.Version() != 7 {
			t.Errorf("id version = %d, want a UUIDv7", u.ID.Version())
		}
		byID, err := f.Store.User(f.ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		byName, err := f.Store.UserByUsername(f.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []*ingest.User{byID, byName} {
			if got.ID != u.ID || got.Username != "alice" || !got.IsAdmin || got.DisabledAt != nil ||
				!got.CreatedAt.Equal(f.Clock.Now()) || !got.UpdatedAt.Equal(f.Clock.Now()) {
				t.Errorf("read back %+v, want %+v", got, u)
			}
		}
		if n, err := f.Store.CountUsers(f.ctx); err != nil || n != 1 {
			t.Errorf("CountUsers = %d, %v; want 1", n, err)
		}
	})

	t.Run("a taken username is a conflict", func(t *testing.T) {
		f := newFixture(t, open)
		f.Store.CreateUser(f.ctx, &ingest.User{Username: "bob"})
		wantCode(t, f.Store.CreateUser(f.ctx, &ingest.User{Username: "bob"}), ingest.EConflict)
	})

	t.Run("a bad username is refused", func(t *testing.T) {
		f := newFixture(t, open)
		for _, name := range []string{"", "../etc", "a b", string(make([]byte, 65))} {
			wantCode(t, f.Store.CreateUser(f.ctx, &ingest.User{Username: name}), ingest.EValidation)
		}
	})

	t.Run("an unknown user is not found", func(t *testing.T) {
		f := newFixture(t, open)
		_, err := f.Store.User(f.ctx, uuid.New())
		wantCode(t, err, ingest.ENotFound)
		_, err = f.Store.UserByUsername(f.ctx, "nobody")
		wantCode(t, err, ingest.ENotFound)
	})

	t.Run("a token stores only the hash of its secret", func(t *testing.T) {
		f := newFixture(t, open)
		u := f.user(false)
		tok, secret := ingest.NewAPIToken(u.ID, "ci")
		if err := f.Store.CreateAPIToken(f.ctx, tok); err != nil {
			t.Fatal(err)
		}
		if got := f.count(`SELECT count(*) FROM api_tokens WHERE token_hash = $1 AND user_id = $2`, ingest.HashToken(secret), u.ID); got != 1 {
			t.Errorf("tokens with the secret's hash = %d, want 1", got)
		}
		if got := f.count(`SELECT count(*) FROM api_tokens WHERE token_hash = $1 OR prefix = $1 OR name = $1`, secret); got != 0 {
			t.Errorf("the secret itself is stored")
		}
		wantCode(t, f.Store.CreateAPIToken(f.ctx, &ingest.APIToken{UserID: u.ID, TokenHash: tok.TokenHash, Prefix: "x"}), ingest.EConflict)
	})

	t.Run("a token of an unknown user is not found", func(t *testing.T) {
		f := newFixture(t, open)
		tok, _ := ingest.NewAPIToken(uuid.New(), "ci")
		wantCode(t, f.Store.CreateAPIToken(f.ctx, tok), ingest.ENotFound)
	})
}
