package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/taskapi/server/internal/auth"
)

// TestOneSpellingPerToken: the signature's last base64url character has two
// unused bits; a token with them set otherwise is another string for the
// same signature, and is refused.
func TestOneSpellingPerToken(t *testing.T) {
	v, err := newVerifier(auth.Config{Secret: []byte(strings.Repeat("k", 40))})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.Sign("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	accepted := 0
	for low := range 4 {
		variant := tok[:len(tok)-1] + string(alphabet[last&^3|low])
		if sub, err := v.Verify(variant); err == nil && sub == "alice" {
			accepted++
		} else if variant == tok {
			t.Fatalf("the token as signed is refused: %v", err)
		}
	}
	if accepted != 1 {
		t.Errorf("%d spellings of one token accepted, want 1", accepted)
	}
}
