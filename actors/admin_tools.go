package actors

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

// The operator requests RocketMQ's mqadmin and dashboard send beyond the
// everyday ones (admin.go): connection lists, who consumes a topic, the
// statistics behind statsAll and brokerConsumeStats, a look into a
// consume queue, consumer running info forwarded to the client. Bodies are
// drawn in internal/adminwire; every one runs off the event loop through
// the admin gate.

// consumerCallTimeout bounds a request forwarded to a consumer client
// (GET_CONSUMER_RUNNING_INFO), as RocketMQ's broker-to-client calls.
const consumerCallTimeout = 10 * time.Second

// maxQueryConsumeQueueCount bounds the entries one QUERY_CONSUME_QUEUE
// returns.
const maxQueryConsumeQueueCount = 1024

func (b *Broker) registerToolHandlers(handle func(code int16, h func(cmd *remoting.Command) *remoting.Command)) {
	handle(remoting.RequestUpdateBrokerConfig, b.adminUpdateBrokerConfig)
	handle(remoting.RequestGetProducerConnectionList, b.adminProducerConnections)
	handle(remoting.RequestQueryTopicConsumeByWho, b.adminTopicConsumeByWho)
	handle(remoting.RequestViewBrokerStatsData, b.adminViewBrokerStats)
	handle(remoting.RequestCleanExpiredConsumeQueue, b.adminCleanExpiredConsumeQueue)
	handle(remoting.RequestQueryConsumeQueue, b.adminQueryConsumeQueue)
	handle(remoting.RequestGetConsumerRunningInfo, b.adminConsumerRunningInfo)
	handle(remoting.RequestGetBrokerConsumeStats, b.adminBrokerConsumeStats)
}

// connections lists channels as the connection lists show them, sorted by
// client id and address.
func connections(channels map[uint64]*clientChannel) []adminwire.Connection {
	out := make([]adminwire.Connection, 0, len(channels))
	for _, ch := range channels {
		out = append(out, adminwire.Connection{ClientAddr: ch.conn.RemoteAddr(), ClientID: ch.clientID,
			Language: remoting.LanguageName(ch.language), Version: int32(ch.version)})
	}
	slices.SortFunc(out, func(a, b adminwire.Connection) int {
		return strings.Compare(a.ClientID+a.ClientAddr, b.ClientID+b.ClientAddr)
	})
	return out
}

// producerView copies a producer group's live connections, or reports false.
func (g *groupRegistry) producerView(name string) ([]adminwire.Connection, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	pg := g.mu.producers[name]
	if pg == nil || len(pg.channels) == 0 {
		return nil, false
	}
	return connections(pg.channels), true
}

// clientChannelOf returns the connection of a consumer group's client id.
func (g *groupRegistry) clientChannelOf(group, clientID string) (*clientChannel, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg := g.mu.consumers[group]
	if cg == nil {
		return nil, false
	}
	for _, ch := range cg.channels {
		if ch.clientID == clientID {
			c := *ch
			return &c, true
		}
	}
	return nil, false
}

// subscribersOf lists the online consumer groups subscribed to topic.
func (g *groupRegistry) subscribersOf(topic string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for name, cg := range g.mu.consumers {
		if _, ok := cg.subs[topic]; ok {
			out = append(out, name)
		}
	}
	return out
}

// adminProducerConnections answers GET_PRODUCER_CONNECTION_LIST: the
// group's connections as its heartbeats registered them; a group with
// none is SYSTEM_ERROR, as RocketMQ answers.
func (b *Broker) adminProducerConnections(req *remoting.Command) *remoting.Command {
	group, err := req.ExtString(remoting.ExtProducerGroup)
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: %v", err)
	}
	conns, ok := b.groups.producerView(group)
	if !ok {
		return failure(req, remoting.ResponseSystemError, "the producer group[%s] not exist", group)
	}
	body := adminwire.ProducerConnection{ConnectionSet: conns}
	return success(req, body.Encode())
}

