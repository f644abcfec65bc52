package admin

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

// GroupRow is one consumer group on one broker.
type GroupRow struct {
	Group      string   `json:"group"`
	BrokerAddr string   `json:"brokerAddr"`
	Online     bool     `json:"online"`
	Topics     []string `json:"topics"`
}

// brokerGroups lists a broker's groups: those with committed offsets and
// those with a subscription group config, each marked online when a
// consumer of it is connected.
func (c *Client) brokerGroups(addr string) (map[string]*GroupRow, error) {
	resp, err := c.Invoke(addr, remoting.NewRequest(remoting.RequestGetAllConsumerOffset))
	if err != nil {
		return nil, err
	}
	offsets, err := adminwire.DecodeConsumerOffsets(resp.Body)
	if err != nil {
		return nil, bodyError(addr, err)
	}
	groups := map[string]*GroupRow{}
	row := func(g string) *GroupRow {
		if groups[g] == nil {
			groups[g] = &GroupRow{Group: g, BrokerAddr: addr, Topics: []string{}}
		}
		return groups[g]
	}
	for key := range offsets.OffsetTable {
		if topic, g, ok := adminwire.SplitOffsetKey(key); ok && !strings.HasPrefix(topic, remoting.RetryGroupTopicPrefix) {
			r := row(g)
			r.Topics = append(r.Topics, topic)
		}
	}
	if resp, err = c.Invoke(addr, remoting.NewRequest(remoting.RequestGetAllSubscriptionGroupConfig)); err != nil {
		return nil, err
	}
	configs, err := adminwire.DecodeSubscriptionGroups(resp.Body)
	if err != nil {
		return nil, bodyError(addr, err)
	}
	for g := range configs.SubscriptionGroupTable {
		row(g)
	}
	for g, r := range groups {
		r.Online = c.groupOnline(addr, g)
	}
	return groups, nil
}

// groupOnline reports whether the broker at addr has a consumer of group
// connected (subscription group configs outlive their consumers).
func (c *Client) groupOnline(addr, group string) bool {
	cmd := remoting.NewRequest(remoting.RequestGetConsumerConnectionList)
	cmd.Ext.Set("consumerGroup", group)
	resp, err := c.Invoke(addr, cmd)
	if err != nil {
		return false
	}
	cc, err := adminwire.DecodeConsumerConnection(resp.Body)
	return err == nil && len(cc.ConnectionSet) > 0
}

// Groups lists the consumer groups of every addressed master: those with
// committed offsets and those with a subscription group config; Online
// says whether a member is connected.
func (c *Client) Groups() ([]GroupRow, error) {
	brokers, err := c.Masters()
	if err != nil {
		return nil, err
	}
	byBroker, errs := perBroker(brokers, func(b BrokerRef) (map[string]*GroupRow, error) { return c.brokerGroups(b.Addr) })
	rows := []GroupRow{}
	for _, groups := range byBroker {
		for _, r := range groups {
			slices.Sort(r.Topics)
			rows = append(rows, *r)
		}
	}
	slices.SortFunc(rows, func(a, b GroupRow) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.BrokerAddr, b.BrokerAddr))
	})
	return rows, Worst(errs)
}

// ProgressRow is a group's position on one queue.
type ProgressRow struct {
	Topic          string `json:"topic"`
	BrokerName     string `json:"brokerName"`
	BrokerAddr     string `json:"brokerAddr"`
	QueueID        int32  `json:"queueId"`
	BrokerOffset   int64  `json:"brokerOffset"`
	ConsumerOffset int64  `json:"consumerOffset"`
	Lag            int64  `json:"lag"`
	LastTimestamp  int64  `json:"lastTimestamp"`
}

// Progress is a group's position and lag on every queue it consumes.
type Progress struct {
	Group    string        `json:"group"`
	TotalLag int64         `json:"totalLag"`
	Queues   []ProgressRow `json:"queues"`
}

func validGroup(group string) error {
	if err := remoting.ValidateGroup(group); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// GroupProgress reports a group's offsets and lag per queue (of topic
// only, when topic is set).
func (c *Client) GroupProgress(group, topic string) (*Progress, error) {
	if err := validGroup(group); err != nil {
		return nil, err
	}
	stats, partial := onEveryMaster(c, "consumer group "+group+" has no offsets or subscriptions on any broker",
		func(b BrokerRef) (*adminwire.ConsumeStats, error) {
			cmd := remoting.NewRequest(remoting.RequestGetConsumeStats)
			cmd.Ext.Set("consumerGroup", group)
			if topic != "" {
				cmd.Ext.Set("topic", topic)
			}
			resp, err := c.Invoke(b.Addr, cmd)
			if err != nil {
				return nil, err
			}
			st, err := adminwire.DecodeConsumeStats(resp.Body)
			if err != nil {
				return nil, bodyError(b.Addr, err)
			}
			return st, nil
		})
	if stats == nil {
		return nil, partial
	}
	report := &Progress{Group: group, Queues: []ProgressRow{}}
	for addr, st := range stats {
		for _, q := range st.OffsetTable {
			lag := q.Value.Lag()
			report.TotalLag += lag
			report.Queues = append(report.Queues, ProgressRow{q.Queue.Topic, q.Queue.BrokerName, addr, q.Queue.QueueID,
				q.Value.BrokerOffset, q.Value.ConsumerOffset, lag, q.Value.LastTimestamp})
		}
	}
	slices.SortFunc(report.Queues, func(a, b ProgressRow) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), strings.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.QueueID, b.QueueID))
	})
	return report, partial
}

