package controller

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/cometmq/comet/netio/remoting"
)

// Member is one broker of a group as the replicated state records it.
type Member struct {
	ID     int64  `json:"id"`     // assigned by the controller, 1, 2, ...; never reused in a group
	Addr   string `json:"addr"`   // remoting address (ip:port)
	HAAddr string `json:"haAddr"` // replication address (ip:port)
	Code   string `json:"code"`   // registration code: tells a retry from another broker
	// LastEpoch and ConfirmedOffset are the member's last report recorded
	// in the log: the newest epoch in its epoch file and the end of the
	// commit log it holds durably.
	LastEpoch       int32 `json:"lastEpoch"`
	ConfirmedOffset int64 `json:"confirmedOffset"`
}

// Group is one broker group: the brokers sharing a cluster and broker name.
type Group struct {
	Cluster string   `json:"cluster"`
	Name    string   `json:"name"`
	Members []Member `json:"members"` // ascending ID
	NextID  int64    `json:"nextId"`
	// MasterID is the master's member id, 0 while the group has none.
	MasterID int64 `json:"masterId"`
	// Epoch is bumped by every change of master (including to none).
	Epoch int32 `json:"epoch"`
	// SyncStateSet is the in-sync set, ascending, always holding the master
	// when there is one; SyncStateSetEpoch is bumped on every change.
	SyncStateSet      []int64 `json:"syncStateSet"`
	SyncStateSetEpoch int32   `json:"syncStateSetEpoch"`
	// LeaseExpiry is when the master's lease lapses, in nanoseconds on the
	// clock of the controller leader that last granted or reset it.
	LeaseExpiry int64 `json:"leaseExpiry"`
}

// State is the whole replicated state: every group by groupKey.
type State struct {
	Groups map[string]*Group `json:"groups"`
}

// Bounds on the state a registration may grow: a client cannot make it
// hold more. Part of the format's rules: changing them changes what Apply
// accepts, so only ever raise them.
const (
	MaxGroups          = 10000
	MaxMembersPerGroup = 64
)

// NewState returns an empty state.
func NewState() *State { return &State{Groups: map[string]*Group{}} }

// groupKey is the map key of a group. Names never hold '/' (validName).
func groupKey(cluster, name string) string { return cluster + "/" + name }

// Command ops and election reasons. Part of the format: do not change.
const (
	opRegister          = "register"
	opHeartbeat         = "heartbeat"
	opAlterSyncStateSet = "alterSyncStateSet"
	opElect             = "elect"
	opTakeOffice        = "takeOffice"

	reasonExpire   = "expire"   // the master's lease lapsed
	reasonVacant   = "vacant"   // the group has no master and an in-sync member is alive
	reasonHandover = "handover" // an operator names the next master
)

// Report is what the leader last heard from a live member.
type Report struct {
	ID              int64 `json:"id"`
	LastEpoch       int32 `json:"lastEpoch"`
	ConfirmedOffset int64 `json:"confirmedOffset"`
}

