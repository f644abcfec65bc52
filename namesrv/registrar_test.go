package namesrv

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/routing"
)

// waitFor polls cond until it holds or the deadline passes.

// serveNamesrv runs n behind a minimal remoting listener on 127.0.0.1:0.
func serveNamesrv(t *testing.T, n *Registry) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		listener.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			conns.Store(conn, struct{}{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conns.Delete(conn)
				serveConn(n, conn)
			}()
		}
	}()
	return listener.Addr().String()
}

func serveConn(n *Registry, conn net.Conn) {
	defer conn.Close()
	remote := conn.RemoteAddr().String()
	defer n.ConnectionClosed(remote)
	reader := bufio.NewReader(conn)
	for {
		frame, err := readFrame(reader)
		if err != nil {
			return
		}
		var req remoting.Command
		if err := remoting.Decode(frame, &req); err != nil {
			return
		}
		resp := n.Handle(remote, &req)
		if resp == nil {
			resp = remoting.NewResponse(&req, remoting.ResponseRequestCodeNotSupported, "not supported")
		}
		if _, err := conn.Write(remoting.AppendFrame(nil, resp)); err != nil {
			return
		}
	}
}

func readFrame(r io.Reader) ([]byte, error) {
	prefix := make([]byte, 4)
	if _, err := io.ReadFull(r, prefix); err != nil {
		return nil, err
	}
	length := int(prefix[0])<<24 | int(prefix[1])<<16 | int(prefix[2])<<8 | int(prefix[3])
	if length < 4 || length > remoting.DefaultMaxFrameSize {
		return nil, remoting.ErrMalformedFrame
	}
	frame := make([]byte, 4+length)
	copy(frame, prefix)
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

// connInvoker is a minimal remoting client: one kept-alive connection per
// address, one request at a time, enough to drive a Registrar over real
// sockets. (A name server drops brokers whose connection closes, so the
// connection must outlive each request.)
type connInvoker struct {
	mu    sync.Mutex
	conns map[string]net.Conn
}

func newConnInvoker(t *testing.T) *connInvoker {
	inv := &connInvoker{conns: map[string]net.Conn{}}
	t.Cleanup(func() {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		for _, conn := range inv.conns {
			conn.Close()
		}
	})
	return inv
}

func (c *connInvoker) Invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn := c.conns[addr]
	if conn == nil {
		var dialer net.Dialer
		var err error
		if conn, err = dialer.DialContext(ctx, "tcp", addr); err != nil {
			return nil, err
		}
		c.conns[addr] = conn
	}
	resp, err := roundTrip(ctx, conn, req)
	if err != nil {
		conn.Close()
		delete(c.conns, addr)
	}
	return resp, err
}

func roundTrip(ctx context.Context, conn net.Conn, req *remoting.Command) (*remoting.Command, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	conn.SetDeadline(deadline)
	if _, err := conn.Write(remoting.AppendFrame(nil, req)); err != nil {
		return nil, err
	}
	frame, err := readFrame(conn)
	if err != nil {
		return nil, err
	}
	var resp remoting.Command
	if err := remoting.Decode(frame, &resp); err != nil {
		return nil, err
	}
	if resp.Opaque != req.Opaque {
		return nil, errors.New("opaque mismatch")
	}
	return &resp, nil
}

var errUnreachable = errors.New("unreachable name server")

// flakyInvoker fails for addresses in down and forwards the rest.
type flakyInvoker struct {
	next invoker
	down string
}

func (f flakyInvoker) Invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	if addr == f.down {
		return nil, errUnreachable
	}
	return f.next.Invoke(ctx, addr, req)
}

type topicSet struct {
	topics atomic.Pointer[[]routing.TopicConfig]
}

func (s *topicSet) set(topics ...routing.TopicConfig) { s.topics.Store(&topics) }
func (s *topicSet) get() []routing.TopicConfig        { return *s.topics.Load() }

func hasRoute(n *Registry, topic string) bool {
	_, ok := n.RouteBody(topic)
	return ok
}

