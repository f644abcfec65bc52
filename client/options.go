package client

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// ClientOption configures a Client.
type ClientOption func(*clientOptions)

type clientOptions struct {
	nameServers     []string
	instanceName    string
	logger          *slog.Logger
	serializeType   byte
	routeRefresh    time.Duration
	heartbeat       time.Duration
	dialTimeout     time.Duration
	requestTimeout  time.Duration
	window          int
	maxPendingBytes int
	credentials     remoting.Credentials
	tls             *tls.Config
}

func defaultClientOptions() clientOptions {
	return clientOptions{
		serializeType:  remoting.SerializeRocketMQ,
		routeRefresh:   30 * time.Second,
		heartbeat:      30 * time.Second,
		dialTimeout:    3 * time.Second,
		requestTimeout: 3 * time.Second,
		window:         1024,
	}
}

func (o *clientOptions) validate() error {
	switch {
	case len(o.nameServers) == 0:
		return fmt.Errorf("%w: no name server address", ErrInvalidOption)
	case o.routeRefresh <= 0 || o.heartbeat <= 0 || o.dialTimeout <= 0 || o.requestTimeout <= 0:
		return fmt.Errorf("%w: intervals and timeouts must be positive", ErrInvalidOption)
	case o.window <= 0:
		return fmt.Errorf("%w: in-flight window must be positive", ErrInvalidOption)
	}
	return nil
}

// WithNameServers sets the name server addresses ("host:port"). Required.
func WithNameServers(addrs ...string) ClientOption {
	return func(o *clientOptions) { o.nameServers = append([]string(nil), addrs...) }
}

// WithInstanceName sets the instance part of the client id ("ip@instance").
// Two Clients of one group must differ; by default each Client gets the
// process id plus a sequence number.
func WithInstanceName(name string) ClientOption {
	return func(o *clientOptions) { o.instanceName = name }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) ClientOption { return func(o *clientOptions) { o.logger = l } }

// WithJSONHeaders sends request headers as JSON instead of the compact
// binary ROCKETMQ encoding, for brokers that only speak JSON.
func WithJSONHeaders() ClientOption {
	return func(o *clientOptions) { o.serializeType = remoting.SerializeJSON }
}

// WithRouteRefresh sets how often topic routes are re-read from the name
// server (default 30 s).
func WithRouteRefresh(d time.Duration) ClientOption {
	return func(o *clientOptions) { o.routeRefresh = d }
}

// WithHeartbeatInterval sets how often the client heartbeats every broker
// (default 30 s; brokers expire clients after 120 s of silence).
func WithHeartbeatInterval(d time.Duration) ClientOption {
	return func(o *clientOptions) { o.heartbeat = d }
}

// WithDialTimeout bounds connecting to a broker or name server (default 3 s).
func WithDialTimeout(d time.Duration) ClientOption {
	return func(o *clientOptions) { o.dialTimeout = d }
}

// WithRequestTimeout bounds control requests (routes, heartbeats, offsets,
// locks) whose context has no earlier deadline (default 3 s).
func WithRequestTimeout(d time.Duration) ClientOption {
	return func(o *clientOptions) { o.requestTimeout = d }
}

// WithMaxInflight bounds the send requests awaiting a response on one
// broker connection (default 1024). A send beyond it waits for a slot, up
// to its context's deadline.
func WithMaxInflight(n int) ClientOption { return func(o *clientOptions) { o.window = n } }

// WithMaxPendingBytes bounds the bytes queued for one connection but not
// yet written (default 64 MiB); beyond it sends fail with ErrBrokerBusy.
func WithMaxPendingBytes(n int) ClientOption {
	return func(o *clientOptions) { o.maxPendingBytes = n }
}

// WithCredentials signs every request with an account of the broker's ACL
// (RocketMQ's plain ACL: access key, secret key, optional security token),
// exactly as the official RocketMQ clients sign.
func WithCredentials(accessKey, secretKey string) ClientOption {
	return func(o *clientOptions) {
		o.credentials = remoting.Credentials{AccessKey: accessKey, SecretKey: secretKey}
	}
}

// WithSecurityToken adds a security token to the credentials (sent, not
// signed, as the official Go client does).
func WithSecurityToken(token string) ClientOption {
	return func(o *clientOptions) { o.credentials.SecurityToken = token }
}

// WithTLS connects to name servers and brokers over TLS with cfg (its
// RootCAs verify the servers; Certificates, for mutual TLS, identify the
// client). The server name is taken from each address when cfg has none.
func WithTLS(cfg *tls.Config) ClientOption { return func(o *clientOptions) { o.tls = cfg } }

