package config

import "maps"

// javaNamed are the keys that GET_BROKER_CONFIG already shows under
// RocketMQ's names, with the broker's effective value (brokerClusterName,
// brokerName, brokerId, brokerAddr, namesrvAddr, flushDiskType,
// autoCreateTopicEnable, defaultTopicQueueNums, maxMessageSize,
// fileReservedTime, storePathRootDir, mapedFileSizeCommitLog): the
// process's view leaves them out so that each setting appears once.
var javaNamed = []string{"cluster", "broker-name", "broker-id", "advertise", "namesrv", "flush", "auto-create-topic",
	"default-queue-nums", "max-message-size", "retention-hours", "data-dir", "segment-size"}

// brokerConfigView is what the process adds to GET_BROKER_CONFIG: every
// key that has no RocketMQ name, with its final value.
func (c *Config) brokerConfigView() map[string]string {
	out := maps.Clone(c.values)
	for _, k := range javaNamed {
		delete(out, k)
	}
	return out
}
