package ringbuf

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// ring is the API both ring kinds share, so one suite checks both.
type ring[T any] interface {
	TryPush(v T) bool
	PopBatch(dst []T) []T
	Wait(ctx context.Context) error
	Stats() Stats
	Name() string
	Close()
	Cap() int
}

type ringKind struct {
	name    string
	newRing func(name string, capacity int) ring[uint64]
}

var ringKinds = []ringKind{
	{"mpsc", func(name string, capacity int) ring[uint64] { return NewMPSC[uint64](name, capacity) }},
	{"spsc", func(name string, capacity int) ring[uint64] { return NewSPSC[uint64](name, capacity) }},
}

func forEachKind(t *testing.T, test func(t *testing.T, kind ringKind)) {
	for _, kind := range ringKinds {
		t.Run("kind="+kind.name, func(t *testing.T) { test(t, kind) })
	}
}

// waitFor polls condition until it holds or the deadline passes.

func TestCapacityRoundsUpToPowerOfTwo(t *testing.T) {
	cases := []struct{ requested, want int }{
		{1, 2}, {2, 2}, {3, 4}, {5, 8}, {8, 8}, {1000, 1024}, {1<<12 + 1, 1 << 13},
	}
	for _, c := range cases {
		if got := NewMPSC[int]("round", c.requested).Cap(); got != c.want {
			t.Errorf("NewMPSC(%d).Cap() = %d, want %d", c.requested, got, c.want)
		}
		if got := NewSPSC[int]("round", c.requested).Cap(); got != c.want {
			t.Errorf("NewSPSC(%d).Cap() = %d, want %d", c.requested, got, c.want)
		}
	}
}

func TestCapacityOutOfRangePanics(t *testing.T) {
	for _, capacity := range []int{0, -1, MaxCapacity + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewMPSC(%d) did not panic", capacity)
				}
			}()
			NewMPSC[int]("bad", capacity)
		}()
	}
}

func TestFullRingRejectsAndCounts(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("full", 5) // rounds to 8
		for i := range uint64(8) {
			if !r.TryPush(i) {
				t.Fatalf("push %d rejected before the ring was full", i)
			}
		}
		for range 3 {
			if r.TryPush(99) {
				t.Fatal("push into a full ring succeeded")
			}
		}
		want := Stats{Name: "full", Capacity: 8, Depth: 8, HighWater: 8, Pushed: 8, Rejected: 3}
		if got := r.Stats(); got != want {
			t.Fatalf("stats = %+v, want %+v", got, want)
		}
		got := r.PopBatch(make([]uint64, 0, 3))
		if fmt.Sprint(got) != "[0 1 2]" {
			t.Fatalf("PopBatch = %v, want [0 1 2]", got)
		}
		for i := range uint64(3) {
			if !r.TryPush(100 + i) {
				t.Fatalf("push %d rejected after room was made", i)
			}
		}
		if r.TryPush(99) {
			t.Fatal("push into a refilled ring succeeded")
		}
		got = r.PopBatch(make([]uint64, 0, 64))
		if fmt.Sprint(got) != "[3 4 5 6 7 100 101 102]" {
			t.Fatalf("PopBatch = %v, want [3 4 5 6 7 100 101 102]", got)
		}
		want = Stats{Name: "full", Capacity: 8, Depth: 0, HighWater: 8, Pushed: 11, Popped: 11, Rejected: 4}
		if got := r.Stats(); got != want {
			t.Fatalf("stats = %+v, want %+v", got, want)
		}
	})
}

func TestPopBatchRespectsRoomAndAppends(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("room", 16)
		for i := range uint64(10) {
			r.TryPush(i)
		}
		if got := r.PopBatch(nil); len(got) != 0 {
			t.Fatalf("PopBatch(nil) = %v, want nothing (no room)", got)
		}
		full := make([]uint64, 4)
		if got := r.PopBatch(full); len(got) != 4 || &got[0] != &full[0] {
			t.Fatal("PopBatch with no spare capacity must return dst unchanged")
		}
		dst := append(make([]uint64, 0, 6), 42, 43)
		got := r.PopBatch(dst)
		if fmt.Sprint(got) != "[42 43 0 1 2 3]" {
			t.Fatalf("PopBatch = %v, want [42 43 0 1 2 3]", got)
		}
		got = r.PopBatch(make([]uint64, 0, 100))
		if fmt.Sprint(got) != "[4 5 6 7 8 9]" {
			t.Fatalf("PopBatch = %v, want [4 5 6 7 8 9]", got)
		}
		if got := r.PopBatch(make([]uint64, 0, 100)); len(got) != 0 {
			t.Fatalf("PopBatch on empty ring = %v", got)
		}
	})
}

func TestWrapAroundManyLaps(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("laps", 4)
		next, expect := uint64(0), uint64(0)
		batch := make([]uint64, 0, 3)
		for lap := 0; lap < 1000; lap++ {
			for r.TryPush(next) {
				next++
			}
			batch = r.PopBatch(batch[:0])
			for _, v := range batch {
				if v != expect {
					t.Fatalf("lap %d: popped %d, want %d", lap, v, expect)
				}
				expect++
			}
		}
	})
}