// ProducerOption configures a Producer.
type ProducerOption func(*producerOptions)

type producerOptions struct {
	sendTimeout       time.Duration
	retries           int
	selector          QueueSelector
	batching          bool
	linger            time.Duration
	batchMessages     int
	batchBytes        int
	compressThreshold int
	faultBackoff      time.Duration
	batchIDs          bool
}

func defaultProducerOptions() producerOptions {
	return producerOptions{
		sendTimeout:       3 * time.Second,
		retries:           2,
		selector:          RoundRobin(),
		compressThreshold: 4096,
		faultBackoff:      10 * time.Second,
		batchIDs:          true,
	}
}

func (o *producerOptions) validate() error {
	switch {
	case o.sendTimeout <= 0:
		return fmt.Errorf("%w: send timeout must be positive", ErrInvalidOption)
	case o.retries < 0:
		return fmt.Errorf("%w: negative retries", ErrInvalidOption)
	case o.selector == nil:
		return fmt.Errorf("%w: nil queue selector", ErrInvalidOption)
	case o.batching && (o.linger < 0 || o.batchMessages <= 0 || o.batchBytes <= 0):
		return fmt.Errorf("%w: batching needs linger >= 0 and positive limits", ErrInvalidOption)
	}
	return nil
}

// WithSendTimeout bounds one send attempt (default 3 s). The context
// passed to a send bounds the whole send, retries included.
func WithSendTimeout(d time.Duration) ProducerOption {
	return func(o *producerOptions) { o.sendTimeout = d }
}

// WithRetries sets how many times a failed send is retried, preferring
// another broker (default 2). Only connection failures, timeouts and the
// codes RocketMQ deems retryable are retried; SYSTEM_BUSY is returned.
func WithRetries(n int) ProducerOption { return func(o *producerOptions) { o.retries = n } }

// WithQueueSelector sets how a queue is chosen for each message (default
// RoundRobin).
func WithQueueSelector(s QueueSelector) ProducerOption {
	return func(o *producerOptions) { o.selector = s }
}

// WithBatching turns on automatic micro-batching: messages for the same
// queue are collected for up to linger, or until maxMessages or maxBytes,
// and sent as one SEND_BATCH_MESSAGE. Each message still gets its own
// result. Delayed messages bypass the batcher.
func WithBatching(linger time.Duration, maxMessages, maxBytes int) ProducerOption {
	return func(o *producerOptions) {
		o.batching, o.linger, o.batchMessages, o.batchBytes = true, linger, maxMessages, maxBytes
	}
}

// WithBatchMessageIDs says whether the messages of a batch (SendBatch and
// micro-batches) carry a producer id (UNIQ_KEY), as single messages always
// do (default true). Without one, as the official Go client sends batches,
// SendResult.MsgID and the consumers' MsgID are the broker's offset id, and
// brokers that index producer ids store batches faster.
func WithBatchMessageIDs(enabled bool) ProducerOption {
	return func(o *producerOptions) { o.batchIDs = enabled }
}

// WithCompressThreshold compresses (zlib) single-message bodies of at least
// n bytes (default 4096); n <= 0 turns compression off.
func WithCompressThreshold(n int) ProducerOption {
	return func(o *producerOptions) { o.compressThreshold = n }
}

// WithFaultBackoff sets how long a broker that failed a send is avoided by
// later sends while others are available (default 10 s; 0 turns it off).
func WithFaultBackoff(d time.Duration) ProducerOption {
	return func(o *producerOptions) { o.faultBackoff = d }
}

// MessageModel says how a group shares a topic.
type MessageModel int

const (
	// Clustering gives each message to one consumer of the group; queues are
	// divided among the members and offsets are kept by the broker.
	Clustering MessageModel = iota
	// Broadcasting gives every message to every consumer; offsets are kept
	// in a local file.
	Broadcasting
)

func (m MessageModel) String() string {
	if m == Broadcasting {
		return "BROADCASTING"
	}
	return "CLUSTERING"
}

// ConsumeFrom says where a consumer starts on a queue its group has no
// committed offset for.
type ConsumeFrom struct {
	where int
	at    time.Time
}

const (
	fromLast = iota
	fromFirst
	fromTimestamp
)

var (
	// ConsumeFromLast starts after the last message stored (the default).
	ConsumeFromLast = ConsumeFrom{where: fromLast}
	// ConsumeFromFirst starts at the oldest message still stored.
	ConsumeFromFirst = ConsumeFrom{where: fromFirst}
)

