// Package tcpproxy is a TCP forwarder for tests that need a backend (Redis,
// say) to go away and come back at the same address: Stop closes the
// listener and every connection, as a crashed or partitioned server would,
// and Start listens on the same address again.
package tcpproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards each connection it accepts to its target.
type Proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while stopped
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New starts a proxy to target on a free loopback port.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcpproxy: %w", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port, the same across Stop and Start.
func (p *Proxy) Addr() string { return p.addr }

// restartTimeout bounds Start's wait for the port: the kernel may hold it
// briefly after Stop.
const restartTimeout = 5 * time.Second

// Start listens on Addr again; it does nothing if the proxy is running.
func (p *Proxy) Start() error {
	p.mu.Lock()
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return nil
	}
	deadline := time.Now().Add(restartTimeout)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tcpproxy: listening again on %s: %w", p.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop closes the listener and every forwarded connection, and returns
// once all of the proxy's goroutines have ended. It may be called again.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond) // a transient error: out of file descriptors, say
				continue
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(ln, c, up) {
				return
			}
			p.wg.Go(func() { io.Copy(up, c); up.Close(); p.untrack(up) })
			p.wg.Go(func() { io.Copy(c, up); c.Close(); p.untrack(c) })
		}
	})
}

// track records a connection pair accepted on ln, or closes it if ln has
// been stopped meanwhile.
func (p *Proxy) track(ln net.Listener, cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != ln {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

// untrack forgets a closed connection, so that a long test does not keep
// every connection it ever made.
func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
