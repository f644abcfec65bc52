package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometmq/comet/controller"
	"github.com/cometmq/comet/ha"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
)

// Controller mode: a broker started with controller addresses takes its
// role from the controller quorum (package controller) instead of
// --broker-id.
//
//   - Identity. The first start registers with id 0 and a fresh
//     registration code; the controller assigns the member id (1, 2, ...),
//     which is the broker's id in routes while it is a replica. Id and code
//     are kept in <data>/config/controller.json and sent on every later
//     registration, so a restart keeps its id.
//   - Fenced start. The broker serves no send until the controller names
//     it master: it starts as a replica with no master to follow and
//     registers with the name servers under its member id.
//   - Heartbeats, every HeartbeatInterval: the epoch the broker knows, the
//     epoch of its last durable byte and its durable log end (elections
//     prefer the highest pair). The answer is the group as the controller
//     records it: the broker becomes master (epoch file, HA server, route
//     id 0) or a replica of the named master at once, whenever the master
//     or the epoch differs from its own.
//   - The lease. A master that sent a heartbeat at its monotonic time s and
//     was granted LeaseMillis may take writes until
//     s + LeaseMillis·(1−ρ) − m (ρ = leaseDrift, m = LeaseMargin), and
//     refuses them after (SERVICE_NOT_AVAILABLE, remark [LEASE_EXPIRED]),
//     until a later answer extends it. The controller elects a successor
//     only after the lease it granted lapsed on its own clock, so the old
//     master has stopped by then. A batch whose replication wait ends after
//     the lease is refused and rolled back, never acknowledged.
//   - Fencing. A newer epoch from any source (a heartbeat answer, a
//     NOTIFY_BROKER_ROLE_CHANGED push, a replica of this master that knows
//     a newer epoch) ends the lease at once; the broker then asks the
//     controller and rejoins as a replica, truncating to its divergence
//     point with the new master in the HA handshake.
//   - The in-sync set. The HA server proposes joins and leaves; they go to
//     the controller as ALTER_SYNC_STATE_SET (master id, master epoch, set
//     epoch) and apply only once committed (SetInSync). Until then the
//     master keeps waiting for the old set. A fenced proposal makes the
//     broker re-read its group.
//   - Quorum loss. Without a controller majority no lease is renewed: the
//     master serves until its lease lapses and then refuses sends, and no
//     election happens; when the quorum returns it resumes at the same
//     epoch.

// ControllerOptions put a broker in controller mode.
type ControllerOptions struct {
	// Addrs are the controller members' addresses; empty: static roles.
	Addrs []string
	// HeartbeatInterval is how often the broker heartbeats (default 1 s).
	HeartbeatInterval time.Duration
	// LeaseMargin is m in the lease rule: a pause (GC, a stopped process)
	// the master tolerates (default 100 ms).
	LeaseMargin time.Duration
}

// Enabled reports whether the broker takes its role from a controller.
func (o ControllerOptions) Enabled() bool { return len(o.Addrs) > 0 }

// leaseDrift is ρ, the clock-rate bound of the lease rule: 10⁻³ covers
// NTP's 500 ppm slew with margin.
const leaseDrift = 1e-3

// remarkLeaseExpired starts the remark of a send refused for a lapsed lease.
const remarkLeaseExpired = "[LEASE_EXPIRED] "

// ErrLeaseExpired: a master's lease lapsed while a batch waited.
var ErrLeaseExpired = errors.New("actors: master lease expired")

func (o *ControllerOptions) setDefaults() {
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.LeaseMargin <= 0 {
		o.LeaseMargin = 100 * time.Millisecond
	}
}

func (o *ControllerOptions) validate(b *BrokerOptions) error {
	switch {
	case !o.Enabled():
		return nil
	case b.BrokerID != 0:
		return fmt.Errorf("actors: broker id %d with a controller: the controller assigns ids", b.BrokerID)
	case b.HAListen == "":
		return errors.New("actors: controller mode needs the HA listener: every member may become master")
	case o.HeartbeatInterval < 10*time.Millisecond:
		return fmt.Errorf("actors: controller heartbeat interval %s: want at least 10ms", o.HeartbeatInterval)
	}
	return nil
}

