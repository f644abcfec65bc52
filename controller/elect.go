package controller

import (
	"slices"

	"github.com/cometmq/comet/netio/remoting"
)

// elect chooses a new master from the live members of the in-sync set, as
// a compare-and-set on the master epoch, and bumps the epoch. The reason
// decides who may be chosen:
//
//   - expire: the master's lease has lapsed (Now >= LeaseExpiry); any live
//     in-sync member but the old master. With none, the group is left
//     without a master (epoch still bumped, so the old master is fenced).
//   - vacant: the group has no master; any live in-sync member.
//   - handover: the designated BrokerID, if it is a live in-sync member
//     other than the master.
//
// The choice prefers the newest LastEpoch, then the highest
// ConfirmedOffset, then the lowest id. The new in-sync set keeps the new
// master and the live members of the old set (an expired master leaves
// it); its epoch is bumped too.
func (s *State) elect(c *Command) Result {
	g, res := s.existing(c)
	if g == nil {
		return res
	}
	if c.Epoch != g.Epoch {
		return refuse(remoting.ResponseControllerFencedMasterEpoch, "epoch %d is not the current epoch %d", c.Epoch, g.Epoch)
	}
	if res := g.checkElection(c); res.Code != remoting.ResponseSuccess {
		return res
	}
	g.record(c.Alive)
	alive := make([]int64, 0, len(c.Alive))
	for _, r := range c.Alive {
		if g.InSync(r.ID) && !(c.Reason == reasonExpire && r.ID == g.MasterID) {
			alive = append(alive, r.ID)
		}
	}
	candidates := alive
	if c.Reason == reasonHandover {
		candidates = []int64{c.BrokerID}
	}
	prev := g.MasterID
	best := g.best(candidates)
	if best == 0 {
		if c.Reason != reasonExpire {
			return refuse(remoting.ResponseControllerElectMasterFailed, "no live member of the in-sync set %v", g.SyncStateSet)
		}
		g.MasterID, g.LeaseExpiry = 0, 0
		g.Epoch++
		res := refuse(remoting.ResponseControllerMasterNotAvailable, "the master's lease lapsed and no member of the in-sync set %v is alive", g.SyncStateSet)
		res.Group, res.MasterChanged, res.PrevMaster = g.clone(), true, prev
		return res
	}
	g.MasterID, g.LeaseExpiry = best, c.Now+c.Lease
	g.Epoch++
	g.SyncStateSet = normalizeSet(append(alive, best))
	g.SyncStateSetEpoch++
	return Result{Group: g.clone(), MasterChanged: true, PrevMaster: prev}
}

// checkElection refuses an election its reason does not allow now.
func (g *Group) checkElection(c *Command) Result {
	switch c.Reason {
	case reasonExpire:
		if g.MasterID == 0 {
			return refuse(remoting.ResponseControllerElectMasterFailed, "the group has no master whose lease could lapse")
		}
		if c.Now < g.LeaseExpiry {
			return refuse(remoting.ResponseControllerMasterStillExist, "the master's lease runs %d ns more", g.LeaseExpiry-c.Now)
		}
	case reasonVacant:
		if g.MasterID != 0 {
			return refuse(remoting.ResponseControllerMasterStillExist, "member %d is the master", g.MasterID)
		}
	case reasonHandover:
		if c.BrokerID == g.MasterID {
			return refuse(remoting.ResponseControllerMasterStillExist, "member %d is already the master", g.MasterID)
		}
		live := slices.ContainsFunc(c.Alive, func(r Report) bool { return r.ID == c.BrokerID })
		if !live || !g.InSync(c.BrokerID) {
			return refuse(remoting.ResponseControllerElectMasterFailed, "member %d is not a live member of the in-sync set %v", c.BrokerID, g.SyncStateSet)
		}
	default:
		return refuse(remoting.ResponseControllerInvalidRequest, "unknown election reason %q", c.Reason)
	}
	return Result{}
}

// best returns the preferred candidate, 0 for none.
func (g *Group) best(candidates []int64) int64 {
	var best *Member
	for _, id := range candidates {
		m := g.member(id)
		if m == nil {
			continue
		}
		if best == nil || m.LastEpoch > best.LastEpoch ||
			m.LastEpoch == best.LastEpoch && (m.ConfirmedOffset > best.ConfirmedOffset ||
				m.ConfirmedOffset == best.ConfirmedOffset && m.ID < best.ID) {
			best = m
		}
	}
	if best == nil {
		return 0
	}
	return best.ID
}
