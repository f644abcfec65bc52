package persist

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"
)

const testKeyIndexDir = "/data/index"

// keyIndexModel is what the index should answer: every add that
// succeeded, in order.
type keyIndexModel struct {
	hits map[string][]keyIndexModelHit // topic#key -> hits, oldest first
}

type keyIndexModelHit struct {
	phyOffset, storeTimestampMs int64
}

func newKeyIndexModel() *keyIndexModel {
	return &keyIndexModel{hits: map[string][]keyIndexModelHit{}}
}

func (m *keyIndexModel) add(topic, key string, phyOffset, ts int64) {
	k := topic + "#" + key
	m.hits[k] = append(m.hits[k], keyIndexModelHit{phyOffset, ts})
}

// truncateFrom forgets hits at or after phyOffset.
func (m *keyIndexModel) truncateFrom(phyOffset int64) {
	for k, hits := range m.hits {
		m.hits[k] = slices.DeleteFunc(hits, func(h keyIndexModelHit) bool { return h.phyOffset >= phyOffset })
	}
}

func (m *keyIndexModel) clone() *keyIndexModel {
	c := newKeyIndexModel()
	for k, hits := range m.hits {
		c.hits[k] = slices.Clone(hits)
	}
	return c
}

// expect lists the offsets a query should return, newest first.
func (m *keyIndexModel) expect(topic, key string, beginMs, endMs int64, maxResults int) []int64 {
	hits := m.hits[topic+"#"+key]
	var out []int64
	for i := len(hits) - 1; i >= 0 && len(out) < maxResults; i-- {
		if hits[i].storeTimestampMs >= beginMs && hits[i].storeTimestampMs <= endMs {
			out = append(out, hits[i].phyOffset)
		}
	}
	return out
}

func (m *keyIndexModel) has(topic, key string, phyOffset int64) bool {
	for _, h := range m.hits[topic+"#"+key] {
		if h.phyOffset == phyOffset {
			return true
		}
	}
	return false
}

func openTestKeyIndex(t testing.TB, fsys FS, slots, entries int) *keyIndex {
	t.Helper()
	x, err := openKeyIndex(fsys, testKeyIndexDir, keyIndexOptions{SlotsPerFile: slots, EntriesPerFile: entries})
	if err != nil {
		t.Fatalf("openKeyIndex: %v", err)
	}
	return x
}

// openTestKeyIndexAfterKill opens fsys as the store does after a kill -9
// on the same boot.
func openTestKeyIndexAfterKill(t testing.TB, fsys FS, slots, entries int) *keyIndex {
	t.Helper()
	x, err := openKeyIndex(fsys, testKeyIndexDir, keyIndexOptions{SlotsPerFile: slots, EntriesPerFile: entries, PageCacheIntact: true})
	if err != nil {
		t.Fatalf("openKeyIndex: %v", err)
	}
	return x
}

func mustAdd(t testing.TB, x *keyIndex, m *keyIndexModel, topic, key string, phyOffset, ts int64) {
	t.Helper()
	if err := x.add(topic, key, phyOffset, ts); err != nil {
		t.Fatalf("add(%s, %s, %d): %v", topic, key, phyOffset, err)
	}
	if m != nil {
		m.add(topic, key, phyOffset, ts)
	}
}

func mustQuery(t testing.TB, x *keyIndex, topic, key string, beginMs, endMs int64, maxResults int) []int64 {
	t.Helper()
	got, err := x.query(topic, key, beginMs, endMs, maxResults)
	if err != nil {
		t.Fatalf("query(%s, %s): %v", topic, key, err)
	}
	return got
}

// checkAgainstModel asserts that every key of the model answers exactly.
func checkAgainstModel(t testing.TB, x *keyIndex, m *keyIndexModel) {
	t.Helper()
	for k := range m.hits {
		topic, key := splitModelKey(k)
		want := m.expect(topic, key, 0, 1<<62, 1<<20)
		got := mustQuery(t, x, topic, key, 0, 1<<62, 1<<20)
		if !slices.Equal(got, want) {
			t.Fatalf("query %s: got %v, want %v", k, got, want)
		}
	}
}

// checkSubsetOfModel asserts that no query returns an offset that was not
// added for that key, and that every hit in must is returned.
func checkSubsetOfModel(t testing.TB, x *keyIndex, added, must *keyIndexModel) {
	t.Helper()
	for k := range added.hits {
		topic, key := splitModelKey(k)
		got := mustQuery(t, x, topic, key, 0, 1<<62, 1<<20)
		for i, off := range got {
			if !added.has(topic, key, off) {
				t.Fatalf("query %s returned %d, never added for it (got %v)", k, off, got)
			}
			if i > 0 && got[i-1] <= off {
				t.Fatalf("query %s: not newest first: %v", k, got)
			}
		}
		if must == nil {
			continue
		}
		for _, h := range must.hits[k] {
			if !slices.Contains(got, h.phyOffset) {
				t.Fatalf("query %s lost flushed offset %d (got %v)", k, h.phyOffset, got)
			}
		}
	}
}

func splitModelKey(k string) (topic, key string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '#' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}

