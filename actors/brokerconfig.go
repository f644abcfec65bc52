package actors

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

// UPDATE_BROKER_CONFIG (mqadmin updateBrokerConfig): the body is Java
// properties text. The settings below change at runtime, under RocketMQ's
// key or Comet's flag name; they last until the process restarts (the
// operator's config file is never rewritten: put the change there too).
// Every other setting GET_BROKER_CONFIG shows needs a restart, and a key
// the broker does not know is refused: the whole update is then refused
// with SYSTEM_ERROR naming the keys, and nothing changes.
//
//	autoCreateTopicEnable  auto-create-topic    true, false
//	defaultTopicQueueNums  default-queue-nums   1..1024

// liveSettings are the broker settings UPDATE_BROKER_CONFIG may change
// while it runs; the send path reads them without locks.
type liveSettings struct {
	autoCreateTopic  atomic.Bool
	defaultQueueNums atomic.Int32
}

func (l *liveSettings) init(o *BrokerOptions) {
	l.autoCreateTopic.Store(o.AutoCreateTopic)
	l.defaultQueueNums.Store(o.DefaultQueueNums)
}

// runtimeSetting is one setting UPDATE_BROKER_CONFIG applies: how to
// check a value and how to apply it.
type runtimeSetting struct {
	javaKey, flagKey string
	parse            func(v string) (func(l *liveSettings), error)
}

var runtimeSettings = []runtimeSetting{
	{"autoCreateTopicEnable", "auto-create-topic", func(v string) (func(l *liveSettings), error) {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("want true or false")
		}
		return func(l *liveSettings) { l.autoCreateTopic.Store(on) }, nil
	}},
	{"defaultTopicQueueNums", "default-queue-nums", func(v string) (func(l *liveSettings), error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("want 1..1024")
		}
		return func(l *liveSettings) { l.defaultQueueNums.Store(int32(n)) }, nil
	}},
}

func findRuntimeSetting(key string) (runtimeSetting, bool) {
	for _, s := range runtimeSettings {
		if s.javaKey == key || s.flagKey == key {
			return s, true
		}
	}
	return runtimeSetting{}, false
}

// planBrokerConfig checks every key of an update and returns what to
// apply, or the refusal naming the keys that cannot change now.
func (b *Broker) planBrokerConfig(props map[string]string) ([]func(l *liveSettings), string) {
	known := b.brokerConfig()
	var apply []func(l *liveSettings)
	var bad, restart, unknown []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if s, ok := findRuntimeSetting(k); ok {
			fn, err := s.parse(strings.TrimSpace(props[k]))
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s=%q (%v)", k, props[k], err))
				continue
			}
			apply = append(apply, fn)
			continue
		}
		if _, ok := known[k]; ok {
			restart = append(restart, k)
		} else {
			unknown = append(unknown, k)
		}
	}
	var why []string
	if len(bad) > 0 {
		why = append(why, "bad values: "+strings.Join(bad, ", "))
	}
	if len(restart) > 0 {
		why = append(why, "need a restart (set them in the config file): "+strings.Join(restart, ", "))
	}
	if len(unknown) > 0 {
		why = append(why, "unknown keys: "+strings.Join(unknown, ", "))
	}
	return apply, strings.Join(why, "; ")
}

// adminUpdateBrokerConfig applies the runtime settings of an update, all
// or none.
func (b *Broker) adminUpdateBrokerConfig(req *remoting.Command) *remoting.Command {
	props := adminwire.DecodeProperties(req.Body)
	if len(props) == 0 {
		return failure(req, remoting.ResponseSystemError, "no setting in the body")
	}
	apply, refusal := b.planBrokerConfig(props)
	if refusal != "" {
		b.log.Warn("actors: broker config update refused", "err", refusal)
		return failure(req, remoting.ResponseSystemError, "broker config not changed: %s", refusal)
	}
	for _, fn := range apply {
		fn(&b.live)
	}
	b.log.Info("actors: broker config updated until restart", "settings", props)
	return success(req, nil)
}

// liveConfigView overwrites the runtime settings in a GET_BROKER_CONFIG
// view, under both names, with their current values.
func (b *Broker) liveConfigView(props map[string]string) {
	auto := strconv.FormatBool(b.live.autoCreateTopic.Load())
	queues := strconv.Itoa(int(b.live.defaultQueueNums.Load()))
	props["autoCreateTopicEnable"], props["auto-create-topic"] = auto, auto
	props["defaultTopicQueueNums"], props["default-queue-nums"] = queues, queues
}
