package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Defaults of Options.
const (
	DefaultElectionTimeout = 3 * time.Second
	DefaultRaftTimeout     = 500 * time.Millisecond
	DefaultApplyTimeout    = 2 * time.Second
	DefaultMaxConns        = 1024
)

// Peer is one controller member: a stable id and the address its peers
// and brokers dial.
type Peer struct {
	ID   string
	Addr string
}

// Options configure one controller member.
type Options struct {
	// ID names this member; it must be one of Peers.
	ID string
	// Listen is the address to bind (default: this member's Peers address).
	Listen string
	// Listener, when set, is used instead of binding Listen.
	Listener net.Listener
	// Peers lists every member, this one included, identically on each.
	// It bootstraps the quorum on first start and is ignored afterwards.
	Peers []Peer
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string
	// ElectionTimeout is the master's lease and the liveness bound of a
	// broker: a master unheard for this long is replaced.
	ElectionTimeout time.Duration
	// RaftTimeout is raft's heartbeat and election timeout; a lost
	// controller leader is replaced in one to two of them.
	RaftTimeout time.Duration
	// ApplyTimeout bounds the wait for one command to commit.
	ApplyTimeout time.Duration
	// MaxConns bounds open connections (raft and API together).
	MaxConns int
	// Logger receives role changes and errors (default: discard).
	Logger *slog.Logger
}

func (o *Options) withDefaults() {
	if o.ElectionTimeout <= 0 {
		o.ElectionTimeout = DefaultElectionTimeout
	}
	if o.RaftTimeout <= 0 {
		o.RaftTimeout = DefaultRaftTimeout
	}
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = DefaultApplyTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first invalid option.
func (o *Options) Validate() error {
	if _, ok := o.peerAddr(o.ID); !ok {
		return fmt.Errorf("%w: id %q is not among the peers", ErrInvalidOptions, o.ID)
	}
	ids, addrs := map[string]bool{}, map[string]bool{}
	for _, p := range o.Peers {
		switch {
		case !validPeerID(p.ID):
			return fmt.Errorf("%w: peer id %q: want 1 to 64 letters, digits, '-' or '_'", ErrInvalidOptions, p.ID)
		case !validAddr(p.Addr):
			return fmt.Errorf("%w: peer %s address %q: want host:port", ErrInvalidOptions, p.ID, p.Addr)
		case ids[p.ID] || addrs[p.Addr]:
			return fmt.Errorf("%w: peer %s=%s is listed twice", ErrInvalidOptions, p.ID, p.Addr)
		}
		ids[p.ID], addrs[p.Addr] = true, true
	}
	switch {
	case o.DataDir == "":
		return fmt.Errorf("%w: data dir is empty", ErrInvalidOptions)
	case o.RaftTimeout < 50*time.Millisecond:
		return fmt.Errorf("%w: raft timeout %s: want at least 50ms", ErrInvalidOptions, o.RaftTimeout)
	case o.ElectionTimeout < 2*o.RaftTimeout:
		return fmt.Errorf("%w: election timeout %s: want at least twice the raft timeout %s", ErrInvalidOptions, o.ElectionTimeout, o.RaftTimeout)
	}
	return nil
}

// ErrInvalidOptions is the class of every Options error.
var ErrInvalidOptions = errors.New("controller: invalid options")

func (o *Options) peerAddr(id string) (string, bool) {
	i := slices.IndexFunc(o.Peers, func(p Peer) bool { return p.ID == id })
	if i < 0 {
		return "", false
	}
	return o.Peers[i].Addr, true
}

// ParsePeers parses "n0=host:port,n1=host:port,...".
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, addr, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%w: peer %q: want id=host:port", ErrInvalidOptions, item)
		}
		peers = append(peers, Peer{ID: strings.TrimSpace(id), Addr: strings.TrimSpace(addr)})
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: no peers", ErrInvalidOptions)
	}
	return peers, nil
}

