package ctl

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/admin"
)

func init() {
	register(&command{name: "cluster list", args: "",
		help: "brokers registered with the name server: role, epoch, in-sync state, replication lag, traffic",
		run:  runClusterList})
	register(&command{name: "broker status", args: "", help: "runtime information of each broker (GET_BROKER_RUNTIME_INFO)",
		run: runBrokerStatus})
	register(&command{name: "broker config", args: "", help: "configuration of each broker (GET_BROKER_CONFIG)",
		run: runBrokerConfig})
}

func runClusterList(e *env, _ *cmdOpts, _ []string) error {
	rows, err := e.admin().Cluster()
	if rows == nil {
		return err
	}
	t := newTable("CLUSTER", "BROKER", "ID", "ADDRESS", "ROLE", "EPOCH", "IN-SYNC", "LAG-BYTES", "LAG-SEC", "VERSION", "PUT", "GET", "UPTIME")
	out := make([]clusterListRow, len(rows))
	for i, r := range rows {
		out[i].ClusterRow = r
		if !r.Reachable {
			t.add(r.Cluster, r.Name, r.ID, r.Addr, "unreachable", "-", "-", "-", "-", "-", "-", "-", "-")
			continue
		}
		rep := replicationOf(r.BrokerRef, r.Info, masterInfo(rows, r.BrokerRef))
		out[i].replicationRow = rep
		t.add(r.Cluster, r.Name, r.ID, r.Addr, orDash(rep.Role), orDash(rep.Epoch), orDash(rep.InSync), orDash(rep.LagBytes),
			orDash(rep.LagSeconds), r.Version, r.PutMessages, r.GetMessages,
			time.Duration(r.UptimeSeconds*float64(time.Second)).String())
	}
	if emitErr := e.emit(out, t); emitErr != nil {
		return emitErr
	}
	return err
}

// clusterListRow is one broker in cluster list: what admin reports and its
// replication state.
type clusterListRow struct {
	admin.ClusterRow
	replicationRow
}

func runBrokerStatus(e *env, _ *cmdOpts, _ []string) error {
	infos, err := e.admin().BrokerTables(e.admin().RuntimeInfo)
	if e.json && infos != nil {
		if emitErr := e.emit(numericValues(infos)); emitErr != nil {
			return emitErr
		}
		return err
	}
	return e.emitKeyValues(infos, err)
}

// numericValues is the runtime tables for -json: a value that is a
// number on the wire (RocketMQ sends every value as text) becomes a JSON
// number; the rest ("[ 0 days, ... ]", "0.0 0.0 0.0") stay text.
func numericValues(byBroker map[string]map[string]string) map[string]map[string]any {
	out := make(map[string]map[string]any, len(byBroker))
	for addr, kv := range byBroker {
		m := make(map[string]any, len(kv))
		for k, v := range kv {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				m[k] = n
			} else if f, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "xXpP_nN") {
				m[k] = f
			} else {
				m[k] = v
			}
		}
		out[addr] = m
	}
	return out
}

func runBrokerConfig(e *env, _ *cmdOpts, _ []string) error {
	configs, err := e.admin().BrokerTables(e.admin().BrokerConfig)
	return e.emitKeyValues(configs, err)
}

// emitKeyValues prints one KEY VALUE table per broker.
func (e *env) emitKeyValues(byBroker map[string]map[string]string, partial error) error {
	if byBroker == nil {
		return partial
	}
	addrs := make([]string, 0, len(byBroker))
	for a := range byBroker {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	var tables []*table
	for _, a := range addrs {
		t := newTable("BROKER "+a, "VALUE")
		keys := make([]string, 0, len(byBroker[a]))
		for k := range byBroker[a] {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, strings.Compare)
		for _, k := range keys {
			t.add(k, byBroker[a][k])
		}
		tables = append(tables, t)
	}
	if err := e.emit(byBroker, tables...); err != nil {
		return err
	}
	return partial
}
