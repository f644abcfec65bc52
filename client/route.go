package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// topicRoute is one topic's route as the SDK uses it: the queues it may
// publish to (writable, on a broker with a master), the queues it may
// subscribe to (readable), and the brokers' addresses. Immutable once built.
type topicRoute struct {
	topic     string
	publish   []MessageQueue
	subscribe []MessageQueue
	brokers   map[string]routing.BrokerAddrs
	// fromTemplate: the topic is unknown and this route is the auto-create
	// template's (TBW102), clamped to its default queue count.
	fromTemplate bool
}

// buildTopicRoute derives the queue lists of topic from a route body.
// maxQueues > 0 clamps each broker's queue counts (auto-create).
func buildTopicRoute(topic string, data *routing.TopicRouteData, maxQueues int32) *topicRoute {
	r := &topicRoute{topic: topic, brokers: make(map[string]routing.BrokerAddrs, len(data.BrokerDatas))}
	for _, bd := range data.BrokerDatas {
		r.brokers[bd.BrokerName] = bd.BrokerAddrs
	}
	for _, qd := range data.QueueDatas {
		write, read := qd.WriteQueueNums, qd.ReadQueueNums
		if maxQueues > 0 {
			write, read = min(write, maxQueues), min(read, maxQueues)
		}
		if qd.Perm&remoting.PermWrite != 0 && r.brokers[qd.BrokerName][routing.MasterID] != "" {
			for id := range write {
				r.publish = append(r.publish, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: int32(id)})
			}
		}
		if qd.Perm&remoting.PermRead != 0 {
			for id := range read {
				r.subscribe = append(r.subscribe, MessageQueue{Topic: topic, BrokerName: qd.BrokerName, QueueID: int32(id)})
			}
		}
	}
	slices.SortFunc(r.publish, compareQueues)
	slices.SortFunc(r.subscribe, compareQueues)
	return r
}

func compareQueues(a, b MessageQueue) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	if c := strings.Compare(a.BrokerName, b.BrokerName); c != 0 {
		return c
	}
	return cmp.Compare(a.QueueID, b.QueueID)
}

// masterAddr is the address of brokerName's master in this route.
func (r *topicRoute) masterAddr(brokerName string) string {
	return r.brokers[brokerName][routing.MasterID]
}

// routeTable caches topic routes and the addresses of every broker seen.
type routeTable struct {
	c      *Client
	nsNext atomic.Uint32
	mu     struct {
		sync.RWMutex
		topics  map[string]*topicRoute
		brokers map[string]routing.BrokerAddrs
	}
}

func newRouteTable(c *Client) *routeTable {
	r := &routeTable{c: c}
	r.mu.topics = make(map[string]*topicRoute)
	r.mu.brokers = make(map[string]routing.BrokerAddrs)
	return r
}

// cached returns the cached route of topic, or nil.
func (r *routeTable) cached(topic string) *topicRoute {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.mu.topics[topic]
}

// get returns the cached route of topic, fetching it on a miss. For a
// producer (autoCreate) an unknown topic routes like the auto-create
// template, so the broker creates the topic on the first send.
func (r *routeTable) get(ctx context.Context, topic string, autoCreate bool) (*topicRoute, error) {
	if route := r.cached(topic); route != nil {
		return route, nil
	}
	return r.refresh(ctx, topic, autoCreate)
}

// refresh re-reads topic's route from the name server and caches it.
func (r *routeTable) refresh(ctx context.Context, topic string, autoCreate bool) (*topicRoute, error) {
	data, err := r.fetch(ctx, topic)
	var route *topicRoute
	switch {
	case err == nil:
		route = buildTopicRoute(topic, data, 0)
	case errors.Is(err, ErrNoRoute) && autoCreate:
		template, terr := r.fetch(ctx, remoting.AutoCreateTopicKey)
		if terr != nil {
			return nil, fmt.Errorf("%w: topic %s (auto-create template: %v)", ErrNoRoute, topic, terr)
		}
		route = buildTopicRoute(topic, template, remoting.DefaultTopicQueueNums)
		route.fromTemplate = true
	default:
		return nil, err
	}
	r.store(route)
	return route, nil
}

