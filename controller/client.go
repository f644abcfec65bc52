package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Addrs are the controller members' addresses.
	Addrs []string
	// CallTimeout bounds one call when its context has no deadline,
	// across every member tried (default 5 s).
	CallTimeout time.Duration
	// OnRoleChange, when set, receives the group a controller announces
	// with NOTIFY_BROKER_ROLE_CHANGED after an election. It runs on its own
	// goroutine per notice.
	OnRoleChange func(ReplicaInfo)
	// Logger receives connection errors (default: discard).
	Logger *slog.Logger
}

// Client calls the controller quorum for a broker or a tool. It sends
// each request to the member it believes leads, follows a
// CONTROLLER_NOT_LEADER answer to the leader it names, and otherwise tries
// the members in turn, backing off between rounds, until the call's
// deadline. It is safe for concurrent use.
type Client struct {
	opts   ClientOptions
	rc     *remoting.Client
	mu     sync.Mutex
	leader string // last member that answered as leader
}

// NewClient returns a client of the members at opts.Addrs.
func NewClient(opts ClientOptions) (*Client, error) {
	if len(opts.Addrs) == 0 {
		return nil, fmt.Errorf("%w: no controller addresses", ErrInvalidOptions)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Addrs = slices.Clone(opts.Addrs)
	c := &Client{opts: opts, rc: remoting.NewClient(remoting.ClientOptions{
		DialTimeout: time.Second, DefaultTimeout: opts.CallTimeout, Logger: opts.Logger})}
	c.rc.SetRequestHandler(c.serveNotice)
	return c, nil
}

// Close closes every connection.
func (c *Client) Close() error { return c.rc.Close() }

// NewRegisterCode returns a fresh registration code for a broker that has
// no id yet; the broker keeps it with the id it is given.
func NewRegisterCode() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Register registers a broker (BrokerID 0 for a new one) and returns its
// id and the group.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*RegisterResponse, error) {
	var resp RegisterResponse
	return &resp, c.call(ctx, remoting.RequestControllerRegisterBroker, &req, &resp)
}

// Heartbeat reports a member alive with its log position, and for the
// master renews its lease. Send it about every second.
func (c *Client) Heartbeat(ctx context.Context, req HeartbeatRequest) (*HeartbeatResponse, error) {
	var resp HeartbeatResponse
	return &resp, c.call(ctx, remoting.RequestBrokerHeartbeat, &req, &resp)
}

// ReplicaInfo returns a group as the leader records it.
func (c *Client) ReplicaInfo(ctx context.Context, cluster, group string) (*ReplicaInfo, error) {
	var resp ReplicaInfo
	return &resp, c.call(ctx, remoting.RequestControllerGetReplicaInfo, &GroupRequest{Cluster: cluster, Group: group}, &resp)
}

// AlterSyncStateSet asks, as the master, to replace the in-sync set. It
// fails with ErrFenced when the master or set epoch is not current.
func (c *Client) AlterSyncStateSet(ctx context.Context, req AlterSyncStateSetRequest) (*ReplicaInfo, error) {
	var resp ReplicaInfo
	return &resp, c.call(ctx, remoting.RequestControllerAlterSyncStateSet, &req, &resp)
}

// ElectMaster asks for an election in a group that has no master.
func (c *Client) ElectMaster(ctx context.Context, cluster, group string) (*ReplicaInfo, error) {
	return c.HandOver(ctx, cluster, group, 0)
}

// HandOver makes brokerID, a live member of the in-sync set, the master
// (an operator's planned hand-over). brokerID 0 is ElectMaster.
func (c *Client) HandOver(ctx context.Context, cluster, group string, brokerID int64) (*ReplicaInfo, error) {
	var resp ReplicaInfo
	req := &ElectMasterRequest{Cluster: cluster, Group: group, BrokerID: brokerID}
	return &resp, c.call(ctx, remoting.RequestControllerElectMaster, req, &resp)
}

