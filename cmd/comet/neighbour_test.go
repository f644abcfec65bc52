package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// neighbour is a well-behaved client that keeps sending on its own
// connection while a hostile probe runs beside it. The hostile-client tests
// check it afterwards: every send answered SEND_OK, none slower than a bound.
type neighbour struct {
	t     *testing.T
	topic string
	stop  chan struct{}
	done  chan struct{}
	mu    struct {
		sync.Mutex
		latencies []time.Duration
		failures  []string
	}
}

// startNeighbour begins one synchronous send at a time to topic on addr,
// through its own connection, until stopAndCheck is called. It waits for the
// first SEND_OK before it returns, so the probe starts against a working
// broker.
func startNeighbour(t *testing.T, addr, topic string) *neighbour {
	t.Helper()
	n := &neighbour{t: t, topic: topic, stop: make(chan struct{}), done: make(chan struct{})}
	c := remoting.NewClient(remoting.ClientOptions{})
	t.Cleanup(func() { _ = c.Close() })
	if err := n.sendOne(c, addr, 0); err != nil {
		t.Fatalf("neighbour: first send: %v", err)
	}
	go n.run(c, addr)
	t.Cleanup(n.halt)
	return n
}

func (n *neighbour) halt() {
	select {
	case <-n.stop:
	default:
		close(n.stop)
	}
	<-n.done
}

func (n *neighbour) run(c *remoting.Client, addr string) {
	defer close(n.done)
	for i := 1; ; i++ {
		select {
		case <-n.stop:
			return
		default:
		}
		start := time.Now()
		err := n.sendOne(c, addr, i)
		n.mu.Lock()
		n.mu.latencies = append(n.mu.latencies, time.Since(start))
		if err != nil {
			n.mu.failures = append(n.mu.failures, err.Error())
		}
		n.mu.Unlock()
		time.Sleep(2 * time.Millisecond) // pacing, not synchronisation
	}
}

func (n *neighbour) sendOne(c *remoting.Client, addr string, i int) error {
	req := remoting.NewRequest(remoting.RequestSendMessageV2)
	h := remoting.SendHeader{ProducerGroup: "neighbour", Topic: n.topic, DefaultTopic: "TBW102",
		DefaultTopicQueueNums: 4, QueueID: int32(i % 4), BornTimestamp: time.Now().UnixMilli()}
	h.Apply(req)
	req.Body = fmt.Appendf(nil, "neighbour-%d", i)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if err != nil {
		return err
	}
	if resp.Code != remoting.ResponseSuccess {
		return fmt.Errorf("send %d: code %d %s", i, resp.Code, resp.Remark)
	}
	return nil
}

// stopAndCheck stops the neighbour and fails the test if any of its sends
// failed, if it managed fewer than minSends, or if its worst send took
// longer than maxLatency.
func (n *neighbour) stopAndCheck(minSends int, maxLatency time.Duration) {
	n.t.Helper()
	n.halt()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.mu.failures) > 0 {
		n.t.Errorf("neighbour: %d of %d sends failed, first: %s", len(n.mu.failures), len(n.mu.latencies), n.mu.failures[0])
	}
	if len(n.mu.latencies) < minSends {
		n.t.Errorf("neighbour: only %d sends completed, want at least %d", len(n.mu.latencies), minSends)
	}
	if len(n.mu.latencies) > 0 {
		if worst := slices.Max(n.mu.latencies); worst > maxLatency {
			n.t.Errorf("neighbour: slowest send took %v, bound %v", worst, maxLatency)
		}
	}
}
