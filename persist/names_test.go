package persist

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

var unsafeTopics = []string{"", ".", "..", "../../../victim", "a/b", `a\b`, "a\x00b", "/abs"}

// TestDeleteTopicRefusesUnsafeNames: the store never removes a path built
// from a name that is not a plain directory name, whatever the broker in
// front of it let through.
func TestDeleteTopicRefusesUnsafeNames(t *testing.T) {
	root := t.TempDir()
	victim := filepath.Join(root, "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(OSFS{})
	opts.Dir = filepath.Join(root, "data", "store")
	s := mustOpen(t, opts)
	defer s.Close()
	want := appendBatch(t, s, rand.New(rand.NewSource(3)), 0, 12)
	for _, topic := range unsafeTopics {
		if err := s.DeleteTopic(topic); !errors.Is(err, ErrUnsafeName) {
			t.Errorf("DeleteTopic(%q): %v, want ErrUnsafeName", topic, err)
		}
	}
	if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
		t.Fatalf("a directory outside the store was touched: %v", err)
	}
	for _, sub := range []string{"commitlog", "consumequeue", "checkpoint"} {
		if _, err := os.Stat(filepath.Join(opts.Dir, sub)); err != nil {
			t.Fatalf("store %s gone: %v", sub, err)
		}
	}
	verify(t, s, want)
}

func TestAppendRefusesUnsafeNames(t *testing.T) {
	mem := NewMemFS()
	s := mustOpen(t, testOptions(mem))
	defer s.Close()
	for _, topic := range unsafeTopics[1:] { // "" is refused by ValidateMessage already
		_, err := s.Append(&Message{Topic: topic, Body: []byte("b")}, 1)
		if !errors.Is(err, ErrUnsafeName) {
			t.Errorf("Append to %q: %v, want ErrUnsafeName", topic, err)
		}
	}
	if names, _ := mem.ReadDir("/"); len(names) != 1 || names[0] != "data" {
		t.Fatalf("files created outside the store: %v", names)
	}
}

// TestRecoveryDoesNotDispatchUnsafeNames: a record whose topic is not a
// safe directory name (written before names were checked) stays in the
// log but gets no consume queue, so recovery creates nothing outside the
// store.
func TestRecoveryDoesNotDispatchUnsafeNames(t *testing.T) {
	const unsafe = "../../x" // as long as "topic-N", so the record keeps its size
	var img *MemFS
	s, want := crashImage(t, 30, false, func(fs *MemFS, _ *Store, want []stored) {
		img = fs
		last := want[len(want)-1]
		seg := segmentBytes(t, fs, lastSegmentBase(want))
		at := int(last.phys % (64 << 10))
		rec := seg[at:]
		i := bytes.LastIndex(rec[:bytes.Index(rec, []byte("TAGS\x01"))], []byte(last.topic))
		if i < 0 || len(unsafe) != len(last.topic) {
			t.Fatalf("topic %q not found in the last record", last.topic)
		}
		copy(rec[i:], unsafe)
	})
	verify(t, s, want[:len(want)-1])
	for _, dir := range []string{"/x", "/data/x", "/"} {
		names, _ := img.ReadDir(dir)
		for _, n := range names {
			if n != "data" {
				t.Fatalf("recovery created %s/%s", dir, n)
			}
		}
	}
	if rv, err := s.RecordAt(want[len(want)-1].phys); err != nil || string(rv.Topic()) != unsafe {
		t.Fatalf("the record itself should stay readable by offset: %v", err)
	}
}
