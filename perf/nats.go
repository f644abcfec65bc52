package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AckMode is how the NATS peer's consumers acknowledge.
type AckMode string

// NATS acknowledgement modes.
const (
	// AckAll acknowledges every 100th message and, by the AckAll policy,
	// all before it: the nearest match to Comet's periodic offset commit.
	AckAll AckMode = "all"
	// AckExplicit acknowledges every message.
	AckExplicit AckMode = "explicit"
	// AckNone acknowledges nothing (at most once).
	AckNone AckMode = "none"
)

// ackEvery is how many messages one AckAll acknowledgement covers.
const ackEvery = 100

// NATSOptions configure the NATS JetStream peer.
type NATSOptions struct {
	// URL of the server ("nats://127.0.0.1:4222"). Required.
	URL    string
	Ack    AckMode // default AckAll
	Logger *slog.Logger
	// FetchBatch is the messages one Fetch (pull) or one Consume request
	// (push) asks for (default 500).
	FetchBatch int
}

// NATS is the peer target: NATS JetStream with one file-storage stream of
// one replica per topic (subject = stream name = topic), published to
// through nats.go (Publish for sync, PublishAsync with a pending window of
// Workload.Window for async and batch) and consumed through one durable
// pull consumer per stream shared by the workload's consumers (Consume
// callback for push, Fetch for pull).
type NATS struct {
	opts NATSOptions
	nc   *nats.Conn
	js   jetstream.JetStream

	mu      sync.Mutex
	streams []string
}

// NewNATS connects to the server at o.URL.
func NewNATS(o NATSOptions) (*NATS, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("%w: nats: no URL", ErrInvalidWorkload)
	}
	switch o.Ack {
	case "":
		o.Ack = AckAll
	case AckAll, AckExplicit, AckNone:
	default:
		return nil, fmt.Errorf("%w: nats: ack mode %q is not all, explicit or none", ErrInvalidWorkload, o.Ack)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FetchBatch <= 0 {
		o.FetchBatch = 500
	}
	nc, js, err := natsConnect(o.URL, 0)
	if err != nil {
		return nil, err
	}
	return &NATS{opts: o, nc: nc, js: js}, nil
}

func natsConnect(url string, window int) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name("comet-bench"))
	if err != nil {
		return nil, nil, err
	}
	var opts []jetstream.JetStreamOpt
	if window > 0 {
		opts = append(opts, jetstream.WithPublishAsyncMaxPending(window))
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// Name implements Target.
func (n *NATS) Name() string { return "nats" }

// Prepare creates one stream per topic.
func (n *NATS) Prepare(ctx context.Context, _ *Workload, topics []string) error {
	for _, t := range topics {
		_, err := n.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: t, Subjects: []string{t}, Storage: jetstream.FileStorage, Replicas: 1,
		})
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.streams = append(n.streams, t)
		n.mu.Unlock()
	}
	return nil
}

// Close deletes the streams Prepare created and disconnects.
func (n *NATS) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.mu.Lock()
	defer n.mu.Unlock()
	var first error
	for _, s := range n.streams {
		if err := n.js.DeleteStream(ctx, s); err != nil && first == nil {
			first = err
		}
	}
	n.streams = nil
	n.nc.Close()
	return first
}

// NewPublisher implements Target.
func (n *NATS) NewPublisher(_ context.Context, w *Workload, _ int) (Publisher, error) {
	nc, js, err := natsConnect(n.opts.URL, w.Window)
	if err != nil {
		return nil, err
	}
	p := &natsPublisher{nc: nc, js: js, acks: make(chan pendingAck, w.Window+1)}
	p.ackers.Go(p.ackLoop)
	return p, nil
}

type natsPublisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	acks   chan pendingAck
	ackers sync.WaitGroup
	closed sync.Once
}

type pendingAck struct {
	f    jetstream.PubAckFuture
	done func(error)
}

func (p *natsPublisher) SendSync(ctx context.Context, topic string, body []byte) error {
	_, err := p.js.Publish(ctx, topic, body)
	return err
}