// controlStats are the broker's controller counters.
type controlStats struct {
	heartbeats, heartbeatFailures, fenced, leaseLapses atomic.Int64
	proposals, proposalsCommitted, proposalsRefused    atomic.Int64
	becameMaster                                       atomic.Int64
}

// controlAgent runs the broker's side of controller mode.
type controlAgent struct {
	b       *Broker
	opts    ControllerOptions
	client  *controller.Client
	base    time.Time    // the lease clock's origin (monotonic)
	lease   atomic.Int64 // ns since base until which the master may write; 0: none
	id      atomic.Int64 // member id, 0 until registered
	code    string
	kick    chan struct{}
	offers  chan []int64 // in-sync proposals, newest only
	stop    chan struct{}
	done    chan struct{} // closed when run returns
	running atomic.Bool   // run was started
	stats   controlStats

	mu struct {
		sync.Mutex
		registered bool
		epoch      int32 // newest master epoch known
		setEpoch   int32
		set        []int64 // the committed in-sync set
		leaseOK    bool    // for the lapse log line
		proposed   []int64 // the last proposal sent, and when
		proposedAt time.Time
	}
}

// identity is <data>/config/controller.json. Part of the format: do not
// change.
type identity struct {
	BrokerID     int64  `json:"brokerId"`
	RegisterCode string `json:"registerCode"`
}

func (a *controlAgent) identityPath() string {
	return filepath.Join(a.b.opts.DataDir, "config", "controller.json")
}

func newControlAgent(b *Broker) (*controlAgent, error) {
	a := &controlAgent{b: b, opts: b.opts.Controller, base: time.Now(), kick: make(chan struct{}, 1),
		offers: make(chan []int64, 1), stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	a.client, err = controller.NewClient(controller.ClientOptions{Addrs: a.opts.Addrs,
		CallTimeout: a.callTimeout(), Logger: b.log, OnRoleChange: a.roleNotice})
	if err != nil {
		return nil, fmt.Errorf("actors: %w", err)
	}
	id, err := a.loadIdentity()
	if err != nil {
		a.client.Close()
		return nil, err
	}
	a.id.Store(id.BrokerID)
	a.code = id.RegisterCode
	return a, nil
}

// loadIdentity reads the id and code kept from earlier starts, or makes
// and keeps a code for the first registration.
func (a *controlAgent) loadIdentity() (identity, error) {
	fsys, path := a.b.opts.FS, a.identityPath()
	var id identity
	data, err := persist.ReadFile(fsys, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		id.RegisterCode = controller.NewRegisterCode()
		return id, a.saveIdentity(id)
	case err != nil:
		return id, fmt.Errorf("actors: controller identity: %w", err)
	}
	if err := json.Unmarshal(data, &id); err != nil || id.RegisterCode == "" || id.BrokerID < 0 {
		return id, fmt.Errorf("actors: controller identity %s is damaged (%v): restore it or remove it to register as a new member", path, err)
	}
	return id, nil
}

func (a *controlAgent) saveIdentity(id identity) error {
	data, _ := json.Marshal(id)
	if err := persist.WriteFileAtomic(a.b.opts.FS, a.identityPath(), data); err != nil {
		return fmt.Errorf("actors: controller identity: %w", err)
	}
	return nil
}

// start registers, waiting for a controller when the broker has no id
// yet, so it never appears in routes under a wrong id. The loop starts
// later (replication.startAgent), once the broker is registered with the
// name servers.
func (a *controlAgent) start(ctx context.Context) error {
	if a.id.Load() == 0 {
		deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			err := a.register(deadline)
			if err == nil {
				break
			}
			if deadline.Err() != nil {
				return fmt.Errorf("actors: first registration with the controllers %v: %w", a.opts.Addrs, err)
			}
			a.b.log.Warn("actors: registration with the controllers failed; retrying", "err", err)
			select {
			case <-deadline.Done():
			case <-time.After(a.opts.HeartbeatInterval):
			}
		}
	}
	return nil
}

