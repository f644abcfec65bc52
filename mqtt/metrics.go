package mqtt

import (
	"sort"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// gatewayMetrics are the gateway's counters and gauges.
type gatewayMetrics struct {
	connections, sessions, subscriptions, inflight atomic.Int64 // gauges

	connects, connectRefused, takeovers, protocolErrors   atomic.Int64
	keepAliveTimeouts, connectTimeouts, slowConsumers     atomic.Int64
	packetsIn, publishesIn, publishesRefused, messagesOut atomic.Int64
	messagesMatched, droppedQoS0, droppedTooLarge         atomic.Int64
	sharedDropped, lostToRetention, willsPublished        atomic.Int64
	journalRecords, journalFailures, snapshots            atomic.Int64
	droppedBusy, publishesDeferred                        atomic.Int64
}

// maxSessionSeries bounds the per-session series of one scrape: the
// sessions with the most in flight and queued come first.
const maxSessionSeries = 200

// SessionInfo describes one session (metrics, cometctl).
type SessionInfo struct {
	ClientID      string `json:"clientId"`
	Connected     bool   `json:"connected"`
	Remote        string `json:"remote,omitempty"`
	Version       int    `json:"protocolLevel"`
	Persistent    bool   `json:"persistent"`
	ExpirySeconds uint32 `json:"expirySeconds"`
	Subscriptions int    `json:"subscriptions"`
	Inflight      int    `json:"inflight"`
	Queued        int64  `json:"queued"`
}

// Sessions lists every session.
func (gw *Gateway) Sessions() []SessionInfo {
	gw.sessions.mu.Lock()
	all := make([]*session, 0, len(gw.sessions.byID))
	for _, s := range gw.sessions.byID {
		all = append(all, s)
	}
	gw.sessions.mu.Unlock()
	out := make([]SessionInfo, 0, len(all))
	for _, s := range all {
		out = append(out, s.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}

func (s *session) info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	si := SessionInfo{ClientID: s.clientID, Connected: s.mu.conn != nil, Version: int(s.mu.version),
		Persistent: s.persistentLocked(), ExpirySeconds: s.mu.expiry, Subscriptions: len(s.mu.subs),
		Inflight: len(s.mu.inflight), Queued: s.mu.queued}
	if s.mu.conn != nil {
		si.Remote = s.mu.conn.remote
	}
	return si
}

// Kick disconnects the client with id (MQTT 5: DISCONNECT 0x98
// administrative action); end also ends its session. It reports whether
// the client id had a session.
func (gw *Gateway) Kick(clientID string, end bool) bool {
	gw.sessions.mu.Lock()
	defer gw.sessions.mu.Unlock()
	s := gw.sessions.byID[clientID]
	if s == nil {
		return false
	}
	s.mu.Lock()
	c := s.mu.conn
	s.mu.Unlock()
	if c != nil {
		c.disconnectAsync(ReasonAdministrativeAction, "disconnected by an operator")
	}
	if end {
		s.mu.Lock()
		if s.mu.conn != nil {
			s.detachLocked()
		}
		s.mu.will = nil
		s.mu.Unlock()
		gw.endSessionLocked(s, "ended by an operator")
	}
	return true
}

// Collector exposes the gateway's metrics to Prometheus.
func (gw *Gateway) Collector() prometheus.Collector { return &collector{gw: gw} }

type collector struct{ gw *Gateway }

func mdesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("comet_mqtt_"+name, help, labels, nil)
}

var (
	descConnections   = mdesc("connections", "Open MQTT connections (TCP and WebSocket).")
	descSessions      = mdesc("sessions", "MQTT sessions, connected or not.")
	descSubscriptions = mdesc("subscriptions", "MQTT subscriptions of all sessions.")
	descRetained      = mdesc("retained_messages", "Retained messages.")
	descInflight      = mdesc("inflight_messages", "QoS 1/2 messages sent and not yet acknowledged, all sessions.")
	descSessInflight  = mdesc("session_inflight_messages", "Unacknowledged messages of a session (the busiest sessions only).", "client_id")
	descSessQueued    = mdesc("session_queued_messages", "Messages matched for a session while it was offline or behind (the busiest sessions only).", "client_id")
	descCounters      = mdesc("events_total", "MQTT gateway events by kind.", "event")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descSessions, descSubscriptions, descRetained, descInflight,
		descSessInflight, descSessQueued, descCounters} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := &c.gw.metrics
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	gauge(descConnections, m.connections.Load())
	gauge(descSessions, m.sessions.Load())
	gauge(descSubscriptions, m.subscriptions.Load())
	gauge(descRetained, int64(c.gw.retained.count()))
	gauge(descInflight, m.inflight.Load())
	for _, e := range []struct {
		name string
		v    *atomic.Int64
	}{{"connect", &m.connects}, {"connect_refused", &m.connectRefused}, {"takeover", &m.takeovers},
		{"protocol_error", &m.protocolErrors}, {"keepalive_timeout", &m.keepAliveTimeouts},
		{"connect_timeout", &m.connectTimeouts}, {"slow_consumer", &m.slowConsumers}, {"packet_in", &m.packetsIn},
		{"publish_in", &m.publishesIn}, {"publish_refused", &m.publishesRefused}, {"message_out", &m.messagesOut},
		{"message_matched", &m.messagesMatched}, {"dropped_qos0", &m.droppedQoS0}, {"dropped_too_large", &m.droppedTooLarge},
		{"shared_dropped", &m.sharedDropped}, {"lost_to_retention", &m.lostToRetention}, {"will_published", &m.willsPublished},
		{"dropped_qos0_busy", &m.droppedBusy}, {"publish_deferred_busy", &m.publishesDeferred},
		{"journal_record", &m.journalRecords}, {"journal_failure", &m.journalFailures}, {"snapshot", &m.snapshots}} {
		ch <- prometheus.MustNewConstMetric(descCounters, prometheus.CounterValue, float64(e.v.Load()), e.name)
	}
	busy := c.gw.Sessions()
	sort.Slice(busy, func(i, j int) bool {
		return int64(busy[i].Inflight)+busy[i].Queued > int64(busy[j].Inflight)+busy[j].Queued
	})
	for i, s := range busy {
		if i >= maxSessionSeries || s.Inflight+int(s.Queued) == 0 {
			break
		}
		gauge(descSessInflight, int64(s.Inflight), s.ClientID)
		gauge(descSessQueued, s.Queued, s.ClientID)
	}
}
