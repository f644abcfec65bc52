package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/internal/admin"
)

func init() {
	register(&command{name: "cluster handover", args: "-controller ADDRS -broker-name NAME -broker-id ID",
		help: "make an in-sync replica the master of its group (controller mode), e.g. before maintenance of the master",
		flags: func(fs *flag.FlagSet, o *cmdOpts) {
			fs.StringVar(&o.controller, "controller", "", "controller quorum addresses, ',' separated")
			fs.StringVar(&o.cluster, "cluster", "DefaultCluster", "cluster of the group")
			fs.StringVar(&o.brokerName, "broker-name", "", "the group (broker name)")
			fs.Int64Var(&o.brokerID, "broker-id", 0, "the replica to make master: its id in routes")
		},
		run: runHandover})
}

// replicationRow is a broker's replication state in cluster list: its
// role and epoch, and for a replica whether it is in the in-sync set and
// how far behind it is, as its master sees it (the replica's own view
// when the master does not answer).
type replicationRow struct {
	Role       string `json:"role,omitempty"`
	Epoch      string `json:"epoch,omitempty"`
	InSync     string `json:"inSync,omitempty"`
	LagBytes   string `json:"lagBytes,omitempty"`
	LagSeconds string `json:"lagSeconds,omitempty"`
}

// Runtime-table keys of a broker's replication state (actors'
// Runtime* constants).
const (
	keyRole     = "replicationRole"
	keyEpoch    = "replicationEpoch"
	keyInSync   = "replicationInSync"
	keyLag      = "replicationLagBytes"
	keyReplicas = "replicationReplicas"
)

// memberStatus is one replica in a master's replicationReplicas value.
type memberStatus struct {
	ID         int64
	InSync     bool
	Connected  bool
	LagBytes   int64
	LagSeconds float64
}

// masterInfo is the runtime table of b's master (nil when unknown).
func masterInfo(rows []admin.ClusterRow, b admin.BrokerRef) map[string]string {
	for _, r := range rows {
		if r.Cluster == b.Cluster && r.Name == b.Name && r.ID == 0 {
			return r.Info
		}
	}
	return nil
}

// replicationOf fills a broker's replication columns.
func replicationOf(b admin.BrokerRef, info, master map[string]string) replicationRow {
	row := replicationRow{Role: info[keyRole], Epoch: info[keyEpoch]}
	switch {
	case row.Role == "":
		return row // a broker that does not report replication
	case row.Role == "master":
		row.InSync, row.LagBytes, row.LagSeconds = "yes (set of "+info[keyInSync]+")", "0", "0"
		return row
	}
	row.InSync, row.LagBytes = yesNo(info[keyInSync]), info[keyLag]
	var members []memberStatus
	if master != nil && json.Unmarshal([]byte(master[keyReplicas]), &members) == nil {
		for _, m := range members {
			if m.ID == b.ID {
				row.InSync = yesNo(strconv.FormatBool(m.InSync))
				row.LagBytes = strconv.FormatInt(m.LagBytes, 10)
				row.LagSeconds = strconv.FormatFloat(m.LagSeconds, 'f', 1, 64)
			}
		}
	}
	return row
}

func yesNo(b string) string {
	switch b {
	case "true":
		return "yes"
	case "false":
		return "no"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runHandover(e *env, o *cmdOpts, _ []string) error {
	var addrs []string
	for _, a := range strings.Split(o.controller, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	switch {
	case len(addrs) == 0:
		return usageError("cluster handover needs -controller")
	case o.brokerName == "" || o.brokerID <= 0:
		return usageError("cluster handover needs -broker-name and -broker-id of a replica (1 or more)")
	}
	c, err := controller.NewClient(controller.ClientOptions{Addrs: addrs, CallTimeout: e.timeout})
	if err != nil {
		return usageError("%v", err)
	}
	defer c.Close()
	info, err := c.HandOver(context.Background(), o.cluster, o.brokerName, o.brokerID)
	switch {
	case err == nil:
	case errors.Is(err, controller.ErrUnavailable):
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	default:
		return fmt.Errorf("%w: %v", ErrBroker, err)
	}
	t := newTable("CLUSTER", "BROKER", "MASTER", "ADDRESS", "EPOCH", "IN-SYNC SET")
	t.add(info.Cluster, info.Group, info.MasterID, info.MasterAddr, info.MasterEpoch, fmt.Sprint(info.SyncStateSet))
	return e.emit(info, t)
}
