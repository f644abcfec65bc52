package perf

import (
	"context"
	"time"
)

// Schedule is one producer's open-loop timetable: operation i is due at
// Start + Phase + i·Interval, whatever happened to the operations before
// it. A zero Interval means no timetable (max rate).
type Schedule struct {
	Start    time.Time
	Phase    time.Duration
	Interval float64 // nanoseconds between this producer's operations
}

// NewSchedule spreads opsPerSecond over producers: each runs at
// opsPerSecond/producers, producer p shifted by p/opsPerSecond so that the
// producers interleave evenly. opsPerSecond <= 0 gives an unpaced schedule.
func NewSchedule(start time.Time, opsPerSecond float64, producer, producers int) Schedule {
	if opsPerSecond <= 0 {
		return Schedule{Start: start}
	}
	gap := 1e9 / opsPerSecond
	return Schedule{
		Start:    start,
		Phase:    time.Duration(float64(producer) * gap),
		Interval: gap * float64(producers),
	}
}

// Paced reports whether the schedule has a timetable.
func (s Schedule) Paced() bool { return s.Interval > 0 }

// Intended is when operation i is due. It depends on i alone, so a stall
// never shifts later due times.
func (s Schedule) Intended(i int64) time.Time {
	return s.Start.Add(s.Phase + time.Duration(float64(i)*s.Interval))
}

// Pacer makes a producer wait for its operations' due times.
type Pacer struct {
	sched Schedule
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// NewPacer returns a pacer on the real clock.
func NewPacer(s Schedule) *Pacer {
	return &Pacer{sched: s, now: time.Now, sleep: sleepContext}
}

// Wait blocks until operation i is due and returns its intended time, the
// time its latency is measured from. An operation already overdue returns
// at once with its original due time. Unpaced, it returns the current
// time. It fails only when ctx ends.
func (p *Pacer) Wait(ctx context.Context, i int64) (time.Time, error) {
	if !p.sched.Paced() {
		return p.now(), ctx.Err()
	}
	due := p.sched.Intended(i)
	if d := due.Sub(p.now()); d > 0 {
		if err := p.sleep(ctx, d); err != nil {
			return due, err
		}
	}
	return due, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
