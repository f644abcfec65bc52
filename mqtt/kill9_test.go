package mqtt

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// TestKill9PersistentSessions runs the comet binary, publishes QoS 1 and
// QoS 2 messages from a persistent MQTT 5 session to another, kills the
// broker with SIGKILL at random moments and restarts it on the same data
// directory, with both clients reconnecting and resuming their sessions
// as the specification says (resending unacknowledged PUBLISH and PUBREL;
// the subscriber keeps its awaiting-PUBREL ids). Afterwards every
// acknowledged QoS 1 message was received at least once and every QoS 2
// message at most once, acknowledged ones exactly once.
func TestKill9PersistentSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the comet binary")
	}
	bin := buildComet(t)
	dir := t.TempDir()
	mqttAddr := freeAddr(t)
	args := []string{"--data-dir", dir, "--listen", freeAddr(t), "--namesrv-listen", freeAddr(t), "--http-listen", "",
		"--ha-listen", "", "--mqtt-listen", mqttAddr, "--mqtt-ws-listen", "", "--flush", "sync"}
	rec := &kill9Record{got: map[string]int{}}
	proc := startComet(t, bin, args)
	sub := newResilientClient(t, mqttAddr, "k9-sub", rec)
	sub.subscribe("k/#")
	pub := newResilientClient(t, mqttAddr, "k9-pub", rec)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sub.receiveLoop(stop) }()
	go func() { defer wg.Done(); pub.publishLoop(stop) }()
	for cycle := 0; cycle < 4; cycle++ {
		time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond) // let traffic run, then kill at a random moment
		proc.kill(t)
		proc = startComet(t, bin, args)
	}
	testutil.WaitFor(t, 20*time.Second, "acknowledged messages", func() bool { return rec.ackedCount() >= 50 })
	close(stop)
	wg.Wait()
	sub.drainUntil(t, rec)
	rec.check(t)
	proc.kill(t)
}

// kill9Record is what the clients saw.
type kill9Record struct {
	mu    sync.Mutex
	acked []string // bodies whose PUBACK/PUBCOMP the publisher received
	got   map[string]int
}

func (r *kill9Record) ack(body string) {
	r.mu.Lock()
	r.acked = append(r.acked, body)
	r.mu.Unlock()
}

func (r *kill9Record) receive(body string) {
	r.mu.Lock()
	r.got[body]++
	r.mu.Unlock()
}

func (r *kill9Record) ackedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

func (r *kill9Record) missing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.acked {
		if r.got[b] == 0 {
			out = append(out, b)
		}
	}
	return out
}

func (r *kill9Record) check(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for body, n := range r.got {
		if strings.HasPrefix(body, "q2-") && n > 1 {
			t.Errorf("QoS 2 message %s received %d times", body, n)
		}
	}
	for _, b := range r.acked {
		if r.got[b] == 0 {
			t.Errorf("acknowledged message %s never received", b)
		}
	}
	t.Logf("%d acknowledged, %d distinct received", len(r.acked), len(r.got))
}

// resilientClient is an MQTT 5 client with a persistent session that
// reconnects and resumes after the broker dies.
type resilientClient struct {
	t    *testing.T
	addr string
	id   string
	rec  *kill9Record
	r    *rawClient
	// awaiting holds the QoS 2 packet ids received and not yet released
	// (the receiver's half of exactly-once; kept across reconnections).
	awaiting map[uint16]bool
	filter   string
}

func newResilientClient(t *testing.T, addr, id string, rec *kill9Record) *resilientClient {
	c := &resilientClient{t: t, addr: addr, id: id, rec: rec, awaiting: map[uint16]bool{}}
	c.reconnect(true)
	return c
}

// reconnect dials until the broker answers and resumes the session.
func (c *resilientClient) reconnect(clean bool) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err != nil {
			time.Sleep(50 * time.Millisecond) // the broker is restarting
			continue
		}
		c.r = &rawClient{t: c.t, conn: conn, version: version5}
		cp := persistentConnect(c.id, clean)
		cp.ProtocolName, cp.Level = "MQTT", version5
		c.r.send(cp)
		if ack, ok := c.r.poll(5 * time.Second).(*Connack); ok && ack.Reason == 0 {
			return
		}
		conn.Close()
	}
	c.t.Errorf("%s could not reconnect", c.id)
}

