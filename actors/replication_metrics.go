package actors

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReplicationCollector exposes the broker's replication state: role and
// epoch, the in-sync set, each replica's lag as the master sees it, the
// replica's lag behind its master, and the transport's counters.
func (b *Broker) ReplicationCollector() prometheus.Collector { return &replicationCollector{b: b} }

type replicationCollector struct{ b *Broker }

var (
	descReplRole        = desc("replication_role", "1 for the broker's current role (master or replica).", "role")
	descReplEpoch       = desc("replication_epoch", "Epoch of the broker's current role.")
	descReplRoleChanges = desc("replication_role_changes_total", "Role changes, the role taken at start included.")
	descReplInSync      = desc("replication_in_sync_replicas", "Size of the in-sync set, master included (master only).")
	descReplCommit      = desc("replication_commit_offset", "Highest commit-log offset every in-sync member holds (master only).")
	descReplLagBytes    = desc("replication_lag_bytes", "Bytes a replica lacks of the master's log (master: per replica; replica: its own).", "replica")
	descReplLagSeconds  = desc("replication_lag_seconds", "Seconds since a replica last caught up with the master's log end.", "replica")
	descReplMemberState = desc("replication_replica_in_sync", "1 when the replica is in the in-sync set.", "replica")
	descReplRefused     = desc("replication_refused_sends_total", "Sends refused because the broker is a replica or the in-sync set is too small.")
	descReplEvents      = desc("replication_events_total", "Replication transport events by kind.", "event")
	descCtlEvents       = desc("replication_controller_events_total",
		"Controller mode: heartbeats and their failures, times this broker became master (elections it won), fencings "+
			"(a newer epoch ended its mastership or lease), unrenewed lease lapses, in-sync set proposals by outcome.", "event")
	descCtlLease = desc("replication_lease_remaining_seconds", "Controller mode: how long this master may still take writes (0: none).")
)

func (c *replicationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReplRole, descReplEpoch, descReplRoleChanges, descReplInSync, descReplCommit,
		descReplLagBytes, descReplLagSeconds, descReplMemberState, descReplRefused, descReplEvents, descCtlEvents, descCtlLease} {
		ch <- d
	}
}

func (c *replicationCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.b.repl
	if r == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	role := r.role.Load()
	gauge(descReplRole, boolFloat(role.Master), "master")
	gauge(descReplRole, boolFloat(!role.Master), "replica")
	gauge(descReplEpoch, float64(role.Epoch))
	counter(descReplRoleChanges, r.roleChanges.Load())
	counter(descReplRefused, r.refused.Load())
	if s := r.server; s != nil && role.Master {
		gauge(descReplInSync, float64(s.InSyncCount()))
		gauge(descReplCommit, float64(s.CommitPoint()))
		for _, m := range s.Members() {
			id := strconv.FormatInt(m.ID, 10)
			gauge(descReplLagBytes, float64(m.LagBytes), id)
			gauge(descReplLagSeconds, m.LagSeconds, id)
			gauge(descReplMemberState, boolFloat(m.InSync), id)
		}
		st := s.Stats()
		for _, e := range []struct {
			name string
			v    int64
		}{{"bytes_sent", st.BytesSent.Load()}, {"data_frames_sent", st.DataFrames.Load()}, {"meta_frames_sent", st.MetaFrames.Load()},
			{"connections", st.Connections.Load()}, {"refused", st.Refused.Load()}, {"in_sync_joins", st.Joins.Load()},
			{"in_sync_leaves", st.Leaves.Load()}, {"resets", st.Resets.Load()}} {
			counter(descReplEvents, e.v, e.name)
		}
	}
	if a := r.agent; a != nil {
		collectControlled(ch, a)
	}
	r.mu.Lock()
	client := r.client
	r.mu.Unlock()
	if client != nil {
		st := client.Stats()
		self := strconv.FormatInt(r.routeID(), 10)
		gauge(descReplLagBytes, float64(max(0, st.MasterEnd.Load()-c.b.store.WrittenOffset())), self)
		if last := st.LastContact.Load(); last > 0 {
			gauge(descReplLagSeconds, time.Since(time.Unix(0, last)).Seconds(), self)
		}
		for _, e := range []struct {
			name string
			v    int64
		}{{"bytes_received", st.BytesReceived.Load()}, {"data_frames_received", st.DataFrames.Load()},
			{"meta_frames_received", st.MetaFrames.Load()}, {"sessions", st.Sessions.Load()}, {"truncations", st.Truncations.Load()}} {
			counter(descReplEvents, e.v, e.name)
		}
	}
}

func boolFloat(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

func collectControlled(ch chan<- prometheus.Metric, a *controlAgent) {
	st := &a.stats
	for _, e := range []struct {
		name string
		v    int64
	}{{"heartbeats", st.heartbeats.Load()}, {"heartbeat_failures", st.heartbeatFailures.Load()},
		{"became_master", st.becameMaster.Load()}, {"fenced", st.fenced.Load()}, {"lease_lapses", st.leaseLapses.Load()},
		{"in_sync_proposals", st.proposals.Load()}, {"in_sync_committed", st.proposalsCommitted.Load()},
		{"in_sync_refused", st.proposalsRefused.Load()}} {
		ch <- prometheus.MustNewConstMetric(descCtlEvents, prometheus.CounterValue, float64(e.v), e.name)
	}
	ch <- prometheus.MustNewConstMetric(descCtlLease, prometheus.GaugeValue, a.leaseLeft().Seconds())
}
