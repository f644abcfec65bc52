package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cometmq/comet/ha"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

// Replication: brokers sharing a broker name form a group of one master
// (broker id 0 in routes) and replicas (id >= 1). The master ships its
// commit log byte for byte over the HA transport (package ha); a replica
// appends the bytes at the same offsets and rebuilds consume queues, the
// key index, timers and transaction state from them with the code
// recovery uses, so its log is byte-identical to the master's up to the
// replicated offset.
//
// Roles. The broker holds an explicit role (master or replica) and an
// epoch. Static roles (--broker-id) fix it at start; BecomeMaster and
// BecomeReplica change it at runtime, for a controller to drive. A replica
// refuses sends (SERVICE_NOT_AVAILABLE: the official client retries it on
// another broker name), never appends from clients, timers or
// transactions, serves pulls, finds its master's HA address through the
// name server's REGISTER_BROKER answer and registers with its own id, so
// routes carry every member.
//
// Modes. Async replication acknowledges after the local write (and flush)
// as RocketMQ's ASYNC_MASTER; replicas follow as fast as they can and
// consumers may read records the replicas do not hold yet. Sync
// replication acknowledges a batch only once every member of the in-sync
// set holds it (synced, under sync flush): the writer hands the batch to
// the file, wakes the HA senders, syncs locally while they ship it, and
// then waits for the in-sync set, one replication round trip per batch as
// one fsync per batch. Only then is the batch published, so consumers see
// only records the whole set holds (the high-water mark). A send arriving
// while the set is smaller than --min-insync-replicas is refused before it
// is stored, with SERVICE_NOT_AVAILABLE and a remark starting
// [IN_SYNC_REPLICAS_NOT_ENOUGH]: the code RocketMQ uses for "this broker
// cannot store now", which v2.1.2's producer retries on another broker,
// whereas SLAVE_NOT_AVAILABLE and FLUSH_SLAVE_TIMEOUT would be reported as
// stored. A batch whose in-sync set shrank below the minimum while it
// waited is rolled back (the replicas that got it truncate it when they
// reconnect) and refused the same way: it is never acknowledged.
//
// Metadata. The topic table and the consumer-offset table (which holds
// the timer and transaction cursors) are sent to replicas whenever they
// change, checked every 200 ms, so committed offsets on a replica trail
// the master's by at most that plus one round trip. Subscription groups
// are not stored by the broker (they come from live heartbeats), so
// nothing of them is replicated.

// ReplicationMode says when a send is acknowledged relative to replicas.
type ReplicationMode int

const (
	// ReplicationAsync acknowledges after the local write (ASYNC_MASTER).
	ReplicationAsync ReplicationMode = iota
	// ReplicationSync acknowledges once every in-sync member holds the batch.
	ReplicationSync
)

// ParseReplicationMode maps "async"/"sync" to a mode.
func ParseReplicationMode(s string) (ReplicationMode, error) {
	switch s {
	case "async", "ASYNC_MASTER":
		return ReplicationAsync, nil
	case "sync", "SYNC_MASTER":
		return ReplicationSync, nil
	}
	return 0, fmt.Errorf("actors: replication mode %q: want async or sync", s)
}

func (m ReplicationMode) String() string {
	if m == ReplicationSync {
		return "sync"
	}
	return "async"
}

// Metadata blob kinds on the HA transport.
const (
	metaTopics  byte = 1
	metaOffsets byte = 2
)

// remarkNotEnoughReplicas starts the remark of a send refused for a small
// in-sync set.
const remarkNotEnoughReplicas = "[IN_SYNC_REPLICAS_NOT_ENOUGH] "

// Errors of role changes and appends.
var (
	// ErrReplica is returned for appends on a broker whose role is replica.
	ErrReplica = errors.New("actors: broker is a replica")
	// ErrStopped is returned for a role change of a stopping broker.
	ErrStopped = errors.New("actors: broker stopping")
)

// ReplicationHooks connect a broker's replication to a controller.
type ReplicationHooks struct {
	// ProposeInSync, when set, receives the in-sync set (replica ids) the
	// master would move to: a replica caught up, or one lagging past
	// --replica-lag-max. The master keeps waiting for the old set until
	// the controller commits the change and calls SetInSync.
	ProposeInSync func(replicaIDs []int64)
	// OnFenced hears of a replica that knows a newer epoch than this
	// master: the controller elected another master.
	OnFenced func(epoch int64)
}

// SetInSync installs the in-sync set (replica ids; the master is always a
// member) as the controller committed it.
func (b *Broker) SetInSync(replicaIDs []int64) {
	if s := b.repl.server; s != nil {
		s.SetInSync(replicaIDs)
	}
}

