package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// JWKSMethods are the algorithms JWKS mode accepts: those Better Auth's JWT
// plugin can sign with (EdDSA by default; keyPairConfig.alg may choose the
// others). Each key is used only with its own.
var JWKSMethods = []string{"EdDSA", "ES256", "ES512", "RS256", "PS256"}

// Defaults of JWKSConfig's intervals.
const (
	DefaultJWKSRefresh     = 10 * time.Minute
	DefaultJWKSRefetch     = time.Second
	DefaultJWKSRetry       = 5 * time.Second
	DefaultJWKSHTTPTimeout = 5 * time.Second
)

// JWKSConfig says where the keys are and which tokens JWKS mode accepts.
type JWKSConfig struct {
	// URL is the key set's address (<BETTER_AUTH_URL>/api/auth/jwks);
	// nothing in a token changes it.
	URL string
	// Issuer must equal the token's iss, and Audience be among its aud.
	// Both are required.
	Issuer, Audience string
	// SlashOptional lets iss and aud differ from Issuer and Audience by a
	// trailing slash: both default to BETTER_AUTH_URL, and Better Auth
	// 1.7.25 writes its base URL without one however it was configured.
	SlashOptional bool
	// Refresh is how often the set is fetched in the background (a key
	// withdrawn from it stops working then); DefaultJWKSRefresh if 0.
	Refresh time.Duration
	// Refetch is the least time between fetches caused by tokens naming
	// an unknown kid (a new key after rotation); DefaultJWKSRefetch if 0.
	Refetch time.Duration
	// Retry is how often a set never loaded is asked for again;
	// DefaultJWKSRetry if 0.
	Retry time.Duration
	// HTTPTimeout bounds each fetch (the one at start included);
	// DefaultJWKSHTTPTimeout if 0. A fetch for a request is bounded by
	// the request's deadline too.
	HTTPTimeout time.Duration
	// Client fetches the set; http.DefaultClient if nil.
	Client *http.Client
	// Logger receives fetch failures; slog.Default() if nil.
	Logger *slog.Logger
}

var (
	errNoKID         = errors.New("token header has no kid")
	errUnknownKID    = errors.New("token names a kid that is not in the key set")
	errKeyHeader     = errors.New("token header says where its key is, and only the configured key set is used")
	errAlgMismatch   = errors.New("token alg is not the algorithm of its key")
	errNoIssuer      = errors.New("JWKS mode needs an issuer")
	errNoAudience    = errors.New("JWKS mode needs an audience")
	errKeyAlgUnknown = errors.New("key has no alg and none follows from its type")
)

// JWKS verifies tokens signed by the keys of a JSON Web Key Set, fetched
// over HTTP with github.com/MicahParks/keyfunc: at start, then every
// Refresh, and (rate limited) when a token names a kid not in the set. No
// request waits for a fetch past its own deadline. While the endpoint is
// down the last set loaded keeps working; before any was loaded,
// Authenticate answers ErrKeysNotLoaded.
type JWKS struct {
	cfg     JWKSConfig
	store   *watchedStore
	client  jwkset.Storage
	kf      keyfunc.Keyfunc
	parser  *jwt.Parser
	refetch *rate.Limiter
	now     func() time.Time
	// ctx lives as long as the key set; fetches for unknown kids run
	// under it, not under the request that asked.
	ctx context.Context
	// mu guards fetching: the channel of the fetch in flight, closed when
	// it ends, so that the requests waiting on one new kid share one fetch.
	mu       sync.Mutex
	fetching chan struct{}
}

