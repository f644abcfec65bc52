package testutil

import (
	"net"
	"sync"
	"time"
)

// FaultProxy is a TCP proxy in front of one address, for partition tests:
// while cut, it forwards nothing in either direction and holds new
// connections without dialling the target, as a network that drops every
// packet would (the peers notice only through their own timeouts); Heal
// resumes forwarding, with nothing lost, on the connections that survived
// and for new ones.
// It listens on 127.0.0.1 and is closed at the test's cleanup.
type FaultProxy struct {
	ln     net.Listener
	target string

	mu struct {
		sync.Mutex
		cut    bool
		healed chan struct{} // closed by Heal
		conns  map[net.Conn]struct{}
		closed bool
	}
	wg sync.WaitGroup
}

// ProxyTB is the part of testing.TB StartFaultProxy uses.
type ProxyTB interface {
	TB
	Fatal(args ...any)
	Cleanup(func())
}

// StartFaultProxy listens on a free loopback port and forwards to target.
func StartFaultProxy(t ProxyTB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{ln: ln, target: target}
	p.mu.conns = map[net.Conn]struct{}{}
	p.mu.healed = make(chan struct{})
	close(p.mu.healed)
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's address.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// Cut stops all forwarding.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.mu.cut {
		p.mu.cut = true
		p.mu.healed = make(chan struct{})
	}
}

// Heal resumes forwarding.
func (p *FaultProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.cut {
		p.mu.cut = false
		close(p.mu.healed)
	}
}

// Close stops the proxy and closes every connection through it.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.mu.closed = true
	for c := range p.mu.conns {
		c.Close()
	}
	if p.mu.cut {
		close(p.mu.healed)
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// gate returns a channel that is closed while forwarding is allowed.
func (p *FaultProxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.healed
}

func (p *FaultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		c.Close()
		return false
	}
	p.mu.conns[c] = struct{}{}
	return true
}

func (p *FaultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.mu.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *FaultProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve waits until forwarding is allowed, dials the target and pumps both
// ways until either side closes.
func (p *FaultProxy) serve(in net.Conn) {
	defer p.wg.Done()
	defer p.untrack(in)
	<-p.gate()
	out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil || !p.track(out) {
		return
	}
	defer p.untrack(out)
	done := make(chan struct{}, 2)
	go func() { p.pump(out, in); done <- struct{}{} }()
	go func() { p.pump(in, out); done <- struct{}{} }()
	<-done
}

// pump copies src to dst. While the proxy is cut it neither reads nor
// writes: the bytes wait, as TCP would keep retransmitting them, and the
// peers see a silent connection until their own timeouts end it.
func (p *FaultProxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		<-p.gate()
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