func TestPopBatchZeroesSlots(t *testing.T) {
	mpsc := NewMPSC[*int]("zero", 4)
	spsc := NewSPSC[*int]("zero", 4)
	for i := range 3 {
		mpsc.TryPush(&i)
		spsc.TryPush(&i)
	}
	mpsc.PopBatch(make([]*int, 0, 8))
	spsc.PopBatch(make([]*int, 0, 8))
	for i := range mpsc.slots {
		if mpsc.slots[i].value != nil {
			t.Errorf("mpsc slot %d still holds a pointer after pop", i)
		}
	}
	for i := range spsc.items {
		if spsc.items[i] != nil {
			t.Errorf("spsc slot %d still holds a pointer after pop", i)
		}
	}
}

func TestWaitReturnsAtOnceWhenItemsQueued(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("ready", 4)
		r.TryPush(1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a queued item wins over a finished context
		if err := r.Wait(ctx); err != nil {
			t.Fatalf("Wait with an item queued = %v, want nil", err)
		}
	})
}

func TestWaitHonoursContext(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("ctx", 4)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := r.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on empty ring = %v, want DeadlineExceeded", err)
		}
	})
}

func TestWaitWakesOnPush(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("wake", 4)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		result := make(chan error, 1)
		go func() { result <- r.Wait(ctx) }()
		parked := parkerOf(r)
		testutil.WaitFor(t, 5*time.Second, "consumer to park", func() bool { return parked.sleeping.Load() == 1 })
		r.TryPush(7)
		if err := <-result; err != nil {
			t.Fatalf("Wait after push = %v, want nil", err)
		}
		if got := r.PopBatch(make([]uint64, 0, 4)); fmt.Sprint(got) != "[7]" {
			t.Fatalf("PopBatch = %v, want [7]", got)
		}
	})
}

func TestCloseDrainsThenErrClosed(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("close", 8)
		r.TryPush(1)
		r.TryPush(2)
		r.Close()
		r.Close() // idempotent
		if r.TryPush(3) {
			t.Fatal("TryPush after Close succeeded")
		}
		ctx := context.Background()
		if err := r.Wait(ctx); err != nil {
			t.Fatalf("Wait with items left after Close = %v, want nil", err)
		}
		if got := r.PopBatch(make([]uint64, 0, 8)); fmt.Sprint(got) != "[1 2]" {
			t.Fatalf("PopBatch after Close = %v, want [1 2]", got)
		}
		if err := r.Wait(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait on drained closed ring = %v, want ErrClosed", err)
		}
		stats := r.Stats()
		if !stats.Closed || stats.Rejected != 1 || stats.Pushed != 2 || stats.Popped != 2 {
			t.Fatalf("stats after close = %+v", stats)
		}
	})
}

func TestCloseWakesParkedConsumer(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("close-wake", 8)
		result := make(chan error, 1)
		go func() { result <- r.Wait(context.Background()) }()
		parked := parkerOf(r)
		testutil.WaitFor(t, 5*time.Second, "consumer to park", func() bool { return parked.sleeping.Load() == 1 })
		r.Close()
		select {
		case err := <-result:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Wait = %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not wake the parked consumer")
		}
	})
}

func parkerOf(r ring[uint64]) *parker {
	switch r := r.(type) {
	case *MPSC[uint64]:
		return &r.meta.park
	case *SPSC[uint64]:
		return &r.meta.park
	}
	panic("unknown ring type")
}

// TestCloseRacingPushesLosesNothing checks that every push that reported
// success is popped, even when Close lands in the middle of the pushes.
func TestCloseRacingPushesLosesNothing(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		producers := 4
		if kind.name == "spsc" {
			producers = 1
		}
		for round := range 20 {
			r := kind.newRing("close-race", 64)
			accepted := make([]uint64, producers)
			var done sync.WaitGroup
			for p := range producers {
				done.Add(1)
				go func() {
					defer done.Done()
					for {
						if r.TryPush(uint64(p)) {
							accepted[p]++
						} else if r.Stats().Closed {
							return
						}
					}
				}()
			}
			popped := make(chan uint64, 1)
			go func() { popped <- drainUntilClosed(r) }()
			testutil.WaitFor(t, 5*time.Second, "pushes to start", func() bool { return r.Stats().Pushed > uint64(round*10) })
			r.Close()
			done.Wait()
			var total uint64
			for _, n := range accepted {
				total += n
			}
			if got := <-popped; got != total {
				t.Fatalf("round %d: popped %d items, producers saw %d successful pushes", round, got, total)
			}
		}
	})
}

// drainUntilClosed consumes until Wait reports ErrClosed and returns the
// number of items popped.
func drainUntilClosed(r ring[uint64]) uint64 {
	batch := make([]uint64, 0, 32)
	var popped uint64
	for r.Wait(context.Background()) == nil {
		batch = r.PopBatch(batch[:0])
		popped += uint64(len(batch))
	}
	return popped
}
