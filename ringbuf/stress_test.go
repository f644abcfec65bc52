package ringbuf

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// item encodes a producer id in the top 16 bits and its sequence below.
func item(producer, seq int) uint64 { return uint64(producer)<<48 | uint64(seq) }

func itemProducer(v uint64) int { return int(v >> 48) }
func itemSeq(v uint64) int      { return int(v & (1<<48 - 1)) }

// pushAll pushes perProducer items for producer, yielding while the ring is
// full, and returns how many pushes were rejected on the way.
func pushAll(r ring[uint64], producer, perProducer int) (rejected int) {
	for seq := 0; seq < perProducer; {
		if r.TryPush(item(producer, seq)) {
			seq++
			continue
		}
		rejected++
		runtime.Gosched()
	}
	return rejected
}

// consumeAll pops until it has seen total items and checks that every
// producer's items arrive exactly once and in order.
func consumeAll(t *testing.T, r ring[uint64], producers, total int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nextSeq := make([]int, producers)
	batch := make([]uint64, 0, 37)
	for seen := 0; seen < total; {
		if err := r.Wait(ctx); err != nil {
			t.Fatalf("Wait after %d of %d items: %v", seen, total, err)
		}
		batch = r.PopBatch(batch[:0])
		for _, v := range batch {
			p, seq := itemProducer(v), itemSeq(v)
			if p >= producers || seq != nextSeq[p] {
				t.Fatalf("producer %d: got seq %d, want %d (lost, duplicated or reordered)", p, seq, nextSeq[p])
			}
			nextSeq[p]++
		}
		seen += len(batch)
	}
	if extra := r.PopBatch(batch[:0]); len(extra) != 0 {
		t.Fatalf("%d items popped beyond the %d pushed", len(extra), total)
	}
}

func TestMPSCManyProducersExactlyOnceInOrder(t *testing.T) {
	for _, producers := range []int{2, 8, 16} {
		t.Run("producers="+strconv.Itoa(producers), func(t *testing.T) {
			const perProducer = 20000
			r := NewMPSC[uint64]("many", 64)
			var wg sync.WaitGroup
			rejected := make([]int, producers)
			for p := range producers {
				wg.Add(1)
				go func() { defer wg.Done(); rejected[p] = pushAll(r, p, perProducer) }()
			}
			consumeAll(t, r, producers, producers*perProducer)
			wg.Wait()
			checkQuietStats(t, r.Stats(), producers*perProducer, sum(rejected))
		})
	}
}

func TestSPSCExactlyOnceInOrder(t *testing.T) {
	const total = 200000
	r := NewSPSC[uint64]("pair", 64)
	var rejected int
	done := make(chan struct{})
	go func() { defer close(done); rejected = pushAll(r, 0, total) }()
	consumeAll(t, r, 1, total)
	<-done
	checkQuietStats(t, r.Stats(), total, rejected)
}

func checkQuietStats(t *testing.T, stats Stats, total, rejected int) {
	t.Helper()
	if stats.Pushed != uint64(total) || stats.Popped != uint64(total) || stats.Depth != 0 {
		t.Errorf("stats = %+v, want pushed = popped = %d and depth 0", stats, total)
	}
	if stats.Rejected != uint64(rejected) {
		t.Errorf("stats.Rejected = %d, producers counted %d", stats.Rejected, rejected)
	}
	if stats.HighWater < 1 || stats.HighWater > stats.Capacity {
		t.Errorf("stats.HighWater = %d outside 1..%d", stats.HighWater, stats.Capacity)
	}
}

// TestNoLostWakeup alternates idle periods, where the consumer parks, with
// bursts. A lost wakeup leaves the consumer asleep with items queued, and
// the round's deadline catches it. Some bursts start the instant the
// consumer announces sleep, which is the racy window the parker must close.
func TestNoLostWakeup(t *testing.T) {
	forEachKind(t, func(t *testing.T, kind ringKind) {
		r := kind.newRing("wakeup", 16)
		park := parkerOf(r)
		var popped syncCounter
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			batch := make([]uint64, 0, 8)
			for r.Wait(ctx) == nil {
				batch = r.PopBatch(batch[:0])
				popped.add(len(batch))
			}
		}()
		rng := rand.New(rand.NewPCG(1, 2))
		pushed := 0
		budget := time.Now().Add(2 * time.Second)
		rounds := 0
		for ; rounds < 200000 && time.Now().Before(budget); rounds++ {
			switch rng.IntN(3) {
			case 0: // wait until the consumer has announced sleep
				testutil.WaitFor(t, 5*time.Second, "consumer to park", func() bool { return park.sleeping.Load() == 1 })
			case 1: // push while the consumer may be mid-way to parking
			case 2:
				runtime.Gosched()
			}
			burst := 1 + rng.IntN(4)
			for range burst {
				for !r.TryPush(uint64(pushed)) {
					runtime.Gosched()
				}
				pushed++
			}
			testutil.WaitFor(t, 5*time.Second, "burst to be consumed (lost wakeup?)", func() bool { return popped.load() == pushed })
		}
		if rounds < 100 {
			t.Fatalf("only %d rounds ran", rounds)
		}
	})
}

type syncCounter struct {
	mu struct {
		sync.Mutex
		n int
	}
}

func (c *syncCounter) add(n int) {
	c.mu.Lock()
	c.mu.n += n
	c.mu.Unlock()
}

func (c *syncCounter) load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.n
}

func sum(values []int) int {
	total := 0
	for _, v := range values {
		total += v
	}
	return total
}