// validPeerID accepts 1 to 64 letters, digits, '-' or '_'.
func validPeerID(s string) bool {
	if s == "" || len(s) > 64 {
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

// Controller is one running member of the controller quorum.
type Controller struct {
	opts    Options
	log     *slog.Logger
	addr    string // advertised
	fsm     *fsm
	store   *boltStore
	trans   *raft.NetworkTransport
	raft    *raft.Raft
	mux     *mux
	base    time.Time // the member's clock: base + monotonic time since
	office  office
	metrics Metrics
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool
}

// Start opens the data directory, bootstraps the quorum on first start,
// and serves raft and the broker API on one listener.
func Start(opts Options) (*Controller, error) {
	opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Controller{opts: opts, log: opts.Logger, fsm: newFSM(), base: time.Now(), stop: make(chan struct{})}
	c.addr, _ = opts.peerAddr(opts.ID)
	c.office.live = map[string]map[int64]*liveMember{}
	ln := opts.Listener
	if ln == nil {
		listen := opts.Listen
		if listen == "" {
			listen = c.addr
		}
		var err error
		if ln, err = net.Listen("tcp", listen); err != nil {
			return nil, fmt.Errorf("controller: listen: %w", err)
		}
	}
	c.mux = newMux(ln, c.addr, opts.MaxConns, c.log)
	if err := c.startRaft(); err != nil {
		if c.trans != nil {
			_ = c.trans.Close()
		}
		c.mux.close()
		if c.store != nil {
			_ = c.store.Close()
		}
		return nil, err
	}
	c.mux.start(c.serveConn)
	c.wg.Add(1)
	go c.leaderLoop()
	c.log.Info("controller: started", "id", opts.ID, "addr", c.addr, "listen", ln.Addr().String(),
		"dataDir", opts.DataDir, "electionTimeout", opts.ElectionTimeout.String(), "raftTimeout", opts.RaftTimeout.String())
	return c, nil
}

// startRaft opens the stores and the transport, bootstraps a member with
// no state from Peers, and starts raft.
func (c *Controller) startRaft() error {
	if err := os.MkdirAll(c.opts.DataDir, 0o755); err != nil {
		return fmt.Errorf("controller: data dir: %w", err)
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{c.log}, DisableTime: true})
	store, err := openBoltStore(filepath.Join(c.opts.DataDir, "raft.db"))
	if err != nil {
		return err
	}
	c.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.opts.DataDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("controller: snapshot store: %w", err)
	}
	c.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: c.mux.raft, MaxPool: 3, Timeout: 2 * time.Second, Logger: hlog,
	})
	conf := c.raftConfig(hlog)
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("controller: read raft state: %w", err)
	}
	if !has {
		if err := raft.BootstrapCluster(conf, store, store, snaps, c.trans, c.bootstrapConfiguration()); err != nil {
			return fmt.Errorf("controller: bootstrap: %w", err)
		}
		c.log.Info("controller: bootstrapped the quorum", "peers", len(c.opts.Peers))
	}
	r, err := raft.NewRaft(conf, c.fsm, store, store, snaps, c.trans)
	if err != nil {
		return fmt.Errorf("controller: start raft: %w", err)
	}
	c.raft = r
	return nil
}

// raftConfig tunes raft for a LAN: a leader unheard for RaftTimeout is
// replaced after one to two RaftTimeouts; an isolated leader steps down
// after half of one.
func (c *Controller) raftConfig(hlog hclog.Logger) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(c.opts.ID)
	conf.HeartbeatTimeout = c.opts.RaftTimeout
	conf.ElectionTimeout = c.opts.RaftTimeout
	conf.LeaderLeaseTimeout = c.opts.RaftTimeout / 2
	conf.SnapshotThreshold = 1024
	conf.TrailingLogs = 1024
	conf.SnapshotInterval = 30 * time.Second
	conf.Logger = hlog
	return conf
}

func (c *Controller) bootstrapConfiguration() raft.Configuration {
	var conf raft.Configuration
	for _, p := range c.opts.Peers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
	}
	return conf
}

// Addr is the member's advertised address.
func (c *Controller) Addr() string { return c.addr }

// ListenAddr is the address the listener is bound to.
func (c *Controller) ListenAddr() string { return c.mux.ln.Addr().String() }

// IsLeader reports whether this member leads the quorum and has taken
// office (serves the broker API).
func (c *Controller) IsLeader() bool { return c.inOffice() }

// Leader returns the id and address of the leader this member knows of.
func (c *Controller) Leader() (id, addr string) {
	a, i := c.raft.LeaderWithID()
	return string(i), string(a)
}

// Groups returns a copy of every group the replicated state holds, as
// this member has applied it.
func (c *Controller) Groups() []*Group { return c.fsm.groups("") }

// Close stops the member: raft first (pending commands fail), then the
// transport, the listener and its connections, and the store.
func (c *Controller) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(c.stop)
	c.wg.Wait()
	err := c.raft.Shutdown().Error()
	if terr := c.trans.Close(); err == nil {
		err = terr
	}
	c.mux.close()
	if serr := c.store.Close(); err == nil {
		err = serr
	}
	c.log.Info("controller: stopped", "id", c.opts.ID)
	return err
}

// now is the member's clock in nanoseconds: wall time at start plus
// monotonic time since, so it never steps while the process lives.
func (c *Controller) now() int64 { return c.base.UnixNano() + int64(time.Since(c.base)) }

// slogWriter carries raft's own warnings and errors into the logger.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("controller: raft", "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}
