package actors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cometmq/comet/namesrv"
	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

// BrokerOptions configure a broker. Zero values take the defaults.
type BrokerOptions struct {
	DataDir          string
	Listen           string // "127.0.0.1:10911"; port 0 picks one
	Advertise        string // "ip:port" clients and STOREHOST use; default: the bound listen address
	NamesrvAddrs     []string
	ClusterName      string // default "DefaultCluster"
	BrokerName       string // default "broker-a"
	Flush            FlushMode
	AutoCreateTopic  bool
	DefaultQueueNums int32 // queues of auto-created topics; default 4
	MaxMessageSize   int   // body bytes; default 4 MiB
	MaxFrameSize     int   // default 16 MiB

	// FS is the file system the store and the metadata files live on;
	// default the real one (tests inject faults through it).
	FS persist.FS

	FrameReadTimeout time.Duration // time to complete a frame once begun; default netio.DefaultFrameReadTimeout
	MaxBufferedInput int           // request bytes buffered over all connections; default netio.DefaultMaxBufferedInput

	// IndexEntriesPerFile sizes each key-index file (32 bytes an entry,
	// with a hash slot per 4 entries); 0: persist's default.
	IndexEntriesPerFile int

	SegmentSize      int64
	CQEntriesPerFile int64
	RetentionAge     time.Duration
	// DiskEmergencyRatio lets retention delete data younger than
	// RetentionAge while the disk is fuller than this fraction; 0 never
	// does (persist.Options.DiskEmergencyRatio).
	DiskEmergencyRatio float64

	ConsumerExpiry   time.Duration // default 120 s
	OrderLockTTL     time.Duration // default 60 s
	MaxPullSuspend   time.Duration // longest long poll; default 20 s
	RegisterInterval time.Duration // name-server registration; default 30 s

	// MaxParkedPulls bounds the long polls parked on the broker (default
	// 100,000), MaxParkedPullsPerConn those of one connection (default
	// 1,024); a pull beyond either is answered SYSTEM_BUSY at once.
	MaxParkedPulls        int
	MaxParkedPullsPerConn int

	DelayLevels              string        // default DefaultDelayLevels
	MaxTimerDelay            time.Duration // longest TIMER_* delay accepted; default 72 h
	TransactionCheckInterval time.Duration // how often undecided halves are checked back; default 30 s
	TransactionTimeout       time.Duration // age before the first check; default 6 s
	TransactionCheckMax      int           // checks before a half is discarded; default 15

	// Replication (replication.go): the broker id in routes (0 master,
	// >= 1 replica, static roles), the HA listen address ("" disables the
	// HA server), the mode, the least in-sync set size (master included)
	// for sync replication, how long a replica may lag before it leaves
	// the in-sync set, and how far behind the log end a consumer must read
	// for the master to suggest a replica (0: 40% of RAM, as RocketMQ).
	BrokerID            int64
	HAListen            string
	HAAdvertise         string // "ip:port" replicas dial; default: the bound HA address
	Replication         ReplicationMode
	MinInSyncReplicas   int
	ReplicaLagMax       time.Duration
	ReplicaReadLagBytes int64
	// ReplicationHooks hand the in-sync decisions and fencing news to a
	// controller; zero: the master decides alone (static roles).
	ReplicationHooks ReplicationHooks
	// Controller, when it names controller addresses, gives the broker its
	// role from the controller quorum (controlled.go).
	Controller ControllerOptions

	Logger *slog.Logger
	// DataDirLock is a lock on DataDir the caller already holds (a process
	// locks its data dir before it binds anything); the broker takes it
	// over and releases it on Stop. Without it NewBroker locks DataDir.
	DataDirLock *persist.DirLock
	// ConfigView adds the process's settings to GET_BROKER_CONFIG.
	ConfigView func() map[string]string

	// VIPListen is a second address served exactly like Listen (RocketMQ's
	// VIP channel: clients that enable it send to the advertised port − 2);
	// "" serves none. Nothing is registered for it: clients derive it.
	VIPListen string
	// Gate, when set, admits or refuses every request before its handler
	// (access control: acl.Gate). TLS, when set, serves Listen with TLS.
	Gate netio.Gate
	TLS  *netio.TLSOptions
	// Credentials sign the broker's own requests (name-server
	// registration) for servers that check ACL; ClientTLS, when set, dials
	// them over TLS.
	Credentials remoting.Credentials
	ClientTLS   *tls.Config
}

