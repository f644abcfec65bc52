package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
	"github.com/cometmq/comet/persist"
	"github.com/cometmq/comet/routing"
)

const topicTestDir = "/broker"

func openTestTopics(t testing.TB, fsys persist.FS) *topicTable {
	t.Helper()
	tt, err := loadTopicTable(fsys, topicTestDir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("load topics: %v", err)
	}
	return tt
}

func putTopic(name string, queues int32) topicChange {
	return topicChange{op: topicPut, cfg: newTopicConfig(name, queues, remoting.PermRead|remoting.PermWrite)}
}

func deleteTopic(name string) topicChange {
	return topicChange{op: topicDelete, cfg: routing.TopicConfig{TopicName: name}}
}

// topicNames lists the table's topics.
func topicNames(tt *topicTable) []string {
	var out []string
	for _, c := range tt.all() {
		out = append(out, c.TopicName)
	}
	return out
}

func requireTopics(t *testing.T, tt *topicTable, want map[string]int32) {
	t.Helper()
	if tt.len() != len(want) {
		t.Fatalf("table holds %d topics %v, want %d", tt.len(), topicNames(tt), len(want))
	}
	for name, queues := range want {
		c, ok := tt.get(name)
		if !ok || c.WriteQueueNums != queues {
			t.Fatalf("topic %s: %+v present=%v, want %d queues", name, c, ok, queues)
		}
	}
}

// TestTopicChangesSurviveCrashes: a change is acknowledged only once it
// is durable, so every acknowledged change survives a kill -9 (page cache
// kept) and a machine crash (only synced bytes kept, part of the rest
// torn), through the log and through compactions.
func TestTopicChangesSurviveCrashes(t *testing.T) {
	for _, crash := range []string{"process", "machine"} {
		t.Run("crash="+crash, func(t *testing.T) {
			rng := rand.New(rand.NewSource(7))
			mem := persist.NewMemFS()
			want := map[string]int32{}
			tt := openTestTopics(t, mem)
			tt.store.compactMin = 4 << 10 // compact several times along the way
			for i := 0; i < 400; i++ {
				name := fmt.Sprintf("T%d", rng.Intn(150))
				change := putTopic(name, int32(1+rng.Intn(8)))
				if rng.Intn(4) == 0 {
					change = deleteTopic(name)
				}
				if _, err := tt.apply(change); err != nil {
					t.Fatal(err)
				}
				if change.op == topicDelete {
					delete(want, name)
				} else {
					want[name] = change.cfg.WriteQueueNums
				}
			}
			var img *persist.MemFS
			if crash == "process" {
				img = mem.ProcessCrash()
			} else {
				img = mem.Crash(rng)
			}
			stopRun(tt)
			reopened := openTestTopics(t, img)
			defer reopened.close()
			requireTopics(t, reopened, want)
		})
	}
}