func keyIndexFileCount(t testing.TB, fsys FS) int {
	t.Helper()
	names, err := fsys.ReadDir(testKeyIndexDir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	return len(names)
}

func TestKeyIndexRoundTripWithSlotCollisions(t *testing.T) {
	x := openTestKeyIndex(t, NewMemFS(), 7, 4096)
	defer x.close()
	m := newKeyIndexModel()
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		topic := "T" + strconv.Itoa(rng.Intn(3))
		mustAdd(t, x, m, topic, "key-"+strconv.Itoa(rng.Intn(200)), int64(i)*100, 1_000_000+int64(i))
	}
	checkAgainstModel(t, x, m)
	if got := mustQuery(t, x, "T0", "never-added", 0, 1<<62, 10); len(got) != 0 {
		t.Fatalf("unknown key returned %v", got)
	}
	if got := mustQuery(t, x, "T9", "key-1", 0, 1<<62, 10); len(got) != 0 {
		t.Fatalf("unknown topic returned %v", got)
	}
	if got, want := x.indexedEnd(), int64(2999*100+1); got != want {
		t.Fatalf("indexedEnd = %d, want %d", got, want)
	}
}

func TestKeyIndexTimeRangeMaxResultsAndOrder(t *testing.T) {
	x := openTestKeyIndex(t, NewMemFS(), 16, 1024)
	defer x.close()
	m := newKeyIndexModel()
	for i := int64(0); i < 100; i++ {
		mustAdd(t, x, m, "T", "k", i*10, 5000+i*1000)
		mustAdd(t, x, m, "T", "other", i*10, 5000+i*1000)
	}
	cases := []struct {
		begin, end int64
		max        int
	}{
		{0, 1 << 62, 1000}, {0, 1 << 62, 5}, {10_000, 20_000, 1000}, {10_000, 20_000, 3},
		{10_500, 10_900, 10}, {200_000, 300_000, 10}, {0, 4999, 10}, {104_000, 104_000, 10},
		{20_000, 10_000, 10}, {0, 1 << 62, 0},
	}
	for _, c := range cases {
		want := m.expect("T", "k", c.begin, c.end, c.max)
		got := mustQuery(t, x, "T", "k", c.begin, c.end, c.max)
		if !slices.Equal(got, want) {
			t.Fatalf("query [%d,%d] max %d: got %v, want %v", c.begin, c.end, c.max, got, want)
		}
	}
	got := mustQuery(t, x, "T", "k", 0, 1<<62, 3)
	if !slices.Equal(got, []int64{990, 980, 970}) {
		t.Fatalf("newest three = %v, want [990 980 970]", got)
	}
}

func TestKeyIndexRolloverAndFileTimeRanges(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 4, 16)
	defer x.close()
	m := newKeyIndexModel()
	for i := int64(0); i < 100; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%5, 10), i*64, i*1000)
	}
	if n := keyIndexFileCount(t, fsys); n != 7 {
		t.Fatalf("%d files after 100 entries of 16 per file, want 7", n)
	}
	checkAgainstModel(t, x, m)
	// A range inside the second file only.
	want := m.expect("T", "k1", 20_000, 30_000, 100)
	got := mustQuery(t, x, "T", "k1", 20_000, 30_000, 100)
	if !slices.Equal(got, want) || len(got) == 0 {
		t.Fatalf("range query: got %v, want %v", got, want)
	}
	// maxResults spanning files.
	got = mustQuery(t, x, "T", "k0", 0, 1<<62, 7)
	if !slices.Equal(got, m.expect("T", "k0", 0, 1<<62, 7)) {
		t.Fatalf("max across files: got %v", got)
	}
}

func TestKeyIndexSeveralKeysPerRecordAndRedispatch(t *testing.T) {
	x := openTestKeyIndex(t, NewMemFS(), 8, 5)
	defer x.close()
	m := newKeyIndexModel()
	for i := int64(0); i < 6; i++ {
		for _, k := range []string{"a", "b", "c"} {
			mustAdd(t, x, m, "T", k+strconv.FormatInt(i%2, 10), i*100, i)
		}
	}
	// Re-dispatch during recovery: every earlier record and the last one
	// again, then a key of the last record not yet indexed.
	for i := int64(0); i < 6; i++ {
		for _, k := range []string{"a", "b", "c"} {
			mustAdd(t, x, nil, "T", k+strconv.FormatInt(i%2, 10), i*100, i)
		}
	}
	mustAdd(t, x, m, "T", "d", 500, 5)
	checkAgainstModel(t, x, m)
	if got := x.indexedEnd(); got != 501 {
		t.Fatalf("indexedEnd = %d, want 501", got)
	}
	if err := x.add("T", "neg", -1, 0); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("negative offset: %v", err)
	}
}

