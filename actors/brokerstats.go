package actors

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
)

// The broker's traffic statistics as RocketMQ's tools read them: the TPS
// strings of GET_BROKER_RUNTIME_INFO (putTps, getTransferedTps, ...), the
// day counters clusterList -m prints, and the per-topic and per-group
// minute/hour/day figures of VIEW_BROKER_STATS_DATA (statsAll,
// the dashboard). The counters themselves are the metrics' (puts per topic
// where messages become visible, gets per topic and group where pulls are
// answered); the book only samples them:
//
//	every second   broker totals, kept 601 s   → putTps "10s 60s 600s"
//	every 10 s     each stats item, kept 7     → statsMinute
//	every 10 min   each stats item, kept 7     → statsHour
//	every hour     each stats item, kept 25    → statsDay
//	at midnight    broker totals               → msgPutTotalTodayMorning, ...
//
// A figure runs from the oldest kept sample to the counter's value now (so
// a minute figure covers 60 to 70 s); an item sampled no time yet counts
// from zero one interval ago, as RocketMQ's first sample does. Memory is
// bounded by the number of topics and (topic, group) pairs, as RocketMQ's.

// Stats item names (RocketMQ's BrokerStatsManager). Part of the format: do
// not change.
const (
	StatsTopicPutNums  = "TOPIC_PUT_NUMS"
	StatsTopicPutSize  = "TOPIC_PUT_SIZE"
	StatsGroupGetNums  = "GROUP_GET_NUMS"
	StatsGroupGetSize  = "GROUP_GET_SIZE"
	StatsBrokerPutNums = "BROKER_PUT_NUMS"
	StatsBrokerGetNums = "BROKER_GET_NUMS"
)

// Sampling intervals and how many samples each window keeps.
const (
	secondSamples  = 601
	minuteInterval = 10 * time.Second
	hourInterval   = 10 * time.Minute
	dayInterval    = time.Hour
	minuteSamples  = 7
	hourSamples    = 7
	daySamples     = 25
)

// groupGetCounters are the gets of one (topic, group).
type groupGetCounters struct {
	messages, bytes, pulls atomic.Int64
}

// statsSample is one reading of a counter.
type statsSample struct {
	atMillis, value, times int64
}

// statsSeries are one item's kept samples, oldest first.
type statsSeries struct {
	minute, hour, day []statsSample
}

// statsKey names a stats item: a name above and its key (a topic,
// "topic@group" or the cluster name).
type statsKey struct{ name, key string }

// brokerTotals are the broker-wide counters read each second.
type brokerTotals struct {
	atMillis                     int64
	puts, gets, found, missed    int64
	putBytes, putFailures, pulls int64
}

// statsBook samples the counters; its own counters are the per-group gets
// and the pull outcomes, bumped on the pull path without locks.
type statsBook struct {
	groupGets   atomic.Pointer[map[string]*groupGetCounters] // "topic@group"; copy on write
	groupsMu    sync.Mutex                                   // serializes adding a pair
	pullsFound  atomic.Int64
	pullsMissed atomic.Int64

	mu struct {
		sync.Mutex
		seconds          []brokerTotals // oldest first, at most secondSamples
		series           map[statsKey]*statsSeries
		lastMinute       time.Time
		lastHour         time.Time
		lastDay          time.Time
		day              string // local date of todayMorning
		todayMorning     brokerTotals
		yesterdayMorning brokerTotals
	}
}

func (s *statsBook) init(now time.Time) {
	empty := map[string]*groupGetCounters{}
	s.groupGets.Store(&empty)
	s.mu.series = map[statsKey]*statsSeries{}
	s.mu.lastMinute, s.mu.lastHour, s.mu.lastDay = now, now, now
	s.mu.day = now.Format(time.DateOnly)
}

