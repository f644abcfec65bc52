package namesrv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// Registrar defaults (RocketMQ's registerNameServerPeriod and
// registerBrokerTimeoutMills).
const (
	DefaultRegisterInterval = 30 * time.Second
	DefaultRegisterTimeout  = 6 * time.Second
)

// RegistrarOptions configures a broker's registration with its name servers.
type RegistrarOptions struct {
	NamesrvAddrs []string
	ClusterName  string
	BrokerName   string
	BrokerAddr   string // "ip:port" clients connect to
	HAServerAddr string // "ip:port" slaves replicate from; may be empty
	BrokerID     int64  // 0 = master
	Interval     time.Duration
	Timeout      time.Duration // per name server request
	// Topics returns a snapshot of the broker's topics; it is called once
	// per registration round and must be safe to call from any goroutine.
	Topics func() []routing.TopicConfig
	Logger *slog.Logger
	Now    func() time.Time
}

// Validate reports the first invalid option.
func (o RegistrarOptions) Validate() error {
	switch {
	case len(o.NamesrvAddrs) == 0:
		return fmt.Errorf("%w: no name server addresses", ErrInvalidOptions)
	case o.ClusterName == "" || o.BrokerName == "":
		return fmt.Errorf("%w: cluster and broker name are required", ErrInvalidOptions)
	case o.BrokerID < 0:
		return fmt.Errorf("%w: negative broker id", ErrInvalidOptions)
	case o.Topics == nil:
		return fmt.Errorf("%w: Topics callback is required", ErrInvalidOptions)
	}
	if err := validateBrokerAddr(o.BrokerAddr); err != nil {
		return fmt.Errorf("%w: broker address: %w", ErrInvalidOptions, err)
	}
	if o.HAServerAddr != "" {
		if err := validateBrokerAddr(o.HAServerAddr); err != nil {
			return fmt.Errorf("%w: ha server address: %w", ErrInvalidOptions, err)
		}
	}
	return nil
}

func (o RegistrarOptions) withDefaults() RegistrarOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultRegisterInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRegisterTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// invoker sends one request and waits for its response.
type invoker interface {
	Invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error)
}

// Registrar keeps one broker registered with every name server: at Start,
// every Interval, and soon after RegisterNow. Stop unregisters it.
type Registrar struct {
	invoker invoker
	opts    RegistrarOptions
	trigger chan struct{} // capacity 1: RegisterNow calls coalesce
	reg     *regStates    // how each name server answered the last registration

	mu struct {
		sync.Mutex
		started      bool
		stopped      bool
		cancelLoop   context.CancelFunc
		loopDone     chan struct{}
		lastTable    []byte // encoded topic table the version stamps
		version      routing.DataVersion
		masterAddr   string
		haServerAddr string
	}
}

// NewRegistrar returns a Registrar that talks to name servers through client.
func NewRegistrar(client *remoting.Client, opts RegistrarOptions) (*Registrar, error) {
	return newRegistrar(client, opts)
}

func newRegistrar(inv invoker, opts RegistrarOptions) (*Registrar, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Registrar{invoker: inv, opts: opts.withDefaults(), trigger: make(chan struct{}, 1),
		reg: newRegStates(opts.NamesrvAddrs)}, nil
}

// Start registers at once and then keeps registering in the background until
// Stop or until ctx ends. Failures are logged, never fatal.
func (r *Registrar) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.stopped {
		return ErrRegistrarStopped
	}
	if r.mu.started {
		return fmt.Errorf("%w: already started", ErrInvalidOptions)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	r.mu.started = true
	r.mu.cancelLoop = cancel
	r.mu.loopDone = make(chan struct{})
	go r.registerLoop(loopCtx, r.mu.loopDone)
	return nil
}

// RegisterNow asks for a registration round soon (after a topic change).
// Calls made while one is pending coalesce into it; it never blocks.
func (r *Registrar) RegisterNow() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

func (r *Registrar) registerLoop(ctx context.Context, done chan struct{}) {
	defer close(done)
	ticker := time.NewTicker(r.opts.Interval)
	defer ticker.Stop()
	for {
		_ = r.RegisterAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-r.trigger:
		}
	}
}

// Master returns the master address and its HA address as the name servers
// last reported them to this (slave) broker; both are empty for a master.
func (r *Registrar) Master() (masterAddr, haServerAddr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.masterAddr, r.mu.haServerAddr
}