func TestKeyIndexReopenAfterClose(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 5, 10)
	m := newKeyIndexModel()
	for i := int64(0); i < 37; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%4, 10), i*10, i)
	}
	if err := x.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := x.query("T", "k0", 0, 100, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("query after close: %v", err)
	}
	if err := x.add("T", "k0", 1000, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("add after close: %v", err)
	}
	for round := 0; round < 3; round++ {
		x = openTestKeyIndex(t, fsys, 5, 10)
		checkAgainstModel(t, x, m)
		if got := x.indexedEnd(); got != int64(37+round*3-1)*10+1 {
			t.Fatalf("round %d: indexedEnd = %d", round, got)
		}
		for i := int64(37 + round*3); i < int64(40+round*3); i++ {
			mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%4, 10), i*10, i)
		}
		checkAgainstModel(t, x, m)
		if err := x.close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
}

func TestKeyIndexCrashKeepsFlushedDropsUnsynced(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 3, 8)
	flushed := newKeyIndexModel()
	for i := int64(0); i < 20; i++ {
		mustAdd(t, x, flushed, "T", "k"+strconv.FormatInt(i%3, 10), i*10, i)
	}
	if err := x.flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	all := flushed.clone()
	for i := int64(20); i < 30; i++ {
		mustAdd(t, x, all, "T", "k"+strconv.FormatInt(i%3, 10), i*10, i)
	}
	crashed := fsys.Crash(nil)
	y := openTestKeyIndex(t, crashed, 3, 8)
	defer y.close()
	checkAgainstModel(t, y, flushed)
	if got := y.indexedEnd(); got != 191 {
		t.Fatalf("indexedEnd after crash = %d, want 191", got)
	}
	// The store re-adds what the log still has.
	for i := int64(20); i < 30; i++ {
		mustAdd(t, y, nil, "T", "k"+strconv.FormatInt(i%3, 10), i*10, i)
	}
	checkAgainstModel(t, y, all)
	x.close()
}

// TestKeyIndexCrashWithPartialWriteback crashes with a random part of the
// unsynced pages written back, recovers as the store does (truncate to the
// log end, re-add different records at the same offsets), crashes again,
// and checks that no query ever returns an offset not added for its key.
func TestKeyIndexCrashWithPartialWriteback(t *testing.T) {
	for seed := int64(0); seed < 60; seed++ {
		rng := rand.New(rand.NewSource(seed))
		fsys := NewMemFS()
		x := openTestKeyIndex(t, fsys, 4, 32)
		durable := newKeyIndexModel()
		n := int64(10 + rng.Intn(60))
		for i := int64(0); i < n; i++ {
			mustAdd(t, x, durable, "T", "a"+strconv.FormatInt(i%5, 10), i*10, i)
		}
		if err := x.flush(); err != nil {
			t.Fatal(err)
		}
		gen1 := durable.clone()
		for i := n; i < n+int64(1+rng.Intn(60)); i++ {
			mustAdd(t, x, gen1, "T", "a"+strconv.FormatInt(i%5, 10), i*10, i)
		}
		fsys = fsys.Crash(rng)
		y := openTestKeyIndex(t, fsys, 4, 32)
		checkSubsetOfModel(t, y, gen1, durable)
		// The log kept only the flushed part: cut there and write other
		// records at the offsets the lost ones had.
		if err := y.truncateFrom(n * 10); err != nil {
			t.Fatal(err)
		}
		checkAgainstModel(t, y, durable)
		gen2 := durable.clone()
		for i := n; i < n+int64(rng.Intn(80)); i++ {
			mustAdd(t, y, gen2, "T", "b"+strconv.FormatInt(i%5, 10), i*10, i+1000)
		}
		if rng.Intn(2) == 0 {
			if err := y.flush(); err != nil {
				t.Fatal(err)
			}
			durable = gen2.clone()
		}
		fsys = fsys.Crash(rng)
		z := openTestKeyIndex(t, fsys, 4, 32)
		checkSubsetOfModel(t, z, gen2, durable) // gen1's keys past n were cut
		for i := int64(0); i < 5; i++ {
			got := mustQuery(t, z, "T", "a"+strconv.FormatInt(i, 10), 0, 1<<62, 1000)
			want := durable.expect("T", "a"+strconv.FormatInt(i, 10), 0, 1<<62, 1000)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d: cut key a%d resurrected: got %v, want %v", seed, i, got, want)
			}
		}
		z.close()
		y.close()
		x.close()
	}
}

func TestKeyIndexTruncateFrom(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 3, 10)
	m := newKeyIndexModel()
	for i := int64(0); i < 45; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%4, 10), i*10, i)
		if i%3 == 0 {
			mustAdd(t, x, m, "T", "extra", i*10, i)
		}
	}
	for _, cut := range []int64{445, 300, 255, 200, 35} {
		if err := x.truncateFrom(cut); err != nil {
			t.Fatalf("truncateFrom(%d): %v", cut, err)
		}
		m.truncateFrom(cut)
		checkAgainstModel(t, x, m)
		if got, want := x.indexedEnd(), (cut-1)/10*10+1; got != want {
			t.Fatalf("after truncateFrom(%d): indexedEnd = %d, want %d", cut, got, want)
		}
	}
	if n := keyIndexFileCount(t, fsys); n != 1 {
		t.Fatalf("%d files after cutting into the first, want 1", n)
	}
	if err := x.truncateFrom(1_000_000); err != nil {
		t.Fatal(err)
	}
	checkAgainstModel(t, x, m)
	for i := int64(10); i < 25; i++ {
		mustAdd(t, x, m, "T", "new"+strconv.FormatInt(i%2, 10), i*10, i)
	}
	checkAgainstModel(t, x, m)
	if err := x.close(); err != nil {
		t.Fatal(err)
	}
	y := openTestKeyIndex(t, fsys, 3, 10)
	checkAgainstModel(t, y, m)
	if err := y.truncateFrom(0); err != nil {
		t.Fatal(err)
	}
	if y.indexedEnd() != 0 || keyIndexFileCount(t, fsys) != 0 {
		t.Fatalf("truncateFrom(0): indexedEnd %d, %d files", y.indexedEnd(), keyIndexFileCount(t, fsys))
	}
	mustAdd(t, y, nil, "T", "again", 5, 5)
	if got := mustQuery(t, y, "T", "again", 0, 10, 10); !slices.Equal(got, []int64{5}) {
		t.Fatalf("add after emptying: %v", got)
	}
	y.close()
}

