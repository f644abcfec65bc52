package admin

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// MaxQueues bounds a topic's read and write queue counts.
const MaxQueues = 1024

// TopicConfigs fetches a broker's topic table.
func (c *Client) TopicConfigs(addr string) (map[string]routing.TopicConfig, error) {
	resp, err := c.Invoke(addr, remoting.NewRequest(remoting.RequestGetAllTopicConfig))
	if err != nil {
		return nil, err
	}
	t, err := adminwire.DecodeTopicConfigTable(resp.Body)
	if err != nil {
		return nil, bodyError(addr, err)
	}
	return t.TopicConfigTable, nil
}

// IsSystemTopic tells the brokers' own topics from the users'.
func IsSystemTopic(name string, brokerNames map[string]bool) bool {
	return remoting.IsSystemTopic(name) || strings.HasSuffix(name, remoting.ReplyTopicSuffix) ||
		strings.HasPrefix(name, "RMQ_SYS_") || brokerNames[name]
}

// TopicRow is one topic on one broker.
type TopicRow struct {
	Topic       string `json:"topic"`
	BrokerAddr  string `json:"brokerAddr"`
	ReadQueues  int32  `json:"readQueueNums"`
	WriteQueues int32  `json:"writeQueueNums"`
	Perm        int32  `json:"perm"`
	Order       bool   `json:"order"`
}

// Topics lists the topics of every addressed master, sorted by name and
// broker; all includes the brokers' system topics.
func (c *Client) Topics(all bool) ([]TopicRow, error) {
	brokers, err := c.Masters()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, b := range brokers {
		names[b.Name] = true
	}
	tables, errs := perBroker(brokers, func(b BrokerRef) (map[string]routing.TopicConfig, error) {
		return c.TopicConfigs(b.Addr)
	})
	rows := []TopicRow{}
	for addr, tbl := range tables {
		for name, tc := range tbl {
			if all || !IsSystemTopic(name, names) {
				rows = append(rows, TopicRow{Topic: name, BrokerAddr: addr, ReadQueues: tc.ReadQueueNums,
					WriteQueues: tc.WriteQueueNums, Perm: tc.Perm, Order: tc.Order})
			}
		}
	}
	slices.SortFunc(rows, func(a, b TopicRow) int { return strings.Compare(a.Topic+" "+a.BrokerAddr, b.Topic+" "+b.BrokerAddr) })
	return rows, Worst(errs)
}

func createTopicRequest(tc routing.TopicConfig) *remoting.Command {
	cmd := remoting.NewRequest(remoting.RequestUpdateAndCreateTopic)
	cmd.Ext.Set("topic", tc.TopicName)
	cmd.Ext.Set("defaultTopic", remoting.AutoCreateTopicKey)
	cmd.Ext.Set("readQueueNums", strconv.Itoa(int(tc.ReadQueueNums)))
	cmd.Ext.Set("writeQueueNums", strconv.Itoa(int(tc.WriteQueueNums)))
	cmd.Ext.Set("perm", strconv.Itoa(int(tc.Perm)))
	cmd.Ext.Set("topicFilterType", "SINGLE_TAG")
	cmd.Ext.Set("topicSysFlag", "0")
	cmd.Ext.Set("order", strconv.FormatBool(tc.Order))
	return cmd
}

// ResultRow is the outcome of a change on one server.
type ResultRow struct {
	BrokerAddr string `json:"brokerAddr"`
	Result     string `json:"result"`
}

// ValidateTopicConfig checks a topic config before any broker sees it.
func ValidateTopicConfig(tc routing.TopicConfig) error {
	if err := remoting.ValidateTopic(tc.TopicName); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if tc.ReadQueueNums < 1 || tc.ReadQueueNums > MaxQueues || tc.WriteQueueNums < 1 || tc.WriteQueueNums > MaxQueues {
		return invalid("queue counts must be within 1..%d", MaxQueues)
	}
	if tc.Perm&^(remoting.PermRead|remoting.PermWrite|remoting.PermInherit) != 0 {
		return invalid("perm %d: want a sum of 2 (write), 4 (read) and 1 (inherit)", tc.Perm)
	}
	return nil
}

// applyTopic sends one topic config to each broker and reports per broker.
func (c *Client) applyTopic(targets map[string]routing.TopicConfig) ([]ResultRow, error) {
	rows := []ResultRow{}
	var errs []error
	for _, addr := range slices.Sorted(maps.Keys(targets)) {
		tc := targets[addr]
		result := fmt.Sprintf("ok: read %d write %d perm %d order %t", tc.ReadQueueNums, tc.WriteQueueNums, tc.Perm, tc.Order)
		if _, err := c.Invoke(addr, createTopicRequest(tc)); err != nil {
			errs = append(errs, err)
			result = err.Error()
		}
		rows = append(rows, ResultRow{addr, result})
	}
	return rows, Worst(errs)
}

