package ringbuf

import (
	"context"
	"sync/atomic"
)

// SPSC is a bounded single-producer single-consumer ring. The producer owns
// tail and the consumer owns head; each keeps a private copy of the other's
// index and re-reads the shared one only when its copy says full (producer)
// or empty (consumer), so most operations touch no line the other side
// writes.
//
// One goroutine at a time may call TryPush and one (other) goroutine may
// call PopBatch and Wait. Stats, Name and Close are safe from anywhere.
type SPSC[T any] struct {
	meta  ringMeta
	items []T
	_     cacheLinePad
	// tail is the next position to fill; closedBit marks Close. The producer
	// advances it with a CAS so that a concurrent Close is never overrun.
	tail atomic.Uint64
	// headSeenByProducer is the producer's last view of head.
	headSeenByProducer uint64
	_                  cacheLinePad
	// head is the next position to pop, written by the consumer per batch.
	head atomic.Uint64
	// tailSeenByConsumer is the consumer's last view of tail.
	tailSeenByConsumer uint64
	_                  cacheLinePad
}

// NewSPSC returns an empty ring registered under name. capacity is rounded
// up to a power of two (at least 2); it panics outside 1..MaxCapacity.
func NewSPSC[T any](name string, capacity int) *SPSC[T] {
	r := &SPSC[T]{meta: newRingMeta(name, capacity)}
	r.items = make([]T, r.meta.capacity)
	register(r, (*SPSC[T]).Stats)
	return r
}

// TryPush appends v unless the ring is full or closed. It never blocks:
// false means rejected, and the rejection is counted. Producer only.
func (r *SPSC[T]) TryPush(v T) bool {
	pos := r.tail.Load()
	if pos&closedBit != 0 {
		r.meta.reject(false)
		return false
	}
	capacity := uint64(r.meta.capacity)
	if pos-r.headSeenByProducer >= capacity {
		r.headSeenByProducer = r.head.Load()
		if pos-r.headSeenByProducer >= capacity {
			r.meta.reject(true)
			return false
		}
	}
	slot := &r.items[pos&r.meta.mask]
	*slot = v
	if !r.tail.CompareAndSwap(pos, pos+1) {
		// Close won the race; the consumer never reads past tail.
		var zero T
		*slot = zero
		r.meta.reject(false)
		return false
	}
	r.meta.park.wakeIfSleeping()
	return true
}

// PopBatch appends up to cap(dst)-len(dst) items to dst in push order and
// returns it; the popped slots are zeroed. Consumer only.
func (r *SPSC[T]) PopBatch(dst []T) []T {
	room := uint64(cap(dst) - len(dst))
	if room == 0 {
		return dst
	}
	pos := r.head.Load()
	if r.tailSeenByConsumer-pos < room {
		r.tailSeenByConsumer = r.tail.Load() &^ closedBit
		r.meta.noteDepth(r.tailSeenByConsumer - pos)
	}
	end := pos + min(room, r.tailSeenByConsumer-pos)
	if end == pos {
		return dst
	}
	var zero T
	for i := pos; i < end; i++ {
		slot := &r.items[i&r.meta.mask]
		dst = append(dst, *slot)
		*slot = zero
	}
	r.head.Store(end)
	return dst
}

// Wait parks the consumer until PopBatch would return at least one item
// (nil), the ring is closed and drained (ErrClosed), or ctx ends (ctx.Err()).
// It does not spin while idle. Consumer only.
func (r *SPSC[T]) Wait(ctx context.Context) error {
	return waitForItems(ctx, &r.meta.park, r)
}

func (r *SPSC[T]) readyToPop() bool {
	return r.tail.Load()&^closedBit != r.head.Load()
}

func (r *SPSC[T]) closedAndDrained() bool {
	tail := r.tail.Load()
	return tail&closedBit != 0 && tail&^closedBit == r.head.Load()
}

// Close makes every later TryPush fail and wakes the consumer. Items pushed
// before Close stay poppable; Wait returns ErrClosed once they are drained.
// Safe to call more than once and from any goroutine.
func (r *SPSC[T]) Close() {
	r.tail.Or(closedBit)
	r.meta.park.ring()
}

// Stats reports the ring's counters; safe from any goroutine.
func (r *SPSC[T]) Stats() Stats {
	popped := r.head.Load()
	return r.meta.statsFor(popped, r.tail.Load())
}

// Name is the name the ring was registered under.
func (r *SPSC[T]) Name() string { return r.meta.name }

// Cap is the ring's capacity after rounding.
func (r *SPSC[T]) Cap() int { return r.meta.capacity }
