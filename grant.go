package ingest

import (
	"context"
	"fmt"
	"maps"
	"mime"
	"strings"
	"time"

	"github.com/google/uuid"
)

// UploadGrant is a short-lived, scoped credential that an application's backend mints so that a
// browser can upload without holding an API token (DESIGN.md §8, what Cloudflare and Mux call
// direct creator uploads). Its secret is shown once; only its SHA-256 is kept, like an API
// token's. Files uploaded with it are owned by its creator and record its id; the grant itself
// may read nothing but them.
type UploadGrant struct {
	ID          uuid.UUID
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CreatedByID uuid.UUID
	TokenHash   string // lower-case hex SHA-256 of the secret
	Prefix      string // the first characters of the secret, to tell grants apart in listings
	BatchID     *uuid.UUID
	GrantLimits
	// Metadata is merged into the metadata of every file uploaded with the grant; on a key both
	// have, the grant's value wins, so that a browser cannot overwrite what the backend decided.
	Metadata  map[string]string
	ExpiresAt time.Time
	RevokedAt *time.Time
	// FilesUsed and BytesUsed count the reservations taken (Reserve): every file registered with
	// the grant, stored or not.
	FilesUsed int
	BytesUsed int64
}

// GrantLimits are what a grant lets its holder upload.
type GrantLimits struct {
	MaxFiles      int    // at least 1
	MaxFileBytes  *int64 // nil: any size the portal takes
	MaxTotalBytes *int64 // nil: no total
	// ContentTypes lists the media types a file may have, "type/subtype" or "type/*"; empty
	// allows any.
	ContentTypes []string
}

// Limits of an upload grant's request.
const (
	DefaultGrantExpiry  = time.Hour
	MaxGrantExpiry      = 7 * 24 * time.Hour
	MaxGrantFiles       = 10000
	MaxGrantContentType = 32 // entries of ContentTypes
)

// GrantRequest is what an upload grant is made from.
type GrantRequest struct {
	BatchID *uuid.UUID
	GrantLimits
	Metadata  map[string]string
	ExpiresIn time.Duration // 0: DefaultGrantExpiry
}

// grantTokenPrefix marks grant secrets apart from API tokens, whose base32 never holds a '_'
// after "ingest_".
const grantTokenPrefix = tokenPrefix + "grant_"

// IsGrantToken reports whether a bearer secret is an upload grant's rather than an API token's.
func IsGrantToken(secret string) bool { return strings.HasPrefix(secret, grantTokenPrefix) }

// NewUploadGrant returns a grant of creatorID made from req at now, and its secret. It returns
// EValidation for a request outside the limits above or of ValidateMetadata. The caller stores
// the grant and shows the secret once.
func NewUploadGrant(creatorID uuid.UUID, req GrantRequest, now time.Time) (*UploadGrant, string, error) {
	if req.ExpiresIn == 0 {
		req.ExpiresIn = DefaultGrantExpiry
	}
	if req.MaxFiles == 0 {
		req.MaxFiles = 1
	}
	if err := req.validate(); err != nil {
		return nil, "", err
	}
	types := make([]string, len(req.ContentTypes))
	for i, ct := range req.ContentTypes {
		types[i] = strings.ToLower(strings.TrimSpace(ct))
	}
	secret := newSecret(grantTokenPrefix)
	return &UploadGrant{
		ID:          NewID(),
		CreatedByID: creatorID,
		TokenHash:   HashToken(secret),
		Prefix:      secret[:len(grantTokenPrefix)+6],
		BatchID:     req.BatchID,
		GrantLimits: GrantLimits{MaxFiles: req.MaxFiles, MaxFileBytes: req.MaxFileBytes, MaxTotalBytes: req.MaxTotalBytes,
			ContentTypes: types},
		Metadata:  maps.Clone(req.Metadata),
		ExpiresAt: Timestamp(now.Add(req.ExpiresIn)),
	}, secret, nil
}