func (c *resilientClient) subscribe(filter string) {
	c.filter = filter
	c.r.send(&Subscribe{PacketID: 1, Subs: []Subscription{{Filter: filter, QoS: 2}}})
	if _, ok := c.r.poll(5 * time.Second).(*SubAck); !ok {
		c.t.Fatal("no SUBACK")
	}
}

// publishLoop publishes one message at a time, alternating QoS 1 and 2,
// completing each handshake across reconnections.
func (c *resilientClient) publishLoop(stop chan struct{}) {
	for seq := 1; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		qos := byte(1 + seq%2)
		body := fmt.Sprintf("q%d-%d", qos, seq)
		id := uint16(seq%60000 + 1)
		c.publishOne(&Publish{Topic: "k/" + body[:2], QoS: qos, PacketID: id, Payload: []byte(body)}, stop)
	}
}

func (c *resilientClient) publishOne(p *Publish, stop chan struct{}) {
	released := false
	for {
		if released {
			c.r.send(&Ack{Type: typePubrel, PacketID: p.PacketID})
		} else {
			c.r.send(p)
		}
		for {
			pk := c.r.poll(3 * time.Second)
			a, ok := pk.(*Ack)
			if pk == nil {
				break // connection lost (or stalled): reconnect and resend
			}
			if !ok || a.PacketID != p.PacketID {
				continue
			}
			switch {
			case a.Type == typePuback || a.Type == typePubcomp:
				c.rec.ack(string(p.Payload))
				return
			case a.Type == typePubrec:
				released = true
				c.r.send(&Ack{Type: typePubrel, PacketID: p.PacketID})
			}
		}
		select {
		case <-stop:
			return
		default:
		}
		c.r.conn.Close()
		c.reconnect(false)
		p.Dup = true
	}
}

// receiveLoop receives until stop, reconnecting when the broker dies.
func (c *resilientClient) receiveLoop(stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if !c.receiveOne(500 * time.Millisecond) {
			c.r.conn.Close()
			c.reconnect(false)
		}
	}
}

// receiveOne handles one packet; false when the connection is gone.
func (c *resilientClient) receiveOne(timeout time.Duration) bool {
	_ = c.r.conn.SetReadDeadline(time.Now().Add(timeout))
	pk := c.r.poll(timeout)
	if pk == nil {
		// poll returns nil on timeout too: tell them apart by probing.
		_ = c.r.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if _, err := c.r.conn.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return true
			}
			return false
		}
		c.r.buf = append(c.r.buf, b[0])
		return true
	}
	switch p := pk.(type) {
	case *Publish:
		switch p.QoS {
		case 1:
			c.rec.receive(string(p.Payload))
			c.r.send(&Ack{Type: typePuback, PacketID: p.PacketID})
		case 2:
			if !c.awaiting[p.PacketID] {
				c.awaiting[p.PacketID] = true
				c.rec.receive(string(p.Payload))
			}
			c.r.send(&Ack{Type: typePubrec, PacketID: p.PacketID})
		}
	case *Ack:
		if p.Type == typePubrel {
			delete(c.awaiting, p.PacketID)
			c.r.send(&Ack{Type: typePubcomp, PacketID: p.PacketID})
		}
	case *Disconnect:
		return false
	}
	return true
}

// drainUntil receives until every acknowledged message arrived.
func (c *resilientClient) drainUntil(t *testing.T, rec *kill9Record) {
	deadline := time.Now().Add(30 * time.Second)
	for len(rec.missing()) > 0 && time.Now().Before(deadline) {
		if !c.receiveOne(200 * time.Millisecond) {
			c.r.conn.Close()
			c.reconnect(false)
		}
	}
	// A little longer: duplicates would show now.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		c.receiveOne(100 * time.Millisecond)
	}
}

// cometProc is a running comet binary.
type cometProc struct {
	cmd    *exec.Cmd
	stderr *testutil.LockedBuffer
	done   chan struct{}
}

func buildComet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "comet")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cometmq/comet/cmd/comet").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return testutil.FreeLoopbackAddr(t)
}

func startComet(t *testing.T, bin string, args []string) *cometProc {
	t.Helper()
	p := &cometProc{cmd: exec.Command(bin, args...), stderr: &testutil.LockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	p.cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(t) })
	testutil.WaitFor(t, 30*time.Second, "comet ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("comet exited:\n%s", p.stderr.String())
		default:
		}
		return strings.Contains(p.stderr.String(), `msg="comet: ready"`)
	})
	return p
}

// kill sends SIGKILL (once) and waits for the process to end.
func (p *cometProc) kill(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}
