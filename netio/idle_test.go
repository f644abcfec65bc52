package netio

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestIdleConnectionHeap opens 2,000 idle connections and reports the
// server-side heap they cost. Clients are raw sockets so that only the
// server's allocations show up in the Go heap.
func TestIdleConnectionHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 sockets")
	}
	const conns = 2000
	s := startServer(t, Options{}, nil)
	addr := loopbackSockaddr(t, s.Addr())
	before := heapAfterGC()
	fds := make([]int, 0, conns)
	t.Cleanup(func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	})
	for range conns {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socket: %v", err)
		}
		fds = append(fds, fd)
		if err := unix.Connect(fd, addr); err != nil {
			t.Fatalf("connect: %v", err)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "all connections open", func() bool { return s.Stats().Connections == conns })
	after := heapAfterGC()
	perConn := (int64(after) - int64(before)) / conns
	t.Logf("server heap per idle connection: %d bytes (%d connections, heap %d -> %d)",
		perConn, conns, before, after)
	if perConn > 32<<10 {
		t.Fatalf("idle connection costs %d bytes of heap, want under 32 KiB", perConn)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func loopbackSockaddr(t *testing.T, hostPort string) *unix.SockaddrInet4 {
	t.Helper()
	ap, err := netip.ParseAddrPort(hostPort)
	if err != nil {
		t.Fatalf("parse %s: %v", hostPort, err)
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}
