package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// A running hash resumed from its state goes on as if it had never stopped.
func TestRunningHashResumesFromItsState(t *testing.T) {
	first, err := resumeHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sha256.New().Sum(nil)); first.Hex() != want {
		t.Errorf("a new running hash = %s, want the SHA-256 of nothing, %s", first.Hex(), want)
	}
	first.Write([]byte("part one, "))
	again, err := resumeHash(first.State())
	if err != nil {
		t.Fatal(err)
	}
	again.Write([]byte("part two"))
	sum := sha256.Sum256([]byte("part one, part two"))
	if want := hex.EncodeToString(sum[:]); again.Hex() != want {
		t.Errorf("the resumed hash = %s, want %s", again.Hex(), want)
	}
}

func TestRunningHashRefusesAStateNotItsOwn(t *testing.T) {
	if _, err := resumeHash([]byte("not a sha256 state")); err == nil {
		t.Error("resumeHash took a state that is not SHA-256's")
	}
}
