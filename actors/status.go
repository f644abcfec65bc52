package actors

import (
	"fmt"
	"time"

	"github.com/cometmq/comet/internal/version"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/ringbuf"
)

// Status is a point-in-time summary of a broker for operators: the JSON
// status page and GET_BROKER_RUNTIME_INFO are both made from it.
type Status struct {
	ClusterName    string                  `json:"clusterName"`
	BrokerName     string                  `json:"brokerName"`
	Listen         string                  `json:"listen"`
	Advertise      string                  `json:"advertise"`
	Flush          string                  `json:"flush"`
	BootTime       time.Time               `json:"bootTime"`
	UptimeSeconds  float64                 `json:"uptimeSeconds"`
	Started        bool                    `json:"started"`
	Topics         int                     `json:"topics"`
	ConsumerGroups int                     `json:"consumerGroupsOnline"`
	Connections    int64                   `json:"connections"`
	ParkedPulls    int64                   `json:"parkedPulls"`
	PutMessages    int64                   `json:"putMessages"`
	GetMessages    int64                   `json:"getMessages"`
	CommitLog      CommitLogStatus         `json:"commitLog"`
	Writer         WriterStatus            `json:"writer"`
	Rings          []ringbuf.Stats         `json:"rings"`
	Recovery       *persist.RecoveryReport `json:"recovery,omitempty"`
	Replication    *ReplicationStatus      `json:"replication,omitempty"`
}

// CommitLogStatus is the commit log's extent.
type CommitLogStatus struct {
	MinOffset     int64 `json:"minOffset"`
	MaxOffset     int64 `json:"maxOffset"`
	DurableOffset int64 `json:"durableOffset"`
	Bytes         int64 `json:"bytes"`
}

// WriterStatus is the writer's counters.
type WriterStatus struct {
	Batches       int64   `json:"batches"`
	Messages      int64   `json:"messages"`
	Syncs         int64   `json:"syncs"`
	SyncFailures  int64   `json:"syncFailures"`
	Rejected      int64   `json:"rejected"`
	AvgSyncMicros float64 `json:"avgSyncMicros"`
	RingDepth     int     `json:"ringDepth"`
	RingCapacity  int     `json:"ringCapacity"`
	RingHighWater int     `json:"ringHighWater"`
}

// Status reports the broker's state. It is safe from any goroutine, before
// Start and after Stop.
func (b *Broker) Status() Status {
	m := b.metrics
	s := Status{
		ClusterName: b.opts.ClusterName, BrokerName: b.opts.BrokerName, Listen: b.server.Addr(),
		Advertise: b.advertise, Flush: b.opts.Flush.String(), BootTime: m.bootTime,
		UptimeSeconds: time.Since(m.bootTime).Seconds(), Topics: len(b.topics.all()),
		ConsumerGroups: len(b.groups.groupNames()), Connections: b.server.Stats().Connections,
		Rings: ringbuf.Registered(),
	}
	for _, tc := range *m.topics.Load() {
		s.PutMessages += tc.putMessages.Load()
		s.GetMessages += tc.getMessages.Load()
	}
	if b.store == nil || b.writer == nil {
		return s
	}
	s.Started = true
	st := b.store.Stats()
	s.CommitLog = CommitLogStatus{MinOffset: st.MinOffset, MaxOffset: st.MaxOffset, DurableOffset: st.DurableOffset,
		Bytes: st.MaxOffset - st.MinOffset}
	rec := b.store.Recovery()
	s.Recovery = &rec
	s.Writer = b.writerStatus()
	if b.hold != nil {
		s.ParkedPulls = b.hold.parked.Load()
	}
	if b.repl != nil {
		rs := b.ReplicationStatus()
		s.Replication = &rs
	}
	return s
}

func (b *Broker) writerStatus() WriterStatus {
	ws := b.writer.Stats()
	ring := b.writer.Ring()
	out := WriterStatus{Batches: ws.Batches.Load(), Messages: ws.Messages.Load(), Syncs: ws.Syncs.Load(),
		SyncFailures: ws.SyncFailures.Load(), Rejected: ws.Rejected.Load(),
		RingDepth: ring.Depth, RingCapacity: ring.Capacity, RingHighWater: ring.HighWater}
	if out.Syncs > 0 {
		out.AvgSyncMicros = float64(ws.SyncNanos.Load()) / float64(out.Syncs) / 1e3
	}
	return out
}

// runtimeTable is the GET_BROKER_RUNTIME_INFO table: Java's key names
// where one exists, string values.
func (s *Status) runtimeTable() map[string]string {
	up := time.Duration(s.UptimeSeconds * float64(time.Second))
	t := map[string]string{
		"brokerVersionDesc":           "comet " + version.Get().Version,
		"brokerVersion":               "409", // MQVersion of RocketMQ 4.9.8, whose protocol Comet serves
		"bootTimestamp":               fmt.Sprint(s.BootTime.UnixMilli()),
		"runtime":                     javaRuntime(up),
		"msgPutTotalTodayNow":         fmt.Sprint(s.PutMessages),
		"msgGetTotalTodayNow":         fmt.Sprint(s.GetMessages),
		"commitLogMinOffset":          fmt.Sprint(s.CommitLog.MinOffset),
		"commitLogMaxOffset":          fmt.Sprint(s.CommitLog.MaxOffset),
		"commitLogDurableOffset":      fmt.Sprint(s.CommitLog.DurableOffset),
		"flushDiskType":               flushTypeName(s.Flush),
		"topicCount":                  fmt.Sprint(s.Topics),
		"consumerGroupsOnline":        fmt.Sprint(s.ConsumerGroups),
		"connections":                 fmt.Sprint(s.Connections),
		"pullParkedCount":             fmt.Sprint(s.ParkedPulls),
		"writerBatches":               fmt.Sprint(s.Writer.Batches),
		"writerSyncs":                 fmt.Sprint(s.Writer.Syncs),
		"writerAvgSyncMicros":         fmt.Sprintf("%.1f", s.Writer.AvgSyncMicros),
		"sendThreadPoolQueueSize":     fmt.Sprint(s.Writer.RingDepth),
		"sendThreadPoolQueueCapacity": fmt.Sprint(s.Writer.RingCapacity),
		"writerRejected":              fmt.Sprint(s.Writer.Rejected),
	}
	if s.Replication != nil {
		s.Replication.addRuntime(t)
	}
	return t
}

// javaRuntime formats an uptime as Java's broker does.
func javaRuntime(d time.Duration) string {
	secs := int64(d.Seconds())
	return fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]", secs/86400, secs/3600%24, secs/60%60, secs%60)
}

func flushTypeName(mode string) string {
	if mode == "async" {
		return "ASYNC_FLUSH"
	}
	return "SYNC_FLUSH"
}
