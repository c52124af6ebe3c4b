package ingest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// User is someone who uploads files, a person or a program.
type User struct {
	ID         uuid.UUID
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Username   string
	IsAdmin    bool
	DisabledAt *time.Time
	// Grant is set, never stored, on the user a request speaks for when it authenticated with one
	// of the user's upload grants: it may then only upload within the grant's limits and see the
	// files the grant uploaded, and is no admin.
	Grant *UploadGrant
}

var usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,63}$`)

// ValidateUsername returns EValidation unless name is 1–64 letters, digits, '.', '_', '@' or '-',
// starting with a letter or digit.
func ValidateUsername(name string) error {
	if !usernamePattern.MatchString(name) {
		return Errorf(EValidation, "username %q must be 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

// APIToken is a bearer token of a user. The secret is shown once, when the token is made; only its
// SHA-256 is kept.
type APIToken struct {
	ID         uuid.UUID
	CreatedAt  time.Time
	UpdatedAt  time.Time
	UserID     uuid.UUID
	Name       string
	TokenHash  string // lower-case hex SHA-256 of the secret
	Prefix     string // the first characters of the secret, to tell tokens apart in listings
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
}

// tokenPrefix marks portal secrets, so that secret scanners and people recognise them.
const tokenPrefix = "ingest_"

// NewAPIToken returns a token for userID and its secret. The caller stores the token and shows the
// secret once; the secret cannot be recovered from the token.
func NewAPIToken(userID uuid.UUID, name string) (*APIToken, string) {
	secret := newSecret(tokenPrefix)
	return &APIToken{
		ID:        NewID(),
		UserID:    userID,
		Name:      name,
		TokenHash: HashToken(secret),
		Prefix:    secret[:len(tokenPrefix)+6],
	}, secret
}

// newSecret returns prefix and 160 random bits, base32 without padding: long enough to be
// unguessable, short enough to paste.
func newSecret(prefix string) string {
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(randomBytes(20)))
}

// HashToken returns the lower-case hex SHA-256 of a token secret, the form in which it is stored.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error since Go 1.24; it crashes the program instead.
	_, _ = rand.Read(b)
	return b
}
