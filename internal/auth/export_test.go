package auth

import "time"

// SetClock makes v read the time from now, for tests of expiry.
func SetClock(v *Verifier, now func() time.Time) { v.now = now }
