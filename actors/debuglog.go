package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/cometmq/comet/netio"
)

// Debug-level lines for a person watching a broker under traffic: each
// connection as it opens and closes, consumer-group membership changes,
// and every trafficLogInterval a summary of what moved since the last one
// (only when something did). Nothing here logs above debug, and nothing
// runs per request.

// trafficLogInterval is how often the debug traffic summary is written.
const trafficLogInterval = 10 * time.Second

func (b *Broker) debugEnabled() bool {
	return b.log.Enabled(context.Background(), slog.LevelDebug)
}

// connOpened logs a new client connection at debug level.
func (b *Broker) connOpened(c *netio.Conn) {
	if b.debugEnabled() {
		b.log.Debug("actors: connection opened", "conn", c.ID(), "remote", c.RemoteAddr())
	}
}

// logConnClosed logs a closed client connection at debug level.
func (b *Broker) logConnClosed(c *netio.Conn) {
	if b.debugEnabled() {
		b.log.Debug("actors: connection closed", "conn", c.ID(), "remote", c.RemoteAddr())
	}
}

// trafficSample is what the summary compares between two ticks.
type trafficSample struct {
	puts, gets, batches, syncs, rejected int64
}

func (b *Broker) sampleTraffic() trafficSample {
	st := b.Status()
	return trafficSample{puts: st.PutMessages, gets: st.GetMessages, batches: st.Writer.Batches, syncs: st.Writer.Syncs,
		rejected: st.Writer.Rejected}
}

// logTraffic writes the debug summary every interval until ctx ends.
func (b *Broker) logTraffic(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last, lastAt := b.sampleTraffic(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if !b.debugEnabled() {
				last, lastAt = b.sampleTraffic(), now
				continue
			}
			cur := b.sampleTraffic()
			if cur != last {
				b.logTrafficDelta(last, cur, now.Sub(lastAt))
			}
			last, lastAt = cur, now
		}
	}
}

func (b *Broker) logTrafficDelta(prev, cur trafficSample, over time.Duration) {
	secs := max(over.Seconds(), 1e-3)
	st := b.Status()
	b.log.Debug("actors: traffic", "seconds", int(secs+0.5),
		"putPerSecond", float64(cur.puts-prev.puts)/secs, "getPerSecond", float64(cur.gets-prev.gets)/secs,
		"writerBatches", cur.batches-prev.batches, "syncs", cur.syncs-prev.syncs, "refusedBusy", cur.rejected-prev.rejected,
		"connections", st.Connections, "parkedPulls", st.ParkedPulls, "writerRing", st.Writer.RingDepth,
		"logEnd", st.CommitLog.MaxOffset)
}
