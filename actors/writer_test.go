package actors

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/persist"
)

// countCompletion counts completions and keeps the last error.
type countCompletion struct {
	mu   sync.Mutex
	n    int
	errs int
}

func (c *countCompletion) Complete(req *AppendRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if req.Err != nil {
		c.errs++
	}
}

func (c *countCompletion) count() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.errs
}

func openWriterStore(t *testing.T, segSize int64) *persist.Store {
	t.Helper()
	store, err := persist.Open(persist.Options{Dir: t.TempDir(), SegmentSize: segSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func oneMessage(topic string, queue int32, body []byte, done Completion) *AppendRequest {
	return &AppendRequest{Messages: []persist.Message{{Topic: topic, QueueID: queue, Body: body}}, Done: done}
}

func TestTryAppendInlineCompletesOnCaller(t *testing.T) {
	store := openWriterStore(t, 1<<20)
	w := NewWriter(store, WriterOptions{Flush: FlushAsync})
	w.Start()
	t.Cleanup(func() { w.Stop(context.Background()) })
	done := &countCompletion{}
	// The first message of a queue creates its files: not inline.
	first := oneMessage("T", 0, []byte("first"), done)
	if w.TryAppendInline(first) {
		t.Fatal("appended inline although the queue had no files yet")
	}
	if err := w.Submit(first); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "first append", func() bool { n, _ := done.count(); return n == 1 })
	testutil.WaitFor(t, 5*time.Second, "writer idle", func() bool { return w.ring.Idle() })
	second := oneMessage("T", 0, []byte("second"), done)
	if !w.TryAppendInline(second) {
		t.Fatal("idle writer refused an inline append into mapped files")
	}
	if n, errs := done.count(); n != 2 || errs != 0 {
		t.Fatalf("after inline append: %d completions, %d errors; want 2, 0", n, errs)
	}
	if second.Results[0].QueueOffset != 1 {
		t.Fatalf("inline append got queue offset %d, want 1", second.Results[0].QueueOffset)
	}
	q := store.ConsumeQueue("T", 0)
	if q.MaxOffset() != 2 {
		t.Fatalf("queue max offset %d after inline append, want 2 (published at once)", q.MaxOffset())
	}
	if got := w.Stats().Inline.Load(); got != 1 {
		t.Fatalf("inline counter %d, want 1", got)
	}
}

func TestTryAppendInlineRefusals(t *testing.T) {
	t.Run("sync flush", func(t *testing.T) {
		store := openWriterStore(t, 1<<20)
		w := NewWriter(store, WriterOptions{Flush: FlushSync})
		seedQueue(t, w, store)
		if w.TryAppendInline(oneMessage("T", 0, []byte("x"), &countCompletion{})) {
			t.Fatal("appended inline in sync-flush mode: the ack would not wait for the sync")
		}
	})
	t.Run("earlier request queued", func(t *testing.T) {
		store := openWriterStore(t, 1<<20)
		w := NewWriter(store, WriterOptions{Flush: FlushAsync}) // not started: the ring keeps what is pushed
		seedQueue(t, w, store)
		done := &countCompletion{}
		if err := w.Submit(oneMessage("T", 0, []byte("earlier"), done)); err != nil {
			t.Fatal(err)
		}
		later := oneMessage("T", 0, []byte("later"), done)
		if w.TryAppendInline(later) {
			t.Fatal("inline append overtook a request still in the ring")
		}
		w.Start()
		t.Cleanup(func() { w.Stop(context.Background()) })
		if err := w.Submit(later); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 5*time.Second, "both appends", func() bool { n, _ := done.count(); return n == 2 })
		if later.Results[0].QueueOffset != 2 {
			t.Fatalf("later request at queue offset %d, want 2 (after the earlier one)", later.Results[0].QueueOffset)
		}
	})
	t.Run("writer busy", func(t *testing.T) {
		store := openWriterStore(t, 1<<20)
		w := NewWriter(store, WriterOptions{Flush: FlushAsync})
		seedQueue(t, w, store)
		w.mu.Lock() // the writer's role is taken
		refused := !w.TryAppendInline(oneMessage("T", 0, []byte("x"), &countCompletion{}))
		w.mu.Unlock()
		if !refused {
			t.Fatal("inline append while the writer's role was held")
		}
	})
	t.Run("segment full", func(t *testing.T) {
		store := openWriterStore(t, 4096)
		w := NewWriter(store, WriterOptions{Flush: FlushAsync})
		seedQueue(t, w, store)
		w.Start()
		t.Cleanup(func() { w.Stop(context.Background()) })
		done := &countCompletion{}
		body := make([]byte, 1000)
		inline, queued := 0, 0
		for i := 0; i < 12; i++ {
			req := oneMessage("T", 0, body, done)
			if w.TryAppendInline(req) {
				inline++
				continue
			}
			queued++
			if err := w.Submit(req); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 5*time.Second, "queued append", func() bool { n, _ := done.count(); return n == inline+queued })
			testutil.WaitFor(t, 5*time.Second, "writer idle", func() bool { return w.ring.Idle() })
		}
		// 12 records of ~1.1 KiB need 4 segments of 4 KiB: each new segment
		// is created by the writer goroutine, never inline.
		if queued < 3 || inline < 3 {
			t.Fatalf("inline %d, queued %d: want segment rolls queued and the rest inline", inline, queued)
		}
		if n, errs := done.count(); n != 12 || errs != 0 {
			t.Fatalf("%d completions, %d errors; want 12, 0", n, errs)
		}
	})
	t.Run("large request", func(t *testing.T) {
		store := openWriterStore(t, 1<<20)
		w := NewWriter(store, WriterOptions{Flush: FlushAsync})
		seedQueue(t, w, store)
		if w.TryAppendInline(oneMessage("T", 0, make([]byte, maxInlineBytes+1), &countCompletion{})) {
			t.Fatal("a request over 64 KiB was appended on the caller's goroutine")
		}
		if !w.TryAppendInline(oneMessage("T", 0, make([]byte, 1024), &countCompletion{})) {
			t.Fatal("a small request was refused by an idle writer")
		}
	})
	t.Run("stopped", func(t *testing.T) {
		store := openWriterStore(t, 1<<20)
		w := NewWriter(store, WriterOptions{Flush: FlushAsync})
		seedQueue(t, w, store)
		w.Start()
		if err := w.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if w.TryAppendInline(oneMessage("T", 0, []byte("x"), &countCompletion{})) {
			t.Fatal("inline append after Stop")
		}
	})
}

