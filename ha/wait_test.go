package ha

import (
	"errors"
	"testing"
	"time"
)

// TestWaitUntilGivesUpAtItsDeadline: a member of the in-sync set that
// never acknowledges holds a wait until its deadline, not beyond.
func TestWaitUntilGivesUpAtItsDeadline(t *testing.T) {
	p := startPair(t, func(so *ServerOptions, _ *ClientOptions) { so.ProposeInSync = func([]int64) {} })
	p.client.Stop()
	p.server.SetInSync([]int64{7}) // a member that is not connected
	end := appendMessages(t, p.master, 0, 3, 100)
	start := time.Now()
	err := p.server.WaitUntil(end, start.Add(100*time.Millisecond))
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("WaitUntil: %v, want ErrWaitTimeout", err)
	}
	if took := time.Since(start); took < 100*time.Millisecond || took > 2*time.Second {
		t.Fatalf("WaitUntil returned after %v, deadline 100ms", took)
	}
}
