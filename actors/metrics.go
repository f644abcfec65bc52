package actors

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/ringbuf"
)

// brokerMetrics holds the few counters the hot paths bump (per-topic puts
// and gets, fsync observations). Everything else an operator asks about is
// read from its owner (store, writer, network server, offset table) when
// /metrics is scraped, so nothing is counted twice.
//
// Puts are counted where messages become visible to consumers: the writer
// reports every batch it publishes (onPublish), whoever made it — a
// producer, the timer ladder, a transaction commit, a consumer's send-back.
// So a delayed message counts in SCHEDULE_TOPIC_XXXX when it is accepted
// (and again at each hop of the ladder: each hop stores a copy), and in its
// real topic when it is delivered there; a retried message counts in the
// group's %RETRY% topic, and in comet_retry_messages_total, when its retry
// delay ends and it is delivered to the group.
type brokerMetrics struct {
	bootTime time.Time
	topics   atomic.Pointer[map[string]*topicCounters] // copy on write
	topicsMu sync.Mutex                                // serializes adding a topic

	putFailures   atomic.Int64
	retryMessages atomic.Int64
	dlqMessages   atomic.Int64

	syncSeconds     prometheus.Histogram
	messagesPerSync prometheus.Histogram
	lastSyncAppends atomic.Int64 // store appends covered by the previous sync

	timerBacklog       atomic.Pointer[func() int64]
	transactionBacklog atomic.Pointer[func() int64]

	diskMu   sync.Mutex
	diskAt   time.Time
	diskUsed int64

	book statsBook // samples of these counters for RocketMQ's tools (brokerstats.go)
}

// topicCounters are one topic's traffic counters. Bytes are stored record
// bytes (headers included), the same measure for puts and gets.
type topicCounters struct {
	putMessages, putBytes, getMessages, getBytes atomic.Int64
	putRequests                                  atomic.Int64 // runs of the topic in published batches
}

func newBrokerMetrics() *brokerMetrics {
	m := &brokerMetrics{bootTime: time.Now()}
	m.book.init(m.bootTime)
	empty := map[string]*topicCounters{}
	m.topics.Store(&empty)
	m.syncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "comet", Name: "fsync_duration_seconds",
		Help:    "Time of one commit-log sync (fdatasync/msync) covering a batch.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
	})
	m.messagesPerSync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "comet", Name: "messages_per_fsync",
		Help:    "Messages made durable by one commit-log sync (group commit size).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14),
	})
	return m
}

func (m *brokerMetrics) topic(name string) *topicCounters {
	if c := (*m.topics.Load())[name]; c != nil {
		return c
	}
	m.topicsMu.Lock()
	defer m.topicsMu.Unlock()
	old := *m.topics.Load()
	if c := old[name]; c != nil {
		return c
	}
	next := make(map[string]*topicCounters, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	c := &topicCounters{}
	next[name] = c
	m.topics.Store(&next)
	return c
}

// countAppend records a completed producer request (on the writer
// goroutine): a failure is counted here; stored messages are counted when
// they are published (countPublished).
func (m *brokerMetrics) countAppend(a *AppendRequest) {
	if a.Err != nil || len(a.Messages) == 0 {
		m.putFailures.Add(1)
	}
}

// countPublished counts the messages of a published batch by the topic they
// are stored in (on the writer goroutine). Runs of one topic, the common
// case, cost one look-up.
func (m *brokerMetrics) countPublished(batch []persist.Dispatched) {
	for i := 0; i < len(batch); {
		topic := batch[i].Topic
		var n, bytes int64
		for ; i < len(batch) && batch[i].Topic == topic; i++ {
			n++
			bytes += int64(batch[i].Size)
		}
		c := m.topic(topic)
		c.putMessages.Add(n)
		c.putBytes.Add(bytes)
		c.putRequests.Add(1)
		switch {
		case strings.HasPrefix(topic, remoting.RetryGroupTopicPrefix):
			m.retryMessages.Add(n)
		case strings.HasPrefix(topic, remoting.DLQGroupTopicPrefix):
			m.dlqMessages.Add(n)
		}
	}
}

// countGet records a pull answer of a group.
func (m *brokerMetrics) countGet(topic, group string, res *pullResult) {
	m.book.countGroupGet(topic, group, res.found, len(res.body))
	if res.found == 0 {
		return
	}
	c := m.topic(topic)
	c.getMessages.Add(int64(res.found))
	c.getBytes.Add(int64(len(res.body)))
}

// observeSync records one sync of the writer (on the writer goroutine).
// appends is the store's append count at the time of the sync.
func (m *brokerMetrics) observeSync(d time.Duration, appends int64) {
	m.syncSeconds.Observe(d.Seconds())
	if covered := appends - m.lastSyncAppends.Swap(appends); covered > 0 {
		m.messagesPerSync.Observe(float64(covered))
	}
}

// onWriterSync is the writer's sync hook.
func (b *Broker) onWriterSync(d time.Duration) {
	if b.store != nil {
		b.metrics.observeSync(d, b.store.Stats().Appends)
	}
}

// SetTimerBacklog installs the function /metrics reads for the number of
// delayed messages not yet due (the timer service sets it when it starts).
func (b *Broker) SetTimerBacklog(fn func() int64) { b.metrics.timerBacklog.Store(&fn) }

// SetTransactionBacklog installs the function /metrics reads for the
// number of half messages awaiting commit or rollback.
func (b *Broker) SetTransactionBacklog(fn func() int64) { b.metrics.transactionBacklog.Store(&fn) }

func readGauge(p *atomic.Pointer[func() int64]) float64 {
	if fn := p.Load(); fn != nil && *fn != nil {
		return float64((*fn)())
	}
	return 0
}

// dataDirBytes is the bytes of files under the data dir, recomputed at
// most every diskScanInterval (a walk per scrape would be wasteful).
func (m *brokerMetrics) dataDirBytes(dir string) int64 {
	m.diskMu.Lock()
	defer m.diskMu.Unlock()
	if time.Since(m.diskAt) < diskScanInterval {
		return m.diskUsed
	}
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	m.diskAt, m.diskUsed = time.Now(), total
	return total
}

const diskScanInterval = 10 * time.Second

// Collector returns the broker's Prometheus collector. Register it once
// per registry; it reads the broker's state at each scrape.
func (b *Broker) Collector() prometheus.Collector { return &brokerCollector{b: b} }

type brokerCollector struct{ b *Broker }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("comet_"+name, help, labels, nil)
}