// NewJWKS fetches the key set once (waiting at most HTTPTimeout; failing
// to load it is no error) and keeps it fresh until ctx ends.
func NewJWKS(ctx context.Context, cfg JWKSConfig) (*JWKS, error) {
	if cfg.Issuer == "" {
		return nil, errNoIssuer
	}
	if cfg.Audience == "" {
		return nil, errNoAudience
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Refresh, DefaultJWKSRefresh)
	def(&cfg.Refetch, DefaultJWKSRefetch)
	def(&cfg.Retry, DefaultJWKSRetry)
	def(&cfg.HTTPTimeout, DefaultJWKSHTTPTimeout)
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	j := &JWKS{
		cfg:   cfg,
		store: &watchedStore{MemoryJWKSet: jwkset.NewMemoryStorage()},
		// Our own limiter, asked without waiting: an unknown kid beyond
		// it is refused at once. The library's (below) never holds a
		// request back.
		refetch: rate.NewLimiter(rate.Every(cfg.Refetch), 1),
		now:     time.Now,
		ctx:     ctx,
	}
	// Better Auth's key sets are a few KB: a larger answer is refused
	// rather than decoded into memory.
	client := *cfg.Client
	client.Transport = limitedBody{next: cfg.Client.Transport, max: maxJWKSBytes}
	cfg.Client = &client
	j.cfg.Client = &client
	logFailure := func(ctx context.Context, err error) {
		cfg.Logger.WarnContext(ctx, "auth: fetching the JWKS failed; keys already loaded stay in use",
			"url", cfg.URL, "error", err, "loaded", j.store.loaded.Load())
	}
	remote, err := jwkset.NewStorageFromHTTP(cfg.URL, jwkset.HTTPClientStorageOptions{
		Client:                    cfg.Client,
		Ctx:                       ctx,
		HTTPTimeout:               cfg.HTTPTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       logFailure,
		RefreshInterval:           cfg.Refresh,
		Storage:                   j.store,
	})
	if err != nil {
		return nil, fmt.Errorf("JWKS at %q: %w", cfg.URL, err)
	}
	j.client, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{cfg.URL: remote},
		// Bounds a fetch for a request that has no deadline of its own.
		RateLimitWaitMax:  cfg.HTTPTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("JWKS at %q: %w", cfg.URL, err)
	}
	// keyfunc reads only the memory: fetching is decided above it, in
	// keyfunc (the method), under our limiter.
	if j.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: j.store}); err != nil {
		return nil, fmt.Errorf("JWKS at %q: %w", cfg.URL, err)
	}
	j.parser = jwt.NewParser(parserOptions(JWKSMethods, func() time.Time { return j.now() })...)
	if !j.store.loaded.Load() {
		go j.retry(ctx)
	}
	return j, nil
}

// retry asks for a set never loaded every Retry until one is.
func (j *JWKS) retry(ctx context.Context) {
	t := time.NewTicker(j.cfg.Retry)
	defer t.Stop()
	for !j.store.loaded.Load() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fctx, cancel := context.WithTimeout(ctx, j.cfg.HTTPTimeout)
		_, _ = j.client.KeyRead(fctx, "") // a kid no set has: the library fetches
		cancel()
	}
	j.cfg.Logger.InfoContext(ctx, "auth: JWKS loaded", "url", j.cfg.URL)
}

// Authenticate returns the identity of a valid token.
func (j *JWKS) Authenticate(ctx context.Context, token string) (Identity, error) {
	return parse(j.parser, token, j.keyfunc(ctx), j.cfg.Issuer, j.cfg.Audience, j.cfg.SlashOptional, j.now)
}

// Ready is nil once a key set was loaded, ErrKeysNotLoaded before.
func (j *JWKS) Ready() error {
	if !j.store.loaded.Load() {
		return ErrKeysNotLoaded
	}
	return nil
}

// Generation changes whenever a fetched set replaces the keys.
func (j *JWKS) Generation() uint64 { return j.store.gen.Load() }

// keyfunc finds the token's key by kid in the configured set only, and
// hands it to keyfunc's own checks once its algorithm is the token's.
func (j *JWKS) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if err := checkHeader(t); err != nil {
			return nil, err
		}
		// A token issued by Better Auth names none of these; one that does
		// is trying to choose its own key.
		for _, h := range [...]string{"jku", "x5u", "jwk", "x5c"} {
			if _, ok := t.Header[h]; ok {
				return nil, fmt.Errorf("%w (%s)", errKeyHeader, h)
			}
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			// keyfunc would try every key in the set.
			return nil, errNoKID
		}
		jwk, err := j.store.KeyRead(ctx, kid)
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			j.awaitFetch(ctx)
			jwk, err = j.store.KeyRead(ctx, kid)
		}
		if err != nil {
			if !j.store.loaded.Load() {
				return nil, fmt.Errorf("%w (%v)", ErrKeysNotLoaded, err)
			}
			return nil, fmt.Errorf("%w: kid %q", errUnknownKID, clip(kid))
		}
		alg := t.Method.Alg()
		keyAlg, err := algOf(jwk)
		if err != nil {
			return nil, fmt.Errorf("kid %q: %w", clip(kid), err)
		}
		if keyAlg != alg {
			return nil, fmt.Errorf("%w: token alg %q, key %q is for %q", errAlgMismatch, alg, clip(kid), keyAlg)
		}
		return j.kf.KeyfuncCtx(ctx)(t)
	}
}