func TestKeyIndexTruncateSurvivesCrash(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 3, 10)
	m := newKeyIndexModel()
	for i := int64(0); i < 25; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%4, 10), i*10, i)
	}
	if err := x.close(); err != nil {
		t.Fatal(err)
	}
	x = openTestKeyIndex(t, fsys, 3, 10)
	if err := x.truncateFrom(125); err != nil {
		t.Fatal(err)
	}
	m.truncateFrom(125)
	y := openTestKeyIndex(t, fsys.Crash(nil), 3, 10)
	defer y.close()
	checkAgainstModel(t, y, m)
	x.close()
}

func TestKeyIndexDeleteBelow(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 4, 10)
	defer x.close()
	m := newKeyIndexModel()
	for i := int64(0); i < 45; i++ { // files hold [0,90], [100,190], [200,290], [300,390], [400,440]
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%3, 10), i*10, i)
	}
	n, err := x.deleteBelow(150)
	if err != nil || n != 1 {
		t.Fatalf("deleteBelow(150) = %d, %v; want 1", n, err)
	}
	m.truncateBelow(100)
	checkAgainstModel(t, x, m)
	if n, err = x.deleteBelow(291); err != nil || n != 2 {
		t.Fatalf("deleteBelow(291) = %d, %v; want 2", n, err)
	}
	m.truncateBelow(300)
	checkAgainstModel(t, x, m)
	if n, err = x.deleteBelow(1 << 40); err != nil || n != 1 {
		t.Fatalf("deleteBelow(all) = %d, %v; want 1 (newest kept)", n, err)
	}
	m.truncateBelow(400)
	checkAgainstModel(t, x, m)
	if c := keyIndexFileCount(t, fsys); c != 1 {
		t.Fatalf("%d files left, want 1", c)
	}
	if x.indexedEnd() != 441 {
		t.Fatalf("indexedEnd = %d, want 441", x.indexedEnd())
	}
}

func (m *keyIndexModel) truncateBelow(phyOffset int64) {
	for k, hits := range m.hits {
		m.hits[k] = slices.DeleteFunc(hits, func(h keyIndexModelHit) bool { return h.phyOffset < phyOffset })
	}
}

func TestKeyIndexDiskFull(t *testing.T) {
	fsys := NewMemFS()
	fileSize := keyIndexFileSize(4, 8)
	fsys.SetCapacity(fileSize + fileSize/2)
	x := openTestKeyIndex(t, fsys, 4, 8)
	defer x.close()
	m := newKeyIndexModel()
	for i := int64(0); i < 8; i++ {
		mustAdd(t, x, m, "T", "k", i, i)
	}
	err := x.add("T", "k", 8, 8)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("add into a full disk: %v, want ErrDiskFull", err)
	}
	checkAgainstModel(t, x, m)
	if c := keyIndexFileCount(t, fsys); c != 1 {
		t.Fatalf("%d files after a failed creation, want 1", c)
	}
	fsys.SetCapacity(0)
	mustAdd(t, x, m, "T", "k", 9, 9)
	checkAgainstModel(t, x, m)
}

func TestKeyIndexConcurrentQueriesDuringAdds(t *testing.T) {
	x := openTestKeyIndex(t, NewMemFS(), 16, 256)
	defer x.close()
	const records, keys = 6000, 37
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(r)))
			for q := 0; !done.Load() || q < 2000; q++ {
				k := rng.Intn(keys)
				got, err := x.query("T", "k"+strconv.Itoa(k), 0, 1<<62, 50)
				if err != nil {
					errs <- err
					return
				}
				for i, off := range got {
					if off%10 != 0 || int(off/10)%keys != k || (i > 0 && got[i-1] <= off) {
						errs <- fmt.Errorf("key k%d: bad result %v", k, got)
						return
					}
				}
			}
		}(r)
	}
	for i := int64(0); i < records; i++ {
		if err := x.add("T", "k"+strconv.FormatInt(i%keys, 10), i*10, i); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			if err := x.flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := mustQuery(t, x, "T", "k0", 0, 1<<62, 1<<20)
	if len(got) != (records+keys-1)/keys {
		t.Fatalf("k0 has %d hits, want %d", len(got), (records+keys-1)/keys)
	}
}

