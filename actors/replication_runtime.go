package actors

import (
	"encoding/json"
	"strconv"
	"strings"
)

// ControlledStatus is a broker's controller-mode state for operators.
type ControlledStatus struct {
	MemberID     int64   `json:"memberId"`
	SyncStateSet []int64 `json:"syncStateSet"`
	SetEpoch     int32   `json:"syncStateSetEpoch"`
	InSync       bool    `json:"inSync"`      // this member is in the committed set
	LeaseMillis  int64   `json:"leaseMillis"` // master: how long it may still take writes
}

func (a *controlAgent) status() ControlledStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := a.id.Load()
	set := append([]int64{}, a.mu.set...)
	in := false
	for _, m := range set {
		in = in || m == id
	}
	return ControlledStatus{MemberID: id, SyncStateSet: set, SetEpoch: a.mu.setEpoch, InSync: in,
		LeaseMillis: a.leaseLeft().Milliseconds()}
}

// Runtime-table keys of the replication state (GET_BROKER_RUNTIME_INFO),
// read by cometctl cluster list. Part of the format: do not change.
const (
	RuntimeReplicationRole     = "replicationRole"     // master or replica
	RuntimeReplicationEpoch    = "replicationEpoch"    // epoch of the role
	RuntimeReplicationMode     = "replicationMode"     // sync or async
	RuntimeReplicationInSync   = "replicationInSync"   // master: set size; replica: true/false ("" unknown)
	RuntimeReplicationLag      = "replicationLagBytes" // replica: bytes behind its master
	RuntimeReplicationReplicas = "replicationReplicas" // master: JSON array of ha.MemberStatus
	RuntimeReplicationLease    = "replicationLeaseMillis"
	RuntimeReplicationMemberID = "replicationMemberId"
	RuntimeReplicationSyncSet  = "replicationSyncStateSet" // controller mode: committed set, ids comma separated
)

// addRuntime adds the replication keys to a runtime table.
func (s *ReplicationStatus) addRuntime(t map[string]string) {
	role := "replica"
	if s.Master {
		role = "master"
	}
	t[RuntimeReplicationRole] = role
	t[RuntimeReplicationEpoch] = strconv.FormatInt(s.Epoch, 10)
	t[RuntimeReplicationMode] = s.Mode
	if s.Master {
		t[RuntimeReplicationInSync] = strconv.Itoa(s.InSync)
		if data, err := json.Marshal(s.Replicas); err == nil && len(s.Replicas) > 0 {
			t[RuntimeReplicationReplicas] = string(data)
		}
	} else {
		t[RuntimeReplicationLag] = strconv.FormatInt(s.LagBytes, 10)
	}
	if c := s.Controller; c != nil {
		ids := make([]string, len(c.SyncStateSet))
		for i, id := range c.SyncStateSet {
			ids[i] = strconv.FormatInt(id, 10)
		}
		t[RuntimeReplicationMemberID] = strconv.FormatInt(c.MemberID, 10)
		t[RuntimeReplicationSyncSet] = strings.Join(ids, ",")
		t[RuntimeReplicationLease] = strconv.FormatInt(c.LeaseMillis, 10)
		if !s.Master {
			t[RuntimeReplicationInSync] = strconv.FormatBool(c.InSync)
		}
	}
}
