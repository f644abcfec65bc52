package ringbuf

import "sync/atomic"

// parker lets the single consumer sleep without spinning and lets producers
// wake it without a channel send on every push.
//
// Protocol (Go atomics are sequentially consistent):
//
//	consumer                         producer
//	sleeping.Store(1)                publish item (atomic store/CAS)
//	check for an item (atomic load)  if sleeping.Load() != 0: ring doorbell
//	if none: block on doorbell
//
// Each side stores, then loads what the other side stored. In any
// sequentially consistent order at least one of the two loads observes the
// other's store, so either the consumer sees the item and does not block, or
// the producer sees the flag and rings. The doorbell has one slot and rings
// never block, so a ring that arrives before the consumer blocks is kept,
// and extra rings cost at most one spurious, re-checked wakeup.
//
// While the consumer is busy the flag is 0 and its cache line stays shared:
// a push pays one uncontended load.
type parker struct {
	sleeping atomic.Uint32
	doorbell chan struct{}
}

func newParker() parker {
	return parker{doorbell: make(chan struct{}, 1)}
}

// wakeIfSleeping is called by a producer after it has published an item.
func (p *parker) wakeIfSleeping() {
	if p.sleeping.Load() != 0 {
		p.ring()
	}
}

// ring leaves a token in the doorbell unless one is already there.
func (p *parker) ring() {
	select {
	case p.doorbell <- struct{}{}:
	default:
	}
}
