package actors

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

// The broker core as a protocol gateway (MQTT) sees it: a small, explicit
// API so that a gateway's messages take the path of a RocketMQ send — the
// same topic table, the same writer, acknowledged after the same flush —
// and so that the gateway hears when stored records become visible. A
// gateway never reaches into the broker's internals; the broker never
// imports a gateway.

// TopicMQTTSessions is the system topic holding the MQTT gateway's session
// journal (one queue). Clients may not send to it.
const TopicMQTTSessions = remoting.SystemTopicPrefix + "MQTT_SESSIONS"

// Errors of GatewayAppend; test with errors.Is.
var (
	// ErrNotWritable: the broker takes no appends now (a replica, or too
	// few in-sync replicas for synchronous replication).
	ErrNotWritable = errors.New("actors: broker not writable")
	// ErrIllegalMessage: a message the store would refuse (properties
	// over 32,767 bytes, a body over the maximum message size).
	ErrIllegalMessage = errors.New("actors: illegal message")
	// ErrNoTopic: the topic does not exist and may not be created.
	ErrNoTopic = errors.New("actors: no such topic")
)

// gatewayHooks are what gateways registered with the broker.
type gatewayHooks struct {
	published atomic.Pointer[[]func()]
	admin     sync.Map // request code -> GatewayAdminFunc
}

// GatewayAdminFunc answers a gateway's admin request (cometctl) off the
// event loops.
type GatewayAdminFunc func(req *remoting.Command) *remoting.Command

// gatewayAdminCodes are the requests routed to a gateway.
var gatewayAdminCodes = []int16{remoting.RequestCometMQTTClients, remoting.RequestCometMQTTKick}

// SetGatewayAdmin routes one of the gateway admin request codes to fn; a
// code without a gateway is answered REQUEST_CODE_NOT_SUPPORTED. Any time.
func (b *Broker) SetGatewayAdmin(code int16, fn GatewayAdminFunc) { b.gateways.admin.Store(code, fn) }

// registerGatewayHandlers installs the routes of the gateway admin codes
// (before Start: a gateway starts after the broker).
func (b *Broker) registerGatewayHandlers() {
	gate := &adminGate{}
	for _, code := range gatewayAdminCodes {
		b.server.Handle(code, b.offLoop(gate, func(req *remoting.Command) *remoting.Command {
			fn, ok := b.gateways.admin.Load(code)
			if !ok {
				return failure(req, remoting.ResponseRequestCodeNotSupported, "no gateway serves %s", remoting.RequestName(code))
			}
			return fn.(GatewayAdminFunc)(req)
		}))
	}
}

// OnPublished registers fn to run after every batch of records becomes
// visible to readers (on the writer goroutine, or on an event loop after
// an inline append). fn must not block: it only wakes its owner, which
// reads the store from its own position (Store().MaxPhysicalOffset).
func (b *Broker) OnPublished(fn func()) {
	for {
		old := b.gateways.published.Load()
		var next []func()
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, fn)
		if b.gateways.published.CompareAndSwap(old, &next) {
			return
		}
	}
}

// notifyGateways runs the OnPublished hooks.
func (b *Broker) notifyGateways() {
	if fns := b.gateways.published.Load(); fns != nil {
		for _, fn := range *fns {
			fn()
		}
	}
}

// GatewayTopic returns the write queue count of an existing, writable topic.
func (b *Broker) GatewayTopic(topic string) (writeQueues int32, ok bool) {
	t, ok := b.topics.get(topic)
	if !ok || t.Perm&remoting.PermWrite == 0 {
		return 0, false
	}
	return max(t.WriteQueueNums, 1), true
}

// CanCreateTopics reports whether a send may create a missing topic
// (--auto-create-topic); gateways follow the same rule.
func (b *Broker) CanCreateTopics() bool { return b.opts.AutoCreateTopic }

// EnsureGatewayTopic creates topic with the default queue count unless it
// exists, and calls done once the change is durable (on the topic table's
// goroutine; done must not block). system marks a topic the gateway owns:
// it is created even when auto-creation is off. It reports false when the
// topic table is too busy to take the change.
func (b *Broker) EnsureGatewayTopic(topic string, system bool, done func(writeQueues int32, err error)) bool {
	if err := remoting.ValidateTopic(topic); err != nil {
		done(0, fmt.Errorf("%w: %v", ErrNoTopic, err))
		return true
	}
	if !system && (!b.opts.AutoCreateTopic || reservedTopics[topic] || b.isSystemTopic(topic)) {
		done(0, fmt.Errorf("%w: %s (auto-creation is off or the topic is the broker's)", ErrNoTopic, topic))
		return true
	}
	queues := b.opts.DefaultQueueNums
	perm := int32(remoting.PermRead | remoting.PermWrite)
	if system {
		queues = 1
	}
	change := topicChange{op: topicEnsure, cfg: newTopicConfig(topic, queues, perm)}
	return b.topics.submit(&topicRequest{changes: []topicChange{change}, done: func(r *topicRequest) {
		if r.err != nil {
			done(0, fmt.Errorf("actors: create topic %s: %w", topic, r.err))
			return
		}
		var cfg routing.TopicConfig = r.changes[0].result
		if r.changes[0].changed {
			b.topicsChanged()
		}
		done(max(cfg.WriteQueueNums, 1), nil)
	}})
}

// GatewayAppend stores the messages of req as one request, as a send
// does: refused while the broker is not writable, acknowledged through
// req.Done once stored (synced, with sync flush; replicated, with
// synchronous replication). onLoop says the caller is an event loop,
// which may then append a small request inline (async flush, writer
// idle); otherwise it goes through the writer's ring. An error means
// req.Done will not be called: ErrNotWritable, ErrIllegalMessage, ErrBusy
// (ring full) or ErrStopping.
func (b *Broker) GatewayAppend(req *AppendRequest, onLoop bool) error {
	if code, remark := b.writeRefusal(); code != remoting.ResponseSuccess {
		return fmt.Errorf("%w: %s", ErrNotWritable, remark)
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		if len(m.Body) > b.opts.MaxMessageSize {
			return fmt.Errorf("%w: body of %d bytes, the maximum is %d", ErrIllegalMessage, len(m.Body), b.opts.MaxMessageSize)
		}
	}
	if code, remark := checkPropertiesLength(req.Messages); code != remoting.ResponseSuccess {
		return fmt.Errorf("%w: %s", ErrIllegalMessage, remark)
	}
	if onLoop && b.writer.TryAppendInline(req) {
		return nil
	}
	return b.writer.Submit(req)
}

// ClusterName is the cluster the broker belongs to (the CLUSTER property
// of stored messages).
func (b *Broker) ClusterName() string { return b.opts.ClusterName }

// StoreHost is the address stored in records and message ids.
func (b *Broker) StoreHost() persist.Host { return b.storeHost }

// RetentionAge is how long the commit log keeps records.
func (b *Broker) RetentionAge() time.Duration { return b.retentionAge() }

// MaxMessageSize is the largest body a message may have.
func (b *Broker) MaxMessageSize() int { return b.opts.MaxMessageSize }

// FS is the file system the broker's metadata lives on.
func (b *Broker) FS() persist.FS { return b.opts.FS }

// DataDir is the broker's data directory.
func (b *Broker) DataDir() string { return b.opts.DataDir }

// HandleRequest registers an extra remoting request handler (a gateway's
// admin requests). Call between NewBroker and Start.
func (b *Broker) HandleRequest(code int16, h netio.Handler) { b.server.Handle(code, h) }