// Stop ends the background loop and sends UNREGISTER_BROKER to every name
// server, waiting at most until ctx ends. It returns the failures, joined.
func (r *Registrar) Stop(ctx context.Context) error {
	r.mu.Lock()
	if r.mu.stopped {
		r.mu.Unlock()
		return nil
	}
	r.mu.stopped = true
	cancel, done := r.mu.cancelLoop, r.mu.loopDone
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.eachNamesrv(ctx, r.unregisterRequest, nil)
}

// RegisterAll sends one REGISTER_BROKER to every name server concurrently,
// each with its own timeout, and returns the failures, joined (also logged).
func (r *Registrar) RegisterAll(ctx context.Context) error {
	body, err := r.registrationBody()
	if err != nil {
		r.opts.Logger.Error("namesrv: encode registration", "err", err)
		return err
	}
	crc := strconv.FormatInt(int64(routing.BodyCRC32(body)), 10)
	build := func() *remoting.Command {
		req := remoting.NewRequest(remoting.RequestRegisterBroker)
		r.setBrokerExt(req)
		req.Ext.Set("haServerAddr", r.opts.HAServerAddr)
		req.Ext.Set("compressed", "false")
		req.Ext.Set("bodyCrc32", crc)
		req.Body = body
		return req
	}
	return r.eachNamesrv(ctx, build, r.noteRegisterResponse)
}

func (r *Registrar) setBrokerExt(req *remoting.Command) {
	req.Ext.Set("brokerName", r.opts.BrokerName)
	req.Ext.Set("brokerAddr", r.opts.BrokerAddr)
	req.Ext.Set("clusterName", r.opts.ClusterName)
	req.Ext.Set("brokerId", strconv.FormatInt(r.opts.BrokerID, 10))
}

func (r *Registrar) unregisterRequest() *remoting.Command {
	req := remoting.NewRequest(remoting.RequestUnregisterBroker)
	r.setBrokerExt(req)
	return req
}

func (r *Registrar) noteRegisterResponse(resp *remoting.Command) {
	masterAddr, _ := resp.Ext.Get("masterAddr")
	haServerAddr, _ := resp.Ext.Get("haServerAddr")
	r.mu.Lock()
	r.mu.masterAddr, r.mu.haServerAddr = masterAddr, haServerAddr
	r.mu.Unlock()
}

// registrationBody encodes the current topic table, bumping the data
// version whenever the table differs from the last one sent.
func (r *Registrar) registrationBody() ([]byte, error) {
	table := make(map[string]routing.TopicConfig)
	for _, tc := range r.opts.Topics() {
		table[tc.TopicName] = tc
	}
	encodedTable, err := routing.MarshalCompact(table)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.mu.lastTable == nil || !bytes.Equal(encodedTable, r.mu.lastTable) {
		r.mu.lastTable = encodedTable
		r.mu.version = routing.DataVersion{Counter: r.mu.version.Counter + 1, Timestamp: r.opts.Now().UnixMilli()}
	}
	version := r.mu.version
	r.mu.Unlock()
	body := routing.RegisterBrokerBody{TopicConfigSerializeWrapper: routing.TopicConfigSerializeWrapper{
		DataVersion: version, TopicConfigTable: table,
	}}
	return body.Encode()
}

// eachNamesrv sends build() to every name server concurrently and waits.
func (r *Registrar) eachNamesrv(ctx context.Context, build func() *remoting.Command, onSuccess func(*remoting.Command)) error {
	errs := make([]error, len(r.opts.NamesrvAddrs))
	var wg sync.WaitGroup
	for i, addr := range r.opts.NamesrvAddrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.invokeOne(ctx, addr, build(), onSuccess)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Registrar) invokeOne(ctx context.Context, addr string, req *remoting.Command, onSuccess func(*remoting.Command)) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	resp, err := r.invoker.Invoke(ctx, addr, req)
	if err == nil && resp == nil {
		err = errors.New("no response")
	}
	if err == nil && resp.Code != remoting.ResponseSuccess {
		err = fmt.Errorf("%w: %s: %s", ErrRejected, remoting.ResponseName(resp.Code), resp.Remark)
	}
	if req.Code == remoting.RequestRegisterBroker {
		r.reg.note(addr, r.opts.Now(), err)
	}
	what := remoting.RequestName(req.Code)
	if err != nil {
		r.opts.Logger.Warn("namesrv: name server request failed", "namesrv", addr, "request", what, "err", err)
		return fmt.Errorf("namesrv: name server %s: %s: %w", addr, what, err)
	}
	r.opts.Logger.Debug("namesrv: name server request done", "namesrv", addr, "request", what)
	if onSuccess != nil {
		onSuccess(resp)
	}
	return nil
}
