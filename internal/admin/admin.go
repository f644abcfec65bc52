package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// Error classes; every error an operation returns wraps one of them.
var (
	ErrInvalid     = errors.New("invalid argument")
	ErrUnreachable = errors.New("unreachable")
	ErrNotFound    = errors.New("not found")
	ErrBroker      = errors.New("broker error")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Options configure a Client.
type Options struct {
	// Namesrv lists the name servers, tried in order until one answers.
	Namesrv []string
	// Broker, when set, is the only broker addressed instead of every
	// master the name servers list.
	Broker string
	// Timeout bounds each request (default 5 s).
	Timeout time.Duration
	// Notice, when set, hears remarks worth telling a person that are not
	// errors (a print that skipped a gap of removed messages).
	Notice func(msg string)
	// Client carries the remoting client's credentials and TLS settings
	// (its timeouts come from Timeout).
	Client remoting.ClientOptions
}

// Client runs administrative operations. It is safe for concurrent use.
type Client struct {
	opts   Options
	remote *remoting.Client
}

// New makes a Client; it dials lazily, on the first operation.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Notice == nil {
		opts.Notice = func(string) {}
	}
	c := &Client{opts: opts}
	co := opts.Client
	co.DialTimeout, co.DefaultTimeout = opts.Timeout, opts.Timeout
	c.remote = remoting.NewClient(co)
	return c
}

// Close closes the connections.
func (c *Client) Close() { c.remote.Close() }

// SplitAddrs splits a ';' or ',' separated address list.
func SplitAddrs(s string) []string {
	var out []string
	for _, a := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// notFoundCodes are the response codes that mean "no such thing".
var notFoundCodes = []int16{remoting.ResponseTopicNotExist, remoting.ResponseQueryNotFound,
	remoting.ResponseSubscriptionGroupNotExist, remoting.ResponseConsumerNotOnline, remoting.ResponseSubscriptionNotExist}

// Invoke sends cmd to addr and classifies failures: no answer is
// ErrUnreachable, a not-found code ErrNotFound, any other error code
// ErrBroker. Codes in accept are returned without error.
func (c *Client) Invoke(addr string, cmd *remoting.Command, accept ...int16) (*remoting.Command, error) {
	return c.InvokeWithin(addr, cmd, c.opts.Timeout, accept...)
}

// InvokeWithin is Invoke with its own time limit.
func (c *Client) InvokeWithin(addr string, cmd *remoting.Command, limit time.Duration, accept ...int16) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	what := remoting.RequestName(cmd.Code)
	resp, err := c.remote.Invoke(ctx, addr, cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %s did not answer %s: %v", ErrUnreachable, addr, what, err)
	}
	if resp.Code == remoting.ResponseSuccess || slices.Contains(accept, resp.Code) {
		return resp, nil
	}
	class := ErrBroker
	if slices.Contains(notFoundCodes, resp.Code) {
		class = ErrNotFound
	}
	remark := strings.TrimSpace(resp.Remark)
	if remark == "" {
		remark = "(no remark)"
	}
	return resp, fmt.Errorf("%w: %s answered %s with %s: %s", class, addr, what, remoting.ResponseName(resp.Code), remark)
}

// invokeNamesrv tries each name server until one answers.
func (c *Client) invokeNamesrv(build func() *remoting.Command, accept ...int16) (*remoting.Command, error) {
	if len(c.opts.Namesrv) == 0 {
		return nil, invalid("no name server given")
	}
	var last error
	for _, addr := range c.opts.Namesrv {
		resp, err := c.Invoke(addr, build(), accept...)
		if err == nil || !errors.Is(err, ErrUnreachable) {
			return resp, err
		}
		last = err
	}
	return nil, last
}

// Namesrv lists the name servers the client asks.
func (c *Client) Namesrv() []string { return c.opts.Namesrv }

// BrokerRef is one broker.
type BrokerRef struct {
	Cluster string `json:"cluster,omitempty"`
	Name    string `json:"brokerName,omitempty"`
	ID      int64  `json:"brokerId"`
	Addr    string `json:"addr"`
}

// ClusterInfo is the name server's cluster table.
func (c *Client) ClusterInfo() (*routing.ClusterInfo, error) {
	resp, err := c.invokeNamesrv(func() *remoting.Command {
		return remoting.NewRequest(remoting.RequestGetBrokerClusterInfo)
	})
	if err != nil {
		return nil, err
	}
	var info routing.ClusterInfo
	if err := json.Unmarshal(resp.Body, &info); err != nil {
		return nil, fmt.Errorf("%w: cluster info body: %v", ErrBroker, err)
	}
	return &info, nil
}