var (
	descTopicPutMessages = desc("topic_put_messages_total", "Messages stored per topic, counted when they become visible (a delayed message in its real topic when delivered).", "topic")
	descTopicPutBytes    = desc("topic_put_bytes_total", "Stored record bytes written per topic.", "topic")
	descTopicGetMessages = desc("topic_get_messages_total", "Messages served to pulls per topic.", "topic")
	descTopicGetBytes    = desc("topic_get_bytes_total", "Stored record bytes served to pulls per topic.", "topic")
	descPutFailures      = desc("put_failures_total", "Append requests the writer failed (nothing of them was acknowledged).")
	descRetryMessages    = desc("retry_messages_total", "Messages delivered to a %RETRY% topic (counted when the retry delay ends).")
	descDLQMessages      = desc("dlq_messages_total", "Messages moved to a %DLQ% topic.")
	descPullParkRefused  = desc("pull_park_refused_total", "Long polls answered SYSTEM_BUSY at once because too many were parked, by limit.", "limit")
	descCompileBusy      = desc("filter_compile_busy_total", "Requests answered SYSTEM_BUSY because the filter compile queue was full.")
	descGroupLag         = desc("group_lag_messages", "Messages not yet consumed by a group (max offset minus committed offset, summed over queues).", "group", "topic")
	descCommitLogBytes   = desc("commitlog_bytes", "Bytes between the commit log's min and max offsets.")
	descCommitLogMax     = desc("commitlog_max_offset", "Commit-log offset published to consumers.")
	descCommitLogDurable = desc("commitlog_durable_offset", "Commit-log offset known to be on disk.")
	descDataDirBytes     = desc("data_dir_bytes", "Bytes of files under the data directory (sampled every 10 s).")
	descDiskFree         = desc("disk_free_bytes", "Free bytes on the data directory's file system (for unprivileged users).")
	descDiskTotal        = desc("disk_total_bytes", "Size of the data directory's file system.")
	descStoreCounter     = desc("store_events_total", "Storage engine events by kind (counts; bytes are in store_append_bytes_total).", "event")
	descWriterCounter    = desc("writer_events_total", "Writer (group commit) events by kind.", "event")
	descRingDepth        = desc("ring_depth", "Items queued in a ring.", "ring")
	descRingCapacity     = desc("ring_capacity", "Capacity of a ring.", "ring")
	descRingHighWater    = desc("ring_high_water", "Highest depth a ring has reached.", "ring")
	descRingRejected     = desc("ring_rejected_total", "Pushes refused because a ring was full.", "ring")
	descConnections      = desc("connections", "Open client connections.")
	descNetCounter       = desc("network_events_total", "Network server events by kind (counts; bytes are in network_bytes_total).", "event")
	descNetBytes         = desc("network_bytes_total", "Bytes read from and written to client connections.", "direction")
	descStoreAppendBytes = desc("store_append_bytes_total", "Bytes appended to the commit log.")
	descConnsClosed      = desc("connections_closed_total", "Client connections closed, by reason (netio.CloseReason).", "reason")
	descBufferedInput    = desc("network_buffered_input_bytes", "Request bytes buffered over all connections: incomplete frames and frames waiting to be served.")
	descParkedPulls      = desc("pull_parked", "Long-polling pulls waiting for a message.")
	descTimerBacklog     = desc("timer_backlog_messages", "Delayed messages not yet due (0 until the timer service reports).")
	descTxBacklog        = desc("transaction_half_messages", "Half messages awaiting commit or rollback (0 until the transaction service reports).")
	descTopics           = desc("topics", "Topics configured on the broker.")
	descGroupsOnline     = desc("consumer_groups_online", "Consumer groups with at least one live connection.")
	descUptime           = desc("uptime_seconds", "Seconds since the broker was created.")
)

