package auth_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/taskapi/server/internal/auth"
)

// verifier is the shared-secret mode as the server assembles it: a Cache
// around a SharedSecret, and a Signer with the same Config.
type verifier struct {
	*auth.Cache
	signer *auth.Signer
}

func newVerifier(cfg auth.Config) (*verifier, error) {
	s, err := auth.NewSharedSecret(cfg)
	if err != nil {
		return nil, err
	}
	signer, err := auth.NewSigner(cfg)
	if err != nil {
		return nil, err
	}
	return &verifier{Cache: auth.NewCache(s, auth.CacheSize), signer: signer}, nil
}

// Verify is Authenticate without a context, returning the subject.
func (v *verifier) Verify(token string) (string, error) {
	id, err := v.Authenticate(context.Background(), token)
	return id.Subject, err
}

func (v *verifier) Sign(sub string, ttl time.Duration) (string, error) {
	return v.signer.Sign(sub, ttl)
}

func (v *verifier) Middleware(next http.Handler) http.Handler {
	return auth.Middleware(v.Cache, slog.New(slog.NewTextHandler(io.Discard, nil)))(next)
}
