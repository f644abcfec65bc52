package client

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
)

// testLogger logs to stderr when COMET_CLIENT_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("COMET_CLIENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startBroker(t testing.TB) *cluster.Cluster {
	t.Helper()
	return cluster.StartTest(t, nil)
}

// startSecondBroker runs another broker, named name, registered with the
// name server of env, and returns a function that stops it (once).
func startSecondBroker(t testing.TB, env *cluster.Cluster, name string) (stop func()) {
	t.Helper()
	b, err := actors.NewBroker(actors.BrokerOptions{
		DataDir: t.TempDir(), Listen: "127.0.0.1:0", NamesrvAddrs: []string{env.NamesrvAddr},
		BrokerName: name, AutoCreateTopic: true, Logger: testLogger(), SegmentSize: 64 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { b.Stop(context.Background()) }) }
	t.Cleanup(stop)
	return stop
}

func newTestClient(t testing.TB, env *cluster.Cluster, opts ...ClientOption) *Client {
	t.Helper()
	all := append([]ClientOption{WithNameServers(env.NamesrvAddr), WithLogger(testLogger())}, opts...)
	c, err := New(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var topicSeq atomic.Int64

// uniqueTopic names a topic for one test.
func uniqueTopic(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_", "=", "_").Replace(t.Name())
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s_%d", name, topicSeq.Add(1))
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createTopic creates topic with queues queues through c.
func createTopic(t testing.TB, c *Client, topic string, queues int) {
	t.Helper()
	if err := c.CreateTopic(testContext(t), topic, queues); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// waitFor polls cond every 10 ms until it holds or timeout passes.

// collector records consumed messages by body.
type collector struct {
	mu     sync.Mutex
	bodies []string
	seen   map[string]int
	msgs   []*MessageExt
}

func newCollector() *collector { return &collector{seen: map[string]int{}} }

func (c *collector) handler(_ context.Context, msgs []*MessageExt) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.bodies = append(c.bodies, string(m.Body))
		c.seen[string(m.Body)]++
		c.msgs = append(c.msgs, m)
	}
	return nil
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *collector) snapshot() []*MessageExt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*MessageExt(nil), c.msgs...)
}

// sendN sends n messages body-<prefix>-<i> synchronously.
func sendN(t testing.TB, p *Producer, topic, prefix string, n int) {
	t.Helper()
	ctx := testContext(t)
	for i := range n {
		if _, err := p.SendSync(ctx, NewMessage(topic, []byte(fmt.Sprintf("%s-%d", prefix, i)))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}