// groupGet returns the counters of one (topic, group), adding them.
func (s *statsBook) groupGet(topic, group string) *groupGetCounters {
	key := topic + "@" + group
	if c := (*s.groupGets.Load())[key]; c != nil {
		return c
	}
	s.groupsMu.Lock()
	defer s.groupsMu.Unlock()
	old := *s.groupGets.Load()
	if c := old[key]; c != nil {
		return c
	}
	next := make(map[string]*groupGetCounters, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	c := &groupGetCounters{}
	next[key] = c
	s.groupGets.Store(&next)
	return c
}

// countGroupGet records one answered pull of a group.
func (s *statsBook) countGroupGet(topic, group string, found int, bytes int) {
	if found == 0 {
		s.pullsMissed.Add(1)
		return
	}
	s.pullsFound.Add(1)
	if group == "" {
		return
	}
	c := s.groupGet(topic, group)
	c.messages.Add(int64(found))
	c.bytes.Add(int64(bytes))
	c.pulls.Add(1)
}

// totals reads the broker-wide counters now.
func (m *brokerMetrics) totals(now time.Time) brokerTotals {
	t := brokerTotals{atMillis: now.UnixMilli(), found: m.book.pullsFound.Load(), missed: m.book.pullsMissed.Load(),
		putFailures: m.putFailures.Load()}
	for _, c := range *m.topics.Load() {
		t.puts += c.putMessages.Load()
		t.putBytes += c.putBytes.Load()
		t.gets += c.getMessages.Load()
	}
	t.pulls = t.found + t.missed
	return t
}

// itemValue reads one stats item's counter now: its value, its times (the
// requests that made it) and whether it exists.
func (m *brokerMetrics) itemValue(k statsKey, cluster string) (value, times int64, ok bool) {
	switch k.name {
	case StatsTopicPutNums, StatsTopicPutSize:
		c := (*m.topics.Load())[k.key]
		if c == nil {
			return 0, 0, false
		}
		if k.name == StatsTopicPutNums {
			return c.putMessages.Load(), c.putRequests.Load(), true
		}
		return c.putBytes.Load(), c.putRequests.Load(), true
	case StatsGroupGetNums, StatsGroupGetSize:
		c := (*m.book.groupGets.Load())[k.key]
		if c == nil {
			return 0, 0, false
		}
		if k.name == StatsGroupGetNums {
			return c.messages.Load(), c.pulls.Load(), true
		}
		return c.bytes.Load(), c.pulls.Load(), true
	case StatsBrokerPutNums, StatsBrokerGetNums:
		if k.key != cluster {
			return 0, 0, false
		}
		t := m.totals(time.Now())
		if k.name == StatsBrokerPutNums {
			return t.puts, t.puts, true
		}
		return t.gets, t.found, true
	}
	return 0, 0, false
}

// itemKeys lists every stats item that exists now.
func (m *brokerMetrics) itemKeys(cluster string) []statsKey {
	keys := []statsKey{{StatsBrokerPutNums, cluster}, {StatsBrokerGetNums, cluster}}
	for topic := range *m.topics.Load() {
		keys = append(keys, statsKey{StatsTopicPutNums, topic}, statsKey{StatsTopicPutSize, topic})
	}
	for pair := range *m.book.groupGets.Load() {
		keys = append(keys, statsKey{StatsGroupGetNums, pair}, statsKey{StatsGroupGetSize, pair})
	}
	return keys
}

// runStatsSampler samples every second until ctx ends.
func (b *Broker) runStatsSampler(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			b.metrics.sample(now, b.opts.ClusterName)
		}
	}
}

// sample takes the readings due at now.
func (m *brokerMetrics) sample(now time.Time, cluster string) {
	totals := m.totals(now)
	s := &m.book
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.seconds = appendBounded(s.mu.seconds, totals, secondSamples)
	if day := now.Format(time.DateOnly); day != s.mu.day {
		s.mu.day, s.mu.yesterdayMorning, s.mu.todayMorning = day, s.mu.todayMorning, totals
	}
	minute, hour, day := now.Sub(s.mu.lastMinute) >= minuteInterval, now.Sub(s.mu.lastHour) >= hourInterval,
		now.Sub(s.mu.lastDay) >= dayInterval
	if !minute && !hour && !day {
		return
	}
	for _, k := range m.itemKeys(cluster) {
		value, times, ok := m.itemValue(k, cluster)
		if !ok {
			continue
		}
		series := s.mu.series[k]
		if series == nil {
			series = &statsSeries{}
			s.mu.series[k] = series
		}
		at := now.UnixMilli()
		if minute {
			series.minute = appendSample(series.minute, at, minuteInterval, statsSample{at, value, times}, minuteSamples)
		}
		if hour {
			series.hour = appendSample(series.hour, at, hourInterval, statsSample{at, value, times}, hourSamples)
		}
		if day {
			series.day = appendSample(series.day, at, dayInterval, statsSample{at, value, times}, daySamples)
		}
	}
	if minute {
		s.mu.lastMinute = now
	}
	if hour {
		s.mu.lastHour = now
	}
	if day {
		s.mu.lastDay = now
	}
}

