package remoting

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// asyncOutcome collects InvokeAsync callbacks and counts duplicates.
type asyncOutcome struct {
	mu    sync.Mutex
	resps map[int]*Command
	errs  map[int]error
	calls int
	done  chan struct{}
	want  int
}

func newAsyncOutcome(want int) *asyncOutcome {
	return &asyncOutcome{resps: map[int]*Command{}, errs: map[int]error{}, done: make(chan struct{}), want: want}
}

func (o *asyncOutcome) callback(i int) func(*Command, error) {
	return func(resp *Command, err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.calls++
		if err != nil {
			o.errs[i] = err
		} else {
			o.resps[i] = resp
		}
		if o.calls == o.want {
			close(o.done)
		}
	}
}

func (o *asyncOutcome) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-o.done:
	case <-time.After(within):
		o.mu.Lock()
		defer o.mu.Unlock()
		t.Fatalf("%d of %d callbacks within %v", o.calls, o.want, within)
	}
	time.Sleep(2 * asyncSweepInterval) // a duplicate would show up meanwhile
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.calls != o.want {
		t.Fatalf("%d callbacks for %d calls", o.calls, o.want)
	}
}

func TestInvokeAsyncResponses(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	const n = 500
	out := newAsyncOutcome(n)
	for i := range n {
		req := NewRequest(RequestHeartbeat)
		req.Body = []byte(strconv.Itoa(i))
		req.Ext.Set("delayMs", strconv.Itoa(i%5))
		if err := c.InvokeAsync(context.Background(), srv.addr(), req, 5*time.Second, out.callback(i)); err != nil {
			t.Fatal(err)
		}
	}
	out.wait(t, 10*time.Second)
	for i := range n {
		if out.errs[i] != nil {
			t.Fatalf("call %d: %v", i, out.errs[i])
		}
		if got := string(out.resps[i].Body); got != strconv.Itoa(i) {
			t.Fatalf("call %d answered with %q", i, got)
		}
	}
}

func TestInvokeAsyncTimeoutAndCancel(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	silent := func() *Command {
		req := NewRequest(RequestHeartbeat)
		req.Ext.Set("silent", "")
		return req
	}
	out := newAsyncOutcome(2)
	start := time.Now()
	if err := c.InvokeAsync(context.Background(), srv.addr(), silent(), 100*time.Millisecond, out.callback(0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.InvokeAsync(ctx, srv.addr(), silent(), time.Hour, out.callback(1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	out.wait(t, 5*time.Second)
	if !errors.Is(out.errs[0], context.DeadlineExceeded) {
		t.Fatalf("timed-out call: %v, want DeadlineExceeded", out.errs[0])
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("timed out after %v, before its 100ms", el)
	}
	if !errors.Is(out.errs[1], context.Canceled) {
		t.Fatalf("cancelled call: %v, want Canceled", out.errs[1])
	}
	// The sweeper stops once nothing is pending.
	waitCond(t, "sweeper stopped", func() bool {
		c.mu.Lock()
		cc := c.mu.conns[srv.addr()]
		c.mu.Unlock()
		return cc != nil && !cc.sweeping.Load()
	})
}

func TestInvokeAsyncBrokenConnectionAndRetry(t *testing.T) {
	srv := newTestServer(t, echo)
	c := NewClient(ClientOptions{})
	defer c.Close()
	const n = 20
	out := newAsyncOutcome(n)
	retried := newAsyncOutcome(1)
	for i := range n {
		req := NewRequest(RequestHeartbeat)
		req.Ext.Set("silent", "")
		cb := out.callback(i)
		if i == 0 {
			// Retrying from the callback must reach a new connection.
			cb = func(resp *Command, err error) {
				out.callback(0)(resp, err)
				if err := c.InvokeAsync(context.Background(), srv.addr(), NewRequest(RequestHeartbeat), 5*time.Second, retried.callback(0)); err != nil {
					retried.callback(0)(nil, err)
				}
			}
		}
		if err := c.InvokeAsync(context.Background(), srv.addr(), req, time.Hour, cb); err != nil {
			t.Fatal(err)
		}
	}
	waitCond(t, "requests at the server", func() bool {
		c.mu.Lock()
		cc := c.mu.conns[srv.addr()]
		c.mu.Unlock()
		if cc == nil {
			return false
		}
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return len(cc.mu.pending) == n
	})
	srv.connection(t)
	srv.dropConnections()
	out.wait(t, 5*time.Second)
	for i := range n {
		if !errors.Is(out.errs[i], ErrConnectionClosed) {
			t.Fatalf("call %d on a broken connection: %v", i, out.errs[i])
		}
	}
	retried.wait(t, 5*time.Second)
	if retried.errs[0] != nil {
		t.Fatalf("retry from the callback: %v", retried.errs[0])
	}
}

func TestInvokeAsyncDialFailureReturnsError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(ClientOptions{DialTimeout: time.Second})
	defer c.Close()
	called := make(chan struct{}, 1)
	err := c.InvokeAsync(context.Background(), addr, NewRequest(RequestHeartbeat), time.Second, func(*Command, error) { called <- struct{}{} })
	if err == nil {
		t.Fatal("InvokeAsync to a closed port succeeded")
	}
	select {
	case <-called:
		t.Fatal("callback ran although InvokeAsync returned an error")
	case <-time.After(2 * asyncSweepInterval):
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
