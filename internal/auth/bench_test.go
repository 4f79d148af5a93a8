package auth_test

import (
	"testing"
	"time"

	"github.com/taskapi/server/internal/auth"
)

// BenchmarkVerify measures Verify alone. A client sends the same token until
// it expires, so "remembered" is the path nearly every request takes;
// "fresh" is its first request, decoded and checked in full.
func BenchmarkVerify(b *testing.B) {
	v, err := newVerifier(auth.Config{Secret: []byte(secret)})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := v.Sign("bench-user", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("remembered", func(b *testing.B) {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.Forget()
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