// close stops the loop and the client; the lease ends with it.
func (a *controlAgent) close() {
	select {
	case <-a.stop:
		return
	default:
	}
	close(a.stop)
	if a.running.Load() {
		<-a.done
	}
	a.lease.Store(0)
	a.client.Close()
}

// register tells the controller this broker's addresses and learns its
// id and group.
func (a *controlAgent) register(ctx context.Context) error {
	b := a.b
	req := controller.RegisterRequest{Cluster: b.opts.ClusterName, Group: b.opts.BrokerName, BrokerID: a.id.Load(),
		Code: a.code, Addr: b.advertise, HAAddr: b.repl.haAddr}
	resp, err := a.client.Register(ctx, req)
	var cerr *controller.Error
	if errors.As(err, &cerr) && cerr.Code == remoting.ResponseControllerBrokerMetadataNotExist && req.BrokerID != 0 {
		b.log.Warn("actors: the controllers do not know this broker's id; registering as a new member", "brokerId", req.BrokerID)
		req.BrokerID = 0
		resp, err = a.client.Register(ctx, req)
	}
	if err != nil {
		return err
	}
	if resp.BrokerID != a.id.Load() {
		if err := a.saveIdentity(identity{BrokerID: resp.BrokerID, RegisterCode: a.code}); err != nil {
			return err
		}
		a.id.Store(resp.BrokerID)
	}
	a.mu.Lock()
	a.mu.registered = true
	a.mu.Unlock()
	b.log.Info("actors: registered with the controllers", "brokerId", resp.BrokerID, "master", resp.MasterID,
		"epoch", resp.MasterEpoch, "syncStateSet", resp.SyncStateSet)
	a.apply(&resp.ReplicaInfo, 0, time.Time{})
	return nil
}

// run heartbeats every interval, at once when kicked, and sends in-sync
// proposals, until close.
func (a *controlAgent) run() {
	defer close(a.done)
	t := time.NewTicker(a.opts.HeartbeatInterval)
	defer t.Stop()
	a.beat()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		case <-a.kick:
		case ids := <-a.offers:
			a.proposeInSync(ids)
			continue
		}
		a.beat()
	}
}

// callTimeout bounds one call to the controllers: a slow answer to a
// heartbeat still extends the lease from when it was sent, so it is worth
// waiting for longer than one interval.
func (a *controlAgent) callTimeout() time.Duration {
	return max(2*a.opts.HeartbeatInterval, time.Second)
}

// beat registers if needed, then heartbeats and applies the answer.
func (a *controlAgent) beat() {
	ctx, cancel := context.WithTimeout(context.Background(), a.callTimeout())
	defer cancel()
	a.mu.Lock()
	registered, epoch := a.mu.registered, a.mu.epoch
	a.mu.Unlock()
	if !registered {
		if err := a.register(ctx); err != nil {
			a.stats.heartbeatFailures.Add(1)
			a.b.log.Warn("actors: registration with the controllers failed; retrying", "err", err)
		}
		return
	}
	durable := a.b.store.DurableOffset()
	req := controller.HeartbeatRequest{Cluster: a.b.opts.ClusterName, Group: a.b.opts.BrokerName, BrokerID: a.id.Load(),
		MasterEpoch: epoch, LastEpoch: int32(a.b.repl.epochs.lastEpoch(durable)), ConfirmedOffset: durable}
	sent := time.Now()
	resp, err := a.client.Heartbeat(ctx, req)
	a.stats.heartbeats.Add(1)
	if err != nil {
		a.stats.heartbeatFailures.Add(1)
		var cerr *controller.Error
		if errors.As(err, &cerr) && cerr.Code == remoting.ResponseControllerBrokerNeedToBeRegistered {
			a.mu.Lock()
			a.mu.registered = false
			a.mu.Unlock()
		}
		a.b.log.Warn("actors: controller heartbeat failed", "err", err, "leaseLeft", a.leaseLeft().Round(time.Millisecond))
		a.noteLapse()
		return
	}
	a.apply(&resp.ReplicaInfo, resp.LeaseMillis, sent)
}

