package controller

import (
	"fmt"

	"github.com/cometmq/comet/netio/remoting"
)

// renewBelow: a master's heartbeat commits a renewal only when its lease
// has less than this share of ElectionTimeout left, so a chatty broker
// costs no more than a few log entries per lease.
const renewBelowNum, renewBelowDen = 3, 4

func (c *Controller) lease() int64 { return int64(c.opts.ElectionTimeout) }

func (c *Controller) handleRegister(body []byte) (any, error) {
	var req RegisterRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	res, err := c.propose(&Command{Op: opRegister, Cluster: req.Cluster, Group: req.Group, BrokerID: req.BrokerID,
		Code: req.Code, Addr: req.Addr, HAAddr: req.HAAddr, Now: c.now(), Lease: c.lease()})
	if err != nil {
		return nil, err
	}
	if err := refusal(res); err != nil {
		return nil, err
	}
	c.log.Info("controller: broker registered", "group", groupKey(req.Cluster, req.Group), "brokerId", res.BrokerID,
		"addr", req.Addr, "haAddr", req.HAAddr)
	if res.MasterChanged {
		c.masterChanged(res, "first member")
	}
	return &RegisterResponse{BrokerID: res.BrokerID, ReplicaInfo: c.replicaInfo(res.Group)}, nil
}

// handleHeartbeat records the member alive and, for the master at the
// current epoch, renews its lease when it runs low. The answer tells the
// member its role and, for the master, how long its lease still runs.
func (c *Controller) handleHeartbeat(body []byte, conn *apiConn) (any, error) {
	var req HeartbeatRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	key := groupKey(req.Cluster, req.Group)
	g := c.fsm.group(req.Cluster, req.Group)
	if g == nil || g.member(req.BrokerID) == nil {
		return nil, &Error{Code: remoting.ResponseControllerBrokerNeedToBeRegistered,
			Remark: fmt.Sprintf("group %s has no member %d", key, req.BrokerID)}
	}
	c.noteAlive(key, &req, conn)
	isMaster := req.BrokerID == g.MasterID && req.MasterEpoch == g.Epoch
	if isMaster && (g.LeaseExpiry-c.now())*renewBelowDen < c.lease()*renewBelowNum {
		res, err := c.propose(&Command{Op: opHeartbeat, Cluster: req.Cluster, Group: req.Group, BrokerID: req.BrokerID,
			Epoch: req.MasterEpoch, Alive: c.aliveReports(key), Now: c.now(), Lease: c.lease()})
		if err != nil {
			return nil, err
		}
		if res.Group != nil {
			g = res.Group
		} else if g = c.fsm.group(req.Cluster, req.Group); g == nil {
			return nil, refusal(res)
		}
		isMaster = req.BrokerID == g.MasterID && req.MasterEpoch == g.Epoch
	}
	resp := &HeartbeatResponse{Role: RoleReplica, ReplicaInfo: c.replicaInfo(g)}
	if req.BrokerID == g.MasterID {
		resp.Role = RoleMaster
	}
	if isMaster {
		resp.LeaseMillis = max(0, (g.LeaseExpiry-c.now())/1e6)
	}
	return resp, nil
}

func (c *Controller) handleReplicaInfo(body []byte) (any, error) {
	var req GroupRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	if err := c.verifyLeader(); err != nil {
		return nil, err
	}
	g := c.fsm.group(req.Cluster, req.Group)
	if g == nil {
		return nil, &Error{Code: remoting.ResponseControllerBrokerMetadataNotExist,
			Remark: fmt.Sprintf("group %s is not registered", groupKey(req.Cluster, req.Group))}
	}
	info := c.replicaInfo(g)
	return &info, nil
}

// handleAlterSyncStateSet commits an in-sync set change from the master;
// the command carries who is alive, and the replicated state checks the
// epochs, the membership and the liveness of joining members.
func (c *Controller) handleAlterSyncStateSet(body []byte) (any, error) {
	var req AlterSyncStateSetRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	key := groupKey(req.Cluster, req.Group)
	res, err := c.propose(&Command{Op: opAlterSyncStateSet, Cluster: req.Cluster, Group: req.Group, BrokerID: req.MasterID,
		Epoch: req.MasterEpoch, SetEpoch: req.SyncStateSetEpoch, Set: req.SyncStateSet, Alive: c.aliveReports(key)})
	if err != nil {
		return nil, err
	}
	if err := refusal(res); err != nil {
		return nil, err
	}
	c.metrics.SetChanges.Add(1)
	c.log.Info("controller: in-sync set changed", "group", key, "master", res.Group.MasterID, "epoch", res.Group.Epoch,
		"syncStateSet", res.Group.SyncStateSet, "syncStateSetEpoch", res.Group.SyncStateSetEpoch)
	info := c.replicaInfo(res.Group)
	return &info, nil
}

// handleElectMaster runs a vacant-group election (BrokerID 0) or hands
// mastership to the named member.
func (c *Controller) handleElectMaster(body []byte) (any, error) {
	var req ElectMasterRequest
	if err := decodeBody(body, &req); err != nil {
		return nil, err
	}
	g := c.fsm.group(req.Cluster, req.Group)
	if g == nil {
		return nil, &Error{Code: remoting.ResponseControllerBrokerMetadataNotExist,
			Remark: fmt.Sprintf("group %s is not registered", groupKey(req.Cluster, req.Group))}
	}
	reason := reasonVacant
	if req.BrokerID != 0 {
		reason = reasonHandover
	}
	res, err := c.runElection(g, reason, req.BrokerID)
	if err != nil {
		return nil, err
	}
	if err := refusal(res); err != nil {
		return nil, err
	}
	info := c.replicaInfo(res.Group)
	return &info, nil
}

func (c *Controller) handleSyncStateData(body []byte) (any, error) {
	var req SyncStateDataRequest
	if len(body) > 0 {
		if err := decodeBody(body, &req); err != nil {
			return nil, err
		}
	}
	if err := c.verifyLeader(); err != nil {
		return nil, err
	}
	out := &SyncStateData{Groups: []ReplicaInfo{}}
	for _, g := range c.fsm.groups(req.Cluster) {
		out.Groups = append(out.Groups, c.replicaInfo(g))
	}
	return out, nil
}

// verifyLeader confirms leadership with a quorum round before a read, so a
// deposed leader never answers from stale state.
func (c *Controller) verifyLeader() error {
	if err := c.raft.VerifyLeader().Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return nil
}

// replicaInfo renders a group for the wire, with the leader's fresher
// liveness and reports where it has them.
func (c *Controller) replicaInfo(g *Group) ReplicaInfo {
	key := groupKey(g.Cluster, g.Name)
	info := ReplicaInfo{Cluster: g.Cluster, Group: g.Name, MasterID: g.MasterID, MasterEpoch: g.Epoch,
		SyncStateSet: append([]int64{}, g.SyncStateSet...), SyncStateSetEpoch: g.SyncStateSetEpoch, Members: []MemberInfo{}}
	for _, m := range g.Members {
		mi := MemberInfo{ID: m.ID, Addr: m.Addr, HAAddr: m.HAAddr, LastEpoch: m.LastEpoch,
			ConfirmedOffset: m.ConfirmedOffset, InSync: g.InSync(m.ID)}
		if lm, ok := c.liveMember(key, m.ID); ok {
			mi.Alive, mi.LastEpoch, mi.ConfirmedOffset = true, lm.lastEpoch, lm.confirmedOffset
		}
		if m.ID == g.MasterID {
			info.MasterAddr, info.MasterHAAddr = m.Addr, m.HAAddr
		}
		info.Members = append(info.Members, mi)
	}
	return info
}
