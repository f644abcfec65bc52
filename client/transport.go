package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// transport wraps remoting.Client, which owns the connections (one per
// address, a read loop and a write loop each, requests matched by opaque).
// It adds what the SDK needs on top: the header encoding, a bounded window
// of send requests in flight per address, and asynchronous calls: the
// request goes out at once (remoting.Client.InvokeAsync, no goroutine or
// timer per call) and its outcome is handed to a pool of reusable
// goroutines that run the callbacks, so a slow callback never holds the
// connection's read loop.
type transport struct {
	rc            *remoting.Client
	serializeType byte
	window        int
	workerIdle    time.Duration
	// connLost, when set, hears of every call that failed for the
	// connection (dial refused, connection closed): the client refreshes
	// its routes then.
	connLost func(addr string)

	handoff chan func() // unbuffered: taken only by an idle worker
	closing chan struct{}
	workers sync.WaitGroup
	// sending is held (read) by invokeAsync until its request is handed
	// off; close takes it (write) to mark sends closed, so that once it
	// has, no caller can still add a worker.
	sending struct {
		sync.RWMutex
		closed bool
	}

	mu struct {
		sync.Mutex
		windows map[string]chan struct{}
		closed  bool
	}
}

func newTransport(rc *remoting.Client, serializeType byte, window int) *transport {
	t := &transport{
		rc:            rc,
		serializeType: serializeType,
		window:        window,
		workerIdle:    30 * time.Second,
		handoff:       make(chan func()),
		closing:       make(chan struct{}),
	}
	t.mu.windows = make(map[string]chan struct{})
	return t
}

// request builds a request in the configured header encoding.
func (t *transport) request(code int16) *remoting.Command {
	return &remoting.Command{
		Code:          code,
		Language:      remoting.LanguageGo,
		Version:       remoting.RequestVersion,
		SerializeType: t.serializeType,
		Ext:           remoting.Ext{Fields: make([]remoting.Field, 0, 16)}, // a send header has 13
	}
}

// invoke sends cmd and waits for its response, outside any window.
func (t *transport) invoke(ctx context.Context, addr string, cmd *remoting.Command) (*remoting.Command, error) {
	resp, err := t.rc.Invoke(ctx, addr, cmd)
	return resp, t.classify(err, addr, cmd.Code)
}

// classify is transportError, telling connLost of connection failures.
func (t *transport) classify(err error, addr string, code int16) error {
	err = transportError(err, addr, code)
	if t.connLost != nil && errors.Is(err, ErrConnection) {
		t.connLost(addr)
	}
	return err
}

// oneway queues cmd without awaiting a response.
func (t *transport) oneway(ctx context.Context, addr string, cmd *remoting.Command) error {
	return t.classify(t.rc.InvokeOneway(ctx, addr, cmd), addr, cmd.Code)
}

// acquire takes a window slot for addr, waiting until ctx ends.
func (t *transport) acquire(ctx context.Context, addr string) (chan struct{}, error) {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	w := t.mu.windows[addr]
	if w == nil {
		w = make(chan struct{}, t.window)
		t.mu.windows[addr] = w
	}
	t.mu.Unlock()
	select {
	case w <- struct{}{}:
		return w, nil
	default:
	}
	select {
	case w <- struct{}{}:
		return w, nil
	case <-ctx.Done():
		return nil, ctxError(ctx, "wait for a send slot to "+addr)
	case <-t.closing:
		return nil, ErrClosed
	}
}

func release(slot chan struct{}) {
	if slot != nil {
		<-slot
	}
}

// invokeWindowed is invoke holding a window slot of addr.
func (t *transport) invokeWindowed(ctx context.Context, addr string, cmd *remoting.Command) (*remoting.Command, error) {
	slot, err := t.acquire(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer release(slot)
	return t.invoke(ctx, addr, cmd)
}

// invokeAsync takes a window slot of addr (waiting for one until ctx ends:
// that wait is the producer's backpressure), then sends cmd and calls done
// with the outcome on a worker goroutine. timeout bounds the call; the
// caller's ctx still cancels it. done is not called when the slot could not
// be had; the error is returned instead.
func (t *transport) invokeAsync(ctx context.Context, timeout time.Duration, addr string, cmd *remoting.Command, done func(*remoting.Command, error)) error {
	t.sending.RLock()
	defer t.sending.RUnlock()
	if t.sending.closed {
		return ErrClosed
	}
	slot, err := t.acquire(ctx, addr)
	if err != nil {
		return err
	}
	code := cmd.Code
	complete := func(resp *remoting.Command, err error) {
		release(slot)
		err = t.classify(err, addr, code)
		t.runAsync(func() { done(resp, err) })
	}
	if err := t.rc.InvokeAsync(ctx, addr, cmd, timeout, complete); err != nil {
		complete(nil, err)
	}
	return nil
}

// runAsync runs f on an idle worker, or on a new one when none is idle. It
// never blocks: it is called on connections' read loops.
func (t *transport) runAsync(f func()) {
	select {
	case t.handoff <- f:
		return
	default:
	}
	t.workers.Add(1)
	go t.worker(f)
}

// worker runs callbacks until it has been idle for workerIdle.
func (t *transport) worker(f func()) {
	defer t.workers.Done()
	idle := time.NewTimer(t.workerIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(t.workerIdle)
		select {
		case f = <-t.handoff:
		case <-idle.C:
			return
		case <-t.closing:
			return
		}
	}
}

// close fails calls in flight and new ones with ErrClosed, closes the
// connections and waits for the workers.
func (t *transport) close() {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return
	}
	t.mu.closed = true
	t.mu.Unlock()
	close(t.closing)
	_ = t.rc.Close() // fails calls in flight: their callbacks are handed to workers
	t.sending.Lock() // waits for every invokeAsync between acquire and hand-off
	t.sending.closed = true
	t.sending.Unlock()
	t.workers.Wait()
}
