package ctl

import (
	"slices"
	"strings"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
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

// runtimeInfo fetches a broker's runtime table.
func (e *env) runtimeInfo(addr string) (map[string]string, error) {
	resp, err := e.invoke(addr, remoting.NewRequest(remoting.RequestGetBrokerRuntimeInfo))
	if err != nil {
		return nil, err
	}
	kv, err := adminwire.DecodeKVTable(resp.Body)
	if err != nil {
		return nil, brokerBodyError(addr, err)
	}
	return kv.Table, nil
}

type clusterRow struct {
	brokerRef
	Reachable   bool   `json:"reachable"`
	Version     string `json:"version,omitempty"`
	PutMessages string `json:"putMessages,omitempty"`
	GetMessages string `json:"getMessages,omitempty"`
	Runtime     string `json:"runtime,omitempty"`
	Error       string `json:"error,omitempty"`
	replicationRow
}

func runClusterList(e *env, _ *cmdOpts, _ []string) error {
	brokers, err := e.allBrokers()
	if err != nil {
		return err
	}
	t := newTable("CLUSTER", "BROKER", "ID", "ADDRESS", "ROLE", "EPOCH", "IN-SYNC", "LAG-BYTES", "LAG-SEC", "VERSION", "PUT", "GET", "UPTIME")
	rows := []clusterRow{}
	infos := map[string]map[string]string{}
	var errs []error
	for _, b := range brokers {
		info, err := e.runtimeInfo(b.Addr)
		if err != nil {
			errs = append(errs, err)
			rows = append(rows, clusterRow{brokerRef: b, Error: err.Error()})
			continue
		}
		infos[b.Addr] = info
		rows = append(rows, clusterRow{brokerRef: b, Reachable: true, Version: info["brokerVersionDesc"],
			PutMessages: info["msgPutTotalTodayNow"], GetMessages: info["msgGetTotalTodayNow"], Runtime: info["runtime"]})
	}
	for i := range rows {
		r := &rows[i]
		if !r.Reachable {
			t.add(r.Cluster, r.Name, r.ID, r.Addr, "unreachable", "-", "-", "-", "-", "-", "-", "-", "-")
			continue
		}
		r.replicationRow = replicationOf(r.brokerRef, infos[r.Addr], masterInfo(rows, infos, r.brokerRef))
		t.add(r.Cluster, r.Name, r.ID, r.Addr, orDash(r.Role), orDash(r.Epoch), orDash(r.InSync), orDash(r.LagBytes),
			orDash(r.LagSeconds), r.Version, r.PutMessages, r.GetMessages, r.Runtime)
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}

// perBroker runs fetch on each addressed master and collects results by
// address; one broker failing does not hide the others.
func perBroker[T any](e *env, brokers []brokerRef, fetch func(b brokerRef) (T, error)) (map[string]T, []error) {
	out := map[string]T{}
	var errs []error
	for _, b := range brokers {
		v, err := fetch(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[b.Addr] = v
	}
	return out, errs
}

func runBrokerStatus(e *env, _ *cmdOpts, _ []string) error {
	brokers, err := e.masters()
	if err != nil {
		return err
	}
	infos, errs := perBroker(e, brokers, func(b brokerRef) (map[string]string, error) { return e.runtimeInfo(b.Addr) })
	return e.emitKeyValues(infos, errs)
}

func runBrokerConfig(e *env, _ *cmdOpts, _ []string) error {
	brokers, err := e.masters()
	if err != nil {
		return err
	}
	configs, errs := perBroker(e, brokers, func(b brokerRef) (map[string]string, error) {
		resp, err := e.invoke(b.Addr, remoting.NewRequest(remoting.RequestGetBrokerConfig))
		if err != nil {
			return nil, err
		}
		return adminwire.DecodeProperties(resp.Body), nil
	})
	return e.emitKeyValues(configs, errs)
}

// emitKeyValues prints one KEY VALUE table per broker.
func (e *env) emitKeyValues(byBroker map[string]map[string]string, errs []error) error {
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
	return worst(errs)
}