func appendBounded[T any](list []T, v T, limit int) []T {
	list = append(list, v)
	if len(list) > limit {
		list = append(list[:0], list[len(list)-limit:]...)
	}
	return list
}

// appendSample adds a reading; the first one of a series is preceded by
// a zero reading one interval earlier, as RocketMQ's.
func appendSample(list []statsSample, at int64, interval time.Duration, v statsSample, limit int) []statsSample {
	if len(list) == 0 {
		list = append(list, statsSample{atMillis: at - interval.Milliseconds()})
	}
	return appendBounded(list, v, limit)
}

// windowFigures is sum, tps and average per request from first to last.
func windowFigures(first, last statsSample) adminwire.BrokerStatsItem {
	var it adminwire.BrokerStatsItem
	it.Sum = last.value - first.value
	if d := last.atMillis - first.atMillis; d > 0 {
		it.Tps = float64(it.Sum) * 1000 / float64(d)
	}
	if times := last.times - first.times; times > 0 {
		it.Avgpt = float64(it.Sum) / float64(times)
	}
	return it
}

// statsData answers VIEW_BROKER_STATS_DATA for one item, or reports that
// it does not exist.
func (m *brokerMetrics) statsData(name, key, cluster string, now time.Time) (adminwire.BrokerStatsData, bool) {
	k := statsKey{name, key}
	value, times, ok := m.itemValue(k, cluster)
	if !ok {
		return adminwire.BrokerStatsData{}, false
	}
	live := statsSample{now.UnixMilli(), value, times}
	s := &m.book
	s.mu.Lock()
	defer s.mu.Unlock()
	var series statsSeries
	if kept := s.mu.series[k]; kept != nil {
		series = *kept
	}
	first := func(list []statsSample, interval time.Duration) statsSample {
		if len(list) == 0 {
			return statsSample{atMillis: live.atMillis - interval.Milliseconds()}
		}
		return list[0]
	}
	return adminwire.BrokerStatsData{
		StatsMinute: windowFigures(first(series.minute, minuteInterval), live),
		StatsHour:   windowFigures(first(series.hour, hourInterval), live),
		StatsDay:    windowFigures(first(series.day, dayInterval), live),
	}, true
}

// tpsStrings are the runtime info's TPS figures over the last 10, 60 and
// 600 seconds, each from the per-second samples and the counters now,
// formatted as RocketMQ does ("12.5 11.0 3.2").
func (m *brokerMetrics) tpsStrings(now time.Time) (put, getFound, getMiss, getTotal, getTransferred string) {
	live := m.totals(now)
	m.book.mu.Lock()
	seconds := append([]brokerTotals(nil), m.book.mu.seconds...)
	m.book.mu.Unlock()
	rate := func(pick func(t brokerTotals) int64) string {
		var parts [3]string
		for i, w := range []int{10, 60, 600} {
			first := live
			if n := len(seconds); n > 0 {
				first = seconds[max(0, n-w)]
			}
			tps := 0.0
			if d := live.atMillis - first.atMillis; d > 0 {
				tps = float64(pick(live)-pick(first)) * 1000 / float64(d)
			}
			parts[i] = adminwire.JavaDouble(tps)
		}
		return strings.Join(parts[:], " ")
	}
	put = rate(func(t brokerTotals) int64 { return t.puts })
	getFound = rate(func(t brokerTotals) int64 { return t.found })
	getMiss = rate(func(t brokerTotals) int64 { return t.missed })
	getTotal = rate(func(t brokerTotals) int64 { return t.pulls })
	getTransferred = rate(func(t brokerTotals) int64 { return t.gets })
	return put, getFound, getMiss, getTotal, getTransferred
}

// dayCounters are the totals at this morning and yesterday morning.
func (m *brokerMetrics) dayCounters() (today, yesterday brokerTotals) {
	m.book.mu.Lock()
	defer m.book.mu.Unlock()
	return m.book.mu.todayMorning, m.book.mu.yesterdayMorning
}
