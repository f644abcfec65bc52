package perf

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cometmq/comet/client"
)

// CometOptions configure the Comet target.
type CometOptions struct {
	// NameServers are the cluster's name server addresses. Required.
	NameServers []string
	Logger      *slog.Logger
	// SendTimeout bounds one send attempt (default 10 s).
	SendTimeout time.Duration
}

// Comet is the Comet target: every producer and consumer is its own
// client.Client (its own connection), as separate processes would be.
type Comet struct {
	opts  CometOptions
	admin *client.Client
	group string
}

// NewComet returns the Comet target for the cluster at o.NameServers.
func NewComet(o CometOptions) (*Comet, error) {
	if len(o.NameServers) == 0 {
		return nil, fmt.Errorf("%w: comet: no name server address", ErrInvalidWorkload)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 10 * time.Second
	}
	admin, err := client.New(client.WithNameServers(o.NameServers...), client.WithLogger(o.Logger))
	if err != nil {
		return nil, err
	}
	return &Comet{opts: o, admin: admin, group: "comet-bench"}, nil
}

// Name implements Target.
func (c *Comet) Name() string { return "comet" }

// Prepare creates the topics with w.Queues queues each.
func (c *Comet) Prepare(ctx context.Context, w *Workload, topics []string) error {
	for _, t := range topics {
		if err := c.admin.CreateTopic(ctx, t, w.Queues); err != nil {
			return err
		}
	}
	return nil
}

// Close disconnects; the topics stay (the SDK cannot delete them).
func (c *Comet) Close() error { return c.admin.Close() }

func (c *Comet) newClient(w *Workload) (*client.Client, error) {
	return client.New(client.WithNameServers(c.opts.NameServers...), client.WithLogger(c.opts.Logger),
		client.WithMaxInflight(w.Window))
}

// NewPublisher implements Target.
func (c *Comet) NewPublisher(_ context.Context, w *Workload, _ int) (Publisher, error) {
	cl, err := c.newClient(w)
	if err != nil {
		return nil, err
	}
	opts := []client.ProducerOption{client.WithSendTimeout(c.opts.SendTimeout)}
	if w.Linger > 0 {
		opts = append(opts, client.WithBatching(w.Linger, 128, 256<<10))
	}
	p, err := cl.NewProducer(c.group, opts...)
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &cometPublisher{c: cl, p: p}, nil
}

type cometPublisher struct {
	c *client.Client
	p *client.Producer
}

func (p *cometPublisher) SendSync(ctx context.Context, topic string, body []byte) error {
	_, err := p.p.SendSync(ctx, client.NewMessage(topic, body))
	return err
}

func (p *cometPublisher) SendAsync(ctx context.Context, topic string, body []byte, done func(error)) error {
	return p.p.SendAsync(ctx, client.NewMessage(topic, body), func(_ client.SendResult, err error) { done(err) })
}

func (p *cometPublisher) SendBatch(ctx context.Context, topic string, bodies [][]byte) error {
	msgs := make([]*client.Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = client.NewMessage(topic, b)
	}
	_, err := p.p.SendBatch(ctx, msgs)
	return err
}

func (p *cometPublisher) Close() error {
	p.p.Close() // waits for the async sends in flight
	return p.c.Close()
}

// StartConsumer implements Target: a push consumer of one group (the
// consumers share the queues), or pull loops over this consumer's share
// of the queues.
func (c *Comet) StartConsumer(ctx context.Context, w *Workload, topics []string, id int, deliver func([]byte)) (io.Closer, error) {
	cl, err := c.newClient(w)
	if err != nil {
		return nil, err
	}
	var cons io.Closer
	if w.Consume == ConsumePull {
		cons, err = c.startPull(ctx, cl, w, topics, id, deliver)
	} else {
		cons, err = c.startPush(ctx, cl, topics, deliver)
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	return closers{cons, cl}, nil
}

func (c *Comet) startPush(ctx context.Context, cl *client.Client, topics []string, deliver func([]byte)) (io.Closer, error) {
	pc, err := cl.NewPushConsumer(c.group, client.WithConsumeFrom(client.ConsumeFromFirst),
		client.WithPullBatchSize(512), client.WithConsumeBatchSize(64),
		client.WithMaxCachedPerQueue(4096), client.WithConcurrency(4))
	if err != nil {
		return nil, err
	}
	handler := func(_ context.Context, msgs []*client.MessageExt) error {
		for _, m := range msgs {
			deliver(m.Body)
		}
		return nil
	}
	for _, t := range topics {
		if err := pc.Subscribe(t, client.All, handler); err != nil {
			return nil, err
		}
	}
	if err := pc.Start(ctx); err != nil {
		return nil, err
	}
	return pc, nil
}

func (c *Comet) startPull(ctx context.Context, cl *client.Client, w *Workload, topics []string, id int, deliver func([]byte)) (io.Closer, error) {
	pull, err := cl.NewPullConsumer(c.group, client.WithLongPoll(time.Second))
	if err != nil {
		return nil, err
	}
	var mine []client.MessageQueue
	for _, t := range topics {
		queues, err := pull.Queues(ctx, t)
		if err != nil {
			pull.Close()
			return nil, err
		}
		for i, q := range queues {
			if i%w.Consumers == id%w.Consumers {
				mine = append(mine, q)
			}
		}
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pl := &pullLoops{cancel: cancel, pull: pull}
	for _, mq := range mine {
		pl.wg.Go(func() { pullQueue(loopCtx, pull, mq, deliver) })
	}
	return pl, nil
}

// pullQueue reads mq from its first offset until ctx ends.
func pullQueue(ctx context.Context, pull *client.PullConsumer, mq client.MessageQueue, deliver func([]byte)) {
	var offset int64
	for ctx.Err() == nil {
		res, err := pull.Pull(ctx, mq, offset, 1024)
		if err != nil {
			if sleepContext(ctx, 10*time.Millisecond) != nil {
				return
			}
			continue
		}
		for _, m := range res.Messages {
			deliver(m.Body)
		}
		offset = res.NextOffset
	}
}

type pullLoops struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	pull   *client.PullConsumer
}

func (p *pullLoops) Close() error {
	p.cancel()
	p.wg.Wait()
	return p.pull.Close()
}

// closers closes each in order and returns the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
