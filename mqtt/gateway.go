package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

// Options configure the gateway. Zero values take the defaults.
type Options struct {
	Listen   string // MQTT over TCP, "127.0.0.1:1883"; "" disables
	WSListen string // MQTT over WebSocket, "127.0.0.1:8083"; "" disables
	WSPath   string // default "/mqtt"
	// ListenOptional and WSListenOptional make a listener whose address
	// is taken a warning instead of an error (comet's default addresses:
	// a broker does not refuse to start because another MQTT server holds
	// 1883).
	ListenOptional, WSListenOptional bool

	// FallbackTopic receives the messages whose first topic level is not
	// a usable Comet topic (default "MQTT_FALLBACK").
	FallbackTopic string
	// MaxPacketSize is the largest packet taken from a client (default:
	// the broker's maximum message size plus 64 KiB).
	MaxPacketSize int
	// ReceiveMaximum is the QoS 1/2 publishes a client may have
	// unacknowledged towards the gateway (MQTT 5 CONNACK; default 1024).
	ReceiveMaximum uint16
	// MaxInflight caps the QoS 1/2 messages the gateway has unacknowledged
	// towards one client: the client's Receive Maximum, at most this; an
	// MQTT 3.1.1 client gets this window (default 256).
	MaxInflight uint16
	// TopicAliasMaximum is the topic aliases a client may define
	// (MQTT 5; default 64).
	TopicAliasMaximum uint16
	// MaxKeepAlive, when set, caps the keep-alive a client asks for
	// (announced as Server Keep Alive).
	MaxKeepAlive time.Duration
	// ConnectTimeout closes a connection that sends no CONNECT (default 10 s).
	ConnectTimeout time.Duration
	// MaxPendingBytes bounds a connection's outbound bytes: above it QoS 0
	// messages are dropped, above four times it the client is closed
	// (default 4 MiB).
	MaxPendingBytes int
	// DefaultQoS is the QoS of a message from a RocketMQ producer (no
	// MQTT_QOS property) for subscribers that granted more. The zero value
	// is QoS 0; comet's --mqtt-default-qos defaults to 1 (the log already
	// makes such messages durable).
	DefaultQoS byte
	// SnapshotInterval is how often session state is compacted into the
	// snapshot file (default 1 minute).
	SnapshotInterval time.Duration
	NumEventLoops    int // per listener; default GOMAXPROCS
	// Auth authenticates CONNECTs and authorizes publishes and
	// subscriptions; nil allows everything (see Authenticator).
	Auth   Authenticator
	Logger *slog.Logger
}

func (o *Options) setDefaults(b *actors.Broker) {
	if o.WSPath == "" {
		o.WSPath = "/mqtt"
	}
	if o.FallbackTopic == "" {
		o.FallbackTopic = "MQTT_FALLBACK"
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = b.MaxMessageSize() + 64<<10
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 1024
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = 256
	}
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = 64
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.MaxPendingBytes == 0 {
		o.MaxPendingBytes = 4 << 20
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ErrInvalidOptions marks an Options value Validate refuses.
var ErrInvalidOptions = errors.New("mqtt: invalid options")

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	for _, a := range []string{o.Listen, o.WSListen} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%w: listen address %q: %v", ErrInvalidOptions, a, err)
		}
	}
	if o.FallbackTopic != "" {
		if err := remoting.ValidateTopic(o.FallbackTopic); err != nil {
			return fmt.Errorf("%w: fallback topic: %v", ErrInvalidOptions, err)
		}
	}
	if o.DefaultQoS > 2 {
		return fmt.Errorf("%w: default QoS %d", ErrInvalidOptions, o.DefaultQoS)
	}
	if o.MaxPacketSize < 0 || o.MaxPacketSize > maxVarInt {
		return fmt.Errorf("%w: max packet size %d", ErrInvalidOptions, o.MaxPacketSize)
	}
	return nil
}

// Gateway is the MQTT gateway of one broker: its listeners, the sessions,
// the subscription tree, the retained messages and the fan-out that
// delivers stored records to subscribers.
type Gateway struct {
	opts   Options
	log    *slog.Logger
	broker *actors.Broker
	store  *persist.Store

	listeners []*listener
	conns     connRegistry
	sessions  sessionRegistry
	subs      subscriptionIndex
	shares    struct {
		mu    sync.Mutex
		byKey map[string]*shareState
	}
	retained retainedStore
	fan      *fanout
	journal  *journal
	metrics  gatewayMetrics
	logs     logLimiter

	stopOnce sync.Once
	stopping atomic.Bool
	quit     chan struct{}
	workers  sync.WaitGroup
}

// New prepares a gateway on a broker that has started; Start serves.
func New(b *actors.Broker, opts Options) (*Gateway, error) {
	opts.setDefaults(b)
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	gw := &Gateway{opts: opts, log: opts.Logger, broker: b, store: b.Store(), quit: make(chan struct{})}
	gw.sessions.byID = make(map[string]*session)
	gw.shares.byKey = make(map[string]*shareState)
	gw.retained.init()
	gw.fan = newFanout(gw)
	gw.journal = newJournal(gw)
	return gw, nil
}