func TestRegistrarOverTCP(t *testing.T) {
	first, second := NewRegistry(RegistryOptions{}), NewRegistry(RegistryOptions{})
	firstAddr, secondAddr := serveNamesrv(t, first), serveNamesrv(t, second)
	const downAddr = "127.0.0.1:1"
	var topics topicSet
	topics.set(topicConfig("T", 4, 6), topicConfig(remoting.AutoCreateTopicKey, 8, 7))
	registrar, err := newRegistrar(flakyInvoker{next: newConnInvoker(t), down: downAddr}, RegistrarOptions{
		NamesrvAddrs: []string{firstAddr, downAddr, secondAddr},
		ClusterName:  "DefaultCluster", BrokerName: "broker-a",
		BrokerAddr: "127.0.0.1:10911", HAServerAddr: "127.0.0.1:10912",
		Interval: time.Hour, Timeout: 2 * time.Second, Topics: topics.get,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := registrar.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Registry{first, second} {
		testutil.WaitFor(t, 5*time.Second, "first registration", func() bool { return hasRoute(n, "T") && hasRoute(n, remoting.AutoCreateTopicKey) })
	}
	topics.set(topicConfig("NEW", 2, 6), topicConfig(remoting.AutoCreateTopicKey, 8, 7))
	registrar.RegisterNow()
	for _, n := range []*Registry{first, second} {
		testutil.WaitFor(t, 5*time.Second, "re-registration", func() bool { return hasRoute(n, "NEW") && !hasRoute(n, "T") })
	}
	if err := registrar.RegisterAll(context.Background()); !errors.Is(err, errUnreachable) {
		t.Fatalf("RegisterAll error %v, want the unreachable name server's", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := registrar.Stop(stopCtx); !errors.Is(err, errUnreachable) {
		t.Fatalf("Stop error %v", err)
	}
	for _, n := range []*Registry{first, second} {
		if live := n.LiveBrokers(); len(live) != 0 || hasRoute(n, "NEW") {
			t.Fatalf("broker still registered after Stop: %v", live)
		}
	}
	if err := registrar.Start(context.Background()); !errors.Is(err, ErrRegistrarStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
}

func TestRegistrarSlaveLearnsMaster(t *testing.T) {
	n := NewRegistry(RegistryOptions{})
	addr := serveNamesrv(t, n)
	mustRegister(t, n, "master:1", brokerA)
	registrar, err := newRegistrar(newConnInvoker(t), RegistrarOptions{
		NamesrvAddrs: []string{addr}, ClusterName: "DefaultCluster", BrokerName: "broker-a",
		BrokerAddr: brokerASlave.addr, BrokerID: 1, Topics: func() []routing.TopicConfig { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := registrar.RegisterAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if master, ha := registrar.Master(); master != brokerA.addr || ha != brokerA.haAddr {
		t.Fatalf("master %q ha %q", master, ha)
	}
	if got := n.LiveBrokers(); !slices.Equal(got, []string{brokerA.addr, brokerASlave.addr}) {
		t.Fatalf("live %v", got)
	}
}

func TestRegistrarDataVersionChangesOnlyWithTopics(t *testing.T) {
	var topics topicSet
	topics.set(topicConfig("T", 4, 6))
	registrar, err := newRegistrar(newConnInvoker(t), RegistrarOptions{
		NamesrvAddrs: []string{"127.0.0.1:1"}, ClusterName: "c", BrokerName: "b",
		BrokerAddr: "127.0.0.1:10911", Topics: topics.get,
	})
	if err != nil {
		t.Fatal(err)
	}
	version := func() routing.DataVersion {
		body, err := registrar.registrationBody()
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := routing.DecodeRegisterBrokerBody(body)
		if err != nil {
			t.Fatal(err)
		}
		return decoded.TopicConfigSerializeWrapper.DataVersion
	}
	v1, v2 := version(), version()
	if v1 != v2 || v1.Counter != 1 {
		t.Fatalf("unchanged topics changed the version: %+v %+v", v1, v2)
	}
	topics.set(topicConfig("T", 8, 6))
	if v3 := version(); v3.Counter != 2 {
		t.Fatalf("changed topics kept the version: %+v", v3)
	}
}

func TestRegistrarOptionsValidate(t *testing.T) {
	valid := RegistrarOptions{NamesrvAddrs: []string{"a:1"}, ClusterName: "c", BrokerName: "b",
		BrokerAddr: "127.0.0.1:10911", Topics: func() []routing.TopicConfig { return nil }}
	if err := valid.Validate(); err != nil {
		t.Fatal(err)
	}
	broken := map[string]func(*RegistrarOptions){
		"no namesrv":   func(o *RegistrarOptions) { o.NamesrvAddrs = nil },
		"no name":      func(o *RegistrarOptions) { o.BrokerName = "" },
		"bad addr":     func(o *RegistrarOptions) { o.BrokerAddr = "x y:1" },
		"bad ha addr":  func(o *RegistrarOptions) { o.HAServerAddr = "nope" },
		"negative id":  func(o *RegistrarOptions) { o.BrokerID = -1 },
		"no topics fn": func(o *RegistrarOptions) { o.Topics = nil },
	}
	for name, mutate := range broken {
		opts := valid
		mutate(&opts)
		if err := opts.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestRegistrarWithRemotingClient(t *testing.T) {
	n := NewRegistry(RegistryOptions{})
	addr := serveNamesrv(t, n)
	client := remoting.NewClient(remoting.ClientOptions{})
	t.Cleanup(func() { client.Close() })
	var topics topicSet
	topics.set(topicConfig("T", 4, 6))
	registrar, err := NewRegistrar(client, RegistrarOptions{
		NamesrvAddrs: []string{addr}, ClusterName: "DefaultCluster", BrokerName: "broker-a",
		BrokerAddr: "127.0.0.1:10911", Interval: 20 * time.Millisecond, Topics: topics.get,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := registrar.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "registration through remoting.Client", func() bool { return hasRoute(n, "T") })
	// The periodic round alone (no RegisterNow) picks up a topic change.
	topics.set(topicConfig("T", 4, 6), topicConfig("LATER", 1, 6))
	testutil.WaitFor(t, 5*time.Second, "periodic re-registration", func() bool { return hasRoute(n, "LATER") })
	if err := registrar.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if hasRoute(n, "T") || len(n.LiveBrokers()) != 0 {
		t.Fatalf("still registered after Stop: %v", n.LiveBrokers())
	}
}

func TestClosedConnectionDropsRegisteredBroker(t *testing.T) {
	n := NewRegistry(RegistryOptions{})
	addr := serveNamesrv(t, n)
	client := remoting.NewClient(remoting.ClientOptions{})
	registrar, err := NewRegistrar(client, RegistrarOptions{
		NamesrvAddrs: []string{addr}, ClusterName: "DefaultCluster", BrokerName: "broker-a",
		BrokerAddr: "127.0.0.1:10911", Topics: func() []routing.TopicConfig { return []routing.TopicConfig{topicConfig("T", 4, 6)} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := registrar.RegisterAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !hasRoute(n, "T") {
		t.Fatal("not registered")
	}
	client.Close()
	testutil.WaitFor(t, 5*time.Second, "broker dropped on connection close", func() bool { return len(n.LiveBrokers()) == 0 && !hasRoute(n, "T") })
}

func TestRegistrarReportsRejection(t *testing.T) {
	n := NewRegistry(RegistryOptions{})
	addr := serveNamesrv(t, n)
	registrar, err := newRegistrar(newConnInvoker(t), RegistrarOptions{
		NamesrvAddrs: []string{addr}, ClusterName: "c", BrokerName: "b", BrokerAddr: "127.0.0.1:10911",
		Topics: func() []routing.TopicConfig { return []routing.TopicConfig{{TopicName: "T", ReadQueueNums: -1}} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := registrar.RegisterAll(context.Background()); !errors.Is(err, ErrRejected) {
		t.Fatalf("got %v, want ErrRejected", err)
	}
}