// apply makes the broker's role match the group as the controller records
// it; a master's lease is extended by leaseMillis from sent.
func (a *controlAgent) apply(info *controller.ReplicaInfo, leaseMillis int64, sent time.Time) {
	a.mu.Lock()
	if info.MasterEpoch < a.mu.epoch {
		a.mu.Unlock()
		return // an answer older than what the broker already knows
	}
	newer := info.MasterEpoch > a.mu.epoch
	a.mu.epoch = info.MasterEpoch
	setChanged := info.SyncStateSetEpoch != a.mu.setEpoch || !slices.Equal(info.SyncStateSet, a.mu.set)
	a.mu.setEpoch, a.mu.set = info.SyncStateSetEpoch, slices.Clone(info.SyncStateSet)
	a.mu.Unlock()
	id := a.id.Load()
	role := a.b.Role()
	if info.MasterID != id || id == 0 {
		a.follow(info, role, newer)
		return
	}
	if !role.Master || role.Epoch != int64(info.MasterEpoch) {
		a.lease.Store(0)
		if err := a.b.BecomeMaster(int64(info.MasterEpoch)); err != nil {
			a.b.log.Error("actors: cannot become master as the controller says; staying fenced", "epoch", info.MasterEpoch, "err", err)
			return
		}
		a.stats.becameMaster.Add(1)
		setChanged = true
		if leaseMillis == 0 {
			// The answer came before this broker knew its epoch (a notice,
			// a registration): the next heartbeat, now, brings the lease.
			a.kickNow()
		}
	}
	if setChanged {
		a.b.SetInSync(slices.DeleteFunc(slices.Clone(info.SyncStateSet), func(m int64) bool { return m == id }))
	}
	if leaseMillis > 0 {
		a.extendLease(sent, leaseMillis)
	}
}

// follow makes the broker a replica of the group's master (or of nobody,
// while the group has none).
func (a *controlAgent) follow(info *controller.ReplicaInfo, role Role, newer bool) {
	masterHA := info.MasterHAAddr
	if info.MasterID == 0 {
		masterHA = ""
	}
	if role.Master || newer {
		a.fence(int64(info.MasterEpoch), "the controller names another master")
	}
	if !role.Master && role.Epoch == int64(info.MasterEpoch) && role.MasterHA == masterHA {
		return
	}
	if role.Master || masterHA != "" || role.MasterHA != "" {
		if err := a.b.BecomeReplica(masterHA, int64(info.MasterEpoch)); err != nil && !errors.Is(err, ErrStopped) {
			a.b.log.Error("actors: cannot become a replica as the controller says", "master", info.MasterID, "err", err)
		}
	}
}

// fence ends the lease at once: a newer epoch exists.
func (a *controlAgent) fence(epoch int64, why string) {
	if a.lease.Swap(0) != 0 || a.b.Role().Master {
		a.stats.fenced.Add(1)
		a.b.log.Warn("actors: fenced: this broker takes no more writes", "epoch", epoch, "why", why)
	}
}

func (a *controlAgent) now() int64 { return int64(time.Since(a.base)) }

// extendLease applies the lease rule to a grant of leaseMillis answered
// to a heartbeat sent at sent.
func (a *controlAgent) extendLease(sent time.Time, leaseMillis int64) {
	grant := time.Duration(float64(time.Duration(leaseMillis)*time.Millisecond)*(1-leaseDrift)) - a.opts.LeaseMargin
	until := int64(sent.Sub(a.base) + grant)
	for {
		cur := a.lease.Load()
		if until <= cur || a.lease.CompareAndSwap(cur, until) {
			break
		}
	}
	a.mu.Lock()
	a.mu.leaseOK = true
	a.mu.Unlock()
}

// leaseLeft is how long the master may still write (0 when it may not).
func (a *controlAgent) leaseLeft() time.Duration {
	return time.Duration(max(0, a.lease.Load()-a.now()))
}

