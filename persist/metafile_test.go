package persist

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand"
	"path/filepath"
	"slices"
	"testing"
)

// TestWriteFileAtomicUnderFaults fails every operation of a metadata
// rewrite in turn, then crashes the machine: the file holds the old or the
// new content, whole, and a failed write reports its error.
func TestWriteFileAtomicUnderFaults(t *testing.T) {
	path := filepath.Join("data", "config", "topics.json")
	oldData := bytes.Repeat([]byte("old "), 300)
	newData := bytes.Repeat([]byte("NEW!"), 700)
	for i := int64(0); ; i++ {
		mem := NewMemFS()
		if err := WriteFileAtomic(mem, path, oldData); err != nil {
			t.Fatal(err)
		}
		efs := NewErrorFS(mem, FailAt(i))
		err := WriteFileAtomic(efs, path, newData)
		if err != nil && !errors.Is(err, ErrInjected) {
			t.Fatalf("op %d: error without the injected cause: %v", i, err)
		}
		for _, crashed := range []*MemFS{mem.Crash(rand.New(rand.NewSource(i))), mem.ProcessCrash()} {
			got, rerr := ReadFile(crashed, path)
			if rerr != nil {
				t.Fatalf("op %d: metadata file unreadable after the crash: %v", i, rerr)
			}
			if !bytes.Equal(got, oldData) && !bytes.Equal(got, newData) {
				t.Fatalf("op %d: file holds a mix of %d bytes", i, len(got))
			}
			if err == nil && !bytes.Equal(got, newData) {
				t.Fatalf("op %d: acknowledged write lost after a crash", i)
			}
		}
		if err == nil {
			if i < 4 {
				t.Fatalf("a rewrite finished with op %d failing", i)
			}
			return // i is past the last operation of the write
		}
	}
}

func TestRemoveMetaTemps(t *testing.T) {
	mem := NewMemFS()
	dir := filepath.Join("data", "config")
	for _, name := range []string{"topics.json", "topics.json.tmp", "consumerOffset.json.tmp2904812", "notes.tmpl"} {
		if err := WriteFileAtomic(mem, filepath.Join(dir, name), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var removed []string
	for _, name := range []string{"topics.json", "consumerOffset.json"} {
		r, err := RemoveMetaTemps(mem, filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		removed = append(removed, r...)
	}
	slices.Sort(removed)
	if want := []string{"consumerOffset.json.tmp2904812", "topics.json.tmp"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q", removed, want)
	}
	if _, err := ReadFile(mem, filepath.Join(dir, "notes.tmpl")); err != nil {
		t.Fatalf("an unrelated file went too: %v", err)
	}
	if _, err := ReadFile(mem, filepath.Join(dir, "topics.json")); err != nil {
		t.Fatalf("the real file went too: %v", err)
	}
	if _, err := ReadFile(mem, filepath.Join(dir, "topics.json.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temp file still there: %v", err)
	}
}