func (req GrantRequest) validate() error {
	switch {
	case req.ExpiresIn < time.Second || req.ExpiresIn > MaxGrantExpiry:
		return &Error{Code: EValidation, Message: fmt.Sprintf("expires_in must be 1 second to %s", MaxGrantExpiry),
			Details: map[string]any{"max_expires_in_seconds": int(MaxGrantExpiry.Seconds())}}
	case req.MaxFiles < 1 || req.MaxFiles > MaxGrantFiles:
		return &Error{Code: EValidation, Message: fmt.Sprintf("max_files must be 1 to %d", MaxGrantFiles),
			Details: map[string]any{"max_files": MaxGrantFiles}}
	case req.MaxFileBytes != nil && *req.MaxFileBytes < 1:
		return Errorf(EValidation, "max_file_bytes must be 1 or more")
	case req.MaxTotalBytes != nil && *req.MaxTotalBytes < 1:
		return Errorf(EValidation, "max_total_bytes must be 1 or more")
	case len(req.ContentTypes) > MaxGrantContentType:
		return Errorf(EValidation, "content_types has more than %d entries", MaxGrantContentType)
	}
	for _, ct := range req.ContentTypes {
		if !validTypePattern(ct) {
			return &Error{Code: EValidation, Message: fmt.Sprintf("content type %q is not a media type such as image/png or image/*", ct),
				Details: map[string]any{"content_type": ct}}
		}
	}
	return ValidateMetadata(req.Metadata)
}

// validTypePattern reports whether p is "type/subtype" or "type/*", without parameters.
func validTypePattern(p string) bool {
	p = strings.TrimSpace(p)
	if strings.HasSuffix(p, "/*") {
		p = strings.TrimSuffix(p, "*") + "x"
	}
	mt, params, err := mime.ParseMediaType(p)
	return err == nil && len(params) == 0 && strings.Count(mt, "/") == 1
}

