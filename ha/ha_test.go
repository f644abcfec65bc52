package ha

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometmq/comet/persist"
)

const testSegment = 256 << 10

func openStore(t *testing.T) *persist.Store {
	t.Helper()
	s, err := persist.Open(persist.Options{Dir: "/data", FS: persist.NewMemFS(), SegmentSize: testSegment,
		CQEntriesPerFile: 1024, IndexSlotsPerFile: 1024, IndexEntriesPerFile: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// lockedStore is a store whose tail is owned under a mutex, as the
// broker's writer role does.
type lockedStore struct {
	mu sync.Mutex
	s  *persist.Store
}

func (l *lockedStore) WrittenOffset() int64 { return l.s.WrittenOffset() }
func (l *lockedStore) DurableOffset() int64 { return l.s.DurableOffset() }
func (l *lockedStore) Append(off int64, data []byte, sync bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.s.AppendReplicated(off, data, sync)
	return err
}
func (l *lockedStore) Truncate(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.TruncateTo(off)
}
func (l *lockedStore) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Sync()
}

// appendMessages stores n messages of size bytes on the master and
// returns the written end.
func appendMessages(t *testing.T, l *lockedStore, first, n, size int) int64 {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := first; i < first+n; i++ {
		body := bytes.Repeat([]byte{byte(i)}, size)
		m := &persist.Message{Topic: fmt.Sprintf("t%d", i%3), QueueID: int32(i % 4), Body: body,
			Properties: []byte(fmt.Sprintf("KEYS\x01k%d", i)), BornHost: persist.Host{IP: []byte{127, 0, 0, 1}, Port: 1}}
		if _, err := l.s.Append(m, int64(1000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.s.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.s.Publish(); err != nil {
		t.Fatal(err)
	}
	return l.s.WrittenOffset()
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type pair struct {
	master, replica *lockedStore
	server          *Server
	client          *Client
}

func startPair(t *testing.T, mutate func(*ServerOptions, *ClientOptions)) *pair {
	t.Helper()
	p := &pair{master: &lockedStore{s: openStore(t)}, replica: &lockedStore{s: openStore(t)}}
	so := ServerOptions{Listen: "127.0.0.1:0", BrokerName: "b", Source: p.master.s, SegmentSize: testSegment,
		SyncFlush: true, Heartbeat: 50 * time.Millisecond, Timeout: time.Second, LagMax: time.Second}
	co := ClientOptions{BrokerName: "b", BrokerID: 1, SegmentSize: testSegment, Sink: p.replica, SyncFlush: true,
		Heartbeat: 50 * time.Millisecond, Timeout: time.Second, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	if mutate != nil {
		mutate(&so, &co)
	}
	var err error
	if p.server, err = NewServer(so); err != nil {
		t.Fatal(err)
	}
	p.server.SetMaster(0)
	p.server.Start()
	t.Cleanup(func() { p.server.Close() })
	addr := p.server.Addr()
	co.Master = func() string { return addr }
	if p.client, err = NewClient(co); err != nil {
		t.Fatal(err)
	}
	p.client.Start()
	t.Cleanup(p.client.Stop)
	return p
}

func segmentSums(t *testing.T, s *persist.Store) []uint32 {
	t.Helper()
	var out []uint32
	for off := s.MinPhysicalOffset(); off < s.WrittenOffset(); off += testSegment {
		seg := make([]byte, 0, testSegment)
		for pos := off; pos < min(off+testSegment, s.WrittenOffset()); {
			data, err := s.ReadRaw(pos, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			seg = append(seg, data...)
			pos += chunkAdvance(data)
		}
		out = append(out, crc32.ChecksumIEEE(seg))
	}
	return out
}

func requireSameLog(t *testing.T, master, replica *persist.Store) {
	t.Helper()
	if m, r := master.WrittenOffset(), replica.WrittenOffset(); m != r {
		t.Fatalf("master ends at %d, replica at %d", m, r)
	}
	a, b := segmentSums(t, master), segmentSums(t, replica)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("segment checksums differ: master %x, replica %x", a, b)
	}
}

func TestReplicaCatchesUpFromEmptyThenFollows(t *testing.T) {
	p := startPair(t, nil)
	end := appendMessages(t, p.master, 0, 3000, 300) // several segments
	p.server.Notify()
	waitFor(t, 10*time.Second, "catch-up", func() bool { return p.replica.WrittenOffset() == end })
	requireSameLog(t, p.master.s, p.replica.s)
	waitFor(t, 5*time.Second, "the replica to join the in-sync set", func() bool { return p.server.InSyncCount() == 2 })
	for i := 1; i <= 20; i++ {
		end = appendMessages(t, p.master, 3000+i*10, 10, 100)
		p.server.Notify()
		if err := p.server.Wait(end); err != nil {
			t.Fatalf("wait for %d: %v", end, err)
		}
		if p.replica.DurableOffset() < end {
			t.Fatalf("Wait returned before the replica synced %d (durable %d)", end, p.replica.DurableOffset())
		}
	}
	requireSameLog(t, p.master.s, p.replica.s)
	q := p.replica.s.ConsumeQueue("t0", 0)
	if q == nil || q.MaxOffset() == 0 {
		t.Fatal("the replica's consume queues were not rebuilt")
	}
}

func TestWaitRefusesBelowMinInSyncAndAfterLeave(t *testing.T) {
	p := startPair(t, func(so *ServerOptions, co *ClientOptions) {
		so.MinInSync, so.LagMax = 2, 300*time.Millisecond
	})
	p.client.Stop() // no replica yet
	end := appendMessages(t, p.master, 0, 10, 100)
	if err := p.server.Wait(end); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("Wait with the master alone: %v, want ErrNotEnoughReplicas", err)
	}
	co := p.client.opts
	c2, err := NewClient(co)
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	waitFor(t, 5*time.Second, "the replica to join", func() bool { return p.server.InSyncCount() == 2 })
	end = appendMessages(t, p.master, 10, 10, 100)
	p.server.Notify()
	if err := p.server.Wait(end); err != nil {
		t.Fatal(err)
	}
	c2.Stop() // the replica dies: the next wait lasts until it leaves
	end = appendMessages(t, p.master, 20, 10, 100)
	p.server.Notify()
	start := time.Now()
	if err := p.server.Wait(end); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("Wait after the replica died: %v, want ErrNotEnoughReplicas", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("Wait gave up after %s, before the replica left the set", waited)
	}
	if p.server.InSyncCount() != 1 {
		t.Fatalf("in-sync set of %d after the replica left", p.server.InSyncCount())
	}
}

func TestReplicaAheadOfMasterTruncatesOnReconnect(t *testing.T) {
	p := startPair(t, nil)
	end := appendMessages(t, p.master, 0, 50, 200)
	p.server.Notify()
	waitFor(t, 5*time.Second, "catch-up", func() bool { return p.replica.WrittenOffset() == end })
	// The master rolls back a batch the replica already holds.
	p.master.mu.Lock()
	for i := 0; i < 5; i++ {
		if _, err := p.master.s.Append(&persist.Message{Topic: "t", Body: []byte("x"), BornHost: persist.Host{IP: []byte{1, 2, 3, 4}}}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.master.s.Write(); err != nil {
		t.Fatal(err)
	}
	p.master.mu.Unlock()
	p.server.Notify()
	waitFor(t, 5*time.Second, "the replica to get the batch", func() bool { return p.replica.WrittenOffset() > end })
	p.master.mu.Lock()
	if err := p.master.s.Rollback(); err != nil {
		t.Fatal(err)
	}
	p.master.mu.Unlock()
	p.server.Reset()
	waitFor(t, 5*time.Second, "the replica to truncate", func() bool { return p.client.Stats().Truncations.Load() == 1 })
	end = appendMessages(t, p.master, 50, 50, 200)
	p.server.Notify()
	waitFor(t, 5*time.Second, "catch-up", func() bool { return p.replica.WrittenOffset() == end })
	requireSameLog(t, p.master.s, p.replica.s)
}

func TestEpochsFence(t *testing.T) {
	var fenced atomic.Int64
	p := startPair(t, func(so *ServerOptions, co *ClientOptions) {
		co.Epoch = 3
		so.OnFenced = func(e int64) { fenced.Store(e) }
	})
	waitFor(t, 5*time.Second, "the master to learn of epoch 3", func() bool { return fenced.Load() == 3 })
	if p.server.Stats().Refused.Load() == 0 || p.client.Stats().Connected.Load() {
		t.Fatal("a replica of a newer epoch was served")
	}
	p.client.Stop()
	p.server.SetMaster(4)
	c2, err := NewClient(p.client.opts)
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	defer c2.Stop()
	waitFor(t, 5*time.Second, "the replica to connect at epoch 4", func() bool { return c2.Stats().Connected.Load() })
}

func TestMetadataReachesReplica(t *testing.T) {
	var version atomic.Int64
	got := make(chan Meta, 16)
	startPair(t, func(so *ServerOptions, co *ClientOptions) {
		so.MetaInterval = 10 * time.Millisecond
		so.Metadata = func() []Meta {
			return []Meta{{Kind: 2, Body: fmt.Appendf(nil, "offsets v%d", version.Load())}}
		}
		co.ApplyMeta = func(m Meta) { got <- Meta{Kind: m.Kind, Body: bytes.Clone(m.Body)} }
	})
	for v := int64(0); v < 3; v++ {
		version.Store(v)
		want := fmt.Sprintf("offsets v%d", v)
		deadline := time.After(5 * time.Second)
		for seen := false; !seen; {
			select {
			case m := <-got:
				seen = m.Kind == 2 && string(m.Body) == want
			case <-deadline:
				t.Fatalf("metadata %q never reached the replica", want)
			}
		}
	}
}

func TestServerRefusesWhenNotMasterOrWrongGroup(t *testing.T) {
	p := startPair(t, func(_ *ServerOptions, co *ClientOptions) { co.BrokerName = "other" })
	waitFor(t, 5*time.Second, "a refusal", func() bool { return p.server.Stats().Refused.Load() > 0 })
	p.client.Stop()
	p.server.SetReplica(0)
	if err := p.server.Wait(1); !errors.Is(err, ErrNotMaster) {
		t.Fatalf("Wait on a replica: %v", err)
	}
}

func TestReplicaRefusesToFollowAnEmptyMaster(t *testing.T) {
	p := startPair(t, func(so *ServerOptions, co *ClientOptions) {})
	p.client.Stop()
	replica := p.replica
	// The replica holds data the (empty) master never had.
	other := &lockedStore{s: openStore(t)}
	end := appendMessages(t, other, 0, 20, 100)
	data, err := other.s.ReadRaw(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.Append(0, data, true); err != nil {
		t.Fatal(err)
	}
	c2, err := NewClient(p.client.opts)
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	defer c2.Stop()
	waitFor(t, 5*time.Second, "a handshake", func() bool { return c2.Stats().Sessions.Load() >= 2 })
	if replica.WrittenOffset() != end || c2.Stats().Truncations.Load() != 0 {
		t.Fatalf("the replica followed an empty master: log ends at %d, want %d", replica.WrittenOffset(), end)
	}
}

func TestControllerOwnsTheInSyncSet(t *testing.T) {
	proposals := make(chan []int64, 16)
	p := startPair(t, func(so *ServerOptions, _ *ClientOptions) {
		so.ProposeInSync = func(ids []int64) {
			select {
			case proposals <- ids:
			default:
			}
		}
	})
	end := appendMessages(t, p.master, 0, 10, 100)
	p.server.Notify()
	waitFor(t, 5*time.Second, "catch-up", func() bool { return p.replica.DurableOffset() == end })
	select {
	case ids := <-proposals:
		if fmt.Sprint(ids) != "[1]" {
			t.Fatalf("proposed %v, want [1]", ids)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no proposal for a caught-up replica")
	}
	if n := p.server.InSyncCount(); n != 1 {
		t.Fatalf("the set changed to %d members before the controller committed it", n)
	}
	p.server.SetInSync([]int64{1})
	if n := p.server.InSyncCount(); n != 2 {
		t.Fatalf("in-sync set of %d after SetInSync", n)
	}
}
