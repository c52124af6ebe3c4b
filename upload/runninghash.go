package upload

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
)

// runningHash is the SHA-256 of a file's first bytes, kept between requests in its session as a
// marshalled state (HashState). It follows the parts, or the stream, as they arrive in order, so
// that a file sent in order is hashed once, as it arrives, and never read back.
type runningHash struct{ sha hash.Hash }

// newRunningHash returns the running hash of no bytes yet.
func newRunningHash() *runningHash { return &runningHash{sha: sha256.New()} }

// resumeHash returns the running hash in the state marshalled into state (empty: no bytes yet).
func resumeHash(state []byte) (*runningHash, error) {
	r := newRunningHash()
	if len(state) > 0 {
		if err := r.sha.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("restore the running hash: %w", err)
		}
	}
	return r, nil
}

// Write adds b to the hashed bytes; it never fails.
func (r *runningHash) Write(b []byte) (int, error) { return r.sha.Write(b) }

// State returns the hash's marshalled state, which resumeHash takes back.
func (r *runningHash) State() []byte {
	// sha256's digest always marshals; the error exists for other hashes.
	state, _ := r.sha.(encoding.BinaryMarshaler).MarshalBinary()
	return state
}

// Hex returns the SHA-256 of the bytes written so far, in hex.
func (r *runningHash) Hex() string { return hex.EncodeToString(r.sha.Sum(nil)) }