// waitLeased is replication.Wait for a master in controller mode: the
// in-sync set must hold end before the lease lapses (a renewal meanwhile
// extends the wait), or the batch is refused.
func (a *controlAgent) waitLeased(r *replication, end int64) error {
	for {
		left := a.leaseLeft()
		if left <= 0 {
			return fmt.Errorf("%w: the batch is not acknowledged", ErrLeaseExpired)
		}
		if !r.Synchronous() {
			return nil
		}
		err := r.server.WaitUntil(end, time.Now().Add(left))
		if !errors.Is(err, ha.ErrWaitTimeout) {
			return err
		}
	}
}

// leaseValid reports whether the master may take writes now.
func (a *controlAgent) leaseValid() bool { return a.now() < a.lease.Load() }

// noteLapse logs once when a master's lease runs out unrenewed.
func (a *controlAgent) noteLapse() {
	if !a.b.Role().Master || a.leaseValid() {
		return
	}
	a.mu.Lock()
	was := a.mu.leaseOK
	a.mu.leaseOK = false
	a.mu.Unlock()
	if was {
		a.stats.leaseLapses.Add(1)
		a.b.log.Warn("actors: master lease lapsed unrenewed; refusing sends until the controller answers")
	}
}

// roleNotice takes a NOTIFY_BROKER_ROLE_CHANGED push: a newer epoch
// naming someone else ends the lease now; the heartbeat that follows at
// once brings the whole answer.
func (a *controlAgent) roleNotice(info controller.ReplicaInfo) {
	a.mu.Lock()
	newer := info.MasterEpoch > a.mu.epoch
	a.mu.Unlock()
	if newer && info.MasterID != a.id.Load() {
		a.fence(int64(info.MasterEpoch), "role-change notice")
	}
	a.kickNow()
}

// fencedByReplica hears from the HA server that a replica knows a newer
// epoch than this master.
func (a *controlAgent) fencedByReplica(epoch int64) {
	a.fence(epoch, "a replica knows a newer epoch")
	a.kickNow()
}

func (a *controlAgent) kickNow() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// offer queues an in-sync proposal from the HA server (which holds its
// lock): it never blocks, and a newer proposal replaces an unsent one.
func (a *controlAgent) offer(ids []int64) {
	ids = slices.Clone(ids)
	for {
		select {
		case a.offers <- ids:
			return
		default:
		}
		select {
		case <-a.offers:
		default:
		}
	}
}

// proposeRepeatGap spaces proposals of the same set: the HA server offers
// a join on every acknowledgement of a caught-up replica.
const proposeRepeatGap = 500 * time.Millisecond

// proposeInSync asks the controller to make the in-sync set the master
// and ids; a committed answer applies at once.
func (a *controlAgent) proposeInSync(ids []int64) {
	id := a.id.Load()
	set := append(slices.Clone(ids), id)
	slices.Sort(set)
	set = slices.Compact(set)
	a.mu.Lock()
	epoch, setEpoch, current := a.mu.epoch, a.mu.setEpoch, a.mu.set
	repeat := slices.Equal(set, a.mu.proposed) && time.Since(a.mu.proposedAt) < proposeRepeatGap
	if !repeat {
		a.mu.proposed, a.mu.proposedAt = set, time.Now()
	}
	a.mu.Unlock()
	if slices.Equal(set, current) || repeat || !a.b.Role().Master {
		return
	}
	a.stats.proposals.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), a.callTimeout())
	defer cancel()
	info, err := a.client.AlterSyncStateSet(ctx, controller.AlterSyncStateSetRequest{Cluster: a.b.opts.ClusterName,
		Group: a.b.opts.BrokerName, MasterID: id, MasterEpoch: epoch, SyncStateSetEpoch: setEpoch, SyncStateSet: set})
	if err != nil {
		a.stats.proposalsRefused.Add(1)
		a.b.log.Warn("actors: in-sync set change not committed", "proposed", set, "current", current, "err", err)
		if errors.Is(err, controller.ErrFenced) {
			a.kickNow()
		}
		return
	}
	a.stats.proposalsCommitted.Add(1)
	a.b.log.Info("actors: in-sync set changed", "syncStateSet", info.SyncStateSet, "syncStateSetEpoch", info.SyncStateSetEpoch,
		"previous", current, "epoch", info.MasterEpoch)
	a.apply(info, 0, time.Time{})
}
