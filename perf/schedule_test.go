package perf

import (
	"context"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when slept on or stalled.
type fakeClock struct {
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func fakePacer(s Schedule, c *fakeClock) *Pacer {
	return &Pacer{sched: s, now: c.Now, sleep: c.Sleep}
}

func TestScheduleIntended(t *testing.T) {
	start := time.Unix(1000, 0)
	// 1000 ops/s over 4 producers: each every 4 ms, producer 1 shifted 1 ms.
	s := NewSchedule(start, 1000, 1, 4)
	for i, want := range []time.Duration{1, 5, 9, 13} {
		if got := s.Intended(int64(i)).Sub(start); got != want*time.Millisecond {
			t.Errorf("Intended(%d) = start+%v, want start+%v", i, got, want*time.Millisecond)
		}
	}
	if got := s.Intended(1_000_000).Sub(start); got != 4_000_001*time.Millisecond {
		t.Errorf("Intended(1e6) drifted: start+%v", got)
	}
	// The producers together tile the timeline without gaps or overlaps.
	seen := map[time.Duration]bool{}
	for p := range 4 {
		ps := NewSchedule(start, 1000, p, 4)
		for i := range int64(5) {
			seen[ps.Intended(i).Sub(start)] = true
		}
	}
	for ms := range 20 {
		if !seen[time.Duration(ms)*time.Millisecond] {
			t.Errorf("no producer due at %d ms", ms)
		}
	}
	if NewSchedule(start, 0, 0, 1).Paced() {
		t.Error("rate 0 gave a paced schedule")
	}
}

// A stall does not shift later due times: the operations that fell behind
// go out at once, each keeping its own due time, and their latency counts
// from it (no coordinated omission).
func TestPacerStallKeepsTimetable(t *testing.T) {
	start := time.Unix(1000, 0)
	clock := &fakeClock{now: start}
	p := fakePacer(NewSchedule(start, 1000, 0, 1), clock) // one op per ms
	ctx := context.Background()
	var latencies []time.Duration
	for i := range int64(20) {
		due, err := p.Wait(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(time.Duration(i) * time.Millisecond); !due.Equal(want) {
			t.Fatalf("op %d due %v, want %v", i, due.Sub(start), want.Sub(start))
		}
		if clock.now.Before(due) {
			t.Fatalf("op %d released before its due time", i)
		}
		service := 100 * time.Microsecond
		if i == 5 {
			service = 10 * time.Millisecond // the broker stalls
		}
		clock.now = clock.now.Add(service)
		latencies = append(latencies, clock.now.Sub(due))
	}
	if latencies[5] != 10*time.Millisecond {
		t.Errorf("stalled op latency %v, want 10ms", latencies[5])
	}
	// Ops 6..14 were due during the stall: each waited for it.
	for i := 6; i <= 14; i++ {
		if latencies[i] <= time.Millisecond {
			t.Errorf("op %d latency %v hides the stall", i, latencies[i])
		}
	}
	if latencies[6] <= latencies[7] || latencies[7] <= latencies[8] {
		t.Errorf("backlog latencies should fall off: %v", latencies[6:9])
	}
	if latencies[19] != 100*time.Microsecond {
		t.Errorf("op 19 latency %v, want back to service time", latencies[19])
	}
}

func TestPacerUnpacedAndCancel(t *testing.T) {
	start := time.Unix(1000, 0)
	clock := &fakeClock{now: start.Add(time.Hour)}
	p := fakePacer(NewSchedule(start, 0, 0, 1), clock)
	due, err := p.Wait(context.Background(), 99)
	if err != nil || !due.Equal(clock.now) || len(clock.slept) != 0 {
		t.Fatalf("unpaced Wait = %v, %v after %v sleeps; want now, no sleep", due, err, clock.slept)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clock = &fakeClock{now: start}
	p = fakePacer(NewSchedule(start, 10, 0, 1), clock)
	if _, err := p.Wait(ctx, 3); err == nil {
		t.Fatal("Wait on a cancelled context succeeded")
	}
}

func TestPacerRealClock(t *testing.T) {
	start := time.Now()
	p := NewPacer(NewSchedule(start, 2000, 0, 1)) // every 500 µs
	for i := range int64(20) {
		due, err := p.Wait(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(due) {
			t.Fatalf("op %d released %v early", i, due.Sub(now))
		}
	}
	if el := time.Since(start); el < 9500*time.Microsecond {
		t.Fatalf("20 ops at 2000/s took %v, want >= 9.5ms", el)
	}
}