// ConsumeFromTimestamp starts at the first message stored at or after t.
func ConsumeFromTimestamp(t time.Time) ConsumeFrom { return ConsumeFrom{where: fromTimestamp, at: t} }

func (c ConsumeFrom) String() string {
	switch c.where {
	case fromFirst:
		return "CONSUME_FROM_FIRST_OFFSET"
	case fromTimestamp:
		return "CONSUME_FROM_TIMESTAMP"
	}
	return "CONSUME_FROM_LAST_OFFSET"
}

// CommitPolicy says when consumed offsets are committed.
type CommitPolicy struct {
	interval    time.Duration
	afterHandle bool
}

// CommitPeriodically commits the offsets that advanced every interval, and
// when a queue is given up or the consumer closes (the default, 5 s).
func CommitPeriodically(interval time.Duration) CommitPolicy { return CommitPolicy{interval: interval} }

// CommitAfterHandle commits a queue's offset as soon as a handler call
// advanced it: fewer redeliveries after a crash, one more request per batch.
func CommitAfterHandle() CommitPolicy {
	return CommitPolicy{interval: 5 * time.Second, afterHandle: true}
}

// AllocateStrategy divides a topic's queues among a group's consumers.
type AllocateStrategy = routing.AllocateStrategy

// Allocation strategies.
var (
	// AllocateAveragely gives each consumer a contiguous block of queues.
	AllocateAveragely AllocateStrategy = routing.AllocateAveragely
	// AllocateRoundRobin deals the queues out one by one.
	AllocateRoundRobin AllocateStrategy = routing.AllocateAveragelyByCircle
)

// AllocateConsistentHash places consumers on a hash ring with virtualNodes
// points each, so a member joining or leaving moves only its share of the
// queues.
func AllocateConsistentHash(virtualNodes int) AllocateStrategy {
	return routing.AllocateConsistentHash(virtualNodes)
}

// ConsumerOption configures a PushConsumer or a PullConsumer.
type ConsumerOption func(*consumerOptions)

type consumerOptions struct {
	model             MessageModel
	from              ConsumeFrom
	orderly           bool
	concurrency       int
	consumeBatch      int
	pullBatch         int
	maxCachedPerQueue int
	allocate          AllocateStrategy
	commit            CommitPolicy
	offsetDir         string
	rebalanceInterval time.Duration
	lockInterval      time.Duration
	maxReconsume      int
	longPoll          time.Duration
	retryDelay        time.Duration
	redeliveryLevel   int
}

func defaultConsumerOptions() consumerOptions {
	return consumerOptions{
		from:              ConsumeFromLast,
		concurrency:       16,
		consumeBatch:      1,
		pullBatch:         32,
		maxCachedPerQueue: 1024,
		allocate:          AllocateAveragely,
		commit:            CommitPeriodically(5 * time.Second),
		rebalanceInterval: 20 * time.Second,
		lockInterval:      20 * time.Second,
		maxReconsume:      remoting.DefaultMaxReconsumeTimes,
		longPoll:          20 * time.Second,
		retryDelay:        time.Second,
	}
}

func (o *consumerOptions) validate() error {
	switch {
	case o.concurrency <= 0 || o.consumeBatch <= 0 || o.pullBatch <= 0 || o.maxCachedPerQueue <= 0:
		return fmt.Errorf("%w: concurrency, batch sizes and cache limit must be positive", ErrInvalidOption)
	case o.pullBatch > 1024:
		return fmt.Errorf("%w: pull batch above 1024", ErrInvalidOption)
	case o.allocate == nil:
		return fmt.Errorf("%w: nil allocation strategy", ErrInvalidOption)
	case o.commit.interval <= 0 || o.rebalanceInterval <= 0 || o.lockInterval <= 0 || o.retryDelay <= 0:
		return fmt.Errorf("%w: intervals must be positive", ErrInvalidOption)
	case o.longPoll < 0 || o.longPoll > 25*time.Second:
		return fmt.Errorf("%w: long poll must be within 0..25s", ErrInvalidOption)
	case o.maxReconsume < 0:
		return fmt.Errorf("%w: negative max reconsume times", ErrInvalidOption)
	case o.redeliveryLevel < 0:
		return fmt.Errorf("%w: negative redelivery delay level", ErrInvalidOption)
	}
	return nil
}