// adminTopicConsumeByWho answers QUERY_TOPIC_CONSUME_BY_WHO: the online
// groups subscribed to the topic and the groups with offsets committed
// for it.
func (b *Broker) adminTopicConsumeByWho(req *remoting.Command) *remoting.Command {
	topic, err := req.ExtString(remoting.ExtTopic)
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: %v", err)
	}
	set := map[string]bool{}
	for _, g := range b.groups.subscribersOf(topic) {
		set[g] = true
	}
	for key := range b.offsets.snapshotAll() {
		if t, g, ok := strings.Cut(key, "@"); ok && t == topic {
			set[g] = true
		}
	}
	body := adminwire.GroupList{GroupList: slices.Collect(maps.Keys(set))}
	return success(req, body.Encode())
}

// adminViewBrokerStats answers VIEW_BROKER_STATS_DATA (brokerstats.go);
// an item never counted is SYSTEM_ERROR, as RocketMQ answers.
func (b *Broker) adminViewBrokerStats(req *remoting.Command) *remoting.Command {
	name, err1 := req.ExtString("statsName")
	key, err2 := req.ExtString("statsKey")
	if err1 != nil || err2 != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: need statsName and statsKey")
	}
	data, ok := b.metrics.statsData(name, key, b.opts.ClusterName, time.Now())
	if !ok {
		return failure(req, remoting.ResponseSystemError, "The stats <%s> <%s> not exist", name, key)
	}
	return success(req, data.Encode())
}

// adminCleanExpiredConsumeQueue answers CLEAN_EXPIRED_CONSUMEQUEUE. A
// consume queue's expired entries go with their commit-log segments
// already (retention), so what is left to clean is the queues of topics
// the topic table no longer holds. Unlike RocketMQ, a queue whose entries
// all expired is kept: destroying it would restart its offsets at 0 under
// consumers that hold later ones.
func (b *Broker) adminCleanExpiredConsumeQueue(req *remoting.Command) *remoting.Command {
	removed := map[string]bool{}
	for _, q := range b.store.Queues() {
		topic := q.Topic()
		if _, ok := b.topics.get(topic); ok || removed[topic] {
			continue
		}
		if err := b.store.DeleteTopic(topic); err != nil {
			return failure(req, remoting.ResponseSystemError, "clean consume queues of %s: %v", topic, err)
		}
		removed[topic] = true
	}
	b.log.Info("actors: consume queues of deleted topics removed", "topics", len(removed))
	return success(req, nil)
}

// adminQueryConsumeQueue answers QUERY_CONSUME_QUEUE (queryCq): count
// entries of one queue from index, and the group's subscription when one
// is named.
func (b *Broker) adminQueryConsumeQueue(req *remoting.Command) *remoting.Command {
	topic, qid, err := queueArgs(req)
	index, ierr := req.ExtInt64("index")
	if err != nil || ierr != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: need topic, queueId and index")
	}
	count, cerr := req.ExtInt32("count")
	if cerr != nil || count <= 0 {
		count = 10
	}
	count = min(count, maxQueryConsumeQueueCount)
	cq := b.store.ConsumeQueue(topic, qid)
	if cq == nil {
		return failure(req, remoting.ResponseSystemError, "%d@%s is not exist!", qid, topic)
	}
	body := adminwire.QueryConsumeQueueResponse{MaxQueueIndex: cq.MaxOffset(), MinQueueIndex: cq.MinOffset()}
	if group, _ := req.ExtString(remoting.ExtConsumerGroup); group != "" {
		if v, ok := b.groups.adminView(group); ok && v.subs[topic].Topic != "" {
			sd := v.subs[topic]
			body.SubscriptionData = &sd
		} else {
			body.FilterData = group + "@" + topic + " is not online!"
		}
	}
	for off := index; off < index+int64(count) && off < cq.MaxOffset(); off++ {
		e, ok := cq.Entry(off)
		if !ok {
			continue
		}
		body.QueueData = append(body.QueueData, adminwire.ConsumeQueueData{PhysicOffset: e.CommitLogOffset,
			PhysicSize: e.Size, TagsCode: e.TagsCode})
	}
	resp := success(req, body.Encode())
	if index < cq.MinOffset() || index >= cq.MaxOffset() {
		resp.Remark = "Index " + itoa(index) + " of " + itoa(int64(qid)) + "@" + topic + " is not exist!"
	}
	return resp
}

