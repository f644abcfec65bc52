package mqtt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cometmq/comet/actors"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
)

// testGateway is a broker with its name server and an MQTT gateway, all on
// loopback ports the system picks.
type testGateway struct {
	*cluster.Cluster
	gw      *Gateway
	opts    Options
	stopped sync.Once
}

func testLogger() *slog.Logger {
	var out io.Writer = io.Discard
	if os.Getenv("COMET_TEST_LOG") != "" {
		out = os.Stderr
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startGateway starts a cluster (in dir, or a temp dir when empty) and a
// gateway on it; both stop with the test.
func startGateway(t testing.TB, dir string, opts Options, broker func(*actors.BrokerOptions)) *testGateway {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	c, err := cluster.Start(cluster.Options{DataDir: dir, Broker: broker, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.WSListen == "" {
		opts.WSListen = "127.0.0.1:0"
	}
	if opts.DefaultQoS == 0 {
		opts.DefaultQoS = 1
	}
	opts.Logger = testLogger()
	opts.NumEventLoops = 2
	gw, err := New(c.Broker, opts)
	if err == nil {
		err = gw.Start()
	}
	if err != nil {
		c.Stop(context.Background())
		t.Fatal(err)
	}
	tg := &testGateway{Cluster: c, gw: gw, opts: opts}
	t.Cleanup(func() { tg.stop() })
	return tg
}

// stop stops the gateway, then the broker (idempotent).
func (tg *testGateway) stop() { tg.stopWith(true) }

// stopWith stops the gateway (snapshot false: without writing the session
// snapshot, as a crash would leave it), then the broker; once.
func (tg *testGateway) stopWith(snapshot bool) {
	tg.stopped.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = tg.gw.stop(ctx, snapshot)
		_ = tg.Cluster.Stop(ctx)
	})
}

// pahoClient connects a paho (MQTT 3.1.1) client.
func pahoClient(t testing.TB, addr, id string, clean bool, opts ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().SetClientID(id)
	if addr != "" {
		o.AddBroker("tcp://" + addr)
	}
	o = o.SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).SetProtocolVersion(4)
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func waitToken(t testing.TB, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// inbox collects the messages a paho subscription receives.
type inbox struct {
	mu   sync.Mutex
	msgs []paho.Message
}

func (in *inbox) handler(_ paho.Client, m paho.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
}

func (in *inbox) payloads() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]string, len(in.msgs))
	for i, m := range in.msgs {
		out[i] = string(m.Payload())
	}
	return out
}

func (in *inbox) waitCount(t testing.TB, n int) []string {
	t.Helper()
	testutil.WaitFor(t, 15*time.Second, fmt.Sprintf("%d messages", n), func() bool { return len(in.payloads()) >= n })
	return in.payloads()
}

// rawClient speaks MQTT with the package's own codec, for the protocol
// details clients hide.
type rawClient struct {
	t       testing.TB
	conn    net.Conn
	version byte
	buf     []byte
}

func dialRaw(t testing.TB, addr string, version byte) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, conn: c, version: version}
}

func (r *rawClient) send(p packet) {
	r.t.Helper()
	r.write(encodePacket(nil, p, r.version))
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// next reads the next packet; nil when the connection closed.
func (r *rawClient) next(timeout time.Duration) packet {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if n, err := splitPacket(r.buf, 1<<26, false); err != nil {
			r.t.Fatalf("split: %v", err)
		} else if n > 0 {
			p, err := decodePacket(r.buf[:n], r.version)
			if err != nil {
				r.t.Fatalf("decode % x: %v", r.buf[:n], err)
			}
			r.buf = r.buf[n:]
			return p
		}
		_ = r.conn.SetReadDeadline(deadline)
		var chunk [4096]byte
		n, err := r.conn.Read(chunk[:])
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatalf("no packet within %v", timeout)
			}
			return nil
		}
		r.buf = append(r.buf, chunk[:n]...)
	}
}

// poll returns the next packet, or nil when none arrives within timeout
// or the connection closed.
func (r *rawClient) poll(timeout time.Duration) packet {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if n, err := splitPacket(r.buf, 1<<26, false); err != nil {
			r.t.Fatalf("split: %v", err)
		} else if n > 0 {
			p, err := decodePacket(r.buf[:n], r.version)
			if err != nil {
				r.t.Fatalf("decode % x: %v", r.buf[:n], err)
			}
			r.buf = r.buf[n:]
			return p
		}
		_ = r.conn.SetReadDeadline(deadline)
		var chunk [4096]byte
		n, err := r.conn.Read(chunk[:])
		if err != nil {
			return nil
		}
		r.buf = append(r.buf, chunk[:n]...)
	}
}

// expectClosed reads until the server closes, returning the packets seen.
func (r *rawClient) expectClosed(timeout time.Duration) []packet {
	r.t.Helper()
	var seen []packet
	for {
		p := r.next(timeout)
		if p == nil {
			return seen
		}
		seen = append(seen, p)
	}
}

// connect sends CONNECT and returns the CONNACK.
func (r *rawClient) connect(cp *Connect) *Connack {
	r.t.Helper()
	if cp.ProtocolName == "" {
		cp.ProtocolName = "MQTT"
	}
	if cp.Level == 0 {
		cp.Level = r.version
	}
	r.send(cp)
	p := r.next(5 * time.Second)
	ack, ok := p.(*Connack)
	if !ok {
		r.t.Fatalf("want CONNACK, got %#v", p)
	}
	return ack
}
