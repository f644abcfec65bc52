package controller

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cometmq/comet/netio/remoting"
)

// office is what the leader keeps in memory and never logs: whether it
// has taken office, since when, and when it last heard each member.
type office struct {
	mu     sync.Mutex
	active bool
	since  time.Time
	live   map[string]map[int64]*liveMember // group key → member id
}

// liveMember is the leader's last word from a member.
type liveMember struct {
	seen            time.Time
	lastEpoch       int32
	confirmedOffset int64
	conn            *apiConn // where the heartbeat came from: role-change notices go there
}

// Metrics are plain counters the broker's or the daemon's metrics read.
// Election counters count on the member that led when they happened.
type Metrics struct {
	LeaderTerms  atomic.Int64 // times this member took office as leader
	Elections    atomic.Int64 // masters chosen (lapsed lease, vacant group, hand-over)
	Handovers    atomic.Int64 // of which operator hand-overs
	MastersLost  atomic.Int64 // leases that lapsed with no live in-sync member to elect
	SetChanges   atomic.Int64 // in-sync set changes committed
	FencedAsks   atomic.Int64 // requests refused for a stale epoch
	RoleNotices  atomic.Int64 // NOTIFY_BROKER_ROLE_CHANGED sent
	ProposeFails atomic.Int64 // commands that did not commit (leadership lost, timeout)
}

// GroupStats are one group's gauges.
type GroupStats struct {
	Cluster           string `json:"cluster"`
	Group             string `json:"group"`
	MasterID          int64  `json:"masterId"`
	Epoch             int32  `json:"epoch"`
	SyncStateSetSize  int    `json:"syncStateSetSize"`
	SyncStateSetEpoch int32  `json:"syncStateSetEpoch"`
	Members           int    `json:"members"`
}

// Stats is a snapshot of the counters and per-group gauges.
type Stats struct {
	IsLeader     bool         `json:"isLeader"`
	LeaderTerms  int64        `json:"leaderTerms"`
	Elections    int64        `json:"elections"`
	Handovers    int64        `json:"handovers"`
	MastersLost  int64        `json:"mastersLost"`
	SetChanges   int64        `json:"setChanges"`
	FencedAsks   int64        `json:"fencedAsks"`
	RoleNotices  int64        `json:"roleNotices"`
	ProposeFails int64        `json:"proposeFails"`
	Groups       []GroupStats `json:"groups"`
}

// Stats returns the counters and the gauges of every group.
func (c *Controller) Stats() Stats {
	m := &c.metrics
	st := Stats{IsLeader: c.inOffice(), LeaderTerms: m.LeaderTerms.Load(), Elections: m.Elections.Load(),
		Handovers: m.Handovers.Load(), MastersLost: m.MastersLost.Load(), SetChanges: m.SetChanges.Load(),
		FencedAsks: m.FencedAsks.Load(), RoleNotices: m.RoleNotices.Load(), ProposeFails: m.ProposeFails.Load(),
		Groups: []GroupStats{}}
	for _, g := range c.fsm.groups("") {
		st.Groups = append(st.Groups, GroupStats{Cluster: g.Cluster, Group: g.Name, MasterID: g.MasterID, Epoch: g.Epoch,
			SyncStateSetSize: len(g.SyncStateSet), SyncStateSetEpoch: g.SyncStateSetEpoch, Members: len(g.Members)})
	}
	return st
}

func (c *Controller) inOffice() bool {
	c.office.mu.Lock()
	defer c.office.mu.Unlock()
	return c.office.active
}

// scanInterval is how often the leader looks for lapsed leases and
// vacant groups.
func (c *Controller) scanInterval() time.Duration {
	return min(100*time.Millisecond, c.opts.ElectionTimeout/10)
}

