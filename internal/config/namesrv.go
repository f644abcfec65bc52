package config

import (
	"context"
	"log/slog"
	"time"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// Namesrv is a running name server: routing's state behind a netio server.
type Namesrv struct {
	server *netio.Server
	ns     *routing.Namesrv
	stop   chan struct{}
}

var namesrvCodes = []int16{
	remoting.RequestRegisterBroker, remoting.RequestUnregisterBroker, remoting.RequestGetRouteInfoByTopic,
	remoting.RequestGetBrokerClusterInfo, remoting.RequestGetAllTopicListFromNameServer,
	remoting.RequestDeleteTopicInNameSrv, remoting.RequestQueryDataVersion,
}

// StartNamesrv serves a name server on cfg.NamesrvListen.
func StartNamesrv(cfg *Config, log *slog.Logger) (*Namesrv, error) {
	return ServeNamesrv(cfg.NamesrvListen, log)
}

// ServeNamesrv serves a name server on addr.
func ServeNamesrv(addr string, log *slog.Logger) (*Namesrv, error) {
	srv, err := netio.NewServer(netio.Options{Name: "namesrv", Addr: addr, Logger: log})
	if err != nil {
		return nil, err
	}
	n := &Namesrv{server: srv, ns: routing.NewNamesrv(routing.NamesrvOptions{Logger: log}), stop: make(chan struct{})}
	handle := func(req *netio.Request) {
		resp := n.ns.Handle(req.Conn.RemoteAddr(), &req.Cmd)
		if resp == nil {
			resp = remoting.NewResponse(&req.Cmd, remoting.ResponseRequestCodeNotSupported, "request code not supported by the name server")
		}
		req.Reply(resp)
	}
	for _, code := range namesrvCodes {
		srv.Handle(code, handle)
	}
	srv.OnClose(func(c *netio.Conn) { n.ns.ConnectionClosed(c.RemoteAddr()) })
	if err := srv.Start(); err != nil {
		return nil, err
	}
	go n.expireLoop()
	return n, nil
}

func (n *Namesrv) expireLoop() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.ns.ExpireStale(now)
		}
	}
}

// Addr is the bound address.
func (n *Namesrv) Addr() string { return n.server.Addr() }

// Stop shuts the name server down.
func (n *Namesrv) Stop(ctx context.Context) error {
	close(n.stop)
	return n.server.Stop(ctx)
}
