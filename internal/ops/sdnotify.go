package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// ErrNotify is the class of sd_notify delivery errors.
var ErrNotify = errors.New("ops: sd_notify")

// Notifier sends service state to systemd over the datagram socket named by
// NOTIFY_SOCKET (sd_notify(3)). With no NOTIFY_SOCKET, as when comet runs
// outside systemd, every call is a no-op.
type Notifier struct {
	socket      string        // "" disables
	watchdog    time.Duration // 0: no watchdog requested
	lookupEnv   func(string) (string, bool)
	currentPID  int
	dialTimeout time.Duration
}

// NewNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the
// environment.
func NewNotifier() *Notifier { return newNotifier(os.LookupEnv, os.Getpid()) }

func newNotifier(lookup func(string) (string, bool), pid int) *Notifier {
	n := &Notifier{lookupEnv: lookup, currentPID: pid, dialTimeout: time.Second}
	n.socket, _ = lookup("NOTIFY_SOCKET")
	n.watchdog = n.watchdogInterval()
	return n
}

// watchdogInterval is WATCHDOG_USEC when it applies to this process.
func (n *Notifier) watchdogInterval() time.Duration {
	usecText, ok := n.lookupEnv("WATCHDOG_USEC")
	if !ok {
		return 0
	}
	usec, err := strconv.ParseInt(usecText, 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pidText, ok := n.lookupEnv("WATCHDOG_PID"); ok {
		if pid, err := strconv.Atoi(pidText); err != nil || pid != n.currentPID {
			return 0
		}
	}
	return time.Duration(usec) * time.Microsecond
}

// Enabled reports whether a notify socket is configured.
func (n *Notifier) Enabled() bool { return n.socket != "" }

// WatchdogInterval is the watchdog timeout systemd asked for, or 0.
func (n *Notifier) WatchdogInterval() time.Duration { return n.watchdog }

// Notify sends one state string ("READY=1", "STOPPING=1", "STATUS=...").
func (n *Notifier) Notify(state string) error {
	if n.socket == "" {
		return nil
	}
	addr := &net.UnixAddr{Name: n.socket, Net: "unixgram"}
	if addr.Name[0] == '@' {
		addr.Name = "\x00" + addr.Name[1:] // abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("%w: dial %s: %v", ErrNotify, n.socket, err)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(n.dialTimeout))
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("%w: send %q: %v", ErrNotify, state, err)
	}
	return nil
}

// Ready tells systemd the service is serving.
func (n *Notifier) Ready(status string) error {
	return n.Notify("READY=1\nSTATUS=" + status + "\nMAINPID=" + strconv.Itoa(n.currentPID))
}

// Stopping tells systemd the service is shutting down.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1\nSTATUS=draining") }

// Reloading tells systemd a reload started; Ready ends it.
func (n *Notifier) Reloading() error { return n.Notify("RELOADING=1") }

// RunWatchdog sends WATCHDOG=1 at half the watchdog interval while healthy
// reports true, until ctx ends. It returns at once when systemd asked for no
// watchdog.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() bool) {
	if n.watchdog <= 0 || n.socket == "" {
		return
	}
	t := time.NewTicker(n.watchdog / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy == nil || healthy() {
				_ = n.Notify("WATCHDOG=1")
			}
		}
	}
}