// leaderLoop follows this member's raft role, logs every change, takes
// and leaves office, and while in office scans the groups.
func (c *Controller) leaderLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.scanInterval())
	defer tick.Stop()
	var role roleView
	for {
		select {
		case <-c.stop:
			c.leaveOffice()
			return
		case <-c.raft.LeaderCh():
		case <-tick.C:
		}
		c.followRole(&role)
		if c.inOffice() {
			c.scan()
		}
	}
}

// roleView is the last raft role and leader the loop logged.
type roleView struct {
	state    raft.RaftState
	leaderID string
	known    bool
}

func (c *Controller) followRole(v *roleView) {
	state := c.raft.State()
	leaderAddr, leaderID := c.raft.LeaderWithID()
	if !v.known || state != v.state || string(leaderID) != v.leaderID {
		c.log.Info("controller: role change", "id", c.opts.ID, "role", state.String(),
			"leader", string(leaderID), "leaderAddr", string(leaderAddr), "term", c.raft.Stats()["term"])
		*v = roleView{state: state, leaderID: string(leaderID), known: true}
	}
	active := c.inOffice()
	switch {
	case state == raft.Leader && !active:
		if err := c.takeOffice(); err != nil {
			c.log.Warn("controller: taking office failed; retrying", "err", err)
		}
	case state != raft.Leader && active:
		c.leaveOffice()
	}
}

// takeOffice makes a new leader safe to serve: Barrier applies everything
// earlier leaders committed, then a takeOffice command restarts every
// master's lease on this member's clock. Liveness starts empty, so lapsed
// leases are judged only against members heard since.
func (c *Controller) takeOffice() error {
	if err := c.raft.Barrier(c.opts.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	if _, err := c.propose(&Command{Op: opTakeOffice, Now: c.now(), Lease: int64(c.opts.ElectionTimeout)}); err != nil {
		return err
	}
	c.office.mu.Lock()
	c.office.active, c.office.since = true, time.Now()
	clear(c.office.live)
	c.office.mu.Unlock()
	c.metrics.LeaderTerms.Add(1)
	c.log.Info("controller: took office", "id", c.opts.ID, "groups", len(c.fsm.groups("")))
	return nil
}

func (c *Controller) leaveOffice() {
	c.office.mu.Lock()
	was := c.office.active
	c.office.active = false
	clear(c.office.live)
	c.office.mu.Unlock()
	if was {
		c.log.Info("controller: left office", "id", c.opts.ID)
	}
}

// propose commits one command and returns what applying it did.
func (c *Controller) propose(cmd *Command) (Result, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return Result{}, fmt.Errorf("controller: encode command: %w", err)
	}
	f := c.raft.Apply(data, c.opts.ApplyTimeout)
	if err := f.Error(); err != nil {
		c.metrics.ProposeFails.Add(1)
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return Result{}, fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return Result{}, fmt.Errorf("controller: commit: %w", err)
	}
	res, _ := f.Response().(Result)
	return res, nil
}

// scan elects where a master's lease lapsed, and fills vacant groups once
// the leader has been in office long enough to know who is alive.
func (c *Controller) scan() {
	c.office.mu.Lock()
	settled := time.Since(c.office.since) >= c.opts.ElectionTimeout
	c.office.mu.Unlock()
	now := c.now()
	for _, g := range c.fsm.groups("") {
		switch {
		case g.MasterID != 0 && now >= g.LeaseExpiry:
			c.runElection(g, reasonExpire, 0)
		case g.MasterID == 0 && g.Epoch > 0 && settled && c.anyAliveInSync(g):
			c.runElection(g, reasonVacant, 0)
		}
	}
}