// keyIndexFaultOutcome is what a fault scenario left behind: every add
// that succeeded (and was not cut since), what must be in the page cache,
// and what must be on disk.
type keyIndexFaultOutcome struct {
	added, live, durable *keyIndexModel
}

// keyIndexFaultScenario runs open/add/flush/close, then reopen/truncate/
// add/flush/close against fsys and records what succeeded.
func keyIndexFaultScenario(fsys FS) keyIndexFaultOutcome {
	o := keyIndexFaultOutcome{newKeyIndexModel(), newKeyIndexModel(), newKeyIndexModel()}
	phy := int64(0)
	for session := 0; session < 2; session++ {
		x, err := openKeyIndex(fsys, testKeyIndexDir, keyIndexOptions{SlotsPerFile: 3, EntriesPerFile: 8})
		if err != nil {
			return o
		}
		prefix := "k"
		if session == 1 {
			// Recovery cut the log: drop the tail and write other keys
			// at the same offsets. A failed cut may have dropped some.
			cut := max(x.indexedEnd()-45, 0)
			o.live.truncateFrom(cut)
			o.durable.truncateFrom(cut)
			if x.truncateFrom(cut) != nil {
				x.close()
				return o
			}
			o.added.truncateFrom(cut)
			phy, prefix = cut, "r"
		}
		pending := newKeyIndexModel()
		for i := 0; i < 20; i++ {
			phy = max(phy, x.indexedEnd())
			key := prefix + strconv.Itoa(i%4)
			if x.add("T", key, phy, phy) == nil {
				for _, m := range []*keyIndexModel{o.added, o.live, pending} {
					m.add("T", key, phy, phy)
				}
			}
			phy += 10
			if i == 12 && x.flush() == nil {
				mergeKeyIndexModel(o.durable, pending)
				pending = newKeyIndexModel()
			}
		}
		if x.close() == nil {
			mergeKeyIndexModel(o.durable, pending)
		}
	}
	return o
}

func mergeKeyIndexModel(dst, src *keyIndexModel) {
	for k, hits := range src.hits {
		dst.hits[k] = append(dst.hits[k], hits...)
	}
}

func TestKeyIndexFaultInjection(t *testing.T) {
	counter := NewErrorFS(NewMemFS(), nil)
	keyIndexFaultScenario(counter)
	total := counter.Ops()
	if total < 40 {
		t.Fatalf("scenario ran only %d operations", total)
	}
	for i := int64(0); i <= total; i++ {
		t.Run("fail="+strconv.FormatInt(i, 10), func(t *testing.T) {
			mem := NewMemFS()
			o := keyIndexFaultScenario(NewErrorFS(mem, FailAt(i)))
			// A process crash keeps the page cache, so everything added
			// is there; a machine crash keeps what was flushed.
			for _, after := range []struct {
				fsys   *MemFS
				must   *keyIndexModel
				intact bool
			}{
				{mem.ProcessCrash(), o.live, false}, {mem.ProcessCrash(), o.live, true},
				{mem.Crash(nil), o.durable, false}, {mem.Crash(rand.New(rand.NewSource(i))), o.durable, false},
			} {
				x, err := openKeyIndex(after.fsys, testKeyIndexDir, keyIndexOptions{SlotsPerFile: 3, EntriesPerFile: 8, PageCacheIntact: after.intact})
				if err != nil {
					t.Fatalf("reopen without faults: %v", err)
				}
				checkSubsetOfModel(t, x, o.added, after.must)
				if err := x.close(); err != nil {
					t.Fatalf("close: %v", err)
				}
			}
		})
	}
}

func TestKeyIndexRejectsBadOptions(t *testing.T) {
	for _, o := range []keyIndexOptions{{SlotsPerFile: -1}, {EntriesPerFile: -5}, {SlotsPerFile: keyIndexMaxSlots + 1}} {
		if _, err := openKeyIndex(NewMemFS(), testKeyIndexDir, o); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
}

func TestKeyIndexDropsUnreadableFiles(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 3, 4)
	m := newKeyIndexModel()
	for i := int64(0); i < 10; i++ {
		mustAdd(t, x, m, "T", "k", i, i)
	}
	if err := x.close(); err != nil {
		t.Fatal(err)
	}
	// Garble the second file's magic: it and the third go.
	f, err := fsys.OpenFile(filepath.Join(testKeyIndexDir, keyIndexFileName(1)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("XXXX"), 0)
	y := openTestKeyIndex(t, fsys, 3, 4)
	defer y.close()
	m.truncateFrom(4)
	checkAgainstModel(t, y, m)
	if y.indexedEnd() != 4 {
		t.Fatalf("indexedEnd = %d, want 4", y.indexedEnd())
	}
}

// keyIndexSeedFile builds the bytes of one index file in the given state.
func keyIndexSeedFile(t testing.TB, closeIt bool, entries int) []byte {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 4, 16)
	for i := 0; i < entries; i++ {
		x.add("T", "k"+strconv.Itoa(i%3), int64(i)*10, int64(i))
	}
	if closeIt {
		x.close()
	} else {
		x.flush()
	}
	f, err := fsys.OpenFile(filepath.Join(testKeyIndexDir, keyIndexFileName(0)), os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, keyIndexFileSize(4, 16))
	f.ReadAt(b, 0)
	return b
}