// DefaultBrokerOptions are the broker's defaults, written in this one
// place: setDefaults fills zero fields from them and internal/config takes
// its flag defaults from them.
func DefaultBrokerOptions() BrokerOptions {
	return BrokerOptions{
		ClusterName: "DefaultCluster", BrokerName: "broker-a", DefaultQueueNums: 4, MaxMessageSize: 4 << 20,
		ConsumerExpiry: 120 * time.Second, OrderLockTTL: 60 * time.Second, MaxPullSuspend: 20 * time.Second,
		MaxParkedPulls: defaultMaxParkedPulls, MaxParkedPullsPerConn: defaultMaxParkedPullsPerConn,
		DelayLevels: DefaultDelayLevels, MaxTimerDelay: 72 * time.Hour,
		TransactionCheckInterval: 30 * time.Second, TransactionTimeout: 6 * time.Second, TransactionCheckMax: 15,
	}
}

// orDefault sets *v to d when *v is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func (o *BrokerOptions) setDefaults() {
	d := DefaultBrokerOptions()
	if o.FS == nil {
		o.FS = persist.OSFS{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	orDefault(&o.ClusterName, d.ClusterName)
	orDefault(&o.BrokerName, d.BrokerName)
	orDefault(&o.DefaultQueueNums, d.DefaultQueueNums)
	orDefault(&o.MaxMessageSize, d.MaxMessageSize)
	orDefault(&o.ConsumerExpiry, d.ConsumerExpiry)
	orDefault(&o.OrderLockTTL, d.OrderLockTTL)
	orDefault(&o.MaxPullSuspend, d.MaxPullSuspend)
	orDefault(&o.MaxParkedPulls, d.MaxParkedPulls)
	orDefault(&o.MaxParkedPullsPerConn, d.MaxParkedPullsPerConn)
	orDefault(&o.DelayLevels, d.DelayLevels)
	orDefault(&o.MaxTimerDelay, d.MaxTimerDelay)
	orDefault(&o.TransactionCheckInterval, d.TransactionCheckInterval)
	orDefault(&o.TransactionTimeout, d.TransactionTimeout)
	orDefault(&o.TransactionCheckMax, d.TransactionCheckMax)
	o.setReplicationDefaults()
}

// Validate reports the first invalid option.
func (o *BrokerOptions) Validate() error {
	if o.DataDir == "" {
		return errors.New("actors: broker data dir is empty")
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("actors: listen address %q: %w", o.Listen, err)
	}
	if o.VIPListen != "" {
		if _, _, err := net.SplitHostPort(o.VIPListen); err != nil {
			return fmt.Errorf("actors: VIP listen address %q: %w", o.VIPListen, err)
		}
	}
	if o.Advertise != "" {
		if _, err := parseIPv4HostPort(o.Advertise); err != nil {
			return fmt.Errorf("actors: advertise address: %w", err)
		}
	}
	if _, err := ParseDelayLevels(o.DelayLevels); err != nil {
		return err
	}
	if o.MaxTimerDelay < time.Second {
		return fmt.Errorf("actors: max timer delay %s is shorter than a second", o.MaxTimerDelay)
	}
	return o.validateReplication()
}

func parseIPv4HostPort(addr string) (persist.Host, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return persist.Host{}, err
	}
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return persist.Host{}, fmt.Errorf("%q is not an IPv4 address (clients parse IPv4 message ids only)", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return persist.Host{}, fmt.Errorf("bad port %q", portStr)
	}
	return persist.Host{IP: ip, Port: int32(port)}, nil
}