// runElection proposes an election for g and reports what came of it.
func (c *Controller) runElection(g *Group, reason string, designated int64) (Result, error) {
	key := groupKey(g.Cluster, g.Name)
	cmd := &Command{Op: opElect, Cluster: g.Cluster, Group: g.Name, Epoch: g.Epoch, Reason: reason,
		BrokerID: designated, Alive: c.aliveReports(key), Now: c.now(), Lease: int64(c.opts.ElectionTimeout)}
	res, err := c.propose(cmd)
	if err != nil {
		c.log.Warn("controller: election not committed", "group", key, "reason", reason, "err", err)
		return res, err
	}
	if res.MasterChanged {
		c.masterChanged(res, reason)
	} else if reason == reasonExpire || reason == reasonVacant {
		c.log.Debug("controller: no election", "group", key, "reason", reason, "code", remoting.ResponseName(res.Code), "why", res.Remark)
	}
	return res, nil
}

// masterChanged counts, logs and announces a committed change of master.
func (c *Controller) masterChanged(res Result, reason string) {
	g := res.Group
	key := groupKey(g.Cluster, g.Name)
	if g.MasterID == 0 {
		c.metrics.MastersLost.Add(1)
		c.log.Warn("controller: master lost; no live in-sync member to elect", "group", key,
			"previous", res.PrevMaster, "epoch", g.Epoch, "syncStateSet", g.SyncStateSet)
	} else {
		c.metrics.Elections.Add(1)
		if reason == reasonHandover {
			c.metrics.Handovers.Add(1)
		}
		c.log.Info("controller: master elected", "group", key, "master", g.MasterID, "previous", res.PrevMaster,
			"epoch", g.Epoch, "reason", reason, "syncStateSet", g.SyncStateSet, "syncStateSetEpoch", g.SyncStateSetEpoch)
	}
	c.notifyRoleChange(g)
}

// noteAlive records a heartbeat in the leader's memory.
func (c *Controller) noteAlive(key string, req *HeartbeatRequest, conn *apiConn) {
	c.office.mu.Lock()
	defer c.office.mu.Unlock()
	group := c.office.live[key]
	if group == nil {
		group = map[int64]*liveMember{}
		c.office.live[key] = group
	}
	group[req.BrokerID] = &liveMember{seen: time.Now(), lastEpoch: req.LastEpoch, confirmedOffset: req.ConfirmedOffset, conn: conn}
}

// aliveReports lists the members of a group heard within the election
// timeout, by id.
func (c *Controller) aliveReports(key string) []Report {
	c.office.mu.Lock()
	defer c.office.mu.Unlock()
	var out []Report
	for id, m := range c.office.live[key] {
		if time.Since(m.seen) < c.opts.ElectionTimeout {
			out = append(out, Report{ID: id, LastEpoch: m.lastEpoch, ConfirmedOffset: m.confirmedOffset})
		}
	}
	slices.SortFunc(out, func(a, b Report) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (c *Controller) liveMember(key string, id int64) (liveMember, bool) {
	c.office.mu.Lock()
	defer c.office.mu.Unlock()
	m := c.office.live[key][id]
	if m == nil || time.Since(m.seen) >= c.opts.ElectionTimeout {
		return liveMember{}, false
	}
	return *m, true
}

func (c *Controller) anyAliveInSync(g *Group) bool {
	return slices.ContainsFunc(c.aliveReports(groupKey(g.Cluster, g.Name)), func(r Report) bool { return g.InSync(r.ID) })
}

// notifyRoleChange sends NOTIFY_BROKER_ROLE_CHANGED (oneway, body a
// ReplicaInfo) on the connection each live member last heartbeated on.
// A notice that cannot be sent is dropped: the next heartbeat answer
// carries the same news.
func (c *Controller) notifyRoleChange(g *Group) {
	body, err := json.Marshal(c.replicaInfo(g))
	if err != nil {
		return
	}
	key := groupKey(g.Cluster, g.Name)
	for _, m := range g.Members {
		lm, ok := c.liveMember(key, m.ID)
		if !ok || lm.conn == nil {
			continue
		}
		req := remoting.NewRequest(remoting.RequestNotifyBrokerRoleChanged)
		req.Flag |= remoting.FlagOneway
		req.Body = body
		if lm.conn.write(req) == nil {
			c.metrics.RoleNotices.Add(1)
		}
	}
}
