package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeSystemd is a NOTIFY_SOCKET listener that records every datagram.
type fakeSystemd struct {
	conn *net.UnixConn
	mu   sync.Mutex
	got  []string
}

func listenNotify(t *testing.T, path string) *fakeSystemd {
	t.Helper()
	name := path
	if strings.HasPrefix(path, "@") {
		name = "\x00" + path[1:]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSystemd{conn: conn}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.got = append(f.got, string(buf[:n]))
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *fakeSystemd) waitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		for _, m := range f.got {
			if strings.Contains(m, substr) {
				f.mu.Unlock()
				return
			}
		}
		f.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no datagram containing %q; got %q", substr, f.got)
}

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestNotifyReadyStoppingWatchdog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	sd := listenNotify(t, sock)
	n := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "40000", "WATCHDOG_PID": "42"}), 42)
	if !n.Enabled() || n.WatchdogInterval() != 40*time.Millisecond {
		t.Fatalf("enabled %v watchdog %v", n.Enabled(), n.WatchdogInterval())
	}
	if err := n.Ready("serving"); err != nil {
		t.Fatal(err)
	}
	sd.waitFor(t, "READY=1\nSTATUS=serving\nMAINPID=42")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.RunWatchdog(ctx, func() bool { return true }); close(done) }()
	sd.waitFor(t, "WATCHDOG=1")
	cancel()
	<-done
	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	sd.waitFor(t, "STOPPING=1")
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := "@comet-test-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000000")
	sd := listenNotify(t, name)
	n := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": name}), 7)
	if err := n.Notify("STATUS=abstract"); err != nil {
		t.Fatal(err)
	}
	sd.waitFor(t, "STATUS=abstract")
}

func TestNotifyWithoutSystemdIsNoop(t *testing.T) {
	n := newNotifier(envOf(nil), 1)
	if n.Enabled() || n.Ready("x") != nil || n.Stopping() != nil {
		t.Fatal("notifier without NOTIFY_SOCKET must do nothing")
	}
	n.RunWatchdog(context.Background(), nil) // returns at once
	other := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "9"}), 10)
	if other.WatchdogInterval() != 0 {
		t.Fatal("watchdog meant for another pid must be ignored")
	}
	missing := newNotifier(envOf(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone")}), 1)
	if err := missing.Notify("READY=1"); !errors.Is(err, ErrNotify) {
		t.Fatalf("missing socket: %v", err)
	}
}

func TestRateLimiterSuppressesRepeats(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	rl := NewRateLimiter(slog.NewTextHandler(&buf, nil), 2, func() time.Time { return now })
	log := slog.New(rl).With("component", "test")
	for range 10 {
		log.Error("disk hiccup", "n", 1)
		log.Info("routine")
	}
	if got := strings.Count(buf.String(), "disk hiccup"); got != 2 {
		t.Fatalf("%d error lines in the first second, want 2:\n%s", got, buf.String())
	}
	if got := strings.Count(buf.String(), "routine"); got != 10 {
		t.Fatalf("info lines are not limited: %d", got)
	}
	if rl.Suppressed() != 8 {
		t.Fatalf("suppressed %d", rl.Suppressed())
	}
	now = now.Add(time.Second)
	buf.Reset()
	log.Error("disk hiccup")
	if !strings.Contains(buf.String(), "suppressed=8") || !strings.Contains(buf.String(), "component=test") {
		t.Fatalf("next second's line: %q", buf.String())
	}
	rl.SetLimit(0)
	for range 5 {
		log.Warn("unlimited")
	}
	if strings.Count(buf.String(), "unlimited") != 5 {
		t.Fatal("limit 0 must disable limiting")
	}
}

func TestNewLoggingLevelsAndFormats(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogging(&buf, "json", slog.LevelWarn, 5)
	if err != nil {
		t.Fatal(err)
	}
	l.Logger.Info("hidden")
	l.Level.Set(slog.LevelDebug)
	l.Logger.Debug("shown", "k", "v")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "shown" || rec["k"] != "v" {
		t.Fatalf("json line %q: %v", buf.String(), err)
	}
	if _, err := NewLogging(io.Discard, "xml", slog.LevelInfo, 0); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestHTTPEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "things"})
	reg.MustRegister(c)
	c.Add(3)
	var healthErr atomic.Pointer[error]
	srv, err := StartHTTP(HTTPOptions{Addr: "127.0.0.1:0", Gatherer: reg,
		Status: func() any { return map[string]int{"answer": 42} }, Healthy: func() error {
			if p := healthErr.Load(); p != nil {
				return *p
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz before ready: %d", code)
	}
	srv.SetReady(true)
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("readyz: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	gone := errors.New("disk gone")
	healthErr.Store(&gone)
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "disk gone") {
		t.Fatalf("unhealthy: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "test_things_total 3") {
		t.Fatalf("metrics: %d %q", code, body)
	}
	if code, body := get("/status"); code != 200 || !strings.Contains(body, `"answer": 42`) {
		t.Fatalf("status: %d %q", code, body)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}

func TestDegradedIsNotReadyButHealthy(t *testing.T) {
	var degraded atomic.Pointer[error]
	srv, err := StartHTTP(HTTPOptions{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Degraded: func() error {
		if p := degraded.Load(); p != nil {
			return *p
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	srv.SetReady(true)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	full := errors.New("disk full: 0 bytes free")
	degraded.Store(&full)
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: disk full: 0 bytes free") {
		t.Fatalf("readyz while degraded: %d %q", code, body)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "degraded: disk full") {
		t.Fatalf("healthz while degraded: %d %q", code, body)
	}
	degraded.Store(nil)
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("readyz after: %d %q", code, body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz after: %d %q", code, body)
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		srv, err := StartHTTP(HTTPOptions{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Pprof: on})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + srv.Addr() + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Shutdown(context.Background())
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; resp.StatusCode != want {
			t.Fatalf("pprof %v: /debug/pprof/ answered %d, want %d", on, resp.StatusCode, want)
		}
	}
}

// TestMountsOverH2CAndHTTP1 serves a mounted handler over cleartext
// HTTP/2 with prior knowledge and over HTTP/1.1.
func TestMountsOverH2CAndHTTP1(t *testing.T) {
	mounted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) })
	srv, err := StartHTTP(HTTPOptions{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(),
		Mounts: map[string]http.Handler{"/api/v1/": mounted}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	h2 := new(http.Protocols)
	h2.SetUnencryptedHTTP2(true)
	for name, c := range map[string]*http.Client{
		"HTTP/2.0": {Transport: &http.Transport{Protocols: h2}},
		"HTTP/1.1": {Transport: &http.Transport{}},
	} {
		resp, err := c.Get("http://" + srv.Addr() + "/api/v1/x")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != name || string(body) != name {
			t.Fatalf("%s: answered over %s, handler saw %q", name, resp.Proto, body)
		}
	}
}