// Role is the broker's replication role.
type Role struct {
	Master bool
	Epoch  int64
	// MasterHA is the master's HA address a replica was told to use; ""
	// means: ask the name server.
	MasterHA string
}

// replication owns the broker's role, its HA server and, in the replica
// role, its HA client.
type replication struct {
	b      *Broker
	mode   ReplicationMode
	server *ha.Server // nil when --ha-listen is empty
	haAddr string     // advertised HA address; "" without a server
	role   atomic.Pointer[Role]

	mu      sync.Mutex // role changes
	client  *ha.Client
	stopped bool // the broker is stopping: no new fetch loop

	roleChanges, refused atomic.Int64
	meta                 metaCache
	epochs               *epochState
	agent                *controlAgent // controller mode only
}

func newReplication(b *Broker) (*replication, error) {
	r := &replication{b: b, mode: b.opts.Replication}
	r.role.Store(&Role{Master: false})
	var err error
	if r.epochs, err = openEpochs(b); err != nil {
		return nil, err
	}
	if b.opts.Controller.Enabled() {
		if r.agent, err = newControlAgent(b); err != nil {
			return nil, err
		}
	}
	if b.opts.HAListen == "" {
		return r, nil
	}
	srv, err := ha.NewServer(ha.ServerOptions{
		Listen: b.opts.HAListen, BrokerName: b.opts.BrokerName, Source: b.store,
		SegmentSize: b.segmentSize(), SyncFlush: b.opts.Flush == FlushSync,
		MinInSync: b.opts.MinInSyncReplicas, LagMax: b.opts.ReplicaLagMax,
		Metadata: r.metadata, Logger: b.log, ProposeInSync: r.proposeHook(), Epochs: r.epochs.haEntries,
		OnFenced: func(epoch int64) {
			b.log.Warn("actors: a replica knows a newer epoch; this master is stale", "epoch", epoch)
			if r.agent != nil {
				r.agent.fencedByReplica(epoch)
			}
			if fn := b.opts.ReplicationHooks.OnFenced; fn != nil {
				fn(epoch)
			}
		},
	})
	if err != nil {
		if r.agent != nil {
			r.agent.close()
		}
		return nil, &ListenError{Option: "HAListen", Addr: b.opts.HAListen, Err: err}
	}
	r.server = srv
	r.haAddr = advertisedHA(srv.Addr(), b.advertise)
	if b.opts.HAAdvertise != "" {
		r.haAddr = b.opts.HAAdvertise
	}
	srv.Start()
	return r, nil
}

// advertisedHA is the HA address replicas dial: the bound port with the
// broker's advertised IP when the listener is on an unspecified address.
func advertisedHA(bound, advertise string) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if ah, _, err := net.SplitHostPort(advertise); err == nil {
			return net.JoinHostPort(ah, port)
		}
	}
	return bound
}

func (b *Broker) segmentSize() int64 {
	if b.opts.SegmentSize > 0 {
		return b.opts.SegmentSize
	}
	return 1 << 30
}

// proposeHook is where the HA server sends in-sync proposals: the
// controller agent, or the caller's hook.
func (r *replication) proposeHook() func([]int64) {
	if r.agent != nil {
		return r.agent.offer
	}
	return r.b.opts.ReplicationHooks.ProposeInSync
}

// startRole takes the static role of --broker-id or, in controller mode,
// starts fenced and registers with the controllers (controlled.go).
func (r *replication) startRole() error {
	if r.agent != nil {
		r.roleChanges.Add(1) // the fenced start is the role taken at start
		return r.agent.start(context.Background())
	}
	if r.b.opts.BrokerID == routing.MasterID {
		return r.b.BecomeMaster(0)
	}
	return r.b.BecomeReplica("", 0)
}

// Role returns the broker's current role.
func (b *Broker) Role() Role { return *b.repl.role.Load() }

// HAAddr is the advertised HA address ("" when the HA server is off).
func (b *Broker) HAAddr() string { return b.repl.haAddr }

func (r *replication) master() bool { return r.role.Load().Master }

// routeID is the broker id this broker registers with: 0 as master, its
// replica id as replica.
func (r *replication) routeID() int64 {
	if r.master() {
		return routing.MasterID
	}
	return r.replicaID()
}

// replicaID is the configured id (at least 1), or in controller mode the
// member id the controller assigned.
func (r *replication) replicaID() int64 {
	if r.agent != nil {
		if id := r.agent.id.Load(); id > 0 {
			return id
		}
	}
	return max(r.b.opts.BrokerID, 1)
}

