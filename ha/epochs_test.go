package ha

import (
	"bytes"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestDivergencePoint(t *testing.T) {
	e := func(pairs ...int64) []EpochEntry {
		var out []EpochEntry
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, EpochEntry{Epoch: pairs[i], Start: pairs[i+1]})
		}
		return out
	}
	cases := []struct {
		name       string
		master     []EpochEntry
		masterEnd  int64
		replica    []EpochEntry
		replicaEnd int64
		want       int64
		ok         bool
	}{
		{"no epochs: the shorter log", nil, 900, nil, 1000, 900, true},
		{"empty replica", e(1, 0, 2, 500), 900, nil, 0, 0, true},
		{"replica behind in the same epoch", e(1, 0), 900, e(1, 0), 500, 500, true},
		{"replica ahead in the same epoch", e(1, 0), 900, e(1, 0), 1000, 900, true},
		{"old master's uncommitted tail", e(1, 0, 2, 900), 1500, e(1, 0), 1000, 900, true},
		{"replica behind the new epoch", e(1, 0, 2, 900), 1500, e(1, 0), 800, 800, true},
		{"replica in the new epoch", e(1, 0, 2, 900), 1500, e(1, 0, 2, 900), 1200, 1200, true},
		{"two failovers the replica missed", e(1, 0, 3, 700, 4, 1100), 1500, e(1, 0, 2, 800), 1000, 700, true},
		{"an empty range is skipped", e(1, 0, 3, 700), 1500, e(1, 0, 2, 800, 5, 800), 800, 700, true},
		{"replica entry past its end counts for nothing", e(1, 0), 900, e(1, 0, 2, 1000), 1000, 900, true},
		{"same epoch from another start", e(1, 0, 2, 600), 900, e(1, 0, 2, 700), 1000, 600, true},
		{"nothing shared", e(3, 0), 900, e(1, 0), 500, 0, false},
		{"only entries past the log end: the shorter log", e(1, 0), 900, e(2, 1000), 1000, 900, true},
	}
	for _, c := range cases {
		got, ok := DivergencePoint(c.master, c.masterEnd, c.replica, c.replicaEnd)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: (%d, %v), want (%d, %v)", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestEpochFramesRoundTrip(t *testing.T) {
	epochs := []EpochEntry{{1, 0}, {4, 1 << 33}}
	hello := Hello{BrokerID: 2, Epoch: 4, Offset: 9, BrokerName: "b", Epochs: epochs}
	welcome := Welcome{Epoch: 4, Start: 1, MasterEnd: 2, SegmentSize: 3, Epochs: epochs}
	dec := NewDecoder(bytes.NewReader(append(AppendHello(nil, hello), AppendWelcome(nil, welcome)...)))
	for _, want := range []any{&hello, &welcome} {
		got, err := dec.Next()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, err, want)
		}
	}
	// A version 1 HELLO (no epoch list) still decodes.
	v1 := AppendHello(nil, Hello{BrokerID: 2, Offset: 9, BrokerName: "b"})
	v1 = v1[:len(v1)-2]
	v1[3] -= 2
	v1[6] = 1
	got, err := NewDecoder(bytes.NewReader(v1)).Next()
	if h, ok := got.(*Hello); err != nil || !ok || h.BrokerName != "b" || h.Offset != 9 || h.Epochs != nil {
		t.Fatalf("version 1 hello: %+v, %v", got, err)
	}
}

// epochLog is a member's epoch entries as a test keeps them.
type epochLog struct {
	mu      sync.Mutex
	entries []EpochEntry
	adopted []EpochEntry
}

func (e *epochLog) get() []EpochEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.entries
}

func (e *epochLog) adopt(m []EpochEntry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.adopted = m
	return nil
}

// TestReplicaTruncatesToTheDivergencePoint plays a failover: master and
// replica share epoch 1 up to X; the member that led epoch 1 goes on to
// write past X alone, while the other is elected at epoch 2 and writes
// different records from X. The old master rejoins as a replica: it must
// cut its log at X (not at the shorter of the two logs), fetch epoch 2,
// and end byte-identical to the new master.
func TestReplicaTruncatesToTheDivergencePoint(t *testing.T) {
	masterEpochs := &epochLog{entries: []EpochEntry{{1, 0}}}
	replicaEpochs := &epochLog{entries: []EpochEntry{{1, 0}}}
	p := startPair(t, func(so *ServerOptions, co *ClientOptions) {
		so.Epochs = masterEpochs.get
		co.Epochs, co.MasterEpochs = replicaEpochs.get, replicaEpochs.adopt
	})
	x := appendMessages(t, p.master, 0, 40, 300)
	p.server.Notify()
	waitFor(t, 5*time.Second, "the shared prefix", func() bool { return p.replica.WrittenOffset() == x })
	p.client.Stop()

	// The replica's store plays the old master of epoch 1, writing past X;
	// the master's store is the new master of epoch 2 and writes more.
	oldEnd := appendMessages(t, p.replica, 1000, 10, 100)
	p.server.SetMaster(2)
	masterEpochs.mu.Lock()
	masterEpochs.entries = []EpochEntry{{1, 0}, {2, x}}
	masterEpochs.mu.Unlock()
	newEnd := appendMessages(t, p.master, 2000, 30, 50)
	if newEnd <= oldEnd {
		t.Fatalf("the test needs the new master's log (%d) past the old one's (%d)", newEnd, oldEnd)
	}
	opts := p.client.opts
	opts.Epoch = 2
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop()
	waitFor(t, 5*time.Second, "catch-up at epoch 2", func() bool { return p.replica.WrittenOffset() == newEnd })
	if c.Stats().Truncations.Load() != 1 {
		t.Fatalf("%d truncations, want 1", c.Stats().Truncations.Load())
	}
	requireSameLog(t, p.master.s, p.replica.s)
	replicaEpochs.mu.Lock()
	adopted := replicaEpochs.adopted
	replicaEpochs.mu.Unlock()
	if !reflect.DeepEqual(adopted, []EpochEntry{{1, 0}, {2, x}}) {
		t.Fatalf("the replica learnt the master's epochs as %v", adopted)
	}
}

// TestReplicaSharingNoEpochIsRefused: a replica whose log holds only
// epochs the master never had is not streamed to (it would be wiped).
func TestReplicaSharingNoEpochIsRefused(t *testing.T) {
	p := startPair(t, func(so *ServerOptions, co *ClientOptions) {
		so.Epochs = func() []EpochEntry { return []EpochEntry{{3, 0}} }
		co.Epochs = func() []EpochEntry { return []EpochEntry{{1, 0}} }
	})
	p.client.Stop() // both logs get their own records first
	appendMessages(t, p.replica, 0, 5, 100)
	appendMessages(t, p.master, 100, 5, 100)
	refused := p.server.Stats().Refused.Load()
	c, err := NewClient(p.client.opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop()
	waitFor(t, 5*time.Second, "the refusal", func() bool { return p.server.Stats().Refused.Load() > refused })
	if c.Stats().Connected.Load() || c.Stats().Truncations.Load() != 0 {
		t.Fatal("a replica sharing no epoch was served")
	}
}
