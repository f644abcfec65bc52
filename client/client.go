package client

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

var clientSeq atomic.Int64

// Client is one connection to a Comet (or RocketMQ 4.x) cluster: the name
// servers, one TCP connection per broker address, the route cache and the
// heartbeats. Producers and consumers are made from it and share its
// connections. A Client is safe for concurrent use; close it when done.
type Client struct {
	opts   clientOptions
	log    *slog.Logger
	id     string
	tr     *transport
	routes *routeTable

	ctx           context.Context
	cancel        context.CancelFunc
	loops         sync.WaitGroup
	heartbeatNow  chan struct{}
	heartbeatLock sync.Mutex    // one heartbeat round at a time
	routesNow     chan struct{} // a broker failed in a way that may mean its role moved

	mu struct {
		sync.Mutex
		producers   map[*Producer]struct{}
		txProducers map[string]*TransactionProducer
		consumers   map[string]*PushConsumer
		pulls       map[*PullConsumer]struct{}
		closed      bool
	}
}

// New returns a Client for the name servers given with WithNameServers. It
// connects lazily: the first call that needs a server dials it.
func New(opts ...ClientOption) (*Client, error) {
	o := defaultClientOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.instanceName == "" {
		o.instanceName = strconv.Itoa(os.Getpid())
		if seq := clientSeq.Add(1); seq > 1 {
			o.instanceName += "-" + strconv.FormatInt(seq, 10)
		}
	}
	rc := remoting.NewClient(remoting.ClientOptions{
		DialTimeout:     o.dialTimeout,
		MaxPendingBytes: o.maxPendingBytes,
		Logger:          o.logger,
		Credentials:     o.credentials,
		TLS:             o.tls,
	})
	c := &Client{
		opts:         o,
		log:          o.logger,
		id:           localIPv4().String() + remoting.ClientIDSeparator + o.instanceName,
		tr:           newTransport(rc, o.serializeType, o.window),
		heartbeatNow: make(chan struct{}, 1),
		routesNow:    make(chan struct{}, 1),
	}
	c.tr.connLost = func(string) { c.refreshRoutesSoon() }
	c.routes = newRouteTable(c)
	c.mu.producers = make(map[*Producer]struct{})
	c.mu.txProducers = make(map[string]*TransactionProducer)
	c.mu.consumers = make(map[string]*PushConsumer)
	c.mu.pulls = make(map[*PullConsumer]struct{})
	rc.SetRequestHandler(c.handleRequest)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.loops.Add(2)
	go c.routeLoop()
	go c.heartbeatLoop()
	return c, nil
}

// ID is the client id brokers know this Client by ("ip@instance").
func (c *Client) ID() string { return c.id }

// Close closes every producer and consumer made from c that is still open
// (consumers commit their offsets), then the connections.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	var closers []func() error
	for p := range c.mu.producers {
		closers = append(closers, p.Close)
	}
	for _, tp := range c.mu.txProducers {
		closers = append(closers, tp.Close)
	}
	for _, pc := range c.mu.consumers {
		closers = append(closers, pc.Close)
	}
	for pc := range c.mu.pulls {
		closers = append(closers, pc.Close)
	}
	c.mu.Unlock()
	for _, closeMember := range closers {
		_ = closeMember()
	}
	c.cancel()
	c.loops.Wait()
	c.tr.close()
	return nil
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.closed
}

// register adds a member under the lock, failing when the client is closed.
func (c *Client) register(add func()) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	add()
	return nil
}

func (c *Client) unregister(remove func()) {
	c.mu.Lock()
	remove()
	c.mu.Unlock()
}

// minRouteRefreshGap spaces refreshes that failures ask for, so a burst
// of failed sends costs the name servers one round of route reads.
const minRouteRefreshGap = 100 * time.Millisecond

