package namesrv

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cometmq/comet/netio"
	"github.com/cometmq/comet/netio/remoting"
)

// Server is a running name server: a Registry behind a netio server, and
// the loop that expires brokers that stopped registering.
type Server struct {
	server   *netio.Server
	registry *Registry
	stop     chan struct{}
	expiring sync.WaitGroup
}

// requestCodes are the requests a name server answers.
var requestCodes = []int16{
	remoting.RequestRegisterBroker, remoting.RequestUnregisterBroker, remoting.RequestGetRouteInfoByTopic,
	remoting.RequestGetBrokerClusterInfo, remoting.RequestGetAllTopicListFromNameServer,
	remoting.RequestDeleteTopicInNameSrv, remoting.RequestQueryDataVersion,
	remoting.RequestPutKVConfig, remoting.RequestGetKVConfig, remoting.RequestDeleteKVConfig,
	remoting.RequestGetKVListByNamespace, remoting.RequestWipeWritePermOfBroker, remoting.RequestAddWritePermOfBroker,
	remoting.RequestUpdateNameSrvConfig, remoting.RequestGetNameSrvConfig,
}

// expireInterval is how often the server looks for expired brokers.
const expireInterval = 10 * time.Second

// ServeOptions configure a name server.
type ServeOptions struct {
	Addr   string
	Logger *slog.Logger
	// Gate, when set, admits or refuses every request (acl.Gate with
	// acl.NameServerProfile: writes need an admin account). TLS, when set,
	// serves Addr with TLS.
	Gate netio.Gate
	TLS  *netio.TLSOptions
	// KVConfigPath is where the name server keeps its KV config; empty
	// keeps it in memory.
	KVConfigPath string
}

// Serve starts a name server on addr.
func Serve(addr string, log *slog.Logger) (*Server, error) {
	return ServeWith(ServeOptions{Addr: addr, Logger: log})
}

// ServeWith starts a name server as opts say.
func ServeWith(opts ServeOptions) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	registry, err := OpenRegistry(RegistryOptions{Logger: log, KVConfigPath: opts.KVConfigPath})
	if err != nil {
		return nil, err
	}
	srv, err := netio.NewServer(netio.Options{Name: "namesrv", Addr: opts.Addr, Logger: log, Gate: opts.Gate, TLS: opts.TLS})
	if err != nil {
		return nil, err
	}
	n := &Server{server: srv, registry: registry, stop: make(chan struct{})}
	handle := func(req *netio.Request) {
		resp := n.registry.Handle(req.Conn.RemoteAddr(), &req.Cmd)
		if resp == nil {
			resp = remoting.NewResponse(&req.Cmd, remoting.ResponseRequestCodeNotSupported, "request code not supported by the name server")
		}
		req.Reply(resp)
	}
	for _, code := range requestCodes {
		srv.Handle(code, handle)
	}
	srv.OnClose(func(c *netio.Conn) { n.registry.ConnectionClosed(c.RemoteAddr()) })
	if err := srv.Start(); err != nil {
		return nil, err
	}
	registry.SetListenAddr(srv.Addr())
	n.expiring.Add(1)
	go n.expireLoop()
	return n, nil
}

func (n *Server) expireLoop() {
	defer n.expiring.Done()
	t := time.NewTicker(expireInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.registry.ExpireStale(now)
		}
	}
}

// Addr is the bound address.
func (n *Server) Addr() string { return n.server.Addr() }

// Stop shuts the name server down and waits for its expiry loop.
func (n *Server) Stop(ctx context.Context) error {
	close(n.stop)
	err := n.server.Stop(ctx)
	n.expiring.Wait()
	return err
}
