package admin

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cometmq/comet/netio/remoting"
)

// ErrReserved is the ErrInvalid of a change to a topic that belongs to
// the brokers; the change's force argument overrides it.
var ErrReserved = fmt.Errorf("%w: reserved topic", ErrInvalid)

// ReservedTopic says why name belongs to the brokers rather than to an
// application ("" when it does not): retry and dead-letter topics of
// consumer groups, the broker's system topics, a broker's or cluster's
// own topic (brokerNames holds those names). Changing one by hand breaks
// what the broker keeps in it, so topic changes refuse them unless forced.
func ReservedTopic(name string, brokerNames map[string]bool) string {
	switch {
	case strings.HasPrefix(name, remoting.RetryGroupTopicPrefix):
		return "the retry topic of consumer group " + strings.TrimPrefix(name, remoting.RetryGroupTopicPrefix)
	case strings.HasPrefix(name, remoting.DLQGroupTopicPrefix):
		return "the dead-letter topic of consumer group " + strings.TrimPrefix(name, remoting.DLQGroupTopicPrefix)
	case IsSystemTopic(name, brokerNames):
		return "a system topic of the broker"
	}
	return ""
}

// checkReserved refuses a reserved topic name (ErrReserved) unless force
// is set. brokers, when known, adds their names and clusters to the
// reserved ones; otherwise every broker the name server lists does.
func (c *Client) checkReserved(topic string, force bool, brokers []BrokerRef) error {
	if force {
		return nil
	}
	names := map[string]bool{}
	for _, b := range brokers {
		names[b.Name], names[b.Cluster] = true, true
	}
	if c.opts.Broker == "" && brokers == nil {
		if all, err := c.AllBrokers(); err == nil {
			for _, b := range all {
				names[b.Name], names[b.Cluster] = true, true
			}
		}
	}
	delete(names, "")
	if why := ReservedTopic(topic, names); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrReserved, topic, why)
	}
	return nil
}

// DefaultAutoCreateQueues is the queue count used when a broker does not
// report its defaultTopicQueueNums (Comet's default-queue-nums default).
const DefaultAutoCreateQueues = 4

// AutoCreateQueues is the queue count the broker at addr gives an
// auto-created topic (GET_BROKER_CONFIG's defaultTopicQueueNums), so a
// topic created by hand matches one created by a first send.
func (c *Client) AutoCreateQueues(addr string) int32 {
	cfg, err := c.BrokerConfig(addr)
	if err != nil {
		return DefaultAutoCreateQueues
	}
	n, err := strconv.ParseInt(cfg["defaultTopicQueueNums"], 10, 32)
	if err != nil || n < 1 || n > MaxQueues {
		return DefaultAutoCreateQueues
	}
	return int32(n)
}
