package perf

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// startProgress prints a progress line every interval until the returned
// function is called (which is safe to call more than once).
func (r *run) startProgress() (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go r.progressLoop(quit, done)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
		})
	}
}

func (r *run) progressLoop(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(r.o.ProgressInterval)
	defer tick.Stop()
	began := time.Now()
	prevAcked, prevRecv, prevAt := r.acked.Load(), r.received.Load(), began
	for {
		select {
		case <-quit:
			if r.o.ProgressInPlace {
				fmt.Fprintln(r.o.Progress)
			}
			return
		case now := <-tick.C:
			acked, recv := r.acked.Load(), r.received.Load()
			secs := now.Sub(prevAt).Seconds()
			line := r.progressLine(now.Sub(began), float64(acked-prevAcked)/secs, float64(recv-prevRecv)/secs)
			if r.o.ProgressInPlace {
				fmt.Fprintf(r.o.Progress, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(r.o.Progress, line)
			}
			prevAcked, prevRecv, prevAt = acked, recv, now
		}
	}
}

func (r *run) progressLine(elapsed time.Duration, ackRate, recvRate float64) string {
	p99 := Merge(r.sendRec).ValueAtQuantile(99)
	line := fmt.Sprintf("%-6s %5.1fs  sent %s  acked %s (%s/s)", r.t.Name(), elapsed.Seconds(),
		human(float64(r.sent.Load())), human(float64(r.acked.Load())), human(ackRate))
	if r.w.Consumers > 0 {
		line += fmt.Sprintf("  recv %s (%s/s)", human(float64(r.received.Load())), human(recvRate))
	}
	line += "  send p99 " + formatMicros(float64(p99)/1e3)
	if f := r.failed.Load(); f > 0 {
		line += fmt.Sprintf("  FAILED %d", f)
	}
	return line
}

// human writes n with three significant digits and a k/M/G suffix.
func human(n float64) string {
	switch {
	case n >= 1e9:
		return strconv.FormatFloat(n/1e9, 'f', 2, 64) + "G"
	case n >= 1e6:
		return strconv.FormatFloat(n/1e6, 'f', 2, 64) + "M"
	case n >= 1e4:
		return strconv.FormatFloat(n/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(n, 'f', 0, 64)
}

// formatMicros writes a latency given in microseconds with a fitting unit.
func formatMicros(us float64) string {
	switch {
	case us >= 1e6:
		return strconv.FormatFloat(us/1e6, 'f', 2, 64) + "s"
	case us >= 1e3:
		return strconv.FormatFloat(us/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(us, 'f', 1, 64) + "µs"
}