// GroupConnections lists a group's online clients and subscriptions, by
// broker address.
func (c *Client) GroupConnections(group string) (map[string]*adminwire.ConsumerConnection, error) {
	if err := validGroup(group); err != nil {
		return nil, err
	}
	return onEveryMaster(c, "consumer group "+group+" is not online on any broker",
		func(b BrokerRef) (*adminwire.ConsumerConnection, error) {
			cmd := remoting.NewRequest(remoting.RequestGetConsumerConnectionList)
			cmd.Ext.Set("consumerGroup", group)
			resp, err := c.Invoke(b.Addr, cmd)
			if err != nil {
				return nil, err
			}
			cc, err := adminwire.DecodeConsumerConnection(resp.Body)
			if err != nil {
				return nil, bodyError(b.Addr, err)
			}
			return cc, nil
		})
}

// ParseWhen reads a point in time into unix milliseconds: now, earliest
// (0), latest (-1), unix milliseconds, RFC 3339, or -DURATION (ago).
func ParseWhen(s string, now time.Time) (int64, error) {
	switch s {
	case "now":
		return now.UnixMilli(), nil
	case "latest", "-1":
		return -1, nil
	case "earliest":
		return 0, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return ms, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UnixMilli(), nil
	}
	if strings.HasPrefix(s, "-") {
		if d, err := time.ParseDuration(s[1:]); err == nil {
			return now.Add(-d).UnixMilli(), nil
		}
	}
	return 0, invalid("time %q: want now, earliest, latest, unix milliseconds, RFC 3339 or -DURATION", s)
}

// Reset asks for a group's committed offsets on a topic to move: to the
// first message stored at or after Timestamp (unix ms; -1 latest, 0
// earliest), or, with Offset >= 0, to that offset on Queue (-1 every queue).
type Reset struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Timestamp int64  `json:"timestamp"`
	Offset    int64  `json:"offset"`
	Queue     int    `json:"queue"`
	// Force also moves offsets forward; false moves them only backwards.
	Force bool `json:"force"`
}

// ResetRow is a queue's new committed offset.
type ResetRow struct {
	BrokerAddr string `json:"brokerAddr"`
	BrokerName string `json:"brokerName"`
	Topic      string `json:"topic"`
	QueueID    int32  `json:"queueId"`
	Offset     int64  `json:"offset"`
}

func (r *Reset) request() (*remoting.Command, error) {
	if err := validGroup(r.Group); err != nil {
		return nil, err
	}
	if err := remoting.ValidateTopic(r.Topic); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	cmd := remoting.NewRequest(remoting.RequestInvokeBrokerToResetOffset)
	cmd.Ext.Set("topic", r.Topic)
	cmd.Ext.Set("group", r.Group)
	cmd.Ext.Set("isForce", strconv.FormatBool(r.Force))
	if r.Offset >= 0 {
		cmd.Ext.Set("timestamp", "0")
		cmd.Ext.Set("offset", strconv.FormatInt(r.Offset, 10))
		cmd.Ext.Set("queueId", strconv.Itoa(r.Queue))
		return cmd, nil
	}
	if r.Queue >= 0 {
		return nil, invalid("a queue goes with an offset, not a time")
	}
	cmd.Ext.Set("timestamp", strconv.FormatInt(r.Timestamp, 10))
	return cmd, nil
}

// ResetOffsets rewrites a group's committed offsets on every broker of the
// topic (INVOKE_BROKER_TO_RESET_OFFSET); online members are told to move.
func (c *Client) ResetOffsets(r Reset) ([]ResetRow, error) {
	if _, err := r.request(); err != nil {
		return nil, err
	}
	brokers, err := c.TopicBrokers(r.Topic)
	if err != nil {
		return nil, err
	}
	tables, errs := perBroker(brokers, func(b BrokerRef) (*adminwire.ResetOffsetBody, error) {
		cmd, _ := r.request()
		resp, err := c.Invoke(b.Addr, cmd)
		if err != nil {
			return nil, err
		}
		body, err := adminwire.DecodeResetOffsetBody(resp.Body)
		if err != nil {
			return nil, bodyError(b.Addr, err)
		}
		return body, nil
	})
	rows := []ResetRow{}
	for addr, body := range tables {
		for _, q := range body.OffsetTable {
			rows = append(rows, ResetRow{addr, q.Queue.BrokerName, q.Queue.Topic, q.Queue.QueueID, q.Value})
		}
	}
	slices.SortFunc(rows, func(a, b ResetRow) int {
		return cmp.Or(strings.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.QueueID, b.QueueID))
	})
	return rows, Worst(errs)
}
