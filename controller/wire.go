package controller

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
)

// Wire bodies: compact JSON in the remoting frame's body. Field names are
// part of the format: do not change. Unknown fields are ignored, so fields
// may be added.

// MaxBodyBytes bounds a request body; larger ones are refused unread.
const MaxBodyBytes = 64 << 10

// MaxSyncStateSet bounds the members of an in-sync set in a request.
const MaxSyncStateSet = 64

// Roles in a HeartbeatResponse.
const (
	RoleMaster  = "master"
	RoleReplica = "replica"
)

// RegisterRequest is the body of CONTROLLER_REGISTER_BROKER (1003).
type RegisterRequest struct {
	Cluster string `json:"clusterName"`
	Group   string `json:"brokerName"`
	// BrokerID is 0 for a broker that has no id yet; the controller assigns
	// one. A broker keeps the id and its Code with its data and sends both
	// on every later registration.
	BrokerID int64  `json:"brokerId"`
	Code     string `json:"registerCode"`
	Addr     string `json:"brokerAddress"`
	HAAddr   string `json:"haAddress"`
}

// RegisterResponse answers a registration.
type RegisterResponse struct {
	BrokerID int64 `json:"brokerId"`
	ReplicaInfo
}

// HeartbeatRequest is the body of BROKER_HEARTBEAT (904), sent by every
// member about once a second.
type HeartbeatRequest struct {
	Cluster  string `json:"clusterName"`
	Group    string `json:"brokerName"`
	BrokerID int64  `json:"brokerId"`
	// MasterEpoch is the master epoch the broker last learned: a master
	// renews its lease only at the current epoch.
	MasterEpoch int32 `json:"masterEpoch"`
	// LastEpoch is the newest epoch in the broker's epoch file and
	// ConfirmedOffset the end of the commit log it holds durably (flushed):
	// elections prefer the highest pair.
	LastEpoch       int32 `json:"lastEpoch"`
	ConfirmedOffset int64 `json:"confirmedOffset"`
}

// HeartbeatResponse answers a heartbeat with the group as the controller
// records it, the requester's role, and for the master the time its lease
// still runs.
type HeartbeatResponse struct {
	Role string `json:"role"`
	// LeaseMillis is how long the master's lease runs from when the
	// controller answered; 0 for a replica. See the package doc for the rule
	// a master applies to it.
	LeaseMillis int64 `json:"leaseMillis"`
	ReplicaInfo
}

// ReplicaInfo is a group as the controller records it: the answer of
// CONTROLLER_GET_REPLICA_INFO (1004) and part of most other answers.
type ReplicaInfo struct {
	Cluster           string       `json:"clusterName"`
	Group             string       `json:"brokerName"`
	MasterID          int64        `json:"masterId"` // 0: no master
	MasterAddr        string       `json:"masterAddress"`
	MasterHAAddr      string       `json:"masterHaAddress"`
	MasterEpoch       int32        `json:"masterEpoch"`
	SyncStateSet      []int64      `json:"syncStateSet"`
	SyncStateSetEpoch int32        `json:"syncStateSetEpoch"`
	Members           []MemberInfo `json:"members"`
}

// MemberInfo is one member in a ReplicaInfo.
type MemberInfo struct {
	ID              int64  `json:"brokerId"`
	Addr            string `json:"brokerAddress"`
	HAAddr          string `json:"haAddress"`
	LastEpoch       int32  `json:"lastEpoch"`
	ConfirmedOffset int64  `json:"confirmedOffset"`
	InSync          bool   `json:"inSync"`
	// Alive: the leader heard the member within the election timeout.
	Alive bool `json:"alive"`
}

// GroupRequest names a group: the body of CONTROLLER_GET_REPLICA_INFO.
type GroupRequest struct {
	Cluster string `json:"clusterName"`
	Group   string `json:"brokerName"`
}

// AlterSyncStateSetRequest is the body of CONTROLLER_ALTER_SYNC_STATE_SET
// (1001): the master asks to replace the in-sync set, naming the epochs it
// knows.
type AlterSyncStateSetRequest struct {
	Cluster           string  `json:"clusterName"`
	Group             string  `json:"brokerName"`
	MasterID          int64   `json:"masterId"`
	MasterEpoch       int32   `json:"masterEpoch"`
	SyncStateSetEpoch int32   `json:"syncStateSetEpoch"`
	SyncStateSet      []int64 `json:"syncStateSet"`
}

// ElectMasterRequest is the body of CONTROLLER_ELECT_MASTER (1002). With
// BrokerID 0 it asks for an election in a group without a master; with a
// member's id it hands mastership to that live in-sync member.
type ElectMasterRequest struct {
	Cluster  string `json:"clusterName"`
	Group    string `json:"brokerName"`
	BrokerID int64  `json:"brokerId"`
}