// routeLoop refreshes the cached routes periodically, and at once (at
// most every minRouteRefreshGap) when refreshRoutesSoon asks: a broker
// connection was lost, or a broker answered that it takes no sends (it
// became a replica, or lost its master's lease), so a failover may have
// named a new master.
func (c *Client) routeLoop() {
	defer c.loops.Done()
	ticker := time.NewTicker(c.opts.routeRefresh)
	defer ticker.Stop()
	var last time.Time
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-ticker.C:
		case <-c.routesNow:
			if wait := minRouteRefreshGap - time.Since(last); wait > 0 {
				select {
				case <-c.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		c.routes.refreshAll(c.ctx)
	}
}

// refreshRoutesSoon asks the route loop for a refresh now; it never blocks.
func (c *Client) refreshRoutesSoon() {
	select {
	case c.routesNow <- struct{}{}:
	default:
	}
}

// heartbeatLoop heartbeats every broker periodically, and at once when a
// new broker or member appears.
func (c *Client) heartbeatLoop() {
	defer c.loops.Done()
	ticker := time.NewTicker(c.opts.heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-ticker.C:
		case <-c.heartbeatNow:
		}
		if err := c.heartbeat(c.ctx); err != nil {
			c.log.Debug("client: heartbeat", "err", err)
		}
	}
}

// requestHeartbeat asks the heartbeat loop for a round soon.
func (c *Client) requestHeartbeat() {
	select {
	case c.heartbeatNow <- struct{}{}:
	default:
	}
}

// handleRequest answers requests brokers initiate on our connections.
func (c *Client) handleRequest(addr string, req *remoting.Command) *remoting.Command {
	switch req.Code {
	case remoting.RequestNotifyConsumerIDsChanged:
		group, _ := req.Ext.Get(remoting.ExtConsumerGroup)
		c.triggerRebalance(group)
		return nil
	case remoting.RequestCheckTransactionState:
		c.handleTransactionCheck(addr, req)
		return nil
	}
	if req.IsOneway() {
		return nil
	}
	return remoting.NewResponse(req, remoting.ResponseRequestCodeNotSupported,
		fmt.Sprintf("request code %d not supported by the comet client", req.Code))
}

// triggerRebalance wakes the rebalance of group's consumer, or of every
// consumer when the group is unknown.
func (c *Client) triggerRebalance(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pc, ok := c.mu.consumers[group]; ok {
		pc.triggerRebalance()
		return
	}
	for _, pc := range c.mu.consumers {
		pc.triggerRebalance()
	}
}

// CreateTopic creates (or updates) topic with the given number of read and
// write queues on every master broker of the cluster, then waits until the
// name server routes it.
func (c *Client) CreateTopic(ctx context.Context, topic string, queues int) error {
	if topic == "" || len(topic) > remoting.MaxTopicNameLength || queues <= 0 || queues > 1024 {
		return fmt.Errorf("%w: topic %q with %d queues", ErrInvalidOption, topic, queues)
	}
	brokers, err := c.routes.clusterBrokers(ctx)
	if err != nil {
		return err
	}
	if len(brokers) == 0 {
		return fmt.Errorf("%w: the name server knows no broker", ErrNoRoute)
	}
	for _, addr := range brokers {
		if err := c.createTopicOn(ctx, addr, topic, queues); err != nil {
			return err
		}
	}
	return c.awaitRoute(ctx, topic, queues*len(brokers))
}

func (c *Client) createTopicOn(ctx context.Context, addr, topic string, queues int) error {
	req := c.tr.request(remoting.RequestUpdateAndCreateTopic)
	q := strconv.Itoa(queues)
	req.Ext.Set(remoting.ExtTopic, topic)
	req.Ext.Set(remoting.ExtDefaultTopic, remoting.AutoCreateTopicKey)
	req.Ext.Set(remoting.ExtReadQueueNums, q)
	req.Ext.Set(remoting.ExtWriteQueueNums, q)
	req.Ext.Set(remoting.ExtPerm, strconv.Itoa(int(remoting.PermReadWrite)))
	req.Ext.Set(remoting.ExtTopicFilterType, "SINGLE_TAG")
	req.Ext.Set(remoting.ExtTopicSysFlag, "0")
	req.Ext.Set(remoting.ExtOrder, "false")
	callCtx, cancel := context.WithTimeout(ctx, c.opts.requestTimeout)
	defer cancel()
	resp, err := c.tr.invoke(callCtx, addr, req)
	if err != nil {
		return err
	}
	if resp.Code != remoting.ResponseSuccess {
		return brokerError(resp, addr, req.Code)
	}
	return nil
}

// awaitRoute polls the name server until topic has at least want readable
// queues: brokers register new topics asynchronously.
func (c *Client) awaitRoute(ctx context.Context, topic string, want int) error {
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		route, err := c.routes.refresh(ctx, topic, false)
		if err == nil && len(route.subscribe) >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctxError(ctx, "wait for the route of "+topic)
		case <-poll.C:
		}
	}
}
