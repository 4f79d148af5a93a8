package clientaddr

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestOf(t *testing.T) {
	proxies, err := New([]string{"10.0.0.0/8", "192.168.1.1", "fd00::/8"}, "X-Forwarded-For")
	if err != nil {
		t.Fatal(err)
	}
	forwarded, err := New([]string{"10.0.0.0/8"}, "Forwarded")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		res    *Resolver
		remote string
		header http.Header
		want   string
	}{
		{"no proxies: the peer, whatever the header says", nil, "203.0.113.9:5000", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "203.0.113.9"},
		{"an untrusted peer's header is ignored", proxies, "203.0.113.9:5000", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "203.0.113.9"},
		{"a trusted proxy's header names the client", proxies, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"198.51.100.7"}}, "198.51.100.7"},
		{"the rightmost untrusted entry: the client cannot prepend one", proxies, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7, 10.9.9.9"}}, "198.51.100.7"},
		{"headers repeated count as one list", proxies, "192.168.1.1:80", http.Header{"X-Forwarded-For": {"6.6.6.6", "198.51.100.8"}}, "198.51.100.8"},
		{"a single trusted address", proxies, "192.168.1.1:80", http.Header{"X-Forwarded-For": {"198.51.100.8"}}, "198.51.100.8"},
		{"only proxies in the header: the peer answers", proxies, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"10.2.2.2"}}, "10.1.2.3"},
		{"no header: the peer", proxies, "10.1.2.3:5000", http.Header{}, "10.1.2.3"},
		{"garbage in the header: the peer", proxies, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"not an address"}}, "10.1.2.3"},
		{"IPv6 peer and client", proxies, "[fd00::1]:443", http.Header{"X-Forwarded-For": {"2001:db8::5"}}, "2001:db8::5"},
		{"IPv4-mapped IPv6 is IPv4", proxies, "[::ffff:10.1.2.3]:443", http.Header{"X-Forwarded-For": {"::ffff:198.51.100.9"}}, "198.51.100.9"},
		{"Forwarded, when named", forwarded, "10.1.2.3:5000", http.Header{"Forwarded": {`for="[2001:db8::7]:4711", for=10.5.5.5`}}, "2001:db8::7"},
		{"Forwarded ignores X-Forwarded-For", forwarded, "10.1.2.3:5000", http.Header{"X-Forwarded-For": {"198.51.100.7"}}, "10.1.2.3"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr, r.Header = c.remote, c.header
		if got := c.res.Of(r).String(); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []struct {
		trusted []string
		header  string
	}{
		{[]string{"10.0.0.0/33"}, "X-Forwarded-For"},
		{[]string{"proxy.internal"}, "X-Forwarded-For"},
		{[]string{"10.0.0.1"}, "X-Real-IP"},
	} {
		if _, err := New(c.trusted, c.header); err == nil {
			t.Errorf("New(%q, %q) accepted", c.trusted, c.header)
		}
	}
	if _, err := New(nil, "anything"); err != nil {
		t.Errorf("without proxies the header is never read: %v", err)
	}
}
