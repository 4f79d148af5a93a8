package auth

import "time"

// SetClock makes v read the time from now, for tests of expiry.
func SetClock(v *Verifier, now func() time.Time) { v.now = now }

// Forget empties v's cache of verified tokens, so the next Verify decodes.
func Forget(v *Verifier) { v.verified.Purge() }