// TestTopicLogTornTailCut: bytes after the last whole record (a write cut
// short) are cut at load, and the next changes append after the cut.
func TestTopicLogTornTailCut(t *testing.T) {
	mem := persist.NewMemFS()
	tt := openTestTopics(t, mem)
	if _, err := tt.apply(putTopic("A", 4), putTopic("B", 2)); err != nil {
		t.Fatal(err)
	}
	good := tt.store.logBytes()
	stopRun(tt)
	img := mem.ProcessCrash()
	f, err := img.OpenFile(filepath.Join(topicTestDir, "config", topicLogName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var torn []byte
	torn, _ = appendTopicRecord(torn, &topicRecord{Version: routing.DataVersion{Counter: 99}, Put: &routing.TopicConfig{TopicName: "C"}})
	if _, err := f.WriteAt(torn[:len(torn)-3], good); err != nil {
		t.Fatal(err)
	}
	f.Close()
	reopened := openTestTopics(t, img)
	defer reopened.close()
	requireTopics(t, reopened, map[string]int32{"A": 4, "B": 2})
	if reopened.store.logBytes() != good {
		t.Fatalf("log not cut back to %d: %d", good, reopened.store.logBytes())
	}
	if _, err := reopened.apply(putTopic("D", 1)); err != nil {
		t.Fatal(err)
	}
	stopRun(reopened)
	again := openTestTopics(t, img.ProcessCrash())
	defer again.close()
	requireTopics(t, again, map[string]int32{"A": 4, "B": 2, "D": 1})
}

// TestTopicCompactionCrashBeforeLogRewritten: a snapshot installed whose
// log was not rewritten yet leaves log records the snapshot already has;
// replaying them must not resurrect a deleted topic, and the old log stays
// usable.
func TestTopicCompactionCrashBeforeLogRewritten(t *testing.T) {
	mem := persist.NewMemFS()
	efs := persist.NewErrorFS(mem, func(op persist.Op) error {
		if op.Kind == persist.OpRename && strings.HasSuffix(op.Path, topicLogName+".tmp") {
			return persist.ErrInjected
		}
		return nil
	})
	tt := openTestTopics(t, efs)
	if _, err := tt.apply(putTopic("Gone", 4), putTopic("Kept", 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := tt.apply(deleteTopic("Gone")); err != nil {
		t.Fatal(err)
	}
	stopRun(tt)
	if err := tt.store.compact(tt.snapshot()); !errors.Is(err, persist.ErrInjected) {
		t.Fatalf("compact with a failing log rename: %v", err)
	}
	if err := tt.store.appendRecords([]topicRecord{{Version: routing.DataVersion{Counter: 4}, Put: &routing.TopicConfig{TopicName: "After"}}}); err != nil {
		t.Fatalf("the old log is no longer usable: %v", err)
	}
	reopened := openTestTopics(t, mem.ProcessCrash())
	defer reopened.close()
	requireTopics(t, reopened, map[string]int32{"Kept": 2, "After": 0})
	if v := reopened.version().Counter; v != 4 {
		t.Fatalf("version counter %d after four changes", v)
	}
	if names, _ := mem.ReadDir(filepath.Join(topicTestDir, "config")); !slices.Equal(names, []string{"topics.json", "topics.log"}) {
		t.Fatalf("config holds %v", names)
	}
}

// TestTopicBackgroundCompaction: snapshots are written while changes keep
// being appended; every change made meanwhile is in the rewritten log.
func TestTopicBackgroundCompaction(t *testing.T) {
	mem := persist.NewMemFS()
	tt := openTestTopics(t, mem)
	tt.store.compactMin = 2 << 10
	want := map[string]int32{}
	for i := 0; i < 300; i++ {
		name := fmt.Sprintf("T%03d", i)
		if _, err := tt.apply(putTopic(name, 3)); err != nil {
			t.Fatal(err)
		}
		want[name] = 3
	}
	// The snapshot is written in the background; keep changing the table
	// until one has been installed.
	extra := 0
	testutil.WaitFor(t, 10*time.Second, "a background compaction installed", func() bool {
		name := fmt.Sprintf("X%03d", extra)
		extra++
		if _, err := tt.apply(putTopic(name, 3)); err != nil {
			t.Fatal(err)
		}
		want[name] = 3
		return tt.store.installed.Load() > 0
	})
	stopRun(tt)
	if tt.store.logBytes() >= int64((300+extra)*100) {
		t.Fatalf("the log was not cut by the compaction: %d bytes", tt.store.logBytes())
	}
	reopened := openTestTopics(t, mem.ProcessCrash())
	defer reopened.close()
	requireTopics(t, reopened, want)
}

// TestTopicStoreEveryFault fails each file operation of a workload in
// turn: whatever fails, every change that was acknowledged is there after
// a restart, and the table never holds a change that was refused.
func TestTopicStoreEveryFault(t *testing.T) {
	for i := int64(0); ; i++ {
		mem := persist.NewMemFS()
		efs := persist.NewErrorFS(mem, persist.FailAt(i))
		tt, err := loadTopicTable(efs, topicTestDir, slog.New(slog.DiscardHandler))
		if err != nil {
			if i > 1000 {
				t.Fatalf("the table does not open even with fault %d: %v", i, err)
			}
			continue // the fault hit the open itself
		}
		tt.store.compactMin = 512
		acked := map[string]int32{}
		for k := 0; k < 12; k++ {
			change := putTopic(fmt.Sprintf("T%d", k%5), int32(k+1))
			if k%4 == 3 {
				change = deleteTopic(fmt.Sprintf("T%d", k%5-1))
			}
			if _, err := tt.apply(change); err != nil {
				if !errors.Is(err, persist.ErrInjected) {
					t.Fatalf("fault %d: %v", i, err)
				}
				continue
			}
			if change.op == topicDelete {
				delete(acked, change.cfg.TopicName)
			} else {
				acked[change.cfg.TopicName] = change.cfg.WriteQueueNums
			}
		}
		inMemory := map[string]int32{}
		for _, c := range tt.all() {
			inMemory[c.TopicName] = c.WriteQueueNums
		}
		if fmt.Sprint(inMemory) != fmt.Sprint(acked) {
			t.Fatalf("fault %d: table %v, acknowledged %v", i, inMemory, acked)
		}
		_ = tt.close()
		reopened := openTestTopics(t, mem.ProcessCrash())
		requireTopics(t, reopened, acked)
		reopened.close()
		if i > efs.Ops() {
			t.Logf("%d operations, each failed once", i)
			return // every operation has been failed once
		}
	}
}

// TestTopicTempFilesRemovedAtOpen: leftovers of metadata writes that a
// kill -9 interrupted are removed when the tables open.
func TestTopicTempFilesRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	if err := os.MkdirAll(config, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"topics.json.tmp", "topics.json.tmp123456", "topics.log.tmp", "consumerOffset.json.tmp42", "other.tmp"} {
		if err := os.WriteFile(filepath.Join(config, n), []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tt, err := loadTopicTable(persist.OSFS{}, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tt.close()
	if _, err := loadOffsetTable(persist.OSFS{}, dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(config)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"other.tmp", "topics.log"}) {
		t.Fatalf("config holds %v", names)
	}
}

// TestTopicSnapshotFormatKept: a topics.json of the earlier layout loads,
// and after a clean stop topics.json alone holds the whole table in that
// layout, invalid names left out.
func TestTopicSnapshotFormatKept(t *testing.T) {
	dir := t.TempDir()
	old := topicSnapshot{Version: routing.DataVersion{Counter: 5, Timestamp: 1}, Topics: map[string]routing.TopicConfig{
		"Old": newTopicConfig("Old", 4, 6), "%DLQ%../../../../../evil2": newTopicConfig("%DLQ%../../../../../evil2", 1, 6)}}
	data, _ := json.MarshalIndent(old, "", "  ")
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "topics.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tt, err := loadTopicTable(persist.OSFS{}, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	requireTopics(t, tt, map[string]int32{"Old": 4})
	if _, err := tt.apply(putTopic("New", 2)); err != nil {
		t.Fatal(err)
	}
	if err := tt.close(); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(filepath.Join(dir, "config", "topics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got topicSnapshot
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Topics) != 2 || got.Topics["New"].WriteQueueNums != 2 || got.Topics["Old"].WriteQueueNums != 4 || got.Version.Counter != 6 {
		t.Fatalf("snapshot after a clean stop: %+v", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "config", "topics.log")); err != nil || fi.Size() != 0 {
		t.Fatalf("log not emptied at a clean stop: %v", err)
	}
}

// TestTopicChangeQueueBounded: changes queue up to a fixed bound while
// the table's goroutine is busy; past it submit refuses at once instead
// of waiting.
func TestTopicChangeQueueBounded(t *testing.T) {
	tt := openTestTopics(t, persist.NewMemFS())
	defer tt.close()
	release := make(chan struct{})
	started := make(chan struct{})
	if !tt.submit(&topicRequest{changes: []topicChange{putTopic("Slow", 1)}, done: func(*topicRequest) {
		close(started)
		<-release
	}}) {
		t.Fatal("first submit refused")
	}
	<-started
	accepted := 0
	start := time.Now()
	for i := 0; i < 2*topicChangesCapacity; i++ {
		if tt.submit(&topicRequest{changes: []topicChange{putTopic(fmt.Sprintf("Q%d", i), 1)}, done: func(*topicRequest) {}}) {
			accepted++
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("submitting to a full queue took %v", took)
	}
	if accepted != topicChangesCapacity {
		t.Fatalf("accepted %d changes while the table was busy, want the bound %d", accepted, topicChangesCapacity)
	}
	close(release)
	testutil.WaitFor(t, 10*time.Second, "the queued changes", func() bool { return tt.len() == topicChangesCapacity+1 })
}

// stopRun stops the table's goroutine and waits for a background
// snapshot, leaving the files open as a crash would.
func stopRun(tt *topicTable) {
	tt.requests.Close()
	<-tt.stopped
	tt.compactions.Wait()
}

// FuzzTopicLog feeds arbitrary bytes to the topic log reader: it never
// panics, its valid prefix is a whole number of records that re-encode to
// the same bytes, and anything it applies is a well-formed change.
func FuzzTopicLog(f *testing.F) {
	var seed []byte
	seed, _ = appendTopicRecord(seed, &topicRecord{Version: routing.DataVersion{Counter: 1}, Put: &routing.TopicConfig{TopicName: "A", WriteQueueNums: 4}})
	seed, _ = appendTopicRecord(seed, &topicRecord{Version: routing.DataVersion{Counter: 2}, Delete: "A"})
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		snap := &topicSnapshot{Topics: map[string]routing.TopicConfig{}}
		n := replayTopicLog(data, snap)
		if n < 0 || n > int64(len(data)) {
			t.Fatalf("valid prefix %d of %d bytes", n, len(data))
		}
		var again []byte
		for rest := data[:n]; len(rest) > 0; {
			rec, size, ok := decodeTopicRecord(rest)
			if !ok {
				t.Fatal("the valid prefix holds an invalid record")
			}
			rest = rest[size:]
			again, _ = appendTopicRecord(again, &rec)
		}
		if len(again) > int(n) {
			t.Fatalf("re-encoded %d bytes from a %d-byte prefix", len(again), n)
		}
		for name, c := range snap.Topics {
			if name == "" || c.TopicName != name {
				t.Fatalf("applied a malformed change: %q -> %+v", name, c)
			}
		}
	})
}

// FuzzTopicSnapshotEncoding: whatever the names, the snapshot encoder
// writes JSON that decodes to the same table.
func FuzzTopicSnapshotEncoding(f *testing.F) {
	f.Add("Orders", "%RETRY%g", int32(4))
	f.Add("a\"b", "\x00\u2028", int32(-1))
	f.Fuzz(func(t *testing.T, a, b string, queues int32) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			t.Skip("JSON replaces invalid UTF-8; the table holds only names that pass the rule")
		}
		snap := &topicSnapshot{Version: routing.DataVersion{Counter: 3, Timestamp: 4}, Topics: map[string]routing.TopicConfig{
			a: newTopicConfig(a, queues, 6), b: newTopicConfig(b, 1, 2)}}
		var got topicSnapshot
		if err := json.Unmarshal(encodeTopicSnapshot(snap), &got); err != nil {
			t.Fatalf("snapshot does not decode: %v", err)
		}
		if got.Version != snap.Version || len(got.Topics) != len(snap.Topics) {
			t.Fatalf("decoded %+v, encoded %+v", got, snap)
		}
		for name, c := range snap.Topics {
			if g := got.Topics[name]; g != c {
				t.Fatalf("topic %q decoded as %+v, encoded %+v", name, g, c)
			}
		}
	})
}