// store caches route; a broker not seen before gets a heartbeat soon.
func (r *routeTable) store(route *topicRoute) {
	r.mu.Lock()
	r.mu.topics[route.topic] = route
	newBroker := false
	for name, addrs := range route.brokers {
		if len(addrs) > 0 {
			_, known := r.mu.brokers[name]
			newBroker = newBroker || !known
			r.mu.brokers[name] = addrs
		}
	}
	r.mu.Unlock()
	if newBroker {
		r.c.requestHeartbeat()
	}
}

// refreshAll re-reads every cached topic; failures keep the old route.
func (r *routeTable) refreshAll(ctx context.Context) {
	r.mu.RLock()
	topics := make([]*topicRoute, 0, len(r.mu.topics))
	for _, route := range r.mu.topics {
		topics = append(topics, route)
	}
	r.mu.RUnlock()
	for _, old := range topics {
		if _, err := r.refresh(ctx, old.topic, old.fromTemplate); err != nil {
			r.c.log.Debug("client: route refresh failed", "topic", old.topic, "err", err)
		}
	}
}

// masterAddr is the master address of brokerName from any route seen.
func (r *routeTable) masterAddr(brokerName string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	addr := r.mu.brokers[brokerName][routing.MasterID]
	return addr, addr != ""
}

// brokerAddrs lists the address of every known broker: masters only, or
// masters and slaves.
func (r *routeTable) brokerAddrs(withSlaves bool) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, addrs := range r.mu.brokers {
		for id, addr := range addrs {
			if id == routing.MasterID || withSlaves {
				out = append(out, addr)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// fetch asks the name servers for topic's route: ErrNoRoute when unknown.
func (r *routeTable) fetch(ctx context.Context, topic string) (*routing.TopicRouteData, error) {
	req := r.c.tr.request(remoting.RequestGetRouteInfoByTopic)
	req.Ext.Set(remoting.ExtTopic, topic)
	resp, addr, err := r.askNamesrv(ctx, req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.Code == remoting.ResponseTopicNotExist:
		return nil, fmt.Errorf("%w: topic %s", ErrNoRoute, topic)
	case resp.Code != remoting.ResponseSuccess:
		return nil, brokerError(resp, addr, req.Code)
	case len(resp.Body) == 0:
		return nil, fmt.Errorf("%w: topic %s: empty route", ErrNoRoute, topic)
	}
	data, err := routing.DecodeTopicRouteData(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: route of %s from %s: %v", ErrProtocol, topic, addr, err)
	}
	return data, nil
}

// askNamesrv sends req to the name servers in turn, moving on only when one
// cannot be reached.
func (r *routeTable) askNamesrv(ctx context.Context, req *remoting.Command) (*remoting.Command, string, error) {
	servers := r.c.opts.nameServers
	start := int(r.nsNext.Add(1))
	var lastErr error
	for i := range servers {
		addr := servers[(start+i)%len(servers)]
		callCtx, cancel := context.WithTimeout(ctx, r.c.opts.requestTimeout)
		resp, err := r.c.tr.invoke(callCtx, addr, req)
		cancel()
		if err == nil {
			return resp, addr, nil
		}
		lastErr = err
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			break
		}
	}
	return nil, "", lastErr
}

// clusterBrokers asks the name servers for every master broker address
// (GET_BROKER_CLUSTER_INFO).
func (r *routeTable) clusterBrokers(ctx context.Context) ([]string, error) {
	req := r.c.tr.request(remoting.RequestGetBrokerClusterInfo)
	resp, addr, err := r.askNamesrv(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Code != remoting.ResponseSuccess {
		return nil, brokerError(resp, addr, req.Code)
	}
	var info routing.ClusterInfo
	if err := json.Unmarshal(resp.Body, &info); err != nil {
		return nil, fmt.Errorf("%w: cluster info from %s: %v", ErrProtocol, addr, err)
	}
	var out []string
	for _, bd := range info.BrokerAddrTable {
		if a := bd.BrokerAddrs[routing.MasterID]; a != "" {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out, nil
}