// Start recovers the persisted sessions and retained messages, starts the
// fan-out and the listeners.
func (gw *Gateway) Start() error {
	if err := gw.ensureTopics(); err != nil {
		return err
	}
	if err := gw.journal.recover(); err != nil {
		return err
	}
	gw.fan.start()
	gw.broker.OnPublished(gw.fan.wake)
	gw.registerAdmin()
	gw.goWorker(gw.sweepLoop)
	gw.goWorker(gw.journal.run)
	for _, a := range []struct {
		addr     string
		ws       bool
		optional bool
	}{{gw.opts.Listen, false, gw.opts.ListenOptional}, {gw.opts.WSListen, true, gw.opts.WSListenOptional}} {
		if a.addr == "" {
			continue
		}
		l := newListener(gw, a.addr, a.ws)
		if err := l.start(gw.opts.NumEventLoops); err != nil {
			if a.optional && errors.Is(err, syscall.EADDRINUSE) {
				gw.log.Warn("mqtt: default address taken; serving without this listener", "addr", a.addr, "websocket", a.ws)
				continue
			}
			gw.Stop(context.Background())
			return err
		}
		gw.listeners = append(gw.listeners, l)
	}
	return nil
}

// ensureTopics creates the fallback topic and the session journal's
// system topic, waiting for them (at start, off the event loops).
func (gw *Gateway) ensureTopics() error {
	for _, t := range []struct {
		name   string
		system bool
	}{{actors.TopicMQTTSessions, true}, {gw.opts.FallbackTopic, true}} {
		done := make(chan error, 1)
		ok := gw.broker.EnsureGatewayTopic(t.name, t.system, func(_ int32, err error) { done <- err })
		if !ok {
			return fmt.Errorf("mqtt: create topic %s: topic table busy", t.name)
		}
		if err := <-done; err != nil {
			return fmt.Errorf("mqtt: create topic %s: %w", t.name, err)
		}
	}
	return nil
}

func (gw *Gateway) goWorker(fn func()) {
	gw.workers.Add(1)
	go func() {
		defer gw.workers.Done()
		fn()
	}()
}

// Addr is the bound MQTT over TCP address ("" when disabled).
func (gw *Gateway) Addr() string { return gw.boundAddr(false) }

// WSAddr is the bound MQTT over WebSocket address ("" when disabled).
func (gw *Gateway) WSAddr() string { return gw.boundAddr(true) }

func (gw *Gateway) boundAddr(ws bool) string {
	for _, l := range gw.listeners {
		if l.ws == ws {
			return l.boundTo
		}
	}
	return ""
}

// Stop closes the listeners (clients see a network failure; their wills
// stay with their persisted sessions only when the session outlives the
// connection), stops the fan-out and writes the session snapshot. Call it
// before the broker stops: the snapshot goes through the broker's file
// system and the last journal records through its writer.
func (gw *Gateway) Stop(ctx context.Context) error {
	return gw.stop(ctx, true)
}

// stop stops the gateway; snapshot false leaves the session snapshot as
// it was (tests use it to recover from the journal as after a crash).
func (gw *Gateway) stop(ctx context.Context, snapshot bool) error {
	var first error
	gw.stopOnce.Do(func() {
		gw.stopping.Store(true)
		gw.conns.each(func(c *conn) { c.disconnectAsync(ReasonServerShuttingDown, "server shutting down") })
		for _, l := range gw.listeners {
			if err := l.stop(ctx); err != nil && first == nil {
				first = err
			}
		}
		close(gw.quit)
		gw.fan.stop()
		gw.workers.Wait()
		if !snapshot {
			return
		}
		if err := gw.journal.snapshot(); err != nil && first == nil {
			first = err
		}
	})
	return first
}

// sweepLoop closes connections past their keep-alive or without a CONNECT
// in time, ends expired sessions and publishes delayed wills.
func (gw *Gateway) sweepLoop() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-gw.quit:
			return
		case now := <-t.C:
			gw.sweepConns(now)
			gw.sweepSessions(now)
		}
	}
}

func (gw *Gateway) sweepConns(now time.Time) {
	gw.conns.each(func(c *conn) {
		if c.closing.Load() {
			return
		}
		if at := c.disconnectedAt.Load(); at != 0 {
			if now.Sub(time.Unix(0, at)) > wsDisconnectGrace {
				c.closeNow("WebSocket not closed after DISCONNECT")
			}
			return
		}
		if !c.connected.Load() {
			if now.Sub(c.opened) > gw.opts.ConnectTimeout {
				gw.metrics.connectTimeouts.Add(1)
				c.closeNow("no CONNECT within the connect timeout")
			}
			return
		}
		ka := c.keepAlive
		if ka > 0 && now.Sub(time.Unix(0, c.lastPacket.Load())) > ka*3/2 {
			gw.metrics.keepAliveTimeouts.Add(1)
			gw.logRefusal("mqtt: keep-alive expired", c, errors.New("no packet for 1.5 times the keep-alive"))
			c.disconnectAsync(ReasonKeepAliveTimeout, "keep-alive timeout")
		}
	})
}

// logRefusal logs a refused client, rate limited per message.
func (gw *Gateway) logRefusal(msg string, c *conn, err error) {
	if !gw.logs.allow(msg) {
		return
	}
	gw.log.Warn(msg, "remote", c.remote, "clientId", quoteShort(c.clientID), "err", err)
}

// logLimiter allows a few lines per message per second.
type logLimiter struct {
	mu struct {
		sync.Mutex
		second int64
		counts map[string]int
	}
}

const logsPerSecond = 5

func (l *logLimiter) allow(msg string) bool {
	now := time.Now().Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.second != now || l.mu.counts == nil {
		l.mu.second, l.mu.counts = now, map[string]int{}
	}
	l.mu.counts[msg]++
	return l.mu.counts[msg] <= logsPerSecond
}

// hostOf is the born host of a remote address.
func hostOf(a net.Addr) persist.Host {
	if tcp, ok := a.(*net.TCPAddr); ok {
		if ip4 := tcp.IP.To4(); ip4 != nil {
			return persist.Host{IP: ip4, Port: int32(tcp.Port)}
		}
	}
	return persist.Host{IP: net.IPv4(127, 0, 0, 1).To4()}
}