// offsetFile is where a broadcasting consumer keeps its offsets.
func (o *consumerOptions) offsetFile(clientID, group string) string {
	dir := o.offsetDir
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".comet_client")
	}
	return filepath.Join(dir, sanitizePathElement(clientID), sanitizePathElement(group), "offsets.json")
}

func sanitizePathElement(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' || c == '\\' || c == ':' || c == 0 {
			b[i] = '_'
		}
	}
	return string(b)
}

// WithMessageModel sets clustering (default) or broadcasting.
func WithMessageModel(m MessageModel) ConsumerOption {
	return func(o *consumerOptions) { o.model = m }
}

// WithConsumeFrom sets where to start on a queue with no committed offset
// (default ConsumeFromLast).
func WithConsumeFrom(f ConsumeFrom) ConsumerOption { return func(o *consumerOptions) { o.from = f } }

// WithOrderly consumes each queue in order, one batch at a time, holding
// the broker's lock on the queue (clustering). Different queues still run in
// parallel. A failing batch is retried in place, every retry delay, up to
// max reconsume times, then moved to the dead-letter queue.
func WithOrderly() ConsumerOption { return func(o *consumerOptions) { o.orderly = true } }

// WithConcurrency sets how many handler calls run at once (default 16;
// concurrent mode).
func WithConcurrency(n int) ConsumerOption { return func(o *consumerOptions) { o.concurrency = n } }

// WithConsumeBatchSize sets the most messages one handler call gets
// (default 1).
func WithConsumeBatchSize(n int) ConsumerOption {
	return func(o *consumerOptions) { o.consumeBatch = n }
}

// WithPullBatchSize sets the most messages one pull asks for (default 32,
// at most 1024).
func WithPullBatchSize(n int) ConsumerOption { return func(o *consumerOptions) { o.pullBatch = n } }

// WithMaxCachedPerQueue bounds the messages pulled from one queue but not
// yet handled (default 1024); the queue's pulls pause at the limit.
func WithMaxCachedPerQueue(n int) ConsumerOption {
	return func(o *consumerOptions) { o.maxCachedPerQueue = n }
}

// WithAllocateStrategy sets how queues are divided in clustering mode
// (default AllocateAveragely).
func WithAllocateStrategy(s AllocateStrategy) ConsumerOption {
	return func(o *consumerOptions) { o.allocate = s }
}

// WithCommitPolicy sets when offsets are committed (default
// CommitPeriodically(5 s)).
func WithCommitPolicy(p CommitPolicy) ConsumerOption {
	return func(o *consumerOptions) { o.commit = p }
}

// WithOffsetDir sets the directory a broadcasting consumer keeps its
// offsets in (default ~/.comet_client).
func WithOffsetDir(dir string) ConsumerOption { return func(o *consumerOptions) { o.offsetDir = dir } }

// WithRebalanceInterval sets how often queues are re-divided even without
// a membership notification from the broker (default 20 s).
func WithRebalanceInterval(d time.Duration) ConsumerOption {
	return func(o *consumerOptions) { o.rebalanceInterval = d }
}

// WithLockInterval sets how often an orderly consumer renews its queue
// locks (default 20 s; brokers keep a lock 60 s, the client trusts it 30 s).
func WithLockInterval(d time.Duration) ConsumerOption {
	return func(o *consumerOptions) { o.lockInterval = d }
}

// WithMaxReconsumeTimes sets how often a failing message is redelivered
// before it goes to the dead-letter queue (default 16).
func WithMaxReconsumeTimes(n int) ConsumerOption {
	return func(o *consumerOptions) { o.maxReconsume = n }
}

// WithLongPoll sets how long the broker may hold a pull that finds nothing
// (default 20 s; 0 answers at once). For a PullConsumer it applies to Pull.
func WithLongPoll(d time.Duration) ConsumerOption { return func(o *consumerOptions) { o.longPoll = d } }

// WithRetryDelay sets the pause before an orderly batch is retried, and
// before a failed batch whose send-back failed is handled again (default 1 s).
func WithRetryDelay(d time.Duration) ConsumerOption {
	return func(o *consumerOptions) { o.retryDelay = d }
}

// WithRedeliveryDelayLevel sets the delay level of a failed batch's
// redelivery (1 = 1 s, 2 = 5 s, 3 = 10 s, ...). The default, 0, leaves it to
// the broker: level 3 + the number of earlier redeliveries.
func WithRedeliveryDelayLevel(level int) ConsumerOption {
	return func(o *consumerOptions) { o.redeliveryLevel = level }
}