// BecomeMaster makes the broker the master of its group at epoch: the
// replica fetch loop stops (nothing is appended after it returns), what
// was replicated is synced, the HA server accepts replicas, timers and
// transactions reload their state from the replicated queues and
// cursors, and the broker registers as id 0.
func (b *Broker) BecomeMaster(epoch int64) error {
	r := b.repl
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.client; c != nil {
		c.Stop()
		r.client = nil
	}
	if err := b.writer.HoldTail(func() error {
		if err := b.store.Sync(); err != nil {
			return err
		}
		return r.epochs.file.Begin(epoch, b.store.WrittenOffset())
	}); err != nil {
		return fmt.Errorf("actors: becoming master at epoch %d: %w", epoch, err)
	}
	if r.server != nil {
		r.server.SetMaster(epoch)
	} else if r.mode == ReplicationSync {
		return errors.New("actors: sync replication needs the HA server (--ha-listen)")
	}
	old := r.role.Swap(&Role{Master: true, Epoch: epoch})
	if r.roleChanges.Add(1) > 1 { // a change at runtime, not the role taken at start
		b.sendTimers(&roleChanged{})
		b.sendTxns(&roleChanged{})
	}
	b.log.Info("actors: role changed", "role", "master", "epoch", epoch, "wasMaster", old.Master,
		"previousEpoch", old.Epoch, "logEnd", b.store.WrittenOffset(), "replication", r.mode.String(), "ha", r.haAddr)
	return b.reregister()
}

// BecomeReplica makes the broker a replica at epoch: sends are refused
// from now on, any batch in flight completes, the HA server drops its
// replicas, and the fetch loop replicates from masterHA ("" asks the name
// server) under the broker's replica id.
func (b *Broker) BecomeReplica(masterHA string, epoch int64) error {
	r := b.repl
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.role.Swap(&Role{Master: false, Epoch: epoch, MasterHA: masterHA})
	if r.server != nil {
		r.server.SetReplica(epoch)
	}
	if err := b.writer.HoldTail(func() error { return nil }); err != nil { // no batch in flight
		return err
	}
	if c := r.client; c != nil {
		c.Stop()
		r.client = nil
	}
	if r.stopped {
		return ErrStopped
	}
	c, err := ha.NewClient(ha.ClientOptions{
		BrokerName: b.opts.BrokerName, BrokerID: r.replicaID(), Epoch: epoch,
		SegmentSize: b.segmentSize(), Master: r.masterHA, Sink: replicaSink{b: b},
		SyncFlush: b.opts.Flush == FlushSync, ApplyMeta: b.applyMeta, Logger: b.log,
		Epochs: r.epochs.haEntries, MasterEpochs: r.epochs.learnMaster,
	})
	if err != nil {
		return fmt.Errorf("actors: %w", err)
	}
	r.client = c
	c.Start()
	r.roleChanges.Add(1)
	b.log.Info("actors: role changed", "role", "replica", "epoch", epoch, "wasMaster", old.Master,
		"previousEpoch", old.Epoch, "master", masterHA, "logEnd", b.store.WrittenOffset())
	return b.reregister()
}

// masterHA is the address the replica dials: the one it was given, or the
// name server's answer to its registration (asking again while unknown).
func (r *replication) masterHA() string {
	if addr := r.role.Load().MasterHA; addr != "" || r.agent != nil {
		return addr // the controller names the master; nobody while it names none
	}
	reg := r.b.registrar.Load()
	if reg == nil {
		return ""
	}
	if _, addr := reg.Master(); addr != "" {
		return addr
	}
	reg.RegisterNow()
	return ""
}

// reregister replaces the name-server registration with one under the
// current route id (the old one is unregistered).
func (b *Broker) reregister() error {
	old := b.registrar.Swap(nil)
	if old == nil && b.rmClient == nil {
		return nil // not registered yet: Start registers with the right id
	}
	if old != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		old.Stop(ctx)
		cancel()
	}
	if b.rmClient != nil {
		b.rmClient.Close()
		b.rmClient = nil
	}
	return b.startRegistrar(context.Background())
}

