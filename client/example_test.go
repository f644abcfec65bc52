package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/cometmq/comet/client"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/netio/remoting"
)

// exampleCluster runs a name server and a broker in-process for the
// examples that talk to one; a real program points WithNameServers at its
// cluster instead.
func exampleCluster() (nameServer string, stop func()) {
	c, err := cluster.Start(cluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return c.NamesrvAddr, func() { c.Stop(context.Background()) }
}

// Send a message and receive it with a push consumer.
func Example() {
	nameServer, stop := exampleCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(client.WithNameServers(nameServer))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "Greetings", 4); err != nil {
		log.Fatal(err)
	}

	p, err := c.NewProducer("greeters")
	if err != nil {
		log.Fatal(err)
	}
	msg := client.NewMessage("Greetings", []byte("hello"))
	msg.Tags = "en"
	if _, err := p.SendSync(ctx, msg); err != nil {
		log.Fatal(err)
	}

	received := make(chan string, 1)
	consumer, err := c.NewPushConsumer("listeners", client.WithConsumeFrom(client.ConsumeFromFirst))
	if err != nil {
		log.Fatal(err)
	}
	err = consumer.Subscribe("Greetings", client.Tag("en || fr"), func(ctx context.Context, msgs []*client.MessageExt) error {
		for _, m := range msgs {
			received <- fmt.Sprintf("%s (tag %s)", m.Body, m.Tags)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := consumer.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	fmt.Println(<-received)
	// Output: hello (tag en)
}

// Asynchronous sends report through a callback; SendAsync blocks only when
// the connection's in-flight window is full.
func ExampleProducer_SendAsync() {
	c, err := client.New(client.WithNameServers("127.0.0.1:9876"), client.WithMaxInflight(4096))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p, err := c.NewProducer("metrics", client.WithBatching(time.Millisecond, 128, 256<<10))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close() // waits for the callbacks still due
	ctx := context.Background()
	for i := range 1000 {
		msg := client.NewMessage("Metrics", fmt.Appendf(nil, "sample %d", i))
		err := p.SendAsync(ctx, msg, func(res client.SendResult, err error) {
			if err != nil {
				log.Printf("send failed: %v", err)
			}
		})
		if err != nil {
			log.Printf("not sent: %v", err)
		}
	}
}

// Messages with the same sharding key go to the same queue, so an orderly
// consumer sees them in send order.
func ExampleHashByKey() {
	queues := []client.MessageQueue{
		{Topic: "Orders", BrokerName: "broker-a", QueueID: 0},
		{Topic: "Orders", BrokerName: "broker-a", QueueID: 1},
		{Topic: "Orders", BrokerName: "broker-a", QueueID: 2},
	}
	sel := client.HashByKey()
	for _, key := range []string{"order-1", "order-3", "order-1"} {
		msg := client.NewMessage("Orders", []byte("event"))
		msg.ShardingKey = key
		fmt.Println(key, "->", sel.Select(msg, queues).QueueID)
	}
	// Output:
	// order-1 -> 1
	// order-3 -> 0
	// order-1 -> 1
}

// An orderly consumer handles each queue's messages one batch at a time,
// in order, holding the broker's lock on the queue.
func ExampleWithOrderly() {
	c, err := client.New(client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	consumer, err := c.NewPushConsumer("order-processors", client.WithOrderly(),
		client.WithAllocateStrategy(client.AllocateConsistentHash(0)))
	if err != nil {
		log.Fatal(err)
	}
	err = consumer.Subscribe("Orders", client.SQL92("amount > 100"), func(ctx context.Context, msgs []*client.MessageExt) error {
		for _, m := range msgs {
			latency := time.Since(m.BornTime) // end to end, producer clock to now
			log.Printf("order %s after %v", m.Body, latency)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := consumer.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
}

// A pull consumer reads any queue from any offset.
func ExamplePullConsumer_Pull() {
	c, err := client.New(client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	pc, err := c.NewPullConsumer("auditors", client.WithLongPoll(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	queues, err := pc.Queues(ctx, "Orders")
	if err != nil {
		log.Fatal(err)
	}
	offset, _, err := pc.CommittedOffset(ctx, queues[0])
	if err != nil {
		log.Fatal(err)
	}
	res, err := pc.Pull(ctx, queues[0], offset, 32)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range res.Messages {
		log.Printf("%d: %s", m.QueueOffset, m.Body)
	}
	if err := pc.CommitOffset(ctx, queues[0], res.NextOffset); err != nil {
		log.Fatal(err)
	}
}

type payments struct{}

func (payments) ExecuteLocalTransaction(ctx context.Context, msg *client.Message) client.TransactionState {
	// Write the local side in the same step; commit only if it succeeded.
	return client.CommitTransaction
}

func (payments) CheckLocalTransaction(ctx context.Context, msg *client.MessageExt) client.TransactionState {
	// Look the local side up by msg.MsgID and report what happened.
	return client.RollbackTransaction
}

// A transactional message becomes visible only if the local transaction
// commits.
func ExampleTransactionProducer_SendInTransaction() {
	c, err := client.New(client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tp, err := c.NewTransactionProducer("payments", payments{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := tp.SendInTransaction(context.Background(), client.NewMessage("Payments", []byte("paid 42")))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: %s", res.MsgID, res.State)
}

// Errors are tested by class; a broker's answer is a *BrokerError.
func ExampleBrokerError() {
	var err error = fmt.Errorf("send: %w", &client.BrokerError{Code: remoting.ResponseSystemBusy, Remark: "writer ring full"})
	var be *client.BrokerError
	fmt.Println(errors.Is(err, client.ErrBrokerBusy), errors.As(err, &be) && be.Code == 2)
	// Output: true true
}