// AllBrokers lists every broker (masters and replicas) the name server
// knows, sorted by cluster, name and id.
func (c *Client) AllBrokers() ([]BrokerRef, error) {
	info, err := c.ClusterInfo()
	if err != nil {
		return nil, err
	}
	clusterOf := map[string]string{}
	for cluster, names := range info.ClusterAddrTable {
		for _, n := range names {
			clusterOf[n] = cluster
		}
	}
	var out []BrokerRef
	for name, bd := range info.BrokerAddrTable {
		cluster := bd.Cluster
		if cluster == "" {
			cluster = clusterOf[name]
		}
		for id, addr := range bd.BrokerAddrs {
			out = append(out, BrokerRef{Cluster: cluster, Name: name, ID: id, Addr: addr})
		}
	}
	slices.SortFunc(out, func(a, b BrokerRef) int {
		if c := strings.Compare(a.Cluster+"/"+a.Name, b.Cluster+"/"+b.Name); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// Masters lists the brokers an operation addresses: Options.Broker, or
// every master the name server lists.
func (c *Client) Masters() ([]BrokerRef, error) {
	if c.opts.Broker != "" {
		return []BrokerRef{{Addr: c.opts.Broker}}, nil
	}
	all, err := c.AllBrokers()
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(all, func(b BrokerRef) bool { return b.ID != routing.MasterID })
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no broker is registered with name server %s", ErrNotFound,
			strings.Join(c.opts.Namesrv, ";"))
	}
	return out, nil
}

// Route fetches a topic's route from the name server.
func (c *Client) Route(topic string) (*routing.TopicRouteData, error) {
	if err := remoting.ValidateTopic(topic); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	resp, err := c.invokeNamesrv(func() *remoting.Command {
		cmd := remoting.NewRequest(remoting.RequestGetRouteInfoByTopic)
		cmd.Ext.Set("topic", topic)
		return cmd
	})
	if err != nil {
		return nil, err
	}
	r, err := routing.DecodeTopicRouteData(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: route body: %v", ErrBroker, err)
	}
	return r, nil
}

// TopicBrokers lists the masters that hold topic: Options.Broker, or the
// route's masters.
func (c *Client) TopicBrokers(topic string) ([]BrokerRef, error) {
	if c.opts.Broker != "" {
		return []BrokerRef{{Addr: c.opts.Broker}}, nil
	}
	r, err := c.Route(topic)
	if err != nil {
		return nil, err
	}
	var out []BrokerRef
	for _, bd := range r.BrokerDatas {
		if addr, ok := bd.BrokerAddrs[routing.MasterID]; ok {
			out = append(out, BrokerRef{Cluster: bd.Cluster, Name: bd.BrokerName, Addr: addr})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: topic %s has no master broker in its route", ErrNotFound, topic)
	}
	return out, nil
}

// KnownBroker reports whether the name server lists addr.
func (c *Client) KnownBroker(addr string) bool {
	all, err := c.AllBrokers()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(all, func(b BrokerRef) bool { return b.Addr == addr })
}

// rank orders error classes from the most to the least telling.
func rank(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return 1
	case errors.Is(err, ErrUnreachable):
		return 2
	case errors.Is(err, ErrNotFound):
		return 3
	}
	return 4
}

// Worst keeps the most telling of several errors (nil when all are nil).
func Worst(errs []error) error {
	var pick error
	for _, err := range errs {
		if err != nil && (pick == nil || rank(err) < rank(pick)) {
			pick = err
		}
	}
	return pick
}

// perBroker runs fetch on each broker and collects results by address;
// one broker failing does not hide the others.
func perBroker[T any](brokers []BrokerRef, fetch func(b BrokerRef) (T, error)) (map[string]T, []error) {
	out := map[string]T{}
	var errs []error
	for _, b := range brokers {
		v, err := fetch(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[b.Addr] = v
	}
	return out, errs
}

// onEveryMaster runs fetch on each master, skipping brokers that answer
// "not found"; it is ErrNotFound only when every broker does.
func onEveryMaster[T any](c *Client, what string, fetch func(b BrokerRef) (T, error)) (map[string]T, error) {
	brokers, err := c.Masters()
	if err != nil {
		return nil, err
	}
	out, errs := perBroker(brokers, fetch)
	var hard []error
	for _, err := range errs {
		if !errors.Is(err, ErrNotFound) {
			hard = append(hard, err)
		}
	}
	if len(out) == 0 {
		if len(hard) > 0 {
			return nil, Worst(hard)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return out, Worst(hard)
}

func bodyError(addr string, err error) error {
	return fmt.Errorf("%w: %s sent a body that does not decode: %v", ErrBroker, addr, err)
}