// seedQueue creates the files of queue T-0 through an unstarted or started
// writer's store directly.
func seedQueue(t *testing.T, w *Writer, store *persist.Store) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := store.Append(&persist.Message{Topic: "T", QueueID: 0, Body: []byte("seed")}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Publish(); err != nil {
		t.Fatal(err)
	}
}

// TestInlineAppendsAreFlushedWhileIdle: inline appends do not wake the
// writer, yet async flush still makes them durable within FlushInterval.
func TestInlineAppendsAreFlushedWhileIdle(t *testing.T) {
	store := openWriterStore(t, 1<<20)
	w := NewWriter(store, WriterOptions{Flush: FlushAsync, FlushInterval: 20 * time.Millisecond})
	seedQueue(t, w, store)
	w.Start()
	t.Cleanup(func() { w.Stop(context.Background()) })
	if store.DurableOffset() >= store.MaxPhysicalOffset() {
		t.Fatal("seed already durable: the test would prove nothing")
	}
	if !w.TryAppendInline(oneMessage("T", 0, []byte("inline"), &countCompletion{})) {
		t.Fatal("idle writer refused an inline append")
	}
	end := store.MaxPhysicalOffset()
	testutil.WaitFor(t, 5*time.Second, "inline append flushed", func() bool { return store.DurableOffset() >= end })
}

// TestInlineAndQueuedAppendsKeepProducerOrder mixes inline appends and ring
// submissions from many producers (each with one request in flight at a
// time, like one connection's loop) while async flushes run: every
// producer's messages land in its queue in send order, none lost.
func TestInlineAndQueuedAppendsKeepProducerOrder(t *testing.T) {
	store := openWriterStore(t, 256<<10) // small segments: rolls happen
	w := NewWriter(store, WriterOptions{Flush: FlushAsync, FlushInterval: time.Millisecond, FlushBytes: 64 << 10})
	w.Start()
	t.Cleanup(func() { w.Stop(context.Background()) })
	const producers, per = 4, 2000
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			done := make(chanCompletion, 1)
			for i := 0; i < per; i++ {
				body := binary.BigEndian.AppendUint32(make([]byte, 0, 100), uint32(i))
				req := oneMessage("Order", int32(p), body[:100], done)
				if !w.TryAppendInline(req) {
					for w.Submit(req) != nil {
						time.Sleep(10 * time.Microsecond)
					}
				}
				<-done
				if req.Err != nil {
					t.Errorf("producer %d message %d: %v", p, i, req.Err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	if w.Stats().Inline.Load() == 0 {
		t.Fatal("no append went inline")
	}
	for p := 0; p < producers; p++ {
		q := store.ConsumeQueue("Order", int32(p))
		if q == nil || q.MaxOffset() != per {
			t.Fatalf("queue %d holds %v entries, want %d", p, q, per)
		}
		for off := int64(0); off < per; off++ {
			e, ok := q.Entry(off)
			if !ok {
				t.Fatalf("queue %d has no entry %d", p, off)
			}
			rec, err := store.RecordAt(e.CommitLogOffset)
			if err != nil {
				t.Fatal(err)
			}
			if got := binary.BigEndian.Uint32(rec.Body()); got != uint32(off) {
				t.Fatalf("queue %d offset %d holds message %d: order broken", p, off, got)
			}
		}
	}
}
