package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// env is one run's connection state and output settings.
type env struct {
	stdout, stderr io.Writer
	namesrv        string
	broker         string
	json           bool
	timeout        time.Duration
	client         *remoting.Client
	emitted        bool // the command printed its result
	security       security
}

func (e *env) close() {
	if e.client != nil {
		e.client.Close()
	}
}

func (e *env) remote() *remoting.Client {
	if e.client == nil {
		e.client = remoting.NewClient(e.security.clientOptions(remoting.ClientOptions{DialTimeout: e.timeout, DefaultTimeout: e.timeout}))
	}
	return e.client
}

// notFoundCodes are the response codes that mean "no such thing".
var notFoundCodes = []int16{remoting.ResponseTopicNotExist, remoting.ResponseQueryNotFound,
	remoting.ResponseSubscriptionGroupNotExist, remoting.ResponseConsumerNotOnline, remoting.ResponseSubscriptionNotExist}

// invoke sends cmd to addr and classifies failures: no answer is
// ErrUnreachable, a not-found code ErrNotFound, any other error code
// ErrBroker. Codes in accept are returned without error.
func (e *env) invoke(addr string, cmd *remoting.Command, accept ...int16) (*remoting.Command, error) {
	return e.invokeWithin(addr, cmd, e.timeout, accept...)
}

// invokeWithin is invoke with its own time limit.
func (e *env) invokeWithin(addr string, cmd *remoting.Command, limit time.Duration, accept ...int16) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	what := remoting.RequestName(cmd.Code)
	resp, err := e.remote().Invoke(ctx, addr, cmd)
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

// namesrvAddrs splits the -namesrv flag.
func (e *env) namesrvAddrs() []string {
	var out []string
	for _, a := range strings.FieldsFunc(e.namesrv, func(r rune) bool { return r == ';' || r == ',' }) {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// invokeNamesrv tries each name server until one answers.
func (e *env) invokeNamesrv(build func() *remoting.Command, accept ...int16) (*remoting.Command, error) {
	addrs := e.namesrvAddrs()
	if len(addrs) == 0 {
		return nil, usageError("no name server given (-namesrv)")
	}
	var last error
	for _, addr := range addrs {
		resp, err := e.invoke(addr, build(), accept...)
		if err == nil || !isUnreachable(err) {
			return resp, err
		}
		last = err
	}
	return nil, last
}

func isUnreachable(err error) bool { return errors.Is(err, ErrUnreachable) }

// brokerRef is one broker master.
type brokerRef struct {
	Cluster string `json:"cluster,omitempty"`
	Name    string `json:"brokerName,omitempty"`
	ID      int64  `json:"brokerId"`
	Addr    string `json:"addr"`
}

func (e *env) clusterInfo() (*routing.ClusterInfo, error) {
	resp, err := e.invokeNamesrv(func() *remoting.Command {
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

// allBrokers lists every broker (masters and slaves) the name server knows.
func (e *env) allBrokers() ([]brokerRef, error) {
	info, err := e.clusterInfo()
	if err != nil {
		return nil, err
	}
	clusterOf := map[string]string{}
	for cluster, names := range info.ClusterAddrTable {
		for _, n := range names {
			clusterOf[n] = cluster
		}
	}
	var out []brokerRef
	for name, bd := range info.BrokerAddrTable {
		cluster := bd.Cluster
		if cluster == "" {
			cluster = clusterOf[name]
		}
		for id, addr := range bd.BrokerAddrs {
			out = append(out, brokerRef{Cluster: cluster, Name: name, ID: id, Addr: addr})
		}
	}
	slices.SortFunc(out, func(a, b brokerRef) int {
		if c := strings.Compare(a.Cluster+"/"+a.Name, b.Cluster+"/"+b.Name); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// masters lists the brokers a command addresses: the -broker flag, or
// every master the name server lists.
func (e *env) masters() ([]brokerRef, error) {
	if e.broker != "" {
		return []brokerRef{{Addr: e.broker}}, nil
	}
	all, err := e.allBrokers()
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(all, func(b brokerRef) bool { return b.ID != routing.MasterID })
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no broker is registered with name server %s", ErrNotFound, e.namesrv)
	}
	return out, nil
}

// route fetches a topic's route from the name server.
func (e *env) route(topic string) (*routing.TopicRouteData, error) {
	resp, err := e.invokeNamesrv(func() *remoting.Command {
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

// topicBrokers lists the masters that hold topic: -broker, or the route.
func (e *env) topicBrokers(topic string) ([]brokerRef, error) {
	if e.broker != "" {
		return []brokerRef{{Addr: e.broker}}, nil
	}
	r, err := e.route(topic)
	if err != nil {
		return nil, err
	}
	var out []brokerRef
	for _, bd := range r.BrokerDatas {
		if addr, ok := bd.BrokerAddrs[routing.MasterID]; ok {
			out = append(out, brokerRef{Cluster: bd.Cluster, Name: bd.BrokerName, Addr: addr})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: topic %s has no master broker in its route", ErrNotFound, topic)
	}
	return out, nil
}

// worst keeps the error with the most telling exit code of several.
func worst(errs []error) error {
	var pick error
	for _, err := range errs {
		if err != nil && (pick == nil || exitCode(err) < exitCode(pick)) {
			pick = err
		}
	}
	return pick
}

func brokerBodyError(addr string, err error) error {
	return fmt.Errorf("%w: %s sent a body cometctl cannot read: %v", ErrBroker, addr, err)
}
