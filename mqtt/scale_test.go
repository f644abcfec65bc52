package mqtt

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// TestIdleConnectionsMemory opens COMET_MQTT_SCALE idle MQTT connections
// (CONNECT, CONNACK, then silence) to the comet binary and, when it is
// installed, to mosquitto, measured the same way: the server's resident
// set (VmRSS) before and after, divided by the connections. Comet must
// stay under maxIdleConnBytes a connection. Set COMET_MQTT_SCALE (e.g.
// 50000; the client and both servers need that many file descriptors).
//
//	COMET_MQTT_SCALE=18000 go test ./mqtt -run TestIdleConnectionsMemory -v
func TestIdleConnectionsMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("COMET_MQTT_SCALE"))
	if n <= 0 {
		t.Skip("set COMET_MQTT_SCALE to the number of idle connections")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+1000 {
		lim.Cur = min(lim.Max, uint64(n)+1000)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		if lim.Cur < uint64(n)+1000 {
			t.Skipf("open files limited to %d, below %d connections", lim.Cur, n)
		}
	}
	bin := buildComet(t)
	addr := freeAddr(t)
	proc := startComet(t, bin, []string{"--data-dir", t.TempDir(), "--listen", freeAddr(t), "--namesrv-listen", freeAddr(t),
		"--http-listen", "", "--ha-listen", "", "--mqtt-listen", addr, "--mqtt-ws-listen", ""})
	perConn := idleRSS(t, "comet", proc.cmd.Process.Pid, addr, n)
	if mosq, err := exec.LookPath("mosquitto"); err == nil {
		maddr := freeAddr(t)
		conf := filepath.Join(t.TempDir(), "m.conf")
		_, port, _ := net.SplitHostPort(maddr)
		user := os.Getenv("USER")
		if user == "" {
			user = "root"
		}
		os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\nuser "+user+"\nmax_connections -1\n"), 0o644)
		m := exec.Command(mosq, "-c", conf)
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { m.Process.Kill(); m.Wait() }()
		testutil.WaitFor(t, 10*time.Second, "mosquitto listening", func() bool {
			c, err := net.Dial("tcp", maddr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		mosqPer := idleRSS(t, "mosquitto", m.Process.Pid, maddr, n)
		t.Logf("RSS per idle connection: comet %.0f B, mosquitto %.0f B, ratio %.2f", perConn, mosqPer, perConn/mosqPer)
	}
	if perConn > maxIdleConnBytes {
		t.Fatalf("comet holds %.0f bytes per idle connection, more than %d", perConn, maxIdleConnBytes)
	}
}

// maxIdleConnBytes bounds what an idle MQTT connection may cost comet.
const maxIdleConnBytes = 24 << 10

// idleRSS connects n idle clients to addr and returns the server's RSS
// growth per connection.
func idleRSS(t *testing.T, name string, pid int, addr string, n int) float64 {
	t.Helper()
	before := vmRSS(t, pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: connection %d: %v", name, i, err)
		}
		id := fmt.Sprintf("idle-%d", i)
		pkt := encodePacket(nil, &Connect{ProtocolName: "MQTT", Level: 4, CleanStart: true, ClientID: id}, version311)
		if _, err := c.Write(pkt); err != nil {
			t.Fatalf("%s: connect %d: %v", name, i, err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		var ack [4]byte
		if _, err := c.Read(ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
			t.Fatalf("%s: CONNACK %d: % x %v", name, i, ack, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the server settle before reading its RSS (no condition to poll)
	after := vmRSS(t, pid)
	per := float64(after-before) / float64(n)
	t.Logf("%s: %d idle connections, RSS %d KiB -> %d KiB, %.0f bytes each", name, n, before>>10, after>>10, per)
	return per
}

// vmRSS reads a process's resident set in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
