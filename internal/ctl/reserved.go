package ctl

import (
	"strconv"
	"strings"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

// reservedTopic says why name belongs to the brokers rather than to an
// application ("" when it does not): retry and dead-letter topics of
// consumer groups, the broker's system topics, a broker's or cluster's
// own topic. Changing one by hand breaks what the broker keeps in it, so
// the topic commands need -force for them.
func reservedTopic(name string, brokerNames map[string]bool) string {
	switch {
	case strings.HasPrefix(name, remoting.RetryGroupTopicPrefix):
		return "the retry topic of consumer group " + strings.TrimPrefix(name, remoting.RetryGroupTopicPrefix)
	case strings.HasPrefix(name, remoting.DLQGroupTopicPrefix):
		return "the dead-letter topic of consumer group " + strings.TrimPrefix(name, remoting.DLQGroupTopicPrefix)
	case isSystemTopic(name, brokerNames):
		return "a system topic of the broker"
	}
	return ""
}

// checkReserved refuses a reserved topic name unless force is set.
// brokers, when known, adds their names and clusters to the reserved ones.
func (e *env) checkReserved(topic string, force bool, brokers []brokerRef) error {
	if force {
		return nil
	}
	names := map[string]bool{}
	for _, b := range brokers {
		names[b.Name], names[b.Cluster] = true, true
	}
	if e.broker == "" && brokers == nil {
		if all, err := e.allBrokers(); err == nil {
			for _, b := range all {
				names[b.Name], names[b.Cluster] = true, true
			}
		}
	}
	delete(names, "")
	if why := reservedTopic(topic, names); why != "" {
		return usageError("%s is %s; add -force to change it anyway", topic, why)
	}
	return nil
}

// defaultAutoCreateQueues is used when a broker does not report its
// defaultTopicQueueNums (Comet's default-queue-nums default).
const defaultAutoCreateQueues = 4

// autoCreateQueues is the queue count the broker at addr gives an
// auto-created topic (GET_BROKER_CONFIG's defaultTopicQueueNums), so a
// topic created by hand matches one created by a first send.
func (e *env) autoCreateQueues(addr string) int {
	resp, err := e.invoke(addr, remoting.NewRequest(remoting.RequestGetBrokerConfig))
	if err != nil {
		return defaultAutoCreateQueues
	}
	n, err := strconv.Atoi(adminwire.DecodeProperties(resp.Body)["defaultTopicQueueNums"])
	if err != nil || !validQueues(n) {
		return defaultAutoCreateQueues
	}
	return n
}
