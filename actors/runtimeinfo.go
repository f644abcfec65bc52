package actors

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cometmq/comet/internal/adminwire"
)

// protocolVersion is the MQVersion ordinal of RocketMQ 4.9.8, the broker
// version whose protocol Comet serves (GET_BROKER_RUNTIME_INFO's
// brokerVersion).
const protocolVersion = 409

// runtimeInfo is the GET_BROKER_RUNTIME_INFO table: every key RocketMQ
// 4.9.8's broker returns that Comet has a value for, with the value
// formatted as Apache formats it (clusterList parses putTps and
// getTransferedTps as "x y z" doubles, earliestMessageTimeStamp as
// milliseconds, commitLogDiskRatio as a fraction), then Comet's own keys.
// Keys whose meaning is a Java thread pool report what stands in its
// place: the writer's ring for sends, nothing queued for pulls and queries
// (the event loops answer them or park them at once).
func (b *Broker) runtimeInfo(now time.Time) map[string]string {
	st := b.Status()
	t := st.runtimeTable()
	m := b.metrics
	totals := m.totals(now)
	today, yesterday := m.dayCounters()
	put, found, miss, total, transferred := m.tpsStrings(now)
	set := func(k string, v any) { t[k] = fmt.Sprint(v) }
	set("brokerVersion", protocolVersion)
	set("putTps", put)
	set("getFoundTps", found)
	set("getMissTps", miss)
	set("getTotalTps", total)
	set("getTransferedTps", transferred)
	set("putMessageTimesTotal", totals.puts)
	set("putMessageSizeTotal", totals.putBytes)
	set("putMessageFailedTimes", totals.putFailures)
	avgSize := 0.0
	if totals.puts > 0 {
		avgSize = float64(totals.putBytes) / float64(totals.puts)
	}
	set("putMessageAverageSize", adminwire.JavaDouble(avgSize))
	set("msgPutTotalYesterdayMorning", yesterday.puts)
	set("msgPutTotalTodayMorning", today.puts)
	set("msgPutTotalTodayNow", totals.puts)
	set("msgGetTotalYesterdayMorning", yesterday.gets)
	set("msgGetTotalTodayMorning", today.gets)
	set("msgGetTotalTodayNow", totals.gets)
	b.threadPoolKeys(set)
	b.storeKeys(set, &st)
	return t
}

// threadPoolKeys fills the thread-pool keys with their Comet stand-ins.
func (b *Broker) threadPoolKeys(set func(string, any)) {
	set("pullThreadPoolQueueSize", 0)
	set("pullThreadPoolQueueCapacity", b.opts.MaxParkedPulls)
	set("queryThreadPoolQueueSize", 0)
	set("queryThreadPoolQueueCapacity", maxAdminInFlight)
	set("EndTransactionQueueSize", b.queuedEndTxn.Load())
	set("EndTransactionThreadPoolQueueCapacity", maxQueuedEndTxn)
	set("sendThreadPoolQueueHeadWaitTimeMills", 0)
	set("pullThreadPoolQueueHeadWaitTimeMills", 0)
	set("queryThreadPoolQueueHeadWaitTimeMills", 0)
	set("pageCacheLockTimeMills", 0)
	set("startAcceptSendRequestTimeStamp", 0)
	set("remainTransientStoreBufferNumbs", math.MaxInt32)
}

// storeKeys fills the keys about the commit log and the disk.
func (b *Broker) storeKeys(set func(string, any), st *Status) {
	set("earliestMessageTimeStamp", b.earliestMessageTime())
	set("dispatchBehindBytes", 0)
	set("remainHowManyDataToFlush", humanBytes(max(0, st.CommitLog.MaxOffset-st.CommitLog.DurableOffset)))
	var fs unix.Statfs_t
	if unix.Statfs(b.opts.DataDir, &fs) != nil || fs.Blocks == 0 {
		return
	}
	total, free := int64(fs.Blocks)*fs.Bsize, int64(fs.Bavail)*fs.Bsize
	ratio := adminwire.JavaDouble(float64(total-free) / float64(total))
	set("commitLogDiskRatio", ratio)
	set("consumeQueueDiskRatio", ratio)
	set("commitLogDirCapacity", fmt.Sprintf("Total : %s, Free : %s.", humanBytes(total), humanBytes(free)))
}

// earliestMessageTime is the store time of the oldest record in the
// commit log, or -1 when it holds none (as RocketMQ answers).
func (b *Broker) earliestMessageTime() int64 {
	if b.store == nil {
		return -1
	}
	rv, err := b.store.RecordAt(b.store.MinPhysicalOffset())
	if err != nil {
		return -1
	}
	return rv.StoreTimestamp()
}

// humanBytes formats a byte count as RocketMQ's MixAll.humanReadableByteCount
// (binary units): "512 B", "1.5 KiB", "3.0 GiB".
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	exp := int(math.Log(float64(n)) / math.Log(1024))
	exp = min(exp, 6)
	return fmt.Sprintf("%.1f %ciB", float64(n)/math.Pow(1024, float64(exp)), "KMGTPE"[exp-1])
}
