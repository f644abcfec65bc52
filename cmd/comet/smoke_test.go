package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
)

// startComet runs a name server and a broker in-process on loopback ports,
// the broker's data in dir.
func startComet(t *testing.T, dir string) (nsAddr string, b *actors.Broker) {
	t.Helper()
	c := cluster.StartTest(t, func(o *actors.BrokerOptions) { o.DataDir = dir })
	return c.NamesrvAddr, c.Broker
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