// FuzzKeyIndexOpen loads arbitrary bytes as an index file: it must never
// panic, and whatever it serves must point below indexedEnd.
func FuzzKeyIndexOpen(f *testing.F) {
	f.Add(keyIndexSeedFile(f, true, 5))
	f.Add(keyIndexSeedFile(f, false, 9))
	f.Add(keyIndexSeedFile(f, true, 16))
	f.Add(keyIndexSeedFile(f, false, 1))
	f.Add([]byte("CKIX"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		fsys := NewMemFS()
		fsys.MkdirAll(testKeyIndexDir, 0o755)
		file, _ := fsys.OpenFile(filepath.Join(testKeyIndexDir, keyIndexFileName(0)), os.O_RDWR|os.O_CREATE, 0o644)
		file.WriteAt(data, 0)
		file.Sync()
		fsys.SyncDir(testKeyIndexDir)
		fsys.SetCapacity(1 << 20)
		x, err := openKeyIndex(fsys, testKeyIndexDir, keyIndexOptions{SlotsPerFile: 4, EntriesPerFile: 16})
		if err != nil {
			return
		}
		defer x.close()
		end := x.indexedEnd()
		for k := 0; k < 3; k++ {
			got, err := x.query("T", "k"+strconv.Itoa(k), 0, 1<<62, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, off := range got {
				if off < 0 || off >= end {
					t.Fatalf("offset %d outside [0, %d)", off, end)
				}
			}
		}
		if err := x.add("T", "k0", end+1, 1); err != nil && !errors.Is(err, ErrDiskFull) {
			t.Fatalf("add after load: %v", err)
		}
		x.truncateFrom(end / 2)
	})
}

func BenchmarkKeyIndexAdd(b *testing.B) {
	for _, slots := range []int{1 << 10, 1 << 16} {
		b.Run("slots="+strconv.Itoa(slots), func(b *testing.B) {
			x := openTestKeyIndex(b, NewMemFS(), slots, 1<<20)
			defer x.close()
			keys := make([]string, 4096)
			for i := range keys {
				keys[i] = "order-" + strconv.Itoa(i)
			}
			b.SetBytes(keyIndexEntrySize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := x.add("TopicTest", keys[i%len(keys)], int64(i)*256, int64(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if x.indexedEnd() != int64(b.N-1)*256+1 {
				b.Fatalf("indexedEnd = %d after %d adds", x.indexedEnd(), b.N)
			}
		})
	}
}

func BenchmarkKeyIndexQuery(b *testing.B) {
	for _, hitsPerKey := range []int{1, 32} {
		b.Run("hits="+strconv.Itoa(hitsPerKey), func(b *testing.B) {
			x := openTestKeyIndex(b, NewMemFS(), 1<<14, 1<<18)
			defer x.close()
			const keys = 2048
			for i := 0; i < keys*hitsPerKey; i++ {
				if err := x.add("TopicTest", "order-"+strconv.Itoa(i%keys), int64(i)*256, int64(i)); err != nil {
					b.Fatal(err)
				}
			}
			names := make([]string, keys)
			for i := range names {
				names[i] = "order-" + strconv.Itoa(i)
			}
			b.SetBytes(int64(hitsPerKey) * 8)
			b.ReportAllocs()
			b.ResetTimer()
			found := 0
			for i := 0; i < b.N; i++ {
				got, err := x.query("TopicTest", names[i%keys], 0, 1<<62, 64)
				if err != nil {
					b.Fatal(err)
				}
				found += len(got)
			}
			b.StopTimer()
			if found != b.N*hitsPerKey {
				b.Fatalf("found %d hits, want %d", found, b.N*hitsPerKey)
			}
		})
	}
}

// The key hash is part of the file format.
func TestKeyIndexHashIsXXHashOfTopicHashKey(t *testing.T) {
	for _, c := range [][2]string{{"T", "k"}, {"", ""}, {"TopicTest", strings.Repeat("key", 500)}} {
		if got, want := keyIndexHash(c[0], c[1]), xxhash.Sum64String(c[0]+"#"+c[1]); got != want {
			t.Fatalf("hash(%q, %q) = %x, want %x", c[0], c[1], got, want)
		}
	}
}

// FuzzKeyIndexOperations drives the index with a byte-coded sequence of
// adds, flushes, cuts, clean reopens and crashes, checking every answer
// against a model.
func FuzzKeyIndexOperations(f *testing.F) {
	f.Add([]byte{0, 8, 16, 3, 1, 9, 4, 0, 5, 2, 6})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 1, 1, 1, 5, 0, 6, 0})
	f.Add([]byte{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 4, 4, 3, 1})
	f.Add([]byte("0000\x0187\x00%00")) // a crash keeping an unsynced key of a record the log kept
	f.Add([]byte{0, 8, 3, 1, 9, 0x84, 0, 8, 0x16, 0x84, 2, 0x84, 3, 0x84, 7, 0, 0x84})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			return
		}
		fsys := NewMemFS()
		x := openTestKeyIndex(t, fsys, 3, 7)
		added, durable := newKeyIndexModel(), newKeyIndexModel()
		phy := int64(0)
		for i, op := range ops {
			key := "k" + strconv.Itoa(int(op>>4)%5)
			switch op % 8 {
			case 0, 1, 2: // add; bit 3 starts a new record
				if op&8 != 0 {
					phy += 10
				}
				phy = max(phy, x.indexedEnd()-1)
				if !added.has("T", key, phy) {
					mustAdd(t, x, added, "T", key, phy, phy/10)
				}
			case 3:
				if err := x.flush(); err != nil {
					t.Fatal(err)
				}
				durable = added.clone()
			case 4, 5: // machine crash, with or without partial writeback
				if op%8 == 4 && op&0x80 != 0 { // kill -9: the page cache survives
					fsys = fsys.ProcessCrash()
					x = openTestKeyIndexAfterKill(t, fsys, 3, 7)
					checkAgainstModel(t, x, added)
					durable = added.clone()
					continue
				}
				var rng *rand.Rand
				if op%8 == 5 {
					rng = rand.New(rand.NewSource(int64(i)))
				}
				fsys = fsys.Crash(rng)
				x = openTestKeyIndex(t, fsys, 3, 7)
				checkSubsetOfModel(t, x, added, durable)
				end := int64(0)
				for _, hits := range durable.hits {
					for _, h := range hits {
						end = max(end, h.phyOffset+1)
					}
				}
				// The log kept records below end: cut the index there and
				// re-dispatch them, as the store's recovery does.
				if err := x.truncateFrom(end); err != nil {
					t.Fatal(err)
				}
				added.truncateFrom(end)
				for _, r := range added.inAddOrder() {
					mustAdd(t, x, nil, "T", r.key, r.phyOffset, r.storeTimestampMs)
				}
				checkAgainstModel(t, x, added)
			case 6:
				cut := max(phy-int64(op>>4)*10, 0)
				if err := x.truncateFrom(cut); err != nil {
					t.Fatal(err)
				}
				added.truncateFrom(cut)
				durable.truncateFrom(cut)
				phy = cut
				checkAgainstModel(t, x, added)
			case 7:
				if err := x.close(); err != nil {
					t.Fatal(err)
				}
				x = openTestKeyIndex(t, fsys, 3, 7)
				durable = added.clone()
			}
		}
		checkAgainstModel(t, x, added)
		x.close()
	})
}

