package perf

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/internal/adminwire"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// CometFlush asks the cluster behind nameServers for its brokers' flush
// mode (GET_BROKER_CONFIG's flushDiskType): "sync", "async", "mixed" when
// masters differ. perf cannot run a fair comparison without knowing it, so
// comet-bench writes it into the column header.
func CometFlush(ctx context.Context, nameServers []string) (string, error) {
	c := remoting.NewClient(remoting.ClientOptions{DialTimeout: 2 * time.Second, DefaultTimeout: 3 * time.Second})
	defer c.Close()
	masters, err := clusterMasters(ctx, c, nameServers)
	if err != nil {
		return "", err
	}
	modes := map[string]bool{}
	for _, addr := range masters {
		resp, err := c.Invoke(ctx, addr, remoting.NewRequest(remoting.RequestGetBrokerConfig))
		if err != nil {
			return "", fmt.Errorf("perf: broker config of %s: %w", addr, err)
		}
		if resp.Code != remoting.ResponseSuccess {
			return "", fmt.Errorf("perf: broker config of %s: %s %s", addr, remoting.ResponseName(resp.Code), resp.Remark)
		}
		modes[flushName(adminwire.DecodeProperties(resp.Body)["flushDiskType"])] = true
	}
	if len(modes) != 1 {
		return "mixed", nil
	}
	for m := range modes {
		return m, nil
	}
	return "", nil
}

func flushName(flushDiskType string) string {
	switch flushDiskType {
	case "SYNC_FLUSH":
		return "sync"
	case "ASYNC_FLUSH":
		return "async"
	}
	return "unknown"
}

// clusterMasters lists the master addresses the first answering name
// server knows.
func clusterMasters(ctx context.Context, c *remoting.Client, nameServers []string) ([]string, error) {
	var last error
	for _, ns := range nameServers {
		resp, err := c.Invoke(ctx, ns, remoting.NewRequest(remoting.RequestGetBrokerClusterInfo))
		if err != nil {
			last = err
			continue
		}
		var info routing.ClusterInfo
		if err := json.Unmarshal(resp.Body, &info); err != nil {
			return nil, fmt.Errorf("perf: cluster info from %s: %w", ns, err)
		}
		var out []string
		for _, bd := range info.BrokerAddrTable {
			if addr, ok := bd.BrokerAddrs[routing.MasterID]; ok {
				out = append(out, addr)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("perf: name server %s knows no master broker", ns)
		}
		slices.Sort(out)
		return out, nil
	}
	return nil, fmt.Errorf("perf: no name server of %s answered: %w", strings.Join(nameServers, ","), last)
}