// writeRefusal says why this broker cannot take a send now, before
// anything is stored: it is a replica, or sync replication has fewer
// in-sync members than the minimum.
func (b *Broker) writeRefusal() (int16, string) {
	r := b.repl
	role := r.role.Load()
	if !role.Master {
		r.refused.Add(1)
		return remoting.ResponseServiceNotAvailable, fmt.Sprintf("broker %s id %d is a replica (epoch %d); send to its master",
			b.opts.BrokerName, r.routeID(), role.Epoch)
	}
	if r.agent != nil && !r.agent.leaseValid() {
		r.refused.Add(1)
		return remoting.ResponseServiceNotAvailable, fmt.Sprintf("%smaster %s (epoch %d) holds no valid lease from the controllers; nothing was stored",
			remarkLeaseExpired, b.opts.BrokerName, role.Epoch)
	}
	if r.mode != ReplicationSync || r.server == nil {
		return remoting.ResponseSuccess, ""
	}
	if n, need := r.server.InSyncCount(), b.opts.MinInSyncReplicas; n < need {
		r.refused.Add(1)
		return remoting.ResponseServiceNotAvailable, fmt.Sprintf("%sin-sync set of %d (master included) is below min-insync-replicas %d; nothing was stored",
			remarkNotEnoughReplicas, n, need)
	}
	return remoting.ResponseSuccess, ""
}

// appendErrorCode is the response code of a failed append.
func appendErrorCode(err error) (int16, string) {
	switch {
	case errors.Is(err, ha.ErrNotEnoughReplicas):
		return remoting.ResponseServiceNotAvailable, remarkNotEnoughReplicas + err.Error()
	case errors.Is(err, ErrLeaseExpired):
		return remoting.ResponseServiceNotAvailable, remarkLeaseExpired + err.Error()
	case errors.Is(err, ha.ErrNotMaster), errors.Is(err, ha.ErrClosed), errors.Is(err, ErrReplica), errors.Is(err, persist.ErrDiskFull):
		return remoting.ResponseServiceNotAvailable, "store: " + err.Error()
	case errors.Is(err, persist.ErrMessageTooLarge), errors.Is(err, persist.ErrUnsafeName):
		return remoting.ResponseMessageIllegal, "store: " + err.Error()
	}
	return remoting.ResponseSystemError, "store: " + err.Error()
}

// The writer's view of replication (WriterReplication).

// Written wakes the HA senders: the batch is in the file.
func (r *replication) Written() {
	if r.server != nil {
		r.server.Notify()
	}
}

// Synchronous reports whether the writer waits for replicas.
func (r *replication) Synchronous() bool { return r.mode == ReplicationSync && r.server != nil }

// Wait blocks until the in-sync set holds the log up to end (sync
// replication); async replication never waits.
func (r *replication) Wait(end int64) error {
	if !r.master() {
		return fmt.Errorf("%w: append refused", ErrReplica)
	}
	if r.agent != nil {
		return r.agent.waitLeased(r, end)
	}
	if r.Synchronous() {
		return r.server.Wait(end)
	}
	return nil
}

// RolledBack tells the replicas that got a rolled-back batch to resync.
func (r *replication) RolledBack() {
	if r.server != nil && r.Synchronous() {
		r.server.Reset()
	}
}

// Writable refuses appends on a replica.
func (r *replication) Writable() error {
	if !r.master() {
		return ErrReplica
	}
	if r.agent != nil && !r.agent.leaseValid() {
		return ErrLeaseExpired
	}
	return nil
}

// startAgent runs the controller agent's loop (controller mode), once the
// broker serves and is registered with the name servers.
func (r *replication) startAgent() {
	if r.agent != nil {
		r.agent.running.Store(true)
		go r.agent.run()
	}
}

// stopClient ends the controller agent and the replica fetch loop for
// good.
func (r *replication) stopClient() {
	if r.agent != nil {
		r.agent.close() // outside r.mu: the agent may be changing the role
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		r.client.Stop()
		r.client = nil
	}
	r.stopped = true
}

// closeServer closes the HA server: replicas disconnect, waiters fail.
func (r *replication) closeServer() {
	if r.server != nil {
		r.server.Close()
	}
}

// replicaSink writes replicated bytes through the writer's role and wakes
// the pulls parked on the queues they extend.
type replicaSink struct{ b *Broker }

func (s replicaSink) WrittenOffset() int64 { return s.b.store.WrittenOffset() }
func (s replicaSink) DurableOffset() int64 { return s.b.store.DurableOffset() }
func (s replicaSink) Sync() error          { return s.b.writer.HoldTail(s.b.store.Sync) }
func (s replicaSink) Truncate(offset int64) error {
	return s.b.writer.HoldTail(func() error {
		if err := s.b.store.TruncateTo(offset); err != nil {
			return err
		}
		return s.b.repl.epochs.file.TruncateFrom(offset)
	})
}