type keyIndexModelRecord struct {
	key string
	keyIndexModelHit
}

// inAddOrder lists the model's hits by phyOffset (topic "T" only).
func (m *keyIndexModel) inAddOrder() []keyIndexModelRecord {
	var out []keyIndexModelRecord
	for k, hits := range m.hits {
		_, key := splitModelKey(k)
		for _, h := range hits {
			out = append(out, keyIndexModelRecord{key, h})
		}
	}
	slices.SortStableFunc(out, func(a, b keyIndexModelRecord) int { return int(a.phyOffset - b.phyOffset) })
	return out
}

// TestKeyIndexKillReadsOnlyTheTail: after kill -9 an open file is repaired
// by reading the entries added since its last flush, and answers exactly.
func TestKeyIndexKillReadsOnlyTheTail(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 7, 4096)
	m := newKeyIndexModel()
	for i := int64(0); i < 1000; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%50, 10), i*10, i)
	}
	if err := x.flush(); err != nil {
		t.Fatal(err)
	}
	for i := int64(1000); i < 1050; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%50, 10), i*10, i)
	}
	y := openTestKeyIndexAfterKill(t, fsys.ProcessCrash(), 7, 4096)
	defer y.close()
	if y.openScanned != 51 {
		t.Fatalf("read %d entries to repair, want 51 (the tail and the entry after it)", y.openScanned)
	}
	checkAgainstModel(t, y, m)
	if y.indexedEnd() != 10491 {
		t.Fatalf("indexedEnd = %d, want 10491", y.indexedEnd())
	}
	for i := int64(1050); i < 1100; i++ {
		mustAdd(t, y, m, "T", "k"+strconv.FormatInt(i%50, 10), i*10, i)
	}
	checkAgainstModel(t, y, m)
	x.close()
}

// TestKeyIndexKillDuringAdd kills the process inside appendEntry: after
// the entry was written but before its slot was stored, and halfway
// through writing the entry.
func TestKeyIndexKillDuringAdd(t *testing.T) {
	for _, torn := range []bool{false, true} {
		t.Run(fmt.Sprintf("torn=%v", torn), func(t *testing.T) {
			fsys := NewMemFS()
			x := openTestKeyIndex(t, fsys, 5, 64)
			m := newKeyIndexModel()
			for i := int64(0); i < 20; i++ {
				mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%3, 10), i*10, i)
			}
			if err := x.flush(); err != nil {
				t.Fatal(err)
			}
			for i := int64(20); i < 30; i++ {
				mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%3, 10), i*10, i)
			}
			f := x.files.Load().files[0]
			keyHash := keyIndexHash("T", "k0")
			prev := f.loadSlot(keyHash)
			f.appendEntry(keyHash, 300, 30) // entry 31
			f.storeSlot(keyHash, prev)      // its slot store never happened
			f.count.Store(30)
			if torn {
				off := f.entryOffset(31)
				clear(f.data[off+12 : off+keyIndexEntrySize])
			} else {
				m.add("T", "k0", 300, 30)
			}
			y := openTestKeyIndexAfterKill(t, fsys.ProcessCrash(), 5, 64)
			defer y.close()
			checkAgainstModel(t, y, m)
			g := y.files.Load().files[0]
			if torn && !g.entryIsZero(31) {
				t.Fatalf("torn entry left in place")
			}
			mustAdd(t, y, m, "T", "k0", 310, 31)
			checkAgainstModel(t, y, m)
			x.close()
		})
	}
}

