package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
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
	nameServer, stop := exampleCluster()
	defer stop()
	c, err := client.New(client.WithNameServers(nameServer), client.WithMaxInflight(4096))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.CreateTopic(ctx, "Metrics", 4); err != nil {
		log.Fatal(err)
	}
	p, err := c.NewProducer("metrics", client.WithBatching(time.Millisecond, 128, 256<<10))
	if err != nil {
		log.Fatal(err)
	}
	var stored atomic.Int64
	for i := range 1000 {
		msg := client.NewMessage("Metrics", fmt.Appendf(nil, "sample %d", i))
		err := p.SendAsync(ctx, msg, func(res client.SendResult, err error) {
			if err != nil {
				log.Printf("send failed: %v", err)
				return
			}
			stored.Add(1)
		})
		if err != nil {
			log.Printf("not sent: %v", err)
		}
	}
	p.Close() // waits for the callbacks still due
	fmt.Println(stored.Load(), "stored")
	// Output: 1000 stored
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
// in order, holding the broker's lock on the queue; the SQL92 selector is
// evaluated on the broker.
func ExampleWithOrderly() {
	nameServer, stop := exampleCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.WithNameServers(nameServer))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "Orders", 4); err != nil {
		log.Fatal(err)
	}
	p, err := c.NewProducer("order-service", client.WithQueueSelector(client.HashByKey()))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for i, amount := range []string{"250", "40", "120", "900"} {
		msg := client.NewMessage("Orders", fmt.Appendf(nil, "order %d", i)).SetProperty("amount", amount)
		msg.ShardingKey = "customer-7" // one customer's orders share a queue, so their order holds
		if _, err := p.SendSync(ctx, msg); err != nil {
			log.Fatal(err)
		}
	}

	received := make(chan string, 4)
	consumer, err := c.NewPushConsumer("order-processors", client.WithOrderly(),
		client.WithConsumeFrom(client.ConsumeFromFirst), client.WithAllocateStrategy(client.AllocateConsistentHash(0)))
	if err != nil {
		log.Fatal(err)
	}
	err = consumer.Subscribe("Orders", client.SQL92("amount > 100"), func(ctx context.Context, msgs []*client.MessageExt) error {
		for _, m := range msgs {
			received <- fmt.Sprintf("%s (amount %s)", m.Body, m.Properties["amount"])
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
	for range 3 {
		fmt.Println(<-received)
	}
	// Output:
	// order 0 (amount 250)
	// order 2 (amount 120)
	// order 3 (amount 900)
}

// A pull consumer reads any queue from any offset and commits where it
// got to.
func ExamplePullConsumer_Pull() {
	nameServer, stop := exampleCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.WithNameServers(nameServer))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "Audit", 1); err != nil {
		log.Fatal(err)
	}
	p, err := c.NewProducer("auditees")
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for _, body := range []string{"login", "transfer", "logout"} {
		if _, err := p.SendSync(ctx, client.NewMessage("Audit", []byte(body))); err != nil {
			log.Fatal(err)
		}
	}

	pc, err := c.NewPullConsumer("auditors", client.WithLongPoll(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer pc.Close()
	queues, err := pc.Queues(ctx, "Audit")
	if err != nil {
		log.Fatal(err)
	}
	offset, found, err := pc.CommittedOffset(ctx, queues[0])
	if err != nil {
		log.Fatal(err)
	}
	if !found {
		offset = 0 // a new group: start at the beginning
	}
	res, err := pc.Pull(ctx, queues[0], offset, 32)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range res.Messages {
		fmt.Printf("%d: %s\n", m.QueueOffset, m.Body)
	}
	if err := pc.CommitOffset(ctx, queues[0], res.NextOffset); err != nil {
		log.Fatal(err)
	}
	next, _, err := pc.CommittedOffset(ctx, queues[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed", next)
	// Output:
	// 0: login
	// 1: transfer
	// 2: logout
	// committed 3
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
	nameServer, stop := exampleCluster()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.WithNameServers(nameServer))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic(ctx, "Payments", 1); err != nil {
		log.Fatal(err)
	}
	tp, err := c.NewTransactionProducer("payments", payments{})
	if err != nil {
		log.Fatal(err)
	}
	defer tp.Close()
	res, err := tp.SendInTransaction(ctx, client.NewMessage("Payments", []byte("paid 42")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("local transaction:", res.State)
	// Output: local transaction: COMMIT
}

// Errors are tested by class; a broker's answer is a *BrokerError.
func ExampleBrokerError() {
	var err error = fmt.Errorf("send: %w", &client.BrokerError{Code: remoting.ResponseSystemBusy, Remark: "writer ring full"})
	var be *client.BrokerError
	fmt.Println(errors.Is(err, client.ErrBrokerBusy), errors.As(err, &be) && be.Code == 2)
	// Output: true true
}