func (s replicaSink) Append(offset int64, data []byte, sync bool) error {
	if len(data) > 0 {
		if err := s.b.repl.epochs.beforeAppend(offset + int64(len(data))); err != nil {
			return err
		}
	}
	return s.b.writer.HoldTail(func() error {
		d, err := s.b.store.AppendReplicated(offset, data, sync)
		if len(d) > 0 {
			s.b.hold.notify(d)
		}
		return err
	})
}

func (o *BrokerOptions) setReplicationDefaults() {
	o.Controller.setDefaults()
	if o.MinInSyncReplicas == 0 {
		o.MinInSyncReplicas = 1
	}
	if o.ReplicaLagMax == 0 {
		o.ReplicaLagMax = 10 * time.Second
	}
	if o.ReplicaReadLagBytes == 0 {
		o.ReplicaReadLagBytes = defaultReplicaReadLag()
	}
}

func (o *BrokerOptions) validateReplication() error {
	switch {
	case o.BrokerID < 0:
		return fmt.Errorf("actors: broker id %d is negative", o.BrokerID)
	case o.MinInSyncReplicas < 1:
		return fmt.Errorf("actors: min in-sync replicas %d: want at least 1 (the master)", o.MinInSyncReplicas)
	case o.Replication == ReplicationSync && o.HAListen == "":
		return errors.New("actors: sync replication needs the HA listener")
	case o.Replication != ReplicationSync && o.MinInSyncReplicas > 1:
		return fmt.Errorf("actors: min in-sync replicas %d only applies to sync replication", o.MinInSyncReplicas)
	case o.ReplicaLagMax < 100*time.Millisecond:
		return fmt.Errorf("actors: replica lag max %s: want at least 100ms", o.ReplicaLagMax)
	}
	if err := o.Controller.validate(o); err != nil {
		return err
	}
	if o.HAListen != "" {
		if _, _, err := net.SplitHostPort(o.HAListen); err != nil {
			return fmt.Errorf("actors: HA listen address %q: %w", o.HAListen, err)
		}
	}
	if o.HAAdvertise != "" {
		if _, err := parseIPv4HostPort(o.HAAdvertise); err != nil {
			return fmt.Errorf("actors: HA advertise address: %w", err)
		}
	}
	return nil
}

// defaultReplicaReadLag is 40% of physical memory (RocketMQ's
// accessMessageInMemoryMaxRatio): a consumer further behind than that
// reads from disk, and the master suggests a replica.
func defaultReplicaReadLag() int64 {
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil || info.Totalram == 0 {
		return 4 << 30
	}
	return int64(uint64(info.Totalram) * uint64(info.Unit) * 4 / 10)
}

// ReplicationStatus is the broker's replication state for operators.
type ReplicationStatus struct {
	Master   bool   `json:"master"`
	Epoch    int64  `json:"epoch"`
	BrokerID int64  `json:"brokerId"` // in routes: 0 for the master
	Mode     string `json:"mode"`
	HAAddr   string `json:"haAddr,omitempty"`
	// Master only: the in-sync set size (master included), the commit
	// point and each replica as the master sees it.
	InSync      int               `json:"inSync,omitempty"`
	CommitPoint int64             `json:"commitPoint,omitempty"`
	Replicas    []ha.MemberStatus `json:"replicas,omitempty"`
	// Replica only: whether it is connected and how far behind it is.
	Connected bool  `json:"connected,omitempty"`
	LagBytes  int64 `json:"lagBytes,omitempty"`
	// Controller mode only: the member id, the in-sync set the controller
	// committed, and how long a master may still take writes.
	Controller *ControlledStatus `json:"controller,omitempty"`
}

// ReplicationStatus reports the role, the in-sync set and the lag.
func (b *Broker) ReplicationStatus() ReplicationStatus {
	r := b.repl
	role := r.role.Load()
	st := ReplicationStatus{Master: role.Master, Epoch: role.Epoch, BrokerID: r.routeID(), Mode: r.mode.String(), HAAddr: r.haAddr}
	if role.Master && r.server != nil {
		st.InSync, st.CommitPoint, st.Replicas = r.server.InSyncCount(), r.server.CommitPoint(), r.server.Members()
	}
	r.mu.Lock()
	c := r.client
	r.mu.Unlock()
	if c != nil {
		st.Connected = c.Stats().Connected.Load()
		st.LagBytes = max(0, c.Stats().MasterEnd.Load()-b.store.WrittenOffset())
	}
	if r.agent != nil {
		cs := r.agent.status()
		st.Controller = &cs
	}
	return st
}
