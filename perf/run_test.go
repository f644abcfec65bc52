package perf

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memTarget is an in-memory broker: sends are stored and handed to the
// topic's consumers round robin; a consumer that starts late is given the
// stored backlog first (its share of it).
type memTarget struct {
	mu        sync.Mutex
	stored    map[string][][]byte
	consumers []func([]byte)
	next      int
	// hook runs before each measured send is acknowledged (n: its 0-based
	// index over all publishers); an error fails the send.
	hook  func(n int64) error
	sends atomic.Int64
}

func newMemTarget() *memTarget { return &memTarget{stored: map[string][][]byte{}} }

func (m *memTarget) Name() string { return "mem" }

func (m *memTarget) Prepare(context.Context, *Workload, []string) error { return nil }

func (m *memTarget) Close() error { return nil }

func (m *memTarget) NewPublisher(context.Context, *Workload, int) (Publisher, error) {
	return &memPublisher{m: m}, nil
}

func (m *memTarget) StartConsumer(_ context.Context, w *Workload, topics []string, id int, deliver func([]byte)) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range topics {
		for i, b := range m.stored[t] {
			if i%w.Consumers == id {
				deliver(b)
			}
		}
	}
	m.consumers = append(m.consumers, deliver)
	return io.NopCloser(nil), nil
}

func (m *memTarget) store(topic string, body []byte) error {
	if _, measured := bodyStamp(body); measured && m.hook != nil {
		if err := m.hook(m.sends.Add(1) - 1); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stored[topic] = append(m.stored[topic], body)
	if len(m.consumers) > 0 {
		m.consumers[m.next%len(m.consumers)](body)
		m.next++
	}
	return nil
}

type memPublisher struct {
	m  *memTarget
	wg sync.WaitGroup
}

func (p *memPublisher) SendSync(_ context.Context, topic string, body []byte) error {
	return p.m.store(topic, body)
}

func (p *memPublisher) SendAsync(_ context.Context, topic string, body []byte, done func(error)) error {
	p.wg.Go(func() { done(p.m.store(topic, body)) })
	return nil
}

func (p *memPublisher) SendBatch(_ context.Context, topic string, bodies [][]byte) error {
	for _, b := range bodies {
		if err := p.m.store(topic, b); err != nil {
			return err
		}
	}
	return nil
}

func (p *memPublisher) Close() error { p.wg.Wait(); return nil }

func smallWorkload() Workload {
	w := DefaultWorkload()
	w.Count, w.Producers, w.Consumers, w.Topics, w.Size = 1000, 2, 2, 2, 64
	w.DrainTimeout = 5 * time.Second
	return w
}

func TestRunCountsEveryMode(t *testing.T) {
	for _, tc := range []struct {
		mode    SendMode
		backlog bool
	}{{SendSync, false}, {SendAsync, false}, {SendBatch, false}, {SendBatch, true}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			w := smallWorkload()
			w.Mode, w.Batch, w.Backlog = tc.mode, 64, tc.backlog
			res, err := Run(context.Background(), newMemTarget(), w, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Publish.Messages != 1000 || res.SendLatency.Count != 1000 || res.Consume.Messages != 1000 {
				t.Fatalf("publish %d, send latencies %d, consumed %d; want 1000 each",
					res.Publish.Messages, res.SendLatency.Count, res.Consume.Messages)
			}
			if tc.backlog != (res.EndToEnd == nil) {
				t.Fatalf("backlog %v but end-to-end %+v", tc.backlog, res.EndToEnd)
			}
			if !tc.backlog && res.EndToEnd.Count != 1000 {
				t.Fatalf("end-to-end latencies %d, want 1000", res.EndToEnd.Count)
			}
			if res.Publish.MsgsPerSec <= 0 || res.Publish.MBPerSec <= 0 {
				t.Fatalf("publish phase %+v", res.Publish)
			}
		})
	}
}

// A stall of the broker shows in the percentiles: the messages due while
// it lasted are measured from their due time, not from when they went out.
func TestRunNoCoordinatedOmission(t *testing.T) {
	mem := newMemTarget()
	const stall = 50 * time.Millisecond
	mem.hook = func(n int64) error {
		if n == 20 {
			time.Sleep(stall)
		}
		return nil
	}
	w := smallWorkload()
	w.Mode, w.Producers, w.Consumers, w.Topics, w.Count, w.Rate = SendSync, 1, 0, 1, 200, 2000
	res, err := Run(context.Background(), mem, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := res.SendHistogram()
	if h.TotalCount() != 200 {
		t.Fatalf("%d latencies, want 200", h.TotalCount())
	}
	// About 100 messages were due during the 50 ms stall (2 per ms), with
	// latencies falling from 50 ms to 0: over 40 % of all exceed 5 ms.
	if p60 := time.Duration(h.ValueAtQuantile(60)); p60 < 5*time.Millisecond {
		t.Fatalf("p60 %v: the stall was hidden (coordinated omission)", p60)
	}
	if max := time.Duration(h.Max()); max < stall {
		t.Fatalf("max %v, want >= %v", max, stall)
	}
}

func TestRunDuration(t *testing.T) {
	w := smallWorkload()
	w.Count, w.Duration, w.Rate, w.Mode = 0, 200*time.Millisecond, 1000, SendAsync
	res, err := Run(context.Background(), newMemTarget(), w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Publish.Messages; n != 200 {
		t.Fatalf("sent %d in 200 ms at 1000/s, want exactly 200 (the timetable's)", n)
	}
}

func TestRunFailedSends(t *testing.T) {
	mem := newMemTarget()
	boom := errors.New("boom")
	mem.hook = func(n int64) error {
		if n%10 == 0 {
			return boom
		}
		return nil
	}
	w := smallWorkload()
	w.Consumers = 0
	res, err := Run(context.Background(), mem, w, Options{})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Run error %v, want ErrIncomplete", err)
	}
	if res.Failed != 100 || res.Publish.Messages != 900 || res.FirstError != "boom" {
		t.Fatalf("failed %d, published %d, first error %q", res.Failed, res.Publish.Messages, res.FirstError)
	}
}

func TestRunProgress(t *testing.T) {
	w := smallWorkload()
	w.Count, w.Duration, w.Rate = 0, 120*time.Millisecond, 1000
	var out syncBuffer
	_, err := Run(context.Background(), newMemTarget(), w, Options{Progress: &out, ProgressInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.lines(); n < 3 {
		t.Fatalf("%d progress lines in 120 ms at 20 ms, want >= 3:\n%s", n, out.String())
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return string(b.buf) }

func (b *syncBuffer) lines() int {
	n := 0
	for _, c := range b.String() {
		if c == '\n' {
			n++
		}
	}
	return n
}
