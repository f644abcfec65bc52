package client

import (
	"context"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// transport wraps remoting.Client, which owns the connections (one per
// address, a read loop and a write loop each, requests matched by opaque).
// It adds what the SDK needs on top: the header encoding, a bounded window
// of send requests in flight per address, and asynchronous calls served by
// a pool of reusable goroutines, so a burst of async sends costs no
// goroutine per message: at most one per window slot, parked between calls.
type transport struct {
	rc            *remoting.Client
	serializeType byte
	window        int
	workerIdle    time.Duration

	handoff chan *asyncCall // unbuffered: taken only by an idle worker
	closing chan struct{}
	workers sync.WaitGroup

	mu struct {
		sync.Mutex
		windows map[string]chan struct{}
		closed  bool
	}
}

// asyncCall is one request whose response is handed to done on a worker.
type asyncCall struct {
	ctx    context.Context
	cancel context.CancelFunc
	addr   string
	cmd    *remoting.Command
	slot   chan struct{} // window slot to give back, or nil
	done   func(*remoting.Command, error)
}

func newTransport(rc *remoting.Client, serializeType byte, window int) *transport {
	t := &transport{
		rc:            rc,
		serializeType: serializeType,
		window:        window,
		workerIdle:    30 * time.Second,
		handoff:       make(chan *asyncCall),
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
	return resp, transportError(err, addr, cmd.Code)
}

// oneway queues cmd without awaiting a response.
func (t *transport) oneway(ctx context.Context, addr string, cmd *remoting.Command) error {
	return transportError(t.rc.InvokeOneway(ctx, addr, cmd), addr, cmd.Code)
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
	slot, err := t.acquire(ctx, addr)
	if err != nil {
		return err
	}
	call := &asyncCall{addr: addr, cmd: cmd, slot: slot, done: done}
	call.ctx, call.cancel = context.WithTimeout(ctx, timeout)
	select {
	case t.handoff <- call:
		return nil
	default:
	}
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		call.cancel()
		release(slot)
		return ErrClosed
	}
	t.workers.Add(1)
	t.mu.Unlock()
	go t.worker(call)
	return nil
}

// worker runs calls until it has been idle for workerIdle.
func (t *transport) worker(call *asyncCall) {
	defer t.workers.Done()
	idle := time.NewTimer(t.workerIdle)
	defer idle.Stop()
	for {
		t.run(call)
		idle.Reset(t.workerIdle)
		select {
		case call = <-t.handoff:
		case <-idle.C:
			return
		case <-t.closing:
			return
		}
	}
}

func (t *transport) run(call *asyncCall) {
	resp, err := t.rc.Invoke(call.ctx, call.addr, call.cmd)
	call.cancel()
	release(call.slot)
	call.done(resp, transportError(err, call.addr, call.cmd.Code))
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
	_ = t.rc.Close()
	t.workers.Wait()
}
