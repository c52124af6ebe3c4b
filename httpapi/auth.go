package httpapi

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ingest-portal/ingest"
)

// maxCachedTokens bounds the authentication cache; when it is full it starts afresh, which costs
// one store lookup per token in use.
const maxCachedTokens = 4096

// authenticate returns the user of the request's bearer token, cached for AuthCacheTTL, or,
// without an Authorization header, of its session (Config.SessionAuth).
func (s *Server) authenticate(r *http.Request) (*ingest.User, error) {
	header := r.Header.Get("Authorization")
	if header == "" && s.cfg.SessionAuth != nil {
		// Without a session either, the client is told about tokens, the API's usual way in.
		if u, err := s.cfg.SessionAuth(r); ingest.ErrorCode(err) != ingest.EUnauthenticated {
			return u, err
		}
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, ingest.Errorf(ingest.EUnauthenticated, "send an API token: Authorization: Bearer <token>")
	}
	token = strings.TrimSpace(token)
	hash := ingest.HashToken(token)
	now := time.Now()
	if u := s.tokens.get(hash, now); u != nil {
		return u, nil
	}
	var u *ingest.User
	var err error
	if ingest.IsGrantToken(token) {
		u, err = s.authenticateGrant(r, hash)
	} else {
		u, err = s.cfg.Users.Authenticate(r.Context(), hash)
	}
	if err != nil {
		return nil, err
	}
	s.tokens.put(hash, u, now)
	return u, nil
}

// authenticateGrant returns the user an upload grant speaks for: its creator, never as an admin,
// with the grant (ingest.User.Grant).
func (s *Server) authenticateGrant(r *http.Request, hash string) (*ingest.User, error) {
	if s.cfg.Grants == nil {
		return nil, ingest.Errorf(ingest.EUnauthenticated, "the upload grant is unknown, revoked or expired")
	}
	g, creator, err := s.cfg.Grants.AuthenticateGrant(r.Context(), hash)
	if err != nil {
		return nil, err
	}
	u := *creator
	u.IsAdmin, u.Grant = false, g
	return &u, nil
}

// tokenCache remembers, for a short time, whom a token hash authenticated, so that a client
// sending many small requests does not cost a database query for each. Only successes are
// remembered: an unknown token always reaches the store, and a new token works at once. The price
// is that a token revoked, expired or whose user was disabled in that time still authenticates
// until its entry expires (Config.AuthCacheTTL, one second in ingest serve).
type tokenCache struct {
	ttl     time.Duration // 0: nothing is cached
	mu      sync.Mutex
	entries map[string]cachedUser
}

// cachedUser is one remembered authentication.
type cachedUser struct {
	user    *ingest.User
	expires time.Time
}

func newTokenCache(ttl time.Duration) *tokenCache {
	return &tokenCache{ttl: ttl, entries: map[string]cachedUser{}}
}

// ForgetAuthentications drops every cached authentication, so that the next request of each token
// asks the store again: after a token was revoked or a user disabled in this process, the change
// takes effect here at once instead of after AuthCacheTTL.
func (s *Server) ForgetAuthentications() { s.tokens.forget() }

// forget drops every entry.
func (c *tokenCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// get returns the user the hash authenticated less than the TTL ago, or nil.
func (c *tokenCache) get(hash string, now time.Time) *ingest.User {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || !now.Before(e.expires) {
		return nil
	}
	return e.user
}

// put remembers that the hash authenticated u at now.
func (c *tokenCache) put(hash string, u *ingest.User, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedTokens {
		clear(c.entries)
	}
	c.entries[hash] = cachedUser{user: u, expires: now.Add(c.ttl)}
}