// Command is one entry of the replicated log. Only the leader writes
// commands, and it puts every time and every liveness fact in them, so
// applying one reads nothing but the command and the state.
type Command struct {
	Op       string   `json:"op"`
	Cluster  string   `json:"cluster,omitempty"`
	Group    string   `json:"group,omitempty"`
	BrokerID int64    `json:"brokerId,omitempty"` // requester, or the designated master of a handover
	Code     string   `json:"code,omitempty"`
	Addr     string   `json:"addr,omitempty"`
	HAAddr   string   `json:"haAddr,omitempty"`
	Epoch    int32    `json:"epoch,omitempty"`    // expected master epoch
	SetEpoch int32    `json:"setEpoch,omitempty"` // expected in-sync set epoch
	Set      []int64  `json:"set,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Alive    []Report `json:"alive,omitempty"`
	Now      int64    `json:"now,omitempty"`   // leader clock, ns
	Lease    int64    `json:"lease,omitempty"` // lease length, ns
}

// Result is what applying a command did.
type Result struct {
	Code     int16  // remoting.ResponseSuccess or a controller refusal
	Remark   string // why, for a refusal
	BrokerID int64  // register: the member's id
	Group    *Group // a copy of the group afterwards, nil when there is none
	// MasterChanged: the command changed the master (a first master, an
	// election, or a lapsed lease with nobody to elect); PrevMaster was it.
	MasterChanged bool
	PrevMaster    int64
}

func refuse(code int16, format string, args ...any) Result {
	return Result{Code: code, Remark: fmt.Sprintf(format, args...)}
}

// Apply applies one command. It is deterministic: the same state and
// command give the same state and result on every member.
func (s *State) Apply(c *Command) Result {
	if c.Op != opTakeOffice && (!validName(c.Cluster) || !validName(c.Group)) {
		return refuse(remoting.ResponseControllerInvalidRequest, "invalid cluster %q or group %q", c.Cluster, c.Group)
	}
	switch c.Op {
	case opRegister:
		return s.register(c)
	case opHeartbeat:
		return s.heartbeat(c)
	case opAlterSyncStateSet:
		return s.alterSyncStateSet(c)
	case opElect:
		return s.elect(c)
	case opTakeOffice:
		return s.takeOffice(c)
	}
	return refuse(remoting.ResponseControllerInvalidRequest, "unknown command %q", c.Op)
}

// register adds a member, or updates the addresses of a known one. The
// first member of a group that never had a master becomes its master.
func (s *State) register(c *Command) Result {
	key := groupKey(c.Cluster, c.Group)
	g := s.Groups[key]
	if g == nil && c.BrokerID != 0 {
		return refuse(remoting.ResponseControllerBrokerMetadataNotExist, "group %s has no member %d", key, c.BrokerID)
	}
	if g == nil {
		if len(s.Groups) >= MaxGroups {
			return refuse(remoting.ResponseControllerInvalidRequest, "already %d groups", len(s.Groups))
		}
		g = &Group{Cluster: c.Cluster, Name: c.Group, NextID: 1}
		s.Groups[key] = g
	}
	var m *Member
	switch {
	case c.BrokerID != 0:
		if m = g.member(c.BrokerID); m == nil {
			return refuse(remoting.ResponseControllerBrokerMetadataNotExist, "group %s has no member %d", key, c.BrokerID)
		}
		if m.Code != c.Code {
			return refuse(remoting.ResponseControllerBrokerIDInvalid, "member %d of %s registered with another code", c.BrokerID, key)
		}
	default:
		if m = g.memberByCode(c.Code); m == nil {
			if len(g.Members) >= MaxMembersPerGroup {
				return refuse(remoting.ResponseControllerInvalidRequest, "group %s already has %d members", key, len(g.Members))
			}
			g.Members = append(g.Members, Member{ID: g.NextID, Code: c.Code})
			g.NextID++
			m = &g.Members[len(g.Members)-1]
		}
	}
	m.Addr, m.HAAddr = c.Addr, c.HAAddr
	res := Result{BrokerID: m.ID}
	if g.MasterID == 0 && g.Epoch == 0 {
		g.MasterID, g.Epoch = m.ID, 1
		g.SyncStateSet, g.SyncStateSetEpoch = []int64{m.ID}, 1
		g.LeaseExpiry = c.Now + c.Lease
		res.MasterChanged = true
	}
	res.Group = g.clone()
	return res
}

// heartbeat records the members' reports and renews the master's lease
// when the requester is the master at the current epoch.
func (s *State) heartbeat(c *Command) Result {
	g, res := s.existing(c)
	if g == nil {
		return res
	}
	g.record(c.Alive)
	switch {
	case c.Epoch != g.Epoch:
		return refuse(remoting.ResponseControllerFencedMasterEpoch, "epoch %d is not the current epoch %d", c.Epoch, g.Epoch)
	case c.BrokerID != g.MasterID || g.MasterID == 0:
		return refuse(remoting.ResponseControllerInvalidMaster, "member %d is not the master of epoch %d", c.BrokerID, g.Epoch)
	}
	g.LeaseExpiry = max(g.LeaseExpiry, c.Now+c.Lease)
	return Result{Group: g.clone()}
}

// alterSyncStateSet replaces the in-sync set: only the current master, at
// the current master and set epochs, may change it, and a member joins it
// only if the leader heard it lately (Alive).
func (s *State) alterSyncStateSet(c *Command) Result {
	g, res := s.existing(c)
	if g == nil {
		return res
	}
	switch {
	case c.Epoch != g.Epoch:
		return refuse(remoting.ResponseControllerFencedMasterEpoch, "epoch %d is not the current epoch %d", c.Epoch, g.Epoch)
	case c.BrokerID != g.MasterID || g.MasterID == 0:
		return refuse(remoting.ResponseControllerInvalidMaster, "member %d is not the master of epoch %d", c.BrokerID, g.Epoch)
	case c.SetEpoch != g.SyncStateSetEpoch:
		return refuse(remoting.ResponseControllerFencedSyncStateSetEpoch, "set epoch %d is not the current set epoch %d", c.SetEpoch, g.SyncStateSetEpoch)
	}
	set := normalizeSet(c.Set)
	if !slices.Contains(set, g.MasterID) {
		return refuse(remoting.ResponseControllerAlterSyncStateSetFailed, "the in-sync set must hold the master %d", g.MasterID)
	}
	for _, id := range set {
		if g.member(id) == nil {
			return refuse(remoting.ResponseControllerInvalidReplicas, "group %s has no member %d", groupKey(g.Cluster, g.Name), id)
		}
	}
	if slices.Equal(set, g.SyncStateSet) {
		return refuse(remoting.ResponseControllerAlterSyncStateSetFailed, "the in-sync set is unchanged")
	}
	for _, id := range set {
		if !g.InSync(id) && !slices.ContainsFunc(c.Alive, func(r Report) bool { return r.ID == id }) {
			return refuse(remoting.ResponseControllerBrokerNotAlive, "member %d is not alive and cannot join the in-sync set", id)
		}
	}
	g.SyncStateSet = set
	g.SyncStateSetEpoch++
	return Result{Group: g.clone()}
}

// takeOffice restarts every master's lease on the new leader's clock. The
// previous leader's grants all end before it (see the package doc).
func (s *State) takeOffice(c *Command) Result {
	for _, g := range s.Groups {
		if g.MasterID != 0 {
			g.LeaseExpiry = c.Now + c.Lease
		}
	}
	return Result{}
}

// existing returns the command's group, or a refusal when it has none or
// the requester is not a member.
func (s *State) existing(c *Command) (*Group, Result) {
	key := groupKey(c.Cluster, c.Group)
	g := s.Groups[key]
	if g == nil {
		return nil, refuse(remoting.ResponseControllerBrokerNeedToBeRegistered, "group %s is not registered", key)
	}
	if c.Op != opElect && g.member(c.BrokerID) == nil {
		return nil, refuse(remoting.ResponseControllerBrokerNeedToBeRegistered, "group %s has no member %d", key, c.BrokerID)
	}
	return g, Result{}
}

func (g *Group) member(id int64) *Member {
	i, ok := slices.BinarySearchFunc(g.Members, id, func(m Member, id int64) int { return cmp.Compare(m.ID, id) })
	if !ok {
		return nil
	}
	return &g.Members[i]
}

func (g *Group) memberByCode(code string) *Member {
	for i := range g.Members {
		if g.Members[i].Code == code {
			return &g.Members[i]
		}
	}
	return nil
}

// record stores the reports of known members.
func (g *Group) record(reports []Report) {
	for _, r := range reports {
		if m := g.member(r.ID); m != nil {
			m.LastEpoch, m.ConfirmedOffset = r.LastEpoch, r.ConfirmedOffset
		}
	}
}

func (g *Group) clone() *Group {
	out := *g
	out.Members = slices.Clone(g.Members)
	out.SyncStateSet = slices.Clone(g.SyncStateSet)
	return &out
}

// InSync reports whether id is in the in-sync set.
func (g *Group) InSync(id int64) bool { return slices.Contains(g.SyncStateSet, id) }

// Member returns a copy of member id and whether it exists.
func (g *Group) Member(id int64) (Member, bool) {
	if m := g.member(id); m != nil {
		return *m, true
	}
	return Member{}, false
}

// normalizeSet sorts ids and drops duplicates.
func normalizeSet(ids []int64) []int64 {
	set := slices.Clone(ids)
	slices.Sort(set)
	return slices.Compact(set)
}

func sortGroups(gs []*Group) {
	slices.SortFunc(gs, func(a, b *Group) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Name, b.Name))
	})
}