// SyncStateDataRequest is the body of CONTROLLER_GET_SYNC_STATE_DATA
// (1006); an empty Cluster asks for every cluster.
type SyncStateDataRequest struct {
	Cluster string `json:"clusterName"`
}

// SyncStateData answers CONTROLLER_GET_SYNC_STATE_DATA.
type SyncStateData struct {
	Groups []ReplicaInfo `json:"groups"`
}

// Metadata answers CONTROLLER_GET_METADATA_INFO (1005), which every
// member answers itself, leader or not.
type Metadata struct {
	ID         string     `json:"id"`
	Addr       string     `json:"address"`
	State      string     `json:"state"` // Leader, Follower, Candidate, Shutdown
	LeaderID   string     `json:"leaderId"`
	LeaderAddr string     `json:"leaderAddress"`
	Peers      []PeerInfo `json:"peers"`
}

// PeerInfo is one controller member.
type PeerInfo struct {
	ID   string `json:"id"`
	Addr string `json:"address"`
}

// ExtLeaderAddress is the ext field of a CONTROLLER_NOT_LEADER answer that
// names the leader's address when the member knows it.
const ExtLeaderAddress = "leaderAddress"

// validator is a request body that checks its own fields.
type validator interface{ validate() error }

// decodeBody decodes and validates a request body.
func decodeBody(body []byte, v validator) error {
	if len(body) > MaxBodyBytes {
		return fmt.Errorf("%w: body of %d bytes is over %d", ErrInvalidRequest, len(body), MaxBodyBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return v.validate()
}

func (r *RegisterRequest) validate() error {
	if err := checkGroup(r.Cluster, r.Group); err != nil {
		return err
	}
	switch {
	case r.BrokerID < 0:
		return invalidf("brokerId %d is negative", r.BrokerID)
	case !validCode(r.Code):
		return invalidf("registerCode %q: want 8 to 64 letters, digits, '-' or '_'", r.Code)
	case !validAddr(r.Addr):
		return invalidf("brokerAddress %q: want host:port", r.Addr)
	case r.HAAddr != "" && !validAddr(r.HAAddr):
		return invalidf("haAddress %q: want host:port", r.HAAddr)
	}
	return nil
}

func (r *HeartbeatRequest) validate() error {
	if err := checkGroup(r.Cluster, r.Group); err != nil {
		return err
	}
	switch {
	case r.BrokerID <= 0:
		return invalidf("brokerId %d: want a registered id", r.BrokerID)
	case r.MasterEpoch < 0 || r.LastEpoch < 0 || r.ConfirmedOffset < 0:
		return invalidf("negative epoch or offset")
	}
	return nil
}

func (r *GroupRequest) validate() error { return checkGroup(r.Cluster, r.Group) }

func (r *AlterSyncStateSetRequest) validate() error {
	if err := checkGroup(r.Cluster, r.Group); err != nil {
		return err
	}
	switch {
	case r.MasterID <= 0 || r.MasterEpoch < 0 || r.SyncStateSetEpoch < 0:
		return invalidf("masterId, masterEpoch or syncStateSetEpoch out of range")
	case len(r.SyncStateSet) == 0 || len(r.SyncStateSet) > MaxSyncStateSet:
		return invalidf("syncStateSet of %d members: want 1 to %d", len(r.SyncStateSet), MaxSyncStateSet)
	}
	for _, id := range r.SyncStateSet {
		if id <= 0 {
			return invalidf("syncStateSet member %d: want a registered id", id)
		}
	}
	return nil
}

func (r *ElectMasterRequest) validate() error {
	if err := checkGroup(r.Cluster, r.Group); err != nil {
		return err
	}
	if r.BrokerID < 0 {
		return invalidf("brokerId %d is negative", r.BrokerID)
	}
	return nil
}

func (r *SyncStateDataRequest) validate() error {
	if r.Cluster != "" && !validName(r.Cluster) {
		return invalidf("clusterName %q", r.Cluster)
	}
	return nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...)
}

func checkGroup(cluster, group string) error {
	if !validName(cluster) {
		return invalidf("clusterName %q: want 1 to 127 letters, digits or any of _-%%|.", cluster)
	}
	if !validName(group) {
		return invalidf("brokerName %q: want 1 to 127 letters, digits or any of _-%%|.", group)
	}
	return nil
}

// validName accepts a cluster or broker name: 1 to 127 characters of
// RocketMQ's topic alphabet plus '.'. It never holds '/', which groupKey
// uses as a separator.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '%' || c == '|' || c == '.') {
			return false
		}
	}
	return true
}

func validCode(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validAddr accepts host:port with a non-empty host of at most 253
// letters, digits, '.', '-' or ':' and a port in 1..65535.
func validAddr(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || len(host) > 253 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	p, err := strconv.Atoi(port)
	return err == nil && p > 0 && p <= 65535
}
