package ringbuf

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// benchCapacity and benchBatch are the same for every design so the numbers
// compare.
const (
	benchCapacity = 4096
	benchBatch    = 256
)

// benchQueue is the workload's view of a queue: fail-fast push, batch pop,
// park while empty.
type benchQueue interface {
	tryPush(v uint64) bool
	popBatch(dst []uint64) []uint64
	wait(ctx context.Context) error
}

type mpscQueue struct{ ring *MPSC[uint64] }

func (q mpscQueue) tryPush(v uint64) bool          { return q.ring.TryPush(v) }
func (q mpscQueue) popBatch(dst []uint64) []uint64 { return q.ring.PopBatch(dst) }
func (q mpscQueue) wait(ctx context.Context) error { return q.ring.Wait(ctx) }

type spscQueue struct{ ring *SPSC[uint64] }

func (q spscQueue) tryPush(v uint64) bool          { return q.ring.TryPush(v) }
func (q spscQueue) popBatch(dst []uint64) []uint64 { return q.ring.PopBatch(dst) }
func (q spscQueue) wait(ctx context.Context) error { return q.ring.Wait(ctx) }

// chanQueue is a buffered channel; popBatch drains without blocking and wait
// blocks on a receive, keeping the received item for the next popBatch.
type chanQueue struct {
	items      chan uint64
	held       uint64
	holdingOne bool
}

func (q *chanQueue) tryPush(v uint64) bool {
	select {
	case q.items <- v:
		return true
	default:
		return false
	}
}

func (q *chanQueue) popBatch(dst []uint64) []uint64 {
	if q.holdingOne && len(dst) < cap(dst) {
		dst = append(dst, q.held)
		q.holdingOne = false
	}
	for len(dst) < cap(dst) {
		select {
		case v := <-q.items:
			dst = append(dst, v)
		default:
			return dst
		}
	}
	return dst
}

func (q *chanQueue) wait(ctx context.Context) error {
	if q.holdingOne || len(q.items) > 0 {
		return nil
	}
	select {
	case q.held = <-q.items:
		q.holdingOne = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mutexQueue is a mutex-guarded slice with a one-slot signal channel whose
// pop hands over everything queued by swapping slices.
type mutexQueue struct {
	mu struct {
		sync.Mutex
		items []uint64
	}
	limit  int
	signal chan struct{}
}

func newMutexQueue(limit int) *mutexQueue {
	q := &mutexQueue{limit: limit, signal: make(chan struct{}, 1)}
	q.mu.items = make([]uint64, 0, limit)
	return q
}

func (q *mutexQueue) tryPush(v uint64) bool {
	q.mu.Lock()
	if len(q.mu.items) >= q.limit {
		q.mu.Unlock()
		return false
	}
	q.mu.items = append(q.mu.items, v)
	first := len(q.mu.items) == 1
	q.mu.Unlock()
	if first {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	return true
}

// popBatch ignores dst's room: it drains everything and hands dst's backing
// array to producers for the next round.
func (q *mutexQueue) popBatch(dst []uint64) []uint64 {
	q.mu.Lock()
	drained := q.mu.items
	q.mu.items = dst[:0]
	q.mu.Unlock()
	return drained
}

func (q *mutexQueue) wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		queued := len(q.mu.items)
		q.mu.Unlock()
		if queued > 0 {
			return nil
		}
		select {
		case <-q.signal:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type benchImpl struct {
	name         string
	singleWriter bool
	newQueue     func() benchQueue
}

var benchImpls = []benchImpl{
	{"ring", false, func() benchQueue { return mpscQueue{NewMPSC[uint64]("bench", benchCapacity)} }},
	{"spsc", true, func() benchQueue { return spscQueue{NewSPSC[uint64]("bench", benchCapacity)} }},
	{"chan", false, func() benchQueue { return &chanQueue{items: make(chan uint64, benchCapacity)} }},
	{"mutex", false, func() benchQueue { return newMutexQueue(benchCapacity) }},
}

// BenchmarkQueue moves b.N items from P producers to one batch consumer.
// Producers yield and retry when the queue is full, as an event loop would
// after answering SYSTEM_BUSY.
func BenchmarkQueue(b *testing.B) {
	for _, impl := range benchImpls {
		for _, producers := range []int{1, 4, 16} {
			if impl.singleWriter && producers != 1 {
				continue
			}
			name := "impl=" + impl.name + "/producers=" + strconv.Itoa(producers)
			b.Run(name, func(b *testing.B) { runQueueBenchmark(b, impl.newQueue(), producers) })
		}
	}
}

func runQueueBenchmark(b *testing.B, q benchQueue, producers int) {
	b.SetBytes(8)
	b.ReportAllocs()
	var rejected atomic.Uint64
	var wg sync.WaitGroup
	b.ResetTimer()
	for p := range producers {
		share := b.N / producers
		if p == 0 {
			share += b.N % producers
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rejected.Add(produce(q, share))
		}()
	}
	consumed, checksum := consume(b, q, b.N)
	b.StopTimer()
	wg.Wait()
	if consumed != b.N || checksum != uint64(b.N) {
		b.Fatalf("consumed %d items (checksum %d), want %d", consumed, checksum, b.N)
	}
	b.ReportMetric(float64(rejected.Load())/float64(b.N), "rejects/op")
}

func produce(q benchQueue, count int) (rejected uint64) {
	for i := 0; i < count; {
		if q.tryPush(1) {
			i++
			continue
		}
		rejected++
		runtime.Gosched()
	}
	return rejected
}

func consume(b *testing.B, q benchQueue, total int) (consumed int, checksum uint64) {
	ctx := context.Background()
	batch := make([]uint64, 0, benchBatch)
	for consumed < total {
		if err := q.wait(ctx); err != nil {
			b.Fatal(err)
		}
		batch = q.popBatch(batch[:0])
		for _, v := range batch {
			checksum += v
		}
		consumed += len(batch)
		if cap(batch) < benchBatch {
			batch = make([]uint64, 0, benchBatch)
		}
	}
	return consumed, checksum
}

// BenchmarkPushPopUncontended is the cost per item on one goroutine: fill a
// batch, pop it. It isolates the push path an event loop pays.
func BenchmarkPushPopUncontended(b *testing.B) {
	for _, impl := range benchImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			q := impl.newQueue()
			b.SetBytes(8)
			b.ReportAllocs()
			batch := make([]uint64, 0, benchBatch)
			popped := 0
			for i := 0; i < b.N; i++ {
				if !q.tryPush(1) {
					b.Fatal("queue full in an uncontended run")
				}
				if i%benchBatch == benchBatch-1 {
					batch = q.popBatch(batch[:0])
					popped += len(batch)
				}
			}
			batch = q.popBatch(batch[:0])
			popped += len(batch)
			if popped != b.N {
				b.Fatalf("popped %d, pushed %d", popped, b.N)
			}
		})
	}
}