// maxRefetchWait bounds how long a token with an unknown kid waits for the
// set to be fetched again, whatever its own deadline: a new key after a
// rotation arrives within a second or two, and nothing waits longer.
const maxRefetchWait = 2 * time.Second

// maxJWKSBytes bounds a key set's answer.
const maxJWKSBytes = 1 << 20

// awaitFetch waits, at most maxRefetchWait and within ctx, for a fetch of
// the set. Every request waiting on an unknown kid shares one fetch, the one
// in flight or the next the limiter allows (at most one every Refetch,
// however many unknown kids arrive); a request that cannot see it end in
// time does not wait at all.
func (j *JWKS) awaitFetch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, maxRefetchWait)
	defer cancel()
	j.mu.Lock()
	done := j.fetching
	if done == nil {
		r := j.refetch.Reserve()
		delay := r.Delay()
		if deadline, _ := ctx.Deadline(); time.Until(deadline) < delay {
			r.Cancel()
			j.mu.Unlock()
			return
		}
		done = make(chan struct{})
		j.fetching = done
		go j.fetch(delay, done)
	}
	j.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// fetch refreshes the set after delay, then closes done.
func (j *JWKS) fetch(delay time.Duration, done chan struct{}) {
	defer func() {
		j.mu.Lock()
		j.fetching = nil
		j.mu.Unlock()
		close(done)
	}()
	select {
	case <-time.After(delay):
	case <-j.ctx.Done():
		return
	}
	ctx, cancel := context.WithTimeout(j.ctx, j.cfg.HTTPTimeout)
	defer cancel()
	// A kid no key has: the client then refreshes the whole set.
	_, _ = j.client.KeyRead(ctx, "\x00refresh")
}

// limitedBody refuses answers over max bytes.
type limitedBody struct {
	next http.RoundTripper
	max  int64
}

func (l limitedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(r)
	if err == nil {
		res.Body = http.MaxBytesReader(nil, res.Body, l.max)
	}
	return res, err
}

// algOf is the one algorithm a key is for: its alg, or when the set leaves
// it out, the one its type implies (RSA keys then only RS256).
func algOf(jwk jwkset.JWK) (string, error) {
	if a := jwk.Marshal().ALG.String(); a != "" {
		return a, nil
	}
	key := jwk.Key()
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public()
	}
	switch k := key.(type) {
	case ed25519.PublicKey:
		return "EdDSA", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P521():
			return "ES512", nil
		}
	case *rsa.PublicKey:
		return "RS256", nil
	}
	return "", errKeyAlgUnknown
}

// watchedStore is the key set's memory, noting each replacement: the
// library calls KeyReplaceAll only with a set it fetched and decoded.
type watchedStore struct {
	*jwkset.MemoryJWKSet
	loaded atomic.Bool
	gen    atomic.Uint64
}

// KeyReplaceAll stores a freshly fetched set. The generation moves only
// when a key was withdrawn or changed: tokens verified before stay good
// when the set merely gained a key or came back the same.
func (w *watchedStore) KeyReplaceAll(ctx context.Context, keys []jwkset.JWK) error {
	old, err := w.MemoryJWKSet.KeyReadAll(ctx)
	if err != nil {
		return err
	}
	if err := w.MemoryJWKSet.KeyReplaceAll(ctx, keys); err != nil {
		return err
	}
	if withdrawn(old, keys) {
		w.gen.Add(1)
	}
	w.loaded.Store(true)
	return nil
}

// withdrawn reports whether a key of old is missing from now or differs.
func withdrawn(old, now []jwkset.JWK) bool {
	kept := make(map[string]string, len(now))
	for _, k := range now {
		b, _ := json.Marshal(k.Marshal())
		kept[k.Marshal().KID] = string(b)
	}
	for _, k := range old {
		b, _ := json.Marshal(k.Marshal())
		if s, ok := kept[k.Marshal().KID]; !ok || s != string(b) {
			return true
		}
	}
	return false
}
