package namesrv

import (
	"sort"
	"strings"

	"github.com/cometmq/comet/routing"
)

// RouteBody returns the encoded route of topic (the GET_ROUTEINFO_BY_TOPIC
// body) and false when the topic is unknown or none of its brokers is
// registered. The returned slice is shared: callers must not modify it.
func (n *Registry) RouteBody(topic string) ([]byte, bool) {
	n.mu.RLock()
	if body, ok := n.mu.routeCache[topic]; ok {
		n.mu.RUnlock()
		return body, true
	}
	route, found := n.routeLocked(topic)
	generation := n.mu.generation
	n.mu.RUnlock()
	if !found {
		return nil, false
	}
	body, err := route.Encode()
	if err != nil {
		n.logger.Error("namesrv: encode route", "topic", topic, "err", err)
		return nil, false
	}
	n.mu.Lock()
	if n.mu.generation == generation {
		n.mu.routeCache[topic] = body
	}
	n.mu.Unlock()
	return body, true
}

// Route returns a copy of topic's route.
func (n *Registry) Route(topic string) (*routing.TopicRouteData, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.routeLocked(topic)
}

// routeLocked builds topic's route; it needs at least a read lock.
func (n *Registry) routeLocked(topic string) (*routing.TopicRouteData, bool) {
	queues := n.mu.topicQueues[topic]
	if len(queues) == 0 && strings.HasPrefix(topic, retryTopicPrefix) {
		queues = n.provisionalRetryQueuesLocked()
	}
	if len(queues) == 0 {
		return nil, false
	}
	route := &routing.TopicRouteData{
		BrokerDatas:       make([]routing.BrokerData, 0, len(queues)),
		FilterServerTable: map[string][]string{},
		QueueDatas:        make([]routing.QueueData, 0, len(queues)),
	}
	for brokerName, queueData := range queues {
		group := n.mu.brokers[brokerName]
		if group == nil || len(group.addrs) == 0 {
			continue
		}
		route.QueueDatas = append(route.QueueDatas, queueData)
		route.BrokerDatas = append(route.BrokerDatas, group.brokerData(brokerName))
	}
	if len(route.BrokerDatas) == 0 {
		return nil, false
	}
	sort.Slice(route.QueueDatas, func(i, j int) bool {
		return route.QueueDatas[i].BrokerName < route.QueueDatas[j].BrokerName
	})
	sort.Slice(route.BrokerDatas, func(i, j int) bool {
		return route.BrokerDatas[i].BrokerName < route.BrokerDatas[j].BrokerName
	})
	return route, true
}

const retryTopicPrefix = "%RETRY%"

// provisionalRetryQueuesLocked routes a retry topic no broker registered
// yet to every broker, one queue each. A push consumer asks for its retry
// topic's route before its first heartbeat makes the broker create it;
// without this answer it would learn the route only at its next poll, 30 s
// later, and redeliveries would wait that long.
func (n *Registry) provisionalRetryQueuesLocked() map[string]routing.QueueData {
	out := map[string]routing.QueueData{}
	for name, group := range n.mu.brokers {
		if len(group.addrs) > 0 {
			out[name] = routing.QueueData{BrokerName: name, ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}
		}
	}
	return out
}

func (g *brokerGroup) brokerData(brokerName string) routing.BrokerData {
	addrs := make(routing.BrokerAddrs, len(g.addrs))
	for id, addr := range g.addrs {
		addrs[id] = addr
	}
	return routing.BrokerData{BrokerAddrs: addrs, BrokerName: brokerName, Cluster: g.cluster}
}

// ClusterInfo returns every broker name with its addresses and every
// cluster with its broker names (sorted).
func (n *Registry) ClusterInfo() routing.ClusterInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	info := routing.ClusterInfo{
		BrokerAddrTable:  make(map[string]routing.BrokerData, len(n.mu.brokers)),
		ClusterAddrTable: make(map[string][]string, len(n.mu.clusters)),
	}
	for brokerName, group := range n.mu.brokers {
		info.BrokerAddrTable[brokerName] = group.brokerData(brokerName)
	}
	for cluster, names := range n.mu.clusters {
		list := make([]string, 0, len(names))
		for name := range names {
			list = append(list, name)
		}
		sort.Strings(list)
		info.ClusterAddrTable[cluster] = list
	}
	return info
}

// Topics returns every topic with a route, sorted.
func (n *Registry) Topics() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	topics := make([]string, 0, len(n.mu.topicQueues))
	for topic := range n.mu.topicQueues {
		topics = append(topics, topic)
	}
	sort.Strings(topics)
	return topics
}

// DeleteTopic forgets topic; it reports whether the topic existed. A broker
// that still holds the topic brings it back with its next registration.
func (n *Registry) DeleteTopic(topic string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.mu.topicQueues[topic]; !ok {
		return false
	}
	delete(n.mu.topicQueues, topic)
	n.invalidateLocked()
	n.logger.Info("namesrv: topic deleted", "topic", topic)
	return true
}

// LiveBrokers returns the registered broker addresses, sorted.
func (n *Registry) LiveBrokers() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	addrs := make([]string, 0, len(n.mu.live))
	for addr := range n.mu.live {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	return addrs
}

// queryDataVersion compares a broker's version with the stored one. An
// unchanged version counts as a heartbeat. It returns the stored version
// (nil when the broker is not registered) and whether they differ.
func (n *Registry) queryDataVersion(brokerAddr string, version routing.DataVersion) (*routing.DataVersion, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	live := n.mu.live[brokerAddr]
	if live == nil {
		return nil, true
	}
	stored := live.dataVersion
	changed := stored != version
	if !changed {
		live.lastUpdate = n.now()
	}
	return &stored, changed
}