// adminConsumerRunningInfo forwards GET_CONSUMER_RUNNING_INFO to the named
// client of the group, as RocketMQ's broker does, and returns its answer.
func (b *Broker) adminConsumerRunningInfo(req *remoting.Command) *remoting.Command {
	group, err1 := req.ExtString(remoting.ExtConsumerGroup)
	clientID, err2 := req.ExtString("clientId")
	if err1 != nil || err2 != nil {
		return failure(req, remoting.ResponseSystemError, "bad header: need consumerGroup and clientId")
	}
	ch, ok := b.groups.clientChannelOf(group, clientID)
	if !ok {
		return failure(req, remoting.ResponseSystemError, "The Consumer <%s> <%s> not online", group, clientID)
	}
	call := remoting.NewRequest(remoting.RequestGetConsumerRunningInfo)
	for _, f := range req.Ext.Fields {
		call.Ext.Set(f.Key, f.Value)
	}
	call.Body = req.Body
	ctx, cancel := context.WithTimeout(context.Background(), consumerCallTimeout)
	defer cancel()
	answer, err := ch.conn.Invoke(ctx, call)
	if err != nil {
		return failure(req, remoting.ResponseSystemError, "invoke consumer <%s> <%s> Exception: %v", group, clientID, err)
	}
	resp := remoting.NewResponse(req, answer.Code, answer.Remark)
	for _, f := range answer.Ext.Fields {
		resp.Ext.Set(f.Key, f.Value)
	}
	resp.Body = answer.Body
	return resp
}

// adminBrokerConsumeStats answers GET_BROKER_CONSUME_STATS
// (brokerConsumeStats): every known group's progress on every topic it has
// offsets for; isOrder keeps only ordered topics.
func (b *Broker) adminBrokerConsumeStats(req *remoting.Command) *remoting.Command {
	onlyOrdered, _ := req.ExtBool("isOrder")
	out := adminwire.ConsumeStatsList{BrokerAddr: b.advertise}
	for _, group := range b.knownGroups() {
		g := adminwire.GroupConsumeStats{Group: group}
		for _, topic := range b.offsetTopics(group) {
			c, ok := b.topics.get(topic)
			if !ok || (onlyOrdered && !c.Order) {
				continue
			}
			stats := adminwire.ConsumeStats{ConsumeTps: b.metrics.groupTPS(topic, group, time.Now())}
			for q := range c.WriteQueueNums {
				w := b.queueProgress(topic, group, q)
				stats.OffsetTable = append(stats.OffsetTable, adminwire.QueueValue[adminwire.OffsetWrapper]{
					Queue: b.queueName(topic, q), Value: w})
				out.TotalDiff += w.BrokerOffset - w.ConsumerOffset
			}
			g.Stats = append(g.Stats, stats)
		}
		out.Groups = append(out.Groups, g)
	}
	return success(req, out.Encode())
}

// offsetTopics lists the topics a group has committed offsets for, sorted.
func (b *Broker) offsetTopics(group string) []string {
	set := map[string]bool{}
	for key := range b.offsets.snapshotAll() {
		if topic, g, ok := strings.Cut(key, "@"); ok && g == group {
			set[topic] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// knownGroups lists every consumer group the broker knows: configured,
// online, or with committed offsets, sorted. The broker's own groups
// (CID_RMQ_SYS_*: cursors of the timer and transaction actors) are not
// consumer groups and are left out.
func (b *Broker) knownGroups() []string {
	set := map[string]bool{}
	for _, g := range b.groups.groupNames() {
		set[g] = true
	}
	for key := range b.offsets.snapshotAll() {
		if _, g, ok := strings.Cut(key, "@"); ok {
			set[g] = true
		}
	}
	for _, g := range b.subGroupNames() {
		set[g] = true
	}
	maps.DeleteFunc(set, func(g string, _ bool) bool { return remoting.IsSystemGroup(g) })
	return slices.Sorted(maps.Keys(set))
}

// groupTPS is a group's gets per second of a topic over the last minute.
func (m *brokerMetrics) groupTPS(topic, group string, now time.Time) float64 {
	data, ok := m.statsData(StatsGroupGetNums, topic+"@"+group, "", now)
	if !ok {
		return 0
	}
	return data.StatsMinute.Tps
}