// TestKeyIndexKillAfterCut: a cut lowers the header's count first, so a
// kill -9 right after it never trusts the cut entries.
func TestKeyIndexKillAfterCut(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 3, 64)
	m := newKeyIndexModel()
	for i := int64(0); i < 40; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%4, 10), i*10, i)
	}
	if err := x.flush(); err != nil {
		t.Fatal(err)
	}
	if err := x.truncateFrom(250); err != nil {
		t.Fatal(err)
	}
	m.truncateFrom(250)
	for i := int64(25); i < 30; i++ {
		mustAdd(t, x, m, "T", "r"+strconv.FormatInt(i%2, 10), i*10, i)
	}
	y := openTestKeyIndexAfterKill(t, fsys.ProcessCrash(), 3, 64)
	defer y.close()
	checkAgainstModel(t, y, m)
	if y.openScanned != 6 {
		t.Fatalf("read %d entries, want 6", y.openScanned)
	}
	x.close()
}

// TestKeyIndexKillFallsBackOnInconsistentTail: an entry after the tail
// that is whole but does not belong (not a torn write) sends the repair
// back to a scan from the first entry.
func TestKeyIndexKillFallsBackOnInconsistentTail(t *testing.T) {
	fsys := NewMemFS()
	x := openTestKeyIndex(t, fsys, 3, 64)
	m := newKeyIndexModel()
	for i := int64(0); i < 30; i++ {
		mustAdd(t, x, m, "T", "k"+strconv.FormatInt(i%4, 10), i*10, i)
	}
	if err := x.flush(); err != nil {
		t.Fatal(err)
	}
	f := x.files.Load().files[0]
	f.appendEntry(keyIndexHash("T", "k1"), 5, 5) // going backwards: not an add
	f.count.Store(30)
	y := openTestKeyIndexAfterKill(t, fsys.ProcessCrash(), 3, 64)
	defer y.close()
	if y.openScanned != 30 {
		t.Fatalf("read %d entries, want a full rescan of 30", y.openScanned)
	}
	checkAgainstModel(t, y, m)
	x.close()
}

// TestKeyIndexAddBatchMatchesAdd feeds the same keys, re-dispatches and
// duplicate keys included, to add one by one and to addBatch in random
// splits that cross file boundaries: both must answer alike.
func TestKeyIndexAddBatchMatchesAdd(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		one := openTestKeyIndex(t, NewMemFS(), 5, 16)
		batched := openTestKeyIndex(t, NewMemFS(), 5, 16)
		var stream []keyIndexModelRecord
		for r := int64(0); r < 60; r++ {
			for k := 0; k < 1+rng.Intn(3); k++ {
				stream = append(stream, keyIndexModelRecord{"k" + strconv.Itoa(rng.Intn(7)), keyIndexModelHit{r * 10, r}})
			}
			if rng.Intn(8) == 0 { // a re-dispatch of the last records
				from := max(0, len(stream)-1-rng.Intn(5))
				stream = append(stream, stream[from:]...)
			}
		}
		for _, r := range stream {
			mustAdd(t, one, nil, "T", r.key, r.phyOffset, r.storeTimestampMs)
		}
		for len(stream) > 0 {
			n := min(len(stream), 1+rng.Intn(40))
			var keys []keyIndexKey
			for _, r := range stream[:n] {
				keys = append(keys, keyIndexKey{hash: keyIndexHash("T", r.key), phyOffset: r.phyOffset, storeTimestampMs: r.storeTimestampMs})
			}
			if err := batched.addBatch(keys); err != nil {
				t.Fatal(err)
			}
			stream = stream[n:]
		}
		for k := 0; k < 7; k++ {
			key := "k" + strconv.Itoa(k)
			want := mustQuery(t, one, "T", key, 0, 1<<62, 1000)
			if got := mustQuery(t, batched, "T", key, 0, 1<<62, 1000); !slices.Equal(got, want) {
				t.Fatalf("seed %d key %s: addBatch %v, add %v", seed, key, got, want)
			}
		}
		if one.indexedEnd() != batched.indexedEnd() {
			t.Fatalf("seed %d: indexedEnd %d vs %d", seed, batched.indexedEnd(), one.indexedEnd())
		}
		if err := batched.addBatch([]keyIndexKey{{hash: 1, phyOffset: -1}}); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("negative offset: %v", err)
		}
		one.close()
		batched.close()
	}
}
