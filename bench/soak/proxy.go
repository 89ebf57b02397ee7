package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// faultProxy forwards TCP connections from a loopback port to an upstream
// address, and injects faults on demand: added latency on every byte in
// both directions, or a cut that closes every connection and refuses new
// ones until restored. Each server instance reaches PostgreSQL and Redis
// through one of these, so that one instance's link can fail while the
// other's does not.
type faultProxy struct {
	ln       net.Listener
	upstream string
	// delay is the latency added to each direction, in nanoseconds.
	delay atomic.Int64

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startProxy listens on a free loopback port and forwards to upstream.
func startProxy(upstream string) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the host:port clients dial instead of the upstream.
func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// SetLatency adds rtt/2 to each direction of every connection, old and
// new; zero removes it. Bytes keep their order.
func (p *faultProxy) SetLatency(rtt time.Duration) { p.delay.Store(int64(rtt / 2)) }

// Cut closes every forwarded connection, both ways; until Restore, new
// connections are accepted and closed at once, as a server that went away
// would be.
func (p *faultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore forwards new connections again.
func (p *faultProxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Close stops listening, closes every connection and waits for the
// forwarding goroutines to end.
func (p *faultProxy) Close() error {
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

// track registers c, or reports false while the proxy is cut.
func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *faultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *faultProxy) forward(client net.Conn) {
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	var pipes sync.WaitGroup
	pipes.Go(func() { p.pipe(server, client) })
	pipes.Go(func() { p.pipe(client, server) })
	pipes.Wait()
}

// chunk is data read at a time, to be written once its delay has passed.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, holding each chunk for the latency in force when
// it was read. A reader and a writer goroutine keep delays from adding up:
// a chunk read while an earlier one waits is due at its own time. Either
// side ending closes both.
func (p *faultProxy) pipe(dst, src net.Conn) {
	queue := make(chan chunk, 64)
	var writer sync.WaitGroup
	writer.Go(func() {
		defer func() {
			_ = dst.Close()
			_ = src.Close()
			for range queue { // let the reader finish
			}
		}()
		for c := range queue {
			if wait := time.Until(c.due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(c.data); err != nil {
				return
			}
		}
	})
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{data: buf[:n], due: time.Now().Add(time.Duration(p.delay.Load()))}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	writer.Wait()
	_ = dst.Close()
	_ = src.Close()
}
