package auth

import "time"

// SetClock makes a, and whatever it wraps, read the time from now, for
// tests of expiry.
func SetClock(a Authenticator, now func() time.Time) {
	switch a := a.(type) {
	case *Cache:
		a.now = now
		SetClock(a.next, now)
	case *SharedSecret:
		a.now = now
	case *JWKS:
		a.now = now
	}
}

// The causes of a refusal, which the middleware folds into one reason.
var (
	ErrLongToken      = errLongToken
	ErrNoSubject      = errNoSubject
	ErrLongSubject    = errLongSubject
	ErrNULSubject     = errNULSubject
	ErrNotObject      = errNotObject
	ErrInvalidUTF8    = errInvalidUTF8
	ErrLoneSurrogate  = errLoneSurrogate
	ErrDuplicateClaim = errDuplicateClaim
	ErrDateNotNumber  = errDateNotNumber
	ErrDateOutOfRange = errDateOutOfRange
	ErrCritical       = errCritical
	ErrNoKID          = errNoKID
	ErrUnknownKID     = errUnknownKID
	ErrKeyHeader      = errKeyHeader
	ErrAlgMismatch    = errAlgMismatch
)