// Broker is one RocketMQ-compatible broker: the network server, the
// storage engine with its single writer, and the control-plane actors.
type Broker struct {
	opts      BrokerOptions
	log       *slog.Logger
	store     *persist.Store
	writer    *Writer
	server    *netio.Server
	topics    *topicTable
	offsets   *offsetTable
	subGroups *subGroupTable // subscription group configs (subgroups.go)
	live      liveSettings   // settings UPDATE_BROKER_CONFIG changes (brokerconfig.go)
	groups    *groupRegistry
	hold      *pullHold
	compiles  *compileQueue
	serving   atomic.Bool // set once Start has built what handlers use
	creates   topicCreates
	registrar atomic.Pointer[namesrv.Registrar] // set while connections are already served
	rmClient  *remoting.Client
	system    *actor.ActorSystem
	keeper    *actor.PID
	control   *actor.PID
	ctl       atomic.Pointer[controlHandles]
	stopOnce  sync.Once
	stopErr   error
	timers    *timerService
	txns      *txnService
	storeHost persist.Host
	metrics   *brokerMetrics
	deletes   adminGate // topic deletions in flight
	advertise string
	cancel    context.CancelFunc
	// background holds the goroutines the broker starts besides the writer
	// and the actors (the long-poll sweeper, admin requests); stop waits
	// for them before it closes the store.
	background sync.WaitGroup
	// queuedEndTxn counts END_TRANSACTION requests in the transaction
	// actor's mailbox, the one control-plane mailbox clients feed.
	queuedEndTxn atomic.Int64
	dirLock      *persist.DirLock // held from NewBroker until Stop
	repl         *replication
	gateways     gatewayHooks // gateway.go
}

// NewBroker opens the store and prepares the broker; Start serves.
func NewBroker(opts BrokerOptions) (*Broker, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		opts.DataDirLock.Release()
		return nil, err
	}
	b := &Broker{opts: opts, log: opts.Logger, compiles: newCompileQueue(opts.Logger)}
	// The whole data dir is locked before anything in it is read:
	// topics.json and the offsets live beside the store.
	lock := opts.DataDirLock
	if lock == nil {
		var err error
		if lock, err = persist.LockDir(opts.DataDir); err != nil {
			return nil, fmt.Errorf("actors: %w", err)
		}
	}
	b.dirLock = lock
	if err := b.prepare(); err != nil {
		lock.Release()
		return nil, err
	}
	return b, nil
}

// prepare builds what NewBroker returns, under the data-dir lock.
func (b *Broker) prepare() error {
	opts := b.opts
	b.groups = newGroupRegistry(opts.ConsumerExpiry, opts.OrderLockTTL)
	b.live.init(&b.opts)
	levels, err := ParseDelayLevels(opts.DelayLevels)
	if err != nil {
		return err
	}
	b.timers = newTimerService(b, levels)
	b.txns = newTxnService(b)
	if b.topics, err = loadTopicTable(opts.FS, opts.DataDir, b.log); err != nil {
		return err
	}
	if b.offsets, err = loadOffsetTable(opts.FS, opts.DataDir); err != nil {
		b.topics.close()
		return err
	}
	if b.subGroups, err = loadSubGroups(opts.FS, opts.DataDir); err != nil {
		b.topics.close()
		return err
	}
	var extra []string
	if opts.VIPListen != "" {
		extra = []string{opts.VIPListen}
	}
	b.server, err = netio.NewServer(netio.Options{Name: "broker", Addr: opts.Listen, ExtraAddrs: extra, MaxFrameSize: opts.MaxFrameSize,
		FrameReadTimeout: opts.FrameReadTimeout, MaxBufferedInput: opts.MaxBufferedInput, Logger: opts.Logger,
		Gate: opts.Gate, TLS: opts.TLS})
	if err != nil {
		b.topics.close()
		return err
	}
	b.registerHandlers()
	b.server.OnClose(b.connClosed)
	b.server.OnOpen(b.connOpened)
	return nil
}

// Start listens, opens the store and begins serving. The store is opened
// after the listener is bound so STOREHOST can carry the real port.
func (b *Broker) Start() error {
	err := b.start()
	if err != nil {
		b.dirLock.Release() // a broker that failed to start is dead
	}
	return err
}