// publishAsync retries while the pending window stays full: the window is
// the backpressure, as Comet's in-flight window is.
func (p *natsPublisher) publishAsync(ctx context.Context, topic string, body []byte) (jetstream.PubAckFuture, error) {
	for {
		f, err := p.js.PublishAsync(topic, body)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return f, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func (p *natsPublisher) SendAsync(ctx context.Context, topic string, body []byte, done func(error)) error {
	f, err := p.publishAsync(ctx, topic, body)
	if err != nil {
		return err
	}
	p.acks <- pendingAck{f: f, done: done}
	return nil
}

// ackLoop completes async sends in publish order, which is the order the
// stream acknowledges them in.
func (p *natsPublisher) ackLoop() {
	for a := range p.acks {
		a.done(awaitAck(a.f))
	}
}

func awaitAck(f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	}
}

func (p *natsPublisher) SendBatch(ctx context.Context, topic string, bodies [][]byte) error {
	futures := make([]jetstream.PubAckFuture, 0, len(bodies))
	var first error
	for _, b := range bodies {
		f, err := p.publishAsync(ctx, topic, b)
		if err != nil {
			first = err
			break
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		if err := awaitAck(f); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (p *natsPublisher) Close() error {
	p.closed.Do(func() {
		close(p.acks)
		p.ackers.Wait()
		p.nc.Close()
	})
	return nil
}

// StartConsumer implements Target.
func (n *NATS) StartConsumer(ctx context.Context, w *Workload, topics []string, _ int, deliver func([]byte)) (io.Closer, error) {
	nc, js, err := natsConnect(n.opts.URL, 0)
	if err != nil {
		return nil, err
	}
	nsub := &natsConsumer{nc: nc}
	for _, t := range topics {
		cons, err := js.CreateOrUpdateConsumer(ctx, t, n.consumerConfig())
		if err != nil {
			nsub.Close()
			return nil, err
		}
		if err := n.consume(nsub, cons, w.Consume, deliver); err != nil {
			nsub.Close()
			return nil, err
		}
	}
	return nsub, nil
}

func (n *NATS) consumerConfig() jetstream.ConsumerConfig {
	policy := map[AckMode]jetstream.AckPolicy{
		AckAll: jetstream.AckAllPolicy, AckExplicit: jetstream.AckExplicitPolicy, AckNone: jetstream.AckNonePolicy,
	}[n.opts.Ack]
	return jetstream.ConsumerConfig{
		Durable: "comet-bench", AckPolicy: policy, DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 20 * n.opts.FetchBatch, AckWait: time.Minute,
	}
}

func (n *NATS) consume(nsub *natsConsumer, cons jetstream.Consumer, mode ConsumeMode, deliver func([]byte)) error {
	acker := n.acker()
	if mode == ConsumePush {
		cc, err := cons.Consume(func(m jetstream.Msg) {
			deliver(m.Data())
			acker(m)
		}, jetstream.PullMaxMessages(n.opts.FetchBatch))
		if err != nil {
			return err
		}
		nsub.contexts = append(nsub.contexts, cc)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	nsub.cancels = append(nsub.cancels, cancel)
	nsub.loops.Go(func() { n.fetchLoop(ctx, cons, deliver, acker) })
	return nil
}

// acker returns the acknowledgement step of one subscription (called from
// one goroutine at a time).
func (n *NATS) acker() func(jetstream.Msg) {
	var seen int
	return func(m jetstream.Msg) {
		switch n.opts.Ack {
		case AckExplicit:
			_ = m.Ack()
		case AckAll:
			if seen++; seen%ackEvery == 0 {
				_ = m.Ack()
			}
		}
	}
}

func (n *NATS) fetchLoop(ctx context.Context, cons jetstream.Consumer, deliver func([]byte), ack func(jetstream.Msg)) {
	for ctx.Err() == nil {
		batch, err := cons.Fetch(n.opts.FetchBatch, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			if sleepContext(ctx, 10*time.Millisecond) != nil {
				return
			}
			continue
		}
		for m := range batch.Messages() {
			deliver(m.Data())
			ack(m)
		}
	}
}

type natsConsumer struct {
	nc       *nats.Conn
	contexts []jetstream.ConsumeContext
	cancels  []context.CancelFunc
	loops    sync.WaitGroup
}

func (c *natsConsumer) Close() error {
	for _, cc := range c.contexts {
		cc.Stop()
	}
	for _, cancel := range c.cancels {
		cancel()
	}
	c.nc.Close() // ends fetches in progress
	c.loops.Wait()
	return nil
}