// AllowsContentType reports whether a file of media type ct may be uploaded with the grant.
func (l GrantLimits) AllowsContentType(ct string) bool {
	if len(l.ContentTypes) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, p := range l.ContentTypes {
		if p == mt || (strings.HasSuffix(p, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}

// State returns the grant's state at now: an upload grant is a credential as an API token is.
func (g *UploadGrant) State(now time.Time) TokenState {
	switch {
	case g.RevokedAt != nil:
		return TokenRevoked
	case !now.Before(g.ExpiresAt):
		return TokenExpired
	}
	return TokenActive
}

// CheckReserve returns why a file of size bytes and media type ct cannot be reserved against the
// grant at now, or nil if it can: EUnauthenticated for a revoked or expired grant,
// EPayloadTooLarge beyond max_file_bytes, EValidation for a content type the grant does not
// allow, and EGrantLimitReached when the grant has no file or not enough bytes left. The store's
// reservation is the atomic check; this explains its refusal.
func (g *UploadGrant) CheckReserve(size int64, ct string, now time.Time) error {
	switch {
	case g.State(now) != TokenActive:
		return Errorf(EUnauthenticated, "the upload grant is %s", strings.ToLower(string(g.State(now))))
	case g.MaxFileBytes != nil && size > *g.MaxFileBytes:
		return g.errFileTooLarge()
	case !g.AllowsContentType(ct):
		return &Error{Code: EValidation, Message: fmt.Sprintf("the upload grant does not allow content type %q", ct),
			Details: map[string]any{"content_types": g.ContentTypes}}
	case g.FilesUsed >= g.MaxFiles:
		return &Error{Code: EGrantLimitReached, Message: "the upload grant has no file left",
			Details: map[string]any{"limit": "max_files", "max_files": g.MaxFiles}}
	case g.MaxTotalBytes != nil && g.BytesUsed+size > *g.MaxTotalBytes:
		return g.errNoBytesLeft()
	}
	return nil
}

// CheckReserveBytes returns why size more bytes of a file already reserved with a length of zero
// (a tus upload whose length was deferred) cannot be counted against the grant, or nil if they
// can: EPayloadTooLarge beyond max_file_bytes, EGrantLimitReached beyond max_total_bytes. The
// file was admitted when it was reserved: neither the grant's state nor its files count here.
func (g *UploadGrant) CheckReserveBytes(size int64) error {
	switch {
	case g.MaxFileBytes != nil && size > *g.MaxFileBytes:
		return g.errFileTooLarge()
	case g.MaxTotalBytes != nil && g.BytesUsed+size > *g.MaxTotalBytes:
		return g.errNoBytesLeft()
	}
	return nil
}

// RemainingFileBytes is the most bytes one more file of the grant may hold as it stands: the
// smaller of max_file_bytes and what is left of max_total_bytes, or -1 for no limit.
func (g *UploadGrant) RemainingFileBytes() int64 {
	n := int64(-1)
	if g.MaxFileBytes != nil {
		n = *g.MaxFileBytes
	}
	if g.MaxTotalBytes != nil && (n < 0 || *g.MaxTotalBytes-g.BytesUsed < n) {
		n = max(*g.MaxTotalBytes-g.BytesUsed, 0)
	}
	return n
}

func (g *UploadGrant) errFileTooLarge() error {
	return &Error{Code: EPayloadTooLarge, Message: "the file is larger than the upload grant allows",
		Details: map[string]any{"max_file_bytes": *g.MaxFileBytes}}
}

func (g *UploadGrant) errNoBytesLeft() error {
	return &Error{Code: EGrantLimitReached, Message: "the upload grant has not enough bytes left",
		Details: map[string]any{"limit": "max_total_bytes", "remaining_bytes": *g.MaxTotalBytes - g.BytesUsed}}
}

// FileMetadata returns the metadata of a file uploaded with the grant: the file's, with the
// grant's merged over it. It returns EValidation when the two together break ValidateMetadata.
func (g *UploadGrant) FileMetadata(file map[string]string) (map[string]string, error) {
	if len(g.Metadata) == 0 {
		return file, nil
	}
	out := maps.Clone(file)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, g.Metadata)
	if err := ValidateMetadata(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ErrGrantRevoked is the refusal to revoke an upload grant twice.
func ErrGrantRevoked(id uuid.UUID) error {
	return &TransitionError{Entity: "upload grant", ID: id, From: string(TokenRevoked), To: string(TokenRevoked), Code: EInvalidTransition}
}

// GrantStore keeps upload grants. Every limit is enforced by Reserve in one conditional update,
// so that instances sharing the database never let a grant exceed it together.
type GrantStore interface {
	// CreateGrant inserts g with zero counters, filling in its timestamps. It returns ENotFound
	// when its creator or batch does not exist and EConflict when its hash is already stored.
	CreateGrant(ctx context.Context, g *UploadGrant) error
	// Grant returns the grant with the id, or ENotFound.
	Grant(ctx context.Context, id uuid.UUID) (*UploadGrant, error)
	// Grants returns up to limit grants of the creator, newest first, after the grant with id
	// after when it is not nil.
	Grants(ctx context.Context, createdByID uuid.UUID, after *uuid.UUID, limit int) ([]*UploadGrant, error)
	// RevokeGrant marks an unrevoked grant revoked (compare-and-set). It returns ENotFound, or a
	// *TransitionError (INVALID_TRANSITION) when it is already revoked.
	RevokeGrant(ctx context.Context, id uuid.UUID) (*UploadGrant, error)
	// AuthenticateGrant returns the active grant whose secret has the hash and its creator. It
	// returns EUnauthenticated for an unknown, revoked or expired grant, saying nothing of which,
	// and EForbidden when the creator is disabled.
	AuthenticateGrant(ctx context.Context, tokenHash string) (*UploadGrant, *User, error)
	// ReserveGrant counts one file of size bytes and media type ct against the grant, in one
	// conditional update, and returns the grant as it is after. It returns ENotFound, or what
	// UploadGrant.CheckReserve says of a grant that refused it.
	ReserveGrant(ctx context.Context, id uuid.UUID, size int64, ct string) (*UploadGrant, error)
	// ReleaseGrant gives back a reservation of size bytes whose file was never recorded. It
	// returns ENotFound.
	ReleaseGrant(ctx context.Context, id uuid.UUID, size int64) error
	// ReserveGrantBytes counts size more bytes of a file already reserved against the grant (one
	// whose length was deferred and is now declared), in one conditional update, and returns the
	// grant as it is after. It returns ENotFound, or what UploadGrant.CheckReserveBytes says.
	ReserveGrantBytes(ctx context.Context, id uuid.UUID, size int64) (*UploadGrant, error)
	// ReleaseGrantBytes gives back size bytes of ReserveGrantBytes whose length was never
	// recorded, the file keeping its reservation. It returns ENotFound.
	ReleaseGrantBytes(ctx context.Context, id uuid.UUID, size int64) error
}