// CreateTopic creates (or overwrites) a topic on every addressed master.
// A queue count of 0 is the broker's own auto-create count
// (AutoCreateQueues), so the topic matches one a first send would create.
// A reserved name (ReservedTopic) is ErrReserved unless force is set.
func (c *Client) CreateTopic(tc routing.TopicConfig, force bool) ([]ResultRow, error) {
	probe := tc
	probe.ReadQueueNums, probe.WriteQueueNums = cmp.Or(tc.ReadQueueNums, 1), cmp.Or(tc.WriteQueueNums, 1)
	if err := ValidateTopicConfig(probe); err != nil {
		return nil, err
	}
	brokers, err := c.Masters()
	if err != nil {
		return nil, err
	}
	if err := c.checkReserved(tc.TopicName, force, brokers); err != nil {
		return nil, err
	}
	targets := map[string]routing.TopicConfig{}
	for _, b := range brokers {
		bc := tc
		if bc.ReadQueueNums == 0 || bc.WriteQueueNums == 0 {
			def := c.AutoCreateQueues(b.Addr)
			bc.ReadQueueNums, bc.WriteQueueNums = cmp.Or(bc.ReadQueueNums, def), cmp.Or(bc.WriteQueueNums, def)
		}
		targets[b.Addr] = bc
	}
	return c.applyTopic(targets)
}

// UpdateTopic changes an existing topic where it exists: change edits
// each broker's current config. A reserved name is ErrReserved unless
// force is set.
func (c *Client) UpdateTopic(topic string, force bool, change func(*routing.TopicConfig)) ([]ResultRow, error) {
	if err := c.checkReserved(topic, force, nil); err != nil {
		return nil, err
	}
	holders, err := c.TopicHolders(topic)
	if err != nil {
		return nil, err
	}
	targets := map[string]routing.TopicConfig{}
	for addr, tc := range holders {
		change(&tc)
		if err := ValidateTopicConfig(tc); err != nil {
			return nil, err
		}
		targets[addr] = tc
	}
	return c.applyTopic(targets)
}

// TopicHolders returns the topic's config on each addressed master that
// has it; none is ErrNotFound.
func (c *Client) TopicHolders(topic string) (map[string]routing.TopicConfig, error) {
	if err := remoting.ValidateTopic(topic); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	brokers, err := c.Masters()
	if err != nil {
		return nil, err
	}
	tables, errs := perBroker(brokers, func(b BrokerRef) (map[string]routing.TopicConfig, error) {
		return c.TopicConfigs(b.Addr)
	})
	out := map[string]routing.TopicConfig{}
	for addr, tbl := range tables {
		if tc, ok := tbl[topic]; ok {
			out[addr] = tc
		}
	}
	if len(out) == 0 {
		if err := Worst(errs); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: topic %s exists on no broker", ErrNotFound, topic)
	}
	return out, nil
}

// DeleteTopic deletes a topic from the brokers that hold it and from the
// name servers. A reserved name is ErrReserved unless force is set.
func (c *Client) DeleteTopic(topic string, force bool) ([]ResultRow, error) {
	if err := c.checkReserved(topic, force, nil); err != nil {
		return nil, err
	}
	holders, err := c.TopicHolders(topic)
	if err != nil {
		return nil, err
	}
	rows := []ResultRow{}
	var errs []error
	record := func(addr string, err error) {
		result := "deleted"
		if err != nil {
			errs, result = append(errs, err), err.Error()
		}
		rows = append(rows, ResultRow{addr, result})
	}
	for _, addr := range slices.Sorted(maps.Keys(holders)) {
		cmd := remoting.NewRequest(remoting.RequestDeleteTopicInBroker)
		cmd.Ext.Set("topic", topic)
		_, err := c.Invoke(addr, cmd)
		record(addr, err)
	}
	for _, ns := range c.opts.Namesrv {
		cmd := remoting.NewRequest(remoting.RequestDeleteTopicInNameSrv)
		cmd.Ext.Set("topic", topic)
		_, err := c.Invoke(ns, cmd)
		record(ns+" (name server)", err)
	}
	return rows, Worst(errs)
}

// QueueStatus is one queue's offsets.
type QueueStatus struct {
	BrokerAddr          string `json:"brokerAddr"`
	BrokerName          string `json:"brokerName"`
	QueueID             int32  `json:"queueId"`
	MinOffset           int64  `json:"minOffset"`
	MaxOffset           int64  `json:"maxOffset"`
	LastUpdateTimestamp int64  `json:"lastUpdateTimestamp"`
}

// TopicStatus lists the min and max offsets of each of a topic's queues.
func (c *Client) TopicStatus(topic string) ([]QueueStatus, error) {
	brokers, err := c.TopicBrokers(topic)
	if err != nil {
		return nil, err
	}
	stats, errs := perBroker(brokers, func(b BrokerRef) (*adminwire.TopicStatsTable, error) {
		cmd := remoting.NewRequest(remoting.RequestGetTopicStatsInfo)
		cmd.Ext.Set("topic", topic)
		resp, err := c.Invoke(b.Addr, cmd)
		if err != nil {
			return nil, err
		}
		st, err := adminwire.DecodeTopicStatsTable(resp.Body)
		if err != nil {
			return nil, bodyError(b.Addr, err)
		}
		return st, nil
	})
	rows := []QueueStatus{}
	for addr, st := range stats {
		for _, q := range st.OffsetTable {
			rows = append(rows, QueueStatus{addr, q.Queue.BrokerName, q.Queue.QueueID, q.Value.MinOffset,
				q.Value.MaxOffset, q.Value.LastUpdateTimestamp})
		}
	}
	if len(rows) == 0 && len(errs) > 0 {
		return nil, Worst(errs)
	}
	slices.SortFunc(rows, func(a, b QueueStatus) int {
		return cmp.Or(strings.Compare(a.BrokerName, b.BrokerName), strings.Compare(a.BrokerAddr, b.BrokerAddr),
			cmp.Compare(a.QueueID, b.QueueID))
	})
	return rows, Worst(errs)
}
