package ringbuf

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// ErrClosed is returned by Wait once a closed ring has been drained.
var ErrClosed = errors.New("ringbuf: closed")

// MaxCapacity is the largest capacity a ring accepts (after rounding up).
const MaxCapacity = 1 << 30

// closedBit is the top bit of a ring's producer position. Close sets it with
// an atomic Or, so a push either claims its slot before Close (and is drained)
// or sees the bit and is rejected: no push can succeed after Close.
const closedBit = uint64(1) << 63

// cacheLinePad keeps hot counters written by different goroutines on
// different cache lines. 128 bytes rather than 64 because x86 prefetches
// lines in adjacent pairs.
type cacheLinePad struct{ _ [128]byte }

// Stats is a point-in-time view of one ring. Under concurrency the counters
// are read one at a time, so Depth is approximate; once producers and the
// consumer are quiet, Pushed-Popped == Depth exactly.
type Stats struct {
	Name      string
	Capacity  int
	Depth     int    // items currently queued (approximate under concurrency)
	HighWater int    // highest depth seen (sampled at pop, rejection and Stats)
	Pushed    uint64 // successful TryPush calls
	Popped    uint64 // items handed out by PopBatch
	Rejected  uint64 // TryPush that found the ring full (or closed)
	Closed    bool
}

// String renders the stats for logs and debug pages.
func (s Stats) String() string {
	return fmt.Sprintf("%s: depth=%d/%d high_water=%d pushed=%d popped=%d rejected=%d closed=%t",
		s.Name, s.Depth, s.Capacity, s.HighWater, s.Pushed, s.Popped, s.Rejected, s.Closed)
}

// roundCapacity returns the power of two at or above requested, at least 2
// (a one-slot sequence ring cannot tell "full" from "free"). It panics on a
// capacity outside 1..MaxCapacity: that is a configuration bug the caller's
// Options.Validate should have caught.
func roundCapacity(requested int) int {
	if requested <= 0 || requested > MaxCapacity {
		panic(fmt.Sprintf("ringbuf: capacity %d outside 1..%d", requested, MaxCapacity))
	}
	if requested <= 2 {
		return 2
	}
	return 1 << bits.Len(uint(requested-1))
}

// ringMeta is what both ring kinds share: read-mostly identity, the parking
// doorbell, and the cold counters. Each written field sits on its own line.
type ringMeta struct {
	name     string
	capacity int
	mask     uint64
	_        cacheLinePad
	park     parker
	_        cacheLinePad
	rejected atomic.Uint64
	_        cacheLinePad
	// highWater is written only when it grows, so it is nearly read-only.
	highWater atomic.Uint64
}

func newRingMeta(name string, capacity int) ringMeta {
	rounded := roundCapacity(capacity)
	return ringMeta{
		name:     name,
		capacity: rounded,
		mask:     uint64(rounded - 1),
		park:     newParker(),
	}
}

// reject counts a refused push and records that the ring reached capacity
// when it was refused for being full.
func (m *ringMeta) reject(full bool) {
	m.rejected.Add(1)
	if full {
		m.noteDepth(uint64(m.capacity))
	}
}

// noteDepth raises the high-water mark to depth if it is higher.
func (m *ringMeta) noteDepth(depth uint64) {
	for {
		seen := m.highWater.Load()
		if depth <= seen || m.highWater.CompareAndSwap(seen, depth) {
			return
		}
	}
}

// statsFor assembles Stats from positions read by the ring. popped must be
// read before pushed so that pushed >= popped.
func (m *ringMeta) statsFor(popped, pushedWithFlag uint64) Stats {
	pushed := pushedWithFlag &^ closedBit
	depth := uint64(0)
	if pushed > popped {
		depth = min(pushed-popped, uint64(m.capacity))
	}
	m.noteDepth(depth)
	return Stats{
		Name:      m.name,
		Capacity:  m.capacity,
		Depth:     int(depth),
		HighWater: int(m.highWater.Load()),
		Pushed:    pushed,
		Popped:    popped,
		Rejected:  m.rejected.Load(),
		Closed:    pushedWithFlag&closedBit != 0,
	}
}

// consumerView is what Wait asks of a ring; only the consumer calls it.
type consumerView interface {
	readyToPop() bool
	closedAndDrained() bool
}

// waitForItems parks the consumer until view has an item, the ring is closed
// and drained, or ctx ends. See parker for why no wakeup can be lost.
func waitForItems(ctx context.Context, park *parker, view consumerView) error {
	for {
		if view.readyToPop() {
			return nil
		}
		if view.closedAndDrained() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		park.sleeping.Store(1)
		// Re-check after announcing sleep: a producer that published before
		// seeing the flag is caught here; one that publishes later sees it.
		if view.readyToPop() || view.closedAndDrained() {
			park.sleeping.Store(0)
			continue
		}
		select {
		case <-park.doorbell:
		case <-ctx.Done():
		}
		park.sleeping.Store(0)
	}
}
