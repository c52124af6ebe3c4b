// Package users is the service that manages the portal's accounts outside uploading: today, the
// first administrator, without whom nobody could sign in to a new portal.
package users

import (
	"context"
	"fmt"

	"github.com/ingest-portal/ingest"
)

// Store is what the service needs of the portal's store.
type Store interface {
	CountUsers(ctx context.Context) (int, error)
	CreateUser(ctx context.Context, u *ingest.User) error
	CreateAPIToken(ctx context.Context, t *ingest.APIToken) error
}

// Service manages users and their tokens.
type Service struct {
	store Store
}

// New returns the service over store.
func New(store Store) *Service {
	return &Service{store: store}
}

// FirstAdmin is the administrator created on an empty portal, with the secret of its token. The
// secret exists only here: the store keeps its hash.
type FirstAdmin struct {
	User   *ingest.User
	Token  *ingest.APIToken
	Secret string
}

// FirstAdminName and FirstAdminTokenName name the first administrator and its token.
const (
	FirstAdminName      = "admin"
	FirstAdminTokenName = "bootstrap"
)

// CreateFirstAdmin creates the user "admin", an administrator, with an API token when the portal
// has no user at all, and reports whether it did. When several instances start at once on one
// database, one creates the admin and the others find the name taken and create nothing.
func (s *Service) CreateFirstAdmin(ctx context.Context) (FirstAdmin, bool, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return FirstAdmin{}, false, fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return FirstAdmin{}, false, nil
	}
	u := &ingest.User{Username: FirstAdminName, IsAdmin: true}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if ingest.ErrorCode(err) == ingest.EConflict {
			return FirstAdmin{}, false, nil
		}
		return FirstAdmin{}, false, fmt.Errorf("create the first admin: %w", err)
	}
	token, secret := ingest.NewAPIToken(u.ID, FirstAdminTokenName)
	if err := s.store.CreateAPIToken(ctx, token); err != nil {
		return FirstAdmin{}, false, fmt.Errorf(`create the first admin's token (run "ingest token create --user %s"): %w`, FirstAdminName, err)
	}
	return FirstAdmin{User: u, Token: token, Secret: secret}, true, nil
}
