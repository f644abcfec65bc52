package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/namesrv"
)

// startComet runs a name server and a broker in-process on loopback ports.
func startComet(t *testing.T, dir string) (nsAddr string, b *actors.Broker) {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("COMET_TEST_LOG") != "" {
		out = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ns, err := namesrv.Serve("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Stop(context.Background()) })
	b, err = actors.NewBroker(actors.BrokerOptions{DataDir: dir, Listen: "127.0.0.1:0", NamesrvAddrs: []string{ns.Addr()},
		AutoCreateTopic: true, Logger: log, SegmentSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop(context.Background()) })
	return ns.Addr(), b
}

func TestOfficialClientSendAndConsume(t *testing.T) {
	rlog.SetLogLevel("error")
	nsAddr, _ := startComet(t, t.TempDir())
	p, err := rocketmq.NewProducer(producer.WithNameServer([]string{nsAddr}), producer.WithGroupName("pg"), producer.WithRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	const n = 50
	for i := 0; i < n; i++ {
		res, err := p.SendSync(context.Background(), primitive.NewMessage("SmokeTopic", []byte(fmt.Sprintf("m-%d", i))))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %v %v", i, res, err)
		}
	}
	c, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{nsAddr}), consumer.WithGroupName("cg"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]bool{}
	err = c.Subscribe("SmokeTopic", consumer.MessageSelector{}, func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			got[string(m.Body)] = true
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitForRoute(t, nsAddr, "SmokeTopic")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("consumed %d of %d", len(got), n)
}