// SyncStateData returns every group of a cluster ("" for all).
func (c *Client) SyncStateData(ctx context.Context, cluster string) (*SyncStateData, error) {
	var resp SyncStateData
	return &resp, c.call(ctx, remoting.RequestControllerGetSyncStateData, &SyncStateDataRequest{Cluster: cluster}, &resp)
}

// Metadata asks one member, leader or not, about itself and the quorum.
func (c *Client) Metadata(ctx context.Context, addr string) (*Metadata, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := c.rc.Invoke(ctx, addr, remoting.NewRequest(remoting.RequestControllerGetMetadataInfo))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, addr, err)
	}
	var md Metadata
	return &md, decodeAnswer(resp, &md)
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.CallTimeout)
}

// call sends one request until a member answers it as leader, or the
// deadline passes. Refusals (fenced, not master, ...) return at once.
func (c *Client) call(ctx context.Context, code int16, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("controller: encode request: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	backoff := 20 * time.Millisecond
	var last error
	for {
		for _, addr := range c.order() {
			resp, err := c.callOne(ctx, code, data, addr)
			if err == nil {
				c.setLeader(addr)
				return decodeAnswer(resp, out)
			}
			if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnavailable) {
				return err
			}
			c.forgetLeader(addr)
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v (last: %v)", ErrUnavailable, ctx.Err(), last)
		case <-time.After(backoff):
			backoff = min(2*backoff, 500*time.Millisecond)
		}
	}
}

// callOne asks one member, following at most one redirect to the leader
// it names.
func (c *Client) callOne(ctx context.Context, code int16, data []byte, addr string) (*remoting.Command, error) {
	for hop := 0; hop < 2; hop++ {
		req := remoting.NewRequest(code)
		req.Body = data
		resp, err := c.rc.Invoke(ctx, addr, req)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrUnavailable, addr, err)
		}
		if resp.Code == remoting.ResponseSuccess {
			c.setLeader(addr)
			return resp, nil
		}
		cerr := &Error{Code: resp.Code, Remark: resp.Remark}
		if resp.Code != remoting.ResponseControllerNotLeader {
			return nil, cerr
		}
		next, _ := resp.Ext.Get(ExtLeaderAddress)
		if next == "" || next == addr {
			return nil, cerr
		}
		addr = next
	}
	return nil, ErrNotLeader
}

// order lists the members to try: the known leader first.
func (c *Client) order() []string {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	out := make([]string, 0, len(c.opts.Addrs)+1)
	if leader != "" {
		out = append(out, leader)
	}
	for _, a := range c.opts.Addrs {
		if a != leader {
			out = append(out, a)
		}
	}
	return out
}

func (c *Client) setLeader(addr string) {
	c.mu.Lock()
	c.leader = addr
	c.mu.Unlock()
}

// forgetLeader drops addr as the leader hint after it failed to answer
// as leader, so the next round does not start with it.
func (c *Client) forgetLeader(addr string) {
	c.mu.Lock()
	if c.leader == addr {
		c.leader = ""
	}
	c.mu.Unlock()
}

func decodeAnswer(resp *remoting.Command, out any) error {
	if resp.Code != remoting.ResponseSuccess {
		return &Error{Code: resp.Code, Remark: resp.Remark}
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("controller: decode answer: %w", err)
	}
	return nil
}

// serveNotice handles requests a controller sends on the client's
// connections: NOTIFY_BROKER_ROLE_CHANGED goes to OnRoleChange.
func (c *Client) serveNotice(_ string, req *remoting.Command) *remoting.Command {
	if req.Code != remoting.RequestNotifyBrokerRoleChanged || c.opts.OnRoleChange == nil {
		return nil
	}
	var info ReplicaInfo
	if len(req.Body) > MaxBodyBytes*16 || json.Unmarshal(req.Body, &info) != nil {
		return nil
	}
	c.opts.OnRoleChange(info)
	return nil
}