var allDescs = []*prometheus.Desc{descTopicPutMessages, descTopicPutBytes, descTopicGetMessages, descTopicGetBytes,
	descPutFailures, descRetryMessages, descDLQMessages, descGroupLag, descCommitLogBytes, descCommitLogMax,
	descCommitLogDurable, descDataDirBytes, descDiskFree, descDiskTotal, descStoreCounter, descWriterCounter,
	descRingDepth, descRingCapacity, descRingHighWater, descRingRejected, descConnections, descNetCounter,
	descParkedPulls, descTimerBacklog, descTxBacklog, descTopics, descGroupsOnline, descUptime,
	descPullParkRefused, descCompileBusy, descConnsClosed, descBufferedInput, descNetBytes, descStoreAppendBytes}

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	c.b.metrics.syncSeconds.Describe(ch)
	c.b.metrics.messagesPerSync.Describe(ch)
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	m := b.metrics
	m.syncSeconds.Collect(ch)
	m.messagesPerSync.Collect(ch)
	c.collectTopics(ch)
	gauge(ch, descPutFailures, prometheus.CounterValue, float64(m.putFailures.Load()))
	gauge(ch, descRetryMessages, prometheus.CounterValue, float64(m.retryMessages.Load()))
	gauge(ch, descDLQMessages, prometheus.CounterValue, float64(m.dlqMessages.Load()))
	gauge(ch, descTimerBacklog, prometheus.GaugeValue, readGauge(&m.timerBacklog))
	gauge(ch, descTxBacklog, prometheus.GaugeValue, readGauge(&m.transactionBacklog))
	gauge(ch, descTopics, prometheus.GaugeValue, float64(len(b.topics.all())))
	gauge(ch, descGroupsOnline, prometheus.GaugeValue, float64(len(b.groups.groupNames())))
	gauge(ch, descUptime, prometheus.GaugeValue, time.Since(m.bootTime).Seconds())
	c.collectNetwork(ch)
	c.collectRings(ch)
	if b.store == nil || b.writer == nil {
		return // not started: nothing stored to report
	}
	c.collectStore(ch)
	c.collectLag(ch)
	if b.hold != nil {
		gauge(ch, descParkedPulls, prometheus.GaugeValue, float64(b.hold.parked.Load()))
		gauge(ch, descPullParkRefused, prometheus.CounterValue, float64(b.hold.refused.perConn.Load()), "connection")
		gauge(ch, descPullParkRefused, prometheus.CounterValue, float64(b.hold.refused.total.Load()), "broker")
	}
	gauge(ch, descCompileBusy, prometheus.CounterValue, float64(b.compiles.busy.Load()))
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
}

func (c *brokerCollector) collectTopics(ch chan<- prometheus.Metric) {
	for name, tc := range *c.b.metrics.topics.Load() {
		gauge(ch, descTopicPutMessages, prometheus.CounterValue, float64(tc.putMessages.Load()), name)
		gauge(ch, descTopicPutBytes, prometheus.CounterValue, float64(tc.putBytes.Load()), name)
		gauge(ch, descTopicGetMessages, prometheus.CounterValue, float64(tc.getMessages.Load()), name)
		gauge(ch, descTopicGetBytes, prometheus.CounterValue, float64(tc.getBytes.Load()), name)
	}
}

