// Package clientaddr says which address a request came from: the TCP peer,
// or, when the peer is one of the operator's trusted proxies, the address
// that proxy wrote into X-Forwarded-For (or Forwarded). A header from anyone
// else is ignored, so a client cannot choose its own address.
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/realclientip/realclientip-go"
)

// Resolver finds a request's client address. The zero value (and nil)
// trusts no proxy: the address is always the TCP peer's.
type Resolver struct {
	trusted []netip.Prefix
	header  realclientip.Strategy
}

// New returns a Resolver that believes header ("X-Forwarded-For" or
// "Forwarded") when the peer is within one of trusted (addresses or CIDR
// ranges, as TRUSTED_PROXIES lists them). The client is the rightmost
// address in the header that is not itself a trusted proxy, the first one
// no proxy of ours could have been told by the client.
func New(trusted []string, header string) (*Resolver, error) {
	if len(trusted) == 0 {
		return &Resolver{}, nil
	}
	r := &Resolver{}
	nets := make([]net.IPNet, 0, len(trusted))
	for _, t := range trusted {
		p, err := parsePrefix(t)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, p)
		nets = append(nets, net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	var err error
	if r.header, err = realclientip.NewRightmostTrustedRangeStrategy(header, nets); err != nil {
		return nil, fmt.Errorf("CLIENT_IP_HEADER=%q: must be X-Forwarded-For or Forwarded", header)
	}
	return r, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("TRUSTED_PROXIES: %q is not an address or CIDR range", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("TRUSTED_PROXIES: %q is not an address or CIDR range", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// Of returns r's client address. It is invalid only when the peer's
// address cannot be parsed, which a net/http server never gives.
func (res *Resolver) Of(r *http.Request) netip.Addr {
	peer := peerOf(r.RemoteAddr)
	if res == nil || res.header == nil || !res.trustedPeer(peer) {
		return peer
	}
	if ip := res.header.ClientIP(r.Header, r.RemoteAddr); ip != "" {
		host, _ := realclientip.SplitHostZone(ip)
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap()
		}
	}
	// No header, or every address in it is a proxy of ours: the nearest
	// untrusted party is unknown, so the proxy itself answers for it.
	return peer
}

func (res *Resolver) trustedPeer(peer netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// Peer is the TCP peer's address, what Of answers when no proxy is
// trusted.
func Peer(r *http.Request) netip.Addr { return peerOf(r.RemoteAddr) }

func peerOf(remoteAddr string) netip.Addr {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	host, _ = realclientip.SplitHostZone(host)
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}
