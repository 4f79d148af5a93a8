package auth

import "time"

// SetClock makes v read the time from now, for tests of expiry.
func SetClock(v *Verifier, now func() time.Time) { v.now = now }

// Forget empties v's cache of verified tokens, so the next Verify decodes.
func Forget(v *Verifier) { v.verified.Purge() }

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
)
