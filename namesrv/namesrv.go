package namesrv

import (
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/cometmq/comet/routing"
)

// Errors returned by this package; test them with errors.Is.
var (
	ErrMissingField     = errors.New("namesrv: missing header field")
	ErrBadAddress       = errors.New("namesrv: invalid broker address")
	ErrInvalidOptions   = errors.New("namesrv: invalid options")
	ErrRegistrarStopped = errors.New("namesrv: registrar stopped")
	ErrRejected         = errors.New("namesrv: name server rejected the request")
)

// DefaultBrokerExpiry is how long a broker stays registered without
// re-registering (RocketMQ's 120 s).
const DefaultBrokerExpiry = 120 * time.Second

// NamesrvOptions configures a Namesrv. Zero values take the defaults.
type RegistryOptions struct {
	Logger       *slog.Logger
	BrokerExpiry time.Duration    // default DefaultBrokerExpiry
	Now          func() time.Time // default time.Now; injectable for tests
	// KVConfigPath keeps the KV config (PUT_KV_CONFIG) in this file
	// (admin.go); "" keeps it in memory.
	KVConfigPath string
}

func (o RegistryOptions) withDefaults() RegistryOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BrokerExpiry <= 0 {
		o.BrokerExpiry = DefaultBrokerExpiry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// brokerLive is one registered broker address.
type brokerLive struct {
	brokerName   string
	clusterName  string
	brokerID     int64
	haServerAddr string
	remoteAddr   string
	lastUpdate   time.Time
	dataVersion  routing.DataVersion
}

// brokerGroup is one broker name: its cluster and its id → address table.
type brokerGroup struct {
	cluster string
	addrs   map[int64]string
}

// Namesrv is the name server's state and request handling. It does no
// networking: the server layer calls Handle for each request and
// ConnectionClosed when a connection ends, and the owner calls ExpireStale
// every 10 s. All methods are safe for concurrent use.
type Registry struct {
	logger   *slog.Logger
	expiry   time.Duration
	now      func() time.Time
	kv       *kvTable         // KV config (admin.go)
	settings *namesrvSettings // GET/UPDATE_NAMESRV_CONFIG (admin.go)

	mu struct {
		sync.RWMutex
		topicQueues map[string]map[string]routing.QueueData // topic → brokerName → queue data
		brokers     map[string]*brokerGroup                 // brokerName → group
		clusters    map[string]map[string]struct{}          // cluster → brokerNames
		live        map[string]*brokerLive                  // brokerAddr → liveness
		generation  uint64                                  // bumped on every route-visible change
		routeCache  map[string][]byte                       // topic → encoded route, valid for generation
		wiped       map[string]bool                         // brokerName → write permission wiped (admin.go)
	}
}

// NewRegistry returns an empty name server whose KV config lives in
// memory (opts.KVConfigPath is ignored: OpenRegistry reads it).
func NewRegistry(opts RegistryOptions) *Registry {
	opts.KVConfigPath = ""
	n, _ := OpenRegistry(opts)
	return n
}

// OpenRegistry returns a name server with no brokers and the KV config
// kept in opts.KVConfigPath, if set.
func OpenRegistry(opts RegistryOptions) (*Registry, error) {
	opts = opts.withDefaults()
	kv, err := loadKV(opts.KVConfigPath)
	if err != nil {
		return nil, err
	}
	n := &Registry{logger: opts.Logger, expiry: opts.BrokerExpiry, now: opts.Now, kv: kv,
		settings: newNamesrvSettings(opts.KVConfigPath)}
	n.mu.wiped = make(map[string]bool)
	n.mu.topicQueues = make(map[string]map[string]routing.QueueData)
	n.mu.brokers = make(map[string]*brokerGroup)
	n.mu.clusters = make(map[string]map[string]struct{})
	n.mu.live = make(map[string]*brokerLive)
	n.mu.routeCache = make(map[string][]byte)
	return n, nil
}

// invalidateLocked drops every cached route after a change.
func (n *Registry) invalidateLocked() {
	n.mu.generation++
	clear(n.mu.routeCache)
}

// registration is a parsed REGISTER_BROKER request.
type registration struct {
	brokerName   string
	brokerAddr   string
	clusterName  string
	haServerAddr string
	brokerID     int64
	remoteAddr   string
	body         *routing.RegisterBrokerBody
}

// registerResult is what a registering broker is told.
type registerResult struct {
	masterAddr   string
	haServerAddr string
}

// register applies one registration.
func (n *Registry) register(reg registration) registerResult {
	n.mu.Lock()
	defer n.mu.Unlock()
	changed := n.registerGroupLocked(reg)
	live, known := n.mu.live[reg.brokerAddr]
	if !known {
		live = &brokerLive{}
		n.mu.live[reg.brokerAddr] = live
		n.logger.Info("namesrv: broker registered", "broker", reg.brokerName,
			"addr", reg.brokerAddr, "id", reg.brokerID, "cluster", reg.clusterName, "remote", reg.remoteAddr)
	}
	*live = brokerLive{
		brokerName: reg.brokerName, clusterName: reg.clusterName, brokerID: reg.brokerID,
		haServerAddr: reg.haServerAddr, remoteAddr: reg.remoteAddr, lastUpdate: n.now(),
		dataVersion: reg.body.TopicConfigSerializeWrapper.DataVersion,
	}
	if reg.brokerID == routing.MasterID && n.replaceTopicsLocked(reg.brokerName, reg.body) {
		changed = true
	}
	if changed {
		n.invalidateLocked()
	}
	return n.registerResultLocked(reg)
}

// registerGroupLocked records cluster membership and the id → address entry.
func (n *Registry) registerGroupLocked(reg registration) bool {
	changed := false
	names := n.mu.clusters[reg.clusterName]
	if names == nil {
		names = make(map[string]struct{})
		n.mu.clusters[reg.clusterName] = names
	}
	if _, ok := names[reg.brokerName]; !ok {
		names[reg.brokerName] = struct{}{}
		changed = true
	}
	group := n.mu.brokers[reg.brokerName]
	if group == nil {
		group = &brokerGroup{cluster: reg.clusterName, addrs: make(map[int64]string)}
		n.mu.brokers[reg.brokerName] = group
		changed = true
	}
	if group.cluster != reg.clusterName {
		n.moveGroupClusterLocked(reg.brokerName, group, reg.clusterName)
		changed = true
	}
	// An address that switched role (slave promoted to master) keeps one id only.
	for id, addr := range group.addrs {
		if addr == reg.brokerAddr && id != reg.brokerID {
			delete(group.addrs, id)
			changed = true
		}
	}
	if group.addrs[reg.brokerID] != reg.brokerAddr {
		if old, ok := group.addrs[reg.brokerID]; ok {
			delete(n.mu.live, old)
		}
		group.addrs[reg.brokerID] = reg.brokerAddr
		changed = true
	}
	return changed
}

func (n *Registry) moveGroupClusterLocked(brokerName string, group *brokerGroup, cluster string) {
	if names := n.mu.clusters[group.cluster]; names != nil {
		delete(names, brokerName)
		if len(names) == 0 {
			delete(n.mu.clusters, group.cluster)
		}
	}
	group.cluster = cluster
}

// replaceTopicsLocked makes brokerName's queue data exactly the topics in
// body: new and changed topics are set, topics it no longer reports lose it.
func (n *Registry) replaceTopicsLocked(brokerName string, body *routing.RegisterBrokerBody) bool {
	changed := false
	table := body.TopicConfigSerializeWrapper.TopicConfigTable
	for topic, tc := range table {
		want := n.applyWipedLocked(brokerName, routing.QueueData{
			BrokerName: brokerName, Perm: tc.Perm, ReadQueueNums: tc.ReadQueueNums,
			TopicSysFlag: tc.TopicSysFlag, WriteQueueNums: tc.WriteQueueNums,
		})
		queues := n.mu.topicQueues[topic]
		if queues == nil {
			queues = make(map[string]routing.QueueData)
			n.mu.topicQueues[topic] = queues
		}
		if have, ok := queues[brokerName]; !ok || have != want {
			queues[brokerName] = want
			changed = true
		}
	}
	for topic, queues := range n.mu.topicQueues {
		if _, reported := table[topic]; reported {
			continue
		}
		if _, ok := queues[brokerName]; ok {
			delete(queues, brokerName)
			changed = true
			if len(queues) == 0 {
				delete(n.mu.topicQueues, topic)
			}
		}
	}
	return changed
}

func (n *Registry) registerResultLocked(reg registration) registerResult {
	if reg.brokerID == routing.MasterID {
		return registerResult{}
	}
	group := n.mu.brokers[reg.brokerName]
	masterAddr, ok := group.addrs[routing.MasterID]
	if !ok {
		return registerResult{}
	}
	master := n.mu.live[masterAddr]
	if master == nil {
		return registerResult{}
	}
	return registerResult{masterAddr: masterAddr, haServerAddr: master.haServerAddr}
}

// unregister removes one broker address (UNREGISTER_BROKER).
func (n *Registry) unregister(brokerName, brokerAddr string, brokerID int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	removed := n.removeBrokerLocked(brokerName, brokerID, brokerAddr)
	if removed {
		n.logger.Info("namesrv: broker unregistered", "broker", brokerName, "addr", brokerAddr, "id", brokerID)
	}
	return removed
}

// removeBrokerLocked drops one address; when it was the name's last address,
// the name leaves its cluster and every topic loses its queue data.
func (n *Registry) removeBrokerLocked(brokerName string, brokerID int64, brokerAddr string) bool {
	removed := false
	if live, ok := n.mu.live[brokerAddr]; ok && live.brokerName == brokerName {
		delete(n.mu.live, brokerAddr)
		removed = true
	}
	group := n.mu.brokers[brokerName]
	if group == nil {
		return removed
	}
	if group.addrs[brokerID] == brokerAddr {
		delete(group.addrs, brokerID)
		removed = true
	}
	if len(group.addrs) == 0 {
		delete(n.mu.brokers, brokerName)
		n.moveGroupClusterLocked(brokerName, group, "")
		for topic, queues := range n.mu.topicQueues {
			delete(queues, brokerName)
			if len(queues) == 0 {
				delete(n.mu.topicQueues, topic)
			}
		}
	}
	if removed {
		n.invalidateLocked()
	}
	return removed
}

// ConnectionClosed drops every broker that registered over remoteAddr.
func (n *Registry) ConnectionClosed(remoteAddr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for addr, live := range n.mu.live {
		if live.remoteAddr != remoteAddr {
			continue
		}
		n.removeBrokerLocked(live.brokerName, live.brokerID, addr)
		n.logger.Info("namesrv: broker connection closed", "broker", live.brokerName,
			"addr", addr, "id", live.brokerID, "remote", remoteAddr)
	}
}

// ExpireStale drops brokers that have not registered within BrokerExpiry
// before now, logs them and returns their addresses, sorted.
func (n *Registry) ExpireStale(now time.Time) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var expired []string
	for addr, live := range n.mu.live {
		if now.Sub(live.lastUpdate) <= n.expiry {
			continue
		}
		n.removeBrokerLocked(live.brokerName, live.brokerID, addr)
		n.logger.Warn("namesrv: broker expired", "broker", live.brokerName, "addr", addr,
			"id", live.brokerID, "lastUpdate", live.lastUpdate, "expiry", n.expiry)
		expired = append(expired, addr)
	}
	sort.Strings(expired)
	return expired
}