func (c *brokerCollector) collectStore(ch chan<- prometheus.Metric) {
	b := c.b
	st := b.store.Stats()
	gauge(ch, descCommitLogBytes, prometheus.GaugeValue, float64(st.MaxOffset-st.MinOffset))
	gauge(ch, descCommitLogMax, prometheus.GaugeValue, float64(st.MaxOffset))
	gauge(ch, descCommitLogDurable, prometheus.GaugeValue, float64(st.DurableOffset))
	gauge(ch, descDataDirBytes, prometheus.GaugeValue, float64(b.metrics.dataDirBytes(b.opts.DataDir)))
	var fsStat unix.Statfs_t
	if unix.Statfs(b.opts.DataDir, &fsStat) == nil {
		gauge(ch, descDiskFree, prometheus.GaugeValue, float64(fsStat.Bavail)*float64(fsStat.Bsize))
		gauge(ch, descDiskTotal, prometheus.GaugeValue, float64(fsStat.Blocks)*float64(fsStat.Bsize))
	}
	for event, v := range storeEvents(st) {
		gauge(ch, descStoreCounter, prometheus.CounterValue, float64(v), event)
	}
	gauge(ch, descStoreAppendBytes, prometheus.CounterValue, float64(st.AppendBytes))
	ws := b.writer.Stats()
	for event, v := range map[string]int64{"batches": ws.Batches.Load(), "requests": ws.Requests.Load(),
		"messages": ws.Messages.Load(), "syncs": ws.Syncs.Load(), "sync_failures": ws.SyncFailures.Load(),
		"rejected": ws.Rejected.Load(), "inline_requests": ws.Inline.Load()} {
		gauge(ch, descWriterCounter, prometheus.CounterValue, float64(v), event)
	}
}

func storeEvents(st persist.Stats) map[string]int64 {
	return map[string]int64{"appends": st.Appends, "syncs": st.Syncs,
		"rollbacks": st.Rollbacks, "disk_full_errors": st.DiskFullErrors, "deleted_segments": st.DeletedSegments,
		"emergency_deleted_segments": st.EmergencyDeletes, "corrupt_records_refused": st.CorruptRecords,
		"verify_damaged_ranges": st.VerifyDamaged}
}

// collectRings reports every live ring, summed by name (names repeat only
// when several brokers share a process, as in tests).
func (c *brokerCollector) collectRings(ch chan<- prometheus.Metric) {
	type agg struct{ depth, capacity, high, rejected float64 }
	byName := map[string]*agg{}
	for _, s := range ringbuf.Registered() {
		a := byName[s.Name]
		if a == nil {
			a = &agg{}
			byName[s.Name] = a
		}
		a.depth += float64(s.Depth)
		a.capacity += float64(s.Capacity)
		a.high = max(a.high, float64(s.HighWater))
		a.rejected += float64(s.Rejected)
	}
	for name, a := range byName {
		gauge(ch, descRingDepth, prometheus.GaugeValue, a.depth, name)
		gauge(ch, descRingCapacity, prometheus.GaugeValue, a.capacity, name)
		gauge(ch, descRingHighWater, prometheus.GaugeValue, a.high, name)
		gauge(ch, descRingRejected, prometheus.CounterValue, a.rejected, name)
	}
}

func (c *brokerCollector) collectNetwork(ch chan<- prometheus.Metric) {
	st := c.b.server.Stats()
	ps := c.b.server.PassStats()
	gauge(ch, descConnections, prometheus.GaugeValue, float64(st.Connections))
	for event, v := range map[string]uint64{"accepted": st.Accepted, "closed": st.Closed, "frames_in": st.FramesIn,
		"frames_out": st.FramesOut, "decode_errors": st.DecodeErrors,
		"slow_consumer_closes": st.SlowConsumerCloses, "unknown_codes": st.UnknownCodes, "handler_panics": st.HandlerPanics,
		"passes_deferred": ps.Deferred, "passes_resumed": ps.Resumed, "resume_queue_full": ps.ResumeQueueFull} {
		gauge(ch, descNetCounter, prometheus.CounterValue, float64(v), event)
	}
	gauge(ch, descNetBytes, prometheus.CounterValue, float64(st.BytesIn), "in")
	gauge(ch, descNetBytes, prometheus.CounterValue, float64(st.BytesOut), "out")
	for reason, n := range st.ClosedBy {
		gauge(ch, descConnsClosed, prometheus.CounterValue, float64(n), netio.CloseReason(reason).String())
	}
	gauge(ch, descBufferedInput, prometheus.GaugeValue, float64(st.BufferedInputBytes))
}

func (c *brokerCollector) collectLag(ch chan<- prometheus.Metric) {
	for key, queues := range c.b.offsets.snapshotAll() {
		topic, group, ok := strings.Cut(key, "@")
		if !ok {
			continue
		}
		gauge(ch, descGroupLag, prometheus.GaugeValue, float64(c.b.groupLag(topic, queues)), group, topic)
	}
}

// groupLag sums max offset minus committed offset over the queues.
func (b *Broker) groupLag(topic string, committed map[int32]int64) int64 {
	var lag int64
	for q, off := range committed {
		if cq := b.store.ConsumeQueue(topic, q); cq != nil {
			lag += max(0, cq.MaxOffset()-off)
		}
	}
	return lag
}
