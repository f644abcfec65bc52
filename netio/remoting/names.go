package remoting

import (
	"fmt"
	"strings"
)

// Topic and group names.
//
// One rule for every topic and group name that arrives from the network
// (RocketMQ's TopicValidator and the clients' Validators):
//
//	+----------------+------------------------+----------------------------+
//	| name           | characters             | length                     |
//	+----------------+------------------------+----------------------------+
//	| topic          | ^[%|a-zA-Z0-9_-]+$     | 1..MaxTopicNameLength (127)|
//	| group          | ^[%|a-zA-Z0-9_-]+$     | 1..MaxGroupNameLength (255)|
//	| consumer group | as group, and its      | 1..MaxConsumerGroupLength  |
//	|                | %RETRY% and %DLQ%      | (120)                      |
//	|                | topics must be topics  |                            |
//	+----------------+------------------------+----------------------------+
//
// A name that passes contains no '.', '/', '\\' or NUL, so it can never
// climb out of a directory it is joined to. Part of the protocol: do not
// widen.

// MaxConsumerGroupLength is the longest consumer group whose retry topic
// (RetryGroupTopicPrefix + group, the longer of the two derived topics)
// still fits MaxTopicNameLength.
const MaxConsumerGroupLength = MaxTopicNameLength - len(RetryGroupTopicPrefix)

// maxNameInError bounds how much of a refused name an error repeats: a
// hostile name may be megabytes long.
const maxNameInError = 64

// ValidateTopic checks a topic name against the rule. Errors wrap
// ErrInvalidName.
func ValidateTopic(name string) error {
	return validateName("topic", name, MaxTopicNameLength)
}

// ValidateGroup checks a producer (or any) group name against the rule.
// Errors wrap ErrInvalidName.
func ValidateGroup(name string) error {
	return validateName("group", name, MaxGroupNameLength)
}

// ValidateConsumerGroup checks a consumer group name: the group rule, and
// short enough that its retry and dead-letter topics are valid topics (the
// group is refused rather than an over-long topic created). Errors wrap
// ErrInvalidName.
func ValidateConsumerGroup(name string) error {
	return validateName("consumer group", name, MaxConsumerGroupLength)
}

func validateName(kind, name string, maxLen int) error {
	if name == "" {
		return fmt.Errorf("%w: the %s name is empty", ErrInvalidName, kind)
	}
	if len(name) > maxLen {
		return fmt.Errorf("%w: %s name %s is %d characters long, longer than %d",
			ErrInvalidName, kind, QuoteName(name), len(name), maxLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameChar[name[i]] {
			return fmt.Errorf("%w: %s name %s contains %q, allowing only ^[%%|a-zA-Z0-9_-]+$",
				ErrInvalidName, kind, QuoteName(name), name[i:i+1])
		}
	}
	return nil
}

// nameChar marks the bytes the rule allows.
var nameChar = func() (set [256]bool) {
	for c := '0'; c <= '9'; c++ {
		set[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		set[c] = true
		set[c-'a'+'A'] = true
	}
	for _, c := range "%|_-" {
		set[c] = true
	}
	return set
}()

// QuoteName quotes a name for an error or a log line, cut to its first 64
// bytes and marked with its length when longer.
func QuoteName(name string) string {
	if len(name) <= maxNameInError {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("%q...(%d bytes)", name[:maxNameInError], len(name))
}

// systemTopics are the topics the broker owns (TopicValidator's system
// set less BenchmarkTest, which is a workload's topic like any other):
// clients may not delete or change them.
var systemTopics = map[string]bool{
	AutoCreateTopicKey: true, ScheduleTopic: true, TransactionHalfTopic: true,
	TransactionOpHalfTopic: true, TransactionCheckMaxTopic: true, TraceTopic: true,
	SelfTestTopic: true, OffsetMovedEventTopic: true,
}

// IsSystemTopic reports whether topic is one of RocketMQ's system topics
// or carries the system prefix. A broker adds its own cluster and broker
// name topics to this set.
func IsSystemTopic(topic string) bool {
	return systemTopics[topic] || strings.HasPrefix(topic, SystemTopicPrefix)
}

// SystemGroupPrefix starts the names of the broker's internal consumer
// groups (MixAll.CID_RMQ_SYS_PREFIX), whose offsets are the cursors of the
// delay and transaction services.
const SystemGroupPrefix = "CID_RMQ_SYS_"

// IsSystemGroup reports whether group is an internal group of the broker,
// which clients may not act as.
func IsSystemGroup(group string) bool { return strings.HasPrefix(group, SystemGroupPrefix) }
