package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/ingest-portal/ingest"
)

// argonParams are Argon2id's costs. The defaults are OWASP's recommendation for Argon2id
// (19 MiB, 2 passes, 1 lane): about 30 ms a guess here, slow for an attacker with the database,
// quick enough for a sign-in form. They are encoded in each hash, so raising them later leaves
// existing hashes valid.
type argonParams struct {
	memoryKiB uint32
	passes    uint32
	lanes     uint8
}

var defaultParams = argonParams{memoryKiB: 19 * 1024, passes: 2, lanes: 1}

const (
	saltLength = 16
	keyLength  = 32
	// The bounds of a password, in bytes. The upper one keeps a huge form field from costing a
	// huge hash.
	MinPasswordLength = 12
	MaxPasswordLength = 1024
)

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// decoyHash is verified in place of the hash of a user who does not exist or has no password, so
// that refusing them takes as long as refusing a wrong password. No password matches it in use:
// a sign-in against it is always refused.
var decoyHash = encodeHash(defaultParams, make([]byte, saltLength), make([]byte, keyLength))

// HashPassword returns the PHC-style Argon2id hash of password with a new random salt:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. It returns EValidation for a password shorter
// than MinPasswordLength or longer than MaxPasswordLength bytes.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength || len(password) > MaxPasswordLength {
		return "", ingest.Errorf(ingest.EValidation, "a password has %d to %d bytes", MinPasswordLength, MaxPasswordLength)
	}
	salt := make([]byte, saltLength)
	_, _ = rand.Read(salt)
	p := defaultParams
	key := argon2.IDKey([]byte(password), salt, p.passes, p.memoryKiB, p.lanes, keyLength)
	return encodeHash(p, salt, key), nil
}

func encodeHash(p argonParams, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memoryKiB, p.passes, p.lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches the encoded hash, comparing in constant time.
// It returns an error for a hash it cannot read.
func VerifyPassword(encoded, password string) (bool, error) {
	if len(password) > MaxPasswordLength {
		return false, nil
	}
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.passes, p.memoryKiB, p.lanes, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

func decodeHash(encoded string) (argonParams, []byte, []byte, error) {
	var p argonParams
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("password hash: not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(fields[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("password hash: unsupported argon2 version %q", fields[2])
	}
	if _, err := fmt.Sscanf(fields[3], "m=%d,t=%d,p=%d", &p.memoryKiB, &p.passes, &p.lanes); err != nil ||
		p.memoryKiB == 0 || p.passes == 0 || p.lanes == 0 {
		return p, nil, nil, fmt.Errorf("password hash: bad parameters %q", fields[3])
	}
	salt, err := b64.DecodeString(fields[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("password hash: bad salt: %w", err)
	}
	key, err := b64.DecodeString(fields[5])
	if err != nil || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("password hash: bad key")
	}
	return p, salt, key, nil
}
