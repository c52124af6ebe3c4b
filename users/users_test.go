package users_test

import (
	"sync"
	"testing"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/internal/testkit/testdb"
	"github.com/ingest-portal/ingest/users"
)

func TestCreateFirstAdmin(t *testing.T) {
	for _, dialect := range testdb.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Run("creates an admin whose token authenticates on an empty portal", func(t *testing.T) {
				store := testdb.Store(t, dialect)
				admin, created, err := users.New(store).CreateFirstAdmin(t.Context())
				if err != nil || !created {
					t.Fatalf("CreateFirstAdmin = %v, %v; want created", created, err)
				}
				if admin.User.Username != "admin" || !admin.User.IsAdmin || admin.Token.Name != "bootstrap" {
					t.Errorf("created %+v with token %q, want the admin \"admin\" with token \"bootstrap\"", admin.User, admin.Token.Name)
				}
				u, err := store.Authenticate(t.Context(), ingest.HashToken(admin.Secret))
				if err != nil || u.ID != admin.User.ID {
					t.Errorf("the secret authenticates %v, %v; want the admin", u, err)
				}
			})
			t.Run("creates nothing once there is a user", func(t *testing.T) {
				store := testdb.Store(t, dialect)
				if err := store.CreateUser(t.Context(), &ingest.User{Username: "alice"}); err != nil {
					t.Fatal(err)
				}
				if _, created, err := users.New(store).CreateFirstAdmin(t.Context()); err != nil || created {
					t.Fatalf("CreateFirstAdmin = %v, %v; want nothing created", created, err)
				}
				if n, err := store.CountUsers(t.Context()); err != nil || n != 1 {
					t.Errorf("%d users (%v), want 1", n, err)
				}
			})
			t.Run("one of several racing callers creates the admin", func(t *testing.T) {
				store := testdb.Store(t, dialect)
				svc := users.New(store)
				const callers = 4
				var wg sync.WaitGroup
				results := make(chan bool, callers)
				for range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, created, err := svc.CreateFirstAdmin(t.Context())
						if err != nil {
							t.Errorf("CreateFirstAdmin: %v", err)
						}
						results <- created
					}()
				}
				wg.Wait()
				close(results)
				n := 0
				for created := range results {
					if created {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d callers created the admin, want 1", n)
				}
			})
		})
	}
}