func (b *Broker) start() error {
	if err := b.server.Start(); err != nil {
		return &ListenError{Option: "Listen", Addr: b.opts.Listen, Err: err}
	}
	b.advertise = b.opts.Advertise
	if b.advertise == "" {
		b.advertise = b.server.Addr()
	}
	host, err := parseIPv4HostPort(b.advertise)
	if err != nil {
		b.server.Stop(context.Background())
		return fmt.Errorf("actors: advertise %q: %w", b.advertise, err)
	}
	b.storeHost = host
	b.store, err = persist.Open(persist.Options{
		Dir: filepath.Join(b.opts.DataDir, "store"), FS: b.opts.FS, StoreHost: host,
		SegmentSize: b.opts.SegmentSize, CQEntriesPerFile: b.opts.CQEntriesPerFile,
		IndexEntriesPerFile: b.opts.IndexEntriesPerFile, IndexSlotsPerFile: b.opts.IndexEntriesPerFile / 4,
		RetentionAge: b.opts.RetentionAge, DiskEmergencyRatio: b.opts.DiskEmergencyRatio,
		Logger: b.log, RecoverTagsCode: b.timers.recoverTagsCode,
		MappedWrites: b.opts.Flush == FlushAsync, // see persist.Options.MappedWrites
	})
	if err != nil {
		b.server.Stop(context.Background())
		return err
	}
	b.hold = newPullHold(b, b.opts.MaxParkedPulls, b.opts.MaxParkedPullsPerConn)
	if b.repl, err = newReplication(b); err != nil {
		b.store.Close()
		b.server.Stop(context.Background())
		return err
	}
	b.writer = NewWriter(b.store, WriterOptions{Flush: b.opts.Flush, Logger: b.log, OnPublish: b.onPublish, OnSync: b.onWriterSync,
		Replication: b.repl})
	b.writer.Start()
	if err := b.ensureSystemTopics(); err != nil {
		b.Stop(context.Background())
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.background.Add(1)
	go func() {
		defer b.background.Done()
		b.hold.run(ctx)
	}()
	b.background.Add(1)
	go func() {
		defer b.background.Done()
		b.logTraffic(ctx, trafficLogInterval)
	}()
	go b.compiles.run()
	b.background.Add(1)
	go func() {
		defer b.background.Done()
		b.runStatsSampler(ctx)
	}()
	b.startControlPlane()
	if err := b.repl.startRole(); err != nil {
		b.Stop(context.Background())
		return err
	}
	b.serving.Store(true) // after everything above: handlers see it all
	if err := b.startRegistrar(ctx); err != nil {
		b.Stop(context.Background())
		return err
	}
	b.repl.startAgent()
	return nil
}

// retentionAge is how long the store keeps the commit log.
func (b *Broker) retentionAge() time.Duration {
	if b.opts.RetentionAge > 0 {
		return b.opts.RetentionAge
	}
	return 72 * time.Hour
}

// TimerStats are the delayed-delivery counters.
func (b *Broker) TimerStats() *TimerStats { return &b.timers.stats }

// TimerBacklog is the number of scheduled messages not yet due or moved.
func (b *Broker) TimerBacklog() int64 { return b.timers.Backlog() }

// TxnStats are the transaction counters.
func (b *Broker) TxnStats() *TxnStats { return &b.txns.stats }

// Addr is the address the broker listens on.
func (b *Broker) Addr() string { return b.server.Addr() }

// VIPAddr is the bound VIP address, or "" when there is none.
func (b *Broker) VIPAddr() string {
	if addrs := b.server.ExtraAddrs(); len(addrs) > 0 {
		return addrs[0]
	}
	return ""
}

// Advertise is the address clients use.
func (b *Broker) Advertise() string { return b.advertise }

// Store exposes the storage engine (tests, metrics).
func (b *Broker) Store() *persist.Store { return b.store }

// Writer exposes the writer (metrics).
func (b *Broker) Writer() *Writer { return b.writer }

func (b *Broker) startRegistrar(ctx context.Context) error {
	if len(b.opts.NamesrvAddrs) == 0 {
		return nil
	}
	b.rmClient = remoting.NewClient(remoting.ClientOptions{Credentials: b.opts.Credentials, TLS: b.opts.ClientTLS})
	registrar, err := namesrv.NewRegistrar(b.rmClient, namesrv.RegistrarOptions{
		NamesrvAddrs: b.opts.NamesrvAddrs, ClusterName: b.opts.ClusterName, BrokerName: b.opts.BrokerName,
		BrokerAddr: b.advertise, BrokerID: b.repl.routeID(), HAServerAddr: b.repl.haAddr, Interval: b.opts.RegisterInterval,
		Topics: b.topics.all, Logger: b.log,
	})
	if err != nil {
		return err
	}
	b.registrar.Store(registrar)
	// Register once before serving so clients find the routes at once; a
	// name server that is down is logged and retried by the loop.
	first, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := registrar.RegisterAll(first); err != nil {
		b.log.Warn("actors: first name-server registration incomplete", "err", err)
	}
	cancel()
	return registrar.Start(ctx)
}

// topicsChanged pushes the topic table to the name servers now.
func (b *Broker) topicsChanged() {
	if registrar := b.registrar.Load(); registrar != nil {
		registrar.RegisterNow()
	}
}

func (b *Broker) ensureSystemTopics() error {
	sys := []routing.TopicConfig{newTopicConfig(remoting.ScheduleTopic, 18, remoting.PermRead|remoting.PermWrite),
		newTopicConfig(remoting.TransactionHalfTopic, 1, remoting.PermRead|remoting.PermWrite),
		newTopicConfig(remoting.TransactionOpHalfTopic, 1, remoting.PermRead|remoting.PermWrite),
		// Where the clients' trace option sends its records (RocketMQ's
		// traceTopicEnable); the HTTP API reads them back.
		newTopicConfig(remoting.TraceTopic, 1, remoting.PermRead|remoting.PermWrite),
		newTopicConfig(b.opts.ClusterName+"_REPLY_TOPIC", 1, remoting.PermRead|remoting.PermWrite),
		newTopicConfig(b.opts.BrokerName, 1, remoting.PermRead|remoting.PermWrite|remoting.PermInherit),
	}
	if b.opts.AutoCreateTopic {
		sys = append(sys, newTopicConfig(remoting.AutoCreateTopicKey, 8, remoting.PermRead|remoting.PermWrite|remoting.PermInherit))
	}
	changes := make([]topicChange, len(sys))
	for i, c := range sys {
		changes[i] = topicChange{op: topicEnsure, cfg: c}
	}
	_, err := b.topics.apply(changes...)
	return err
}

// onPublish runs on the writer goroutine when a batch becomes visible.
func (b *Broker) onPublish(batch []persist.Dispatched) {
	b.metrics.countPublished(batch)
	b.hold.notify(batch)
	b.notifyGateways()
}

func (b *Broker) connClosed(c *netio.Conn) {
	b.logConnClosed(c)
	if b.hold != nil {
		b.hold.connClosed(c.ID())
	}
	if changed := b.groups.removeConn(c.ID()); len(changed) > 0 {
		b.notifyGroups(changed)
	}
}

// notifyGroups tells every member of the groups that membership changed
// (NOTIFY_CONSUMER_IDS_CHANGED, oneway) so they rebalance now.
func (b *Broker) notifyGroups(groups []string) {
	for _, g := range groups {
		if b.debugEnabled() {
			b.log.Debug("actors: consumer group membership changed", "group", g, "members", len(b.groups.members(g)))
		}
		if !b.notifyEnabled(g) {
			continue
		}
		for _, conn := range b.groups.members(g) {
			req := remoting.NewRequest(remoting.RequestNotifyConsumerIDsChanged)
			req.Ext.Set("consumerGroup", g)
			req.Flag |= remoting.FlagOneway
			if err := conn.Send(req); err != nil {
				b.log.Debug("actors: notify consumer ids changed", "group", g, "conn", conn.RemoteAddr(), "err", err)
			}
		}
	}
}

// Stop shuts the broker down in order (once; later calls return the first result): stop accepting and close
// connections, drain the writer (final sync and acks), stop the actors,
// persist metadata, close the store.
func (b *Broker) Stop(ctx context.Context) error {
	b.stopOnce.Do(func() { b.stopErr = b.stop(ctx) })
	return b.stopErr
}

func (b *Broker) stop(ctx context.Context) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if registrar := b.registrar.Load(); registrar != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		registrar.Stop(stopCtx)
		cancel()
	}
	// The control plane stops first (its batches in flight complete), then
	// the writer drains: every accepted message is synced and its ack
	// queued; sends arriving meanwhile are refused with SYSTEM_BUSY. Only
	// then does the server stop, after flushing every queued ack.
	if b.system != nil {
		keep(b.stopControlPlane())
	}
	if b.repl != nil {
		b.repl.stopClient() // nothing is replicated into the log from now on
	}
	if b.writer != nil {
		keep(b.writer.Stop(ctx))
	}
	if b.repl != nil {
		b.repl.closeServer() // after the drain: its batches may wait for replicas
	}
	keep(b.server.Stop(ctx))
	// Then the goroutines that read the store: the compile worker finishes
	// its queue, the pull hold answers what it holds.
	if b.cancel != nil {
		b.compiles.stop()
		b.cancel()
		<-b.hold.done
	}
	b.background.Wait()
	keep(b.offsets.persist())
	keep(b.topics.close())
	if b.store != nil {
		keep(b.store.Close())
	}
	if b.rmClient != nil {
		b.rmClient.Close()
	}
	keep(b.dirLock.Release())
	return first
}
