package testutil

import "time"

// TB is the part of testing.TB the helpers here use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// WaitFor polls cond until it holds, failing the test with what when
// timeout passes first. It polls every millisecond at first and backs off
// to every 20 ms, so a fast condition costs little and a slow one does not
// spin.
func WaitFor(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}
