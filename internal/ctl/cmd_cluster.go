package ctl

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
)

func init() {
	register(&command{name: "cluster list", args: "", help: "brokers registered with the name server, with their traffic",
		run: runClusterList})
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
	Reachable     bool    `json:"reachable"`
	Version       string  `json:"version,omitempty"`
	PutMessages   int64   `json:"putMessages"`
	GetMessages   int64   `json:"getMessages"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	Error         string  `json:"error,omitempty"`
}

func runClusterList(e *env, _ *cmdOpts, _ []string) error {
	brokers, err := e.allBrokers()
	if err != nil {
		return err
	}
	t := newTable("CLUSTER", "BROKER", "ID", "ADDRESS", "VERSION", "PUT", "GET", "UPTIME")
	rows := []clusterRow{}
	var errs []error
	for _, b := range brokers {
		row := clusterRow{brokerRef: b}
		info, err := e.runtimeInfo(b.Addr)
		if err != nil {
			errs = append(errs, err)
			row.Error = err.Error()
			t.add(b.Cluster, b.Name, b.ID, b.Addr, "unreachable", "-", "-", "-")
		} else {
			row.Reachable = true
			row.Version = info["brokerVersionDesc"]
			row.PutMessages, row.GetMessages = infoInt(info, "msgPutTotalTodayNow"), infoInt(info, "msgGetTotalTodayNow")
			if boot := infoInt(info, "bootTimestamp"); boot > 0 {
				row.UptimeSeconds = max(0, time.Since(time.UnixMilli(boot)).Truncate(time.Second).Seconds())
			}
			t.add(b.Cluster, b.Name, b.ID, b.Addr, row.Version, row.PutMessages, row.GetMessages,
				time.Duration(row.UptimeSeconds*float64(time.Second)).String())
		}
		rows = append(rows, row)
	}
	if err := e.emit(rows, t); err != nil {
		return err
	}
	return worst(errs)
}

// infoInt reads a number of a runtime table; absent or malformed is 0.
func infoInt(info map[string]string, key string) int64 {
	n, _ := strconv.ParseInt(info[key], 10, 64)
	return n
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
	if e.json {
		if err := e.emit(numericValues(infos)); err != nil {
			return err
		}
		return worst(errs)
	}
	return e.emitKeyValues(infos, errs)
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
