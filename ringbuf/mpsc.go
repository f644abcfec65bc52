package ringbuf

import (
	"context"
	"sync/atomic"
)

// mpscSlot carries one item and the position it was last published for:
// the consumer at position p may read slot p&mask once seq == p+1. A slot's
// seq from the previous lap (p+1-capacity) or its zero value never matches.
// The consumer never writes seq; it frees slots in bulk by advancing
// dequeuePos.
type mpscSlot[T any] struct {
	seq   atomic.Uint64
	value T
}

// MPSC is a bounded multi-producer single-consumer ring. A producer checks
// for room against dequeuePos, claims a position with one CAS on enqueuePos,
// writes the slot and publishes it by storing the slot's sequence. The
// consumer reads published slots in order and frees a whole batch with one
// store to dequeuePos, so an item costs two atomic read-modify-writes, both
// paid by its producer, and the consumer pays one per batch.
//
// Any number of goroutines may call TryPush, Stats, Name and Close. PopBatch
// and Wait belong to one consumer goroutine at a time.
type MPSC[T any] struct {
	meta  ringMeta
	slots []mpscSlot[T]
	_     cacheLinePad
	// enqueuePos is the next position to claim; closedBit marks Close.
	enqueuePos atomic.Uint64
	_          cacheLinePad
	// dequeuePos is the next position to pop. The consumer stores it once
	// per batch, after it has read and zeroed the batch's slots; producers
	// load it to check for room.
	dequeuePos atomic.Uint64
	_          cacheLinePad
}

// NewMPSC returns an empty ring registered under name. capacity is rounded
// up to a power of two (at least 2); it panics outside 1..MaxCapacity.
func NewMPSC[T any](name string, capacity int) *MPSC[T] {
	r := &MPSC[T]{meta: newRingMeta(name, capacity)}
	r.slots = make([]mpscSlot[T], r.meta.capacity)
	register(r, (*MPSC[T]).Stats)
	return r
}

// TryPush appends v unless the ring is full or closed. It never blocks and
// never waits for space: false means rejected, and the rejection is counted.
// It retries only when another producer claimed the same position first.
func (r *MPSC[T]) TryPush(v T) bool {
	capacity := int64(r.meta.capacity)
	pos := r.enqueuePos.Load()
	for {
		if pos&closedBit != 0 {
			r.meta.reject(false)
			return false
		}
		// Signed: a stale pos may be behind dequeuePos; the CAS then fails.
		if int64(pos-r.dequeuePos.Load()) >= capacity {
			r.meta.reject(true)
			return false
		}
		if r.enqueuePos.CompareAndSwap(pos, pos+1) {
			slot := &r.slots[pos&r.meta.mask]
			slot.value = v
			slot.seq.Store(pos + 1)
			r.meta.park.wakeIfSleeping()
			return true
		}
		pos = r.enqueuePos.Load()
	}
}

// PopBatch appends up to cap(dst)-len(dst) items to dst in push order and
// returns it; the popped slots are zeroed so the ring keeps no references.
// It stops early at a position a producer has claimed but not yet
// published. Consumer only.
func (r *MPSC[T]) PopBatch(dst []T) []T {
	room := uint64(cap(dst) - len(dst))
	if room == 0 {
		return dst
	}
	start := r.dequeuePos.Load()
	r.meta.noteDepth((r.enqueuePos.Load() &^ closedBit) - start)
	var zero T
	pos := start
	for ; pos-start < room; pos++ {
		slot := &r.slots[pos&r.meta.mask]
		if slot.seq.Load() != pos+1 {
			break
		}
		dst = append(dst, slot.value)
		slot.value = zero
	}
	if pos != start {
		r.dequeuePos.Store(pos)
	}
	return dst
}

// Wait parks the consumer until PopBatch would return at least one item
// (nil), the ring is closed and drained (ErrClosed), or ctx ends (ctx.Err()).
// It does not spin while idle. Consumer only.
func (r *MPSC[T]) Wait(ctx context.Context) error {
	return waitForItems(ctx, &r.meta.park, r)
}

func (r *MPSC[T]) readyToPop() bool {
	pos := r.dequeuePos.Load()
	return r.slots[pos&r.meta.mask].seq.Load() == pos+1
}

func (r *MPSC[T]) closedAndDrained() bool {
	enqueued := r.enqueuePos.Load()
	return enqueued&closedBit != 0 && enqueued&^closedBit == r.dequeuePos.Load()
}

// Close makes every later TryPush fail and wakes the consumer. Items pushed
// before Close stay poppable; Wait returns ErrClosed once they are drained.
// Safe to call more than once and from any goroutine.
func (r *MPSC[T]) Close() {
	r.enqueuePos.Or(closedBit)
	r.meta.park.ring()
}

// Idle reports whether the ring is open and holds no item, not even one a
// producer has claimed but not yet published. Safe from any goroutine; it
// is exact when the consumer is not popping meanwhile (a caller that
// excludes the consumer, as the writer's lock does, gets an exact answer).
func (r *MPSC[T]) Idle() bool {
	enqueued := r.enqueuePos.Load()
	return enqueued&closedBit == 0 && enqueued == r.dequeuePos.Load()
}

// Stats reports the ring's counters; safe from any goroutine.
func (r *MPSC[T]) Stats() Stats {
	popped := r.dequeuePos.Load()
	return r.meta.statsFor(popped, r.enqueuePos.Load())
}

// Name is the name the ring was registered under.
func (r *MPSC[T]) Name() string { return r.meta.name }

// Cap is the ring's capacity after rounding.
func (r *MPSC[T]) Cap() int { return r.meta.capacity }
