package persist

import (
	"errors"
	"math/rand"
	"slices"
	"testing"
)

func openEpochs(t *testing.T, fsys FS) *EpochFile {
	t.Helper()
	if err := fsys.MkdirAll("/store", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := OpenEpochFile(fsys, "/store/"+EpochFileName)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestEpochFileRules(t *testing.T) {
	fsys := NewMemFS()
	f := openEpochs(t, fsys)
	if got := f.Entries(); len(got) != 0 {
		t.Fatalf("a new file holds %v", got)
	}
	steps := []struct {
		name string
		do   func() error
		want []EpochEntry
	}{
		{"first master", func() error { return f.Begin(1, 0) }, []EpochEntry{{1, 0}}},
		{"same epoch again", func() error { return f.Begin(1, 500) }, []EpochEntry{{1, 0}}},
		{"next master", func() error { return f.Begin(3, 900) }, []EpochEntry{{1, 0}, {3, 900}}},
		{"empty range replaced", func() error { return f.Begin(4, 900) }, []EpochEntry{{1, 0}, {4, 900}}},
		{"range past the start dropped", func() error { return f.Begin(5, 800) }, []EpochEntry{{1, 0}, {5, 800}}},
		{"truncate keeps ranges below", func() error { return f.TruncateFrom(801) }, []EpochEntry{{1, 0}, {5, 800}}},
		{"truncate drops from the start", func() error { return f.TruncateFrom(800) }, []EpochEntry{{1, 0}}},
		{"adopt below upTo", func() error { return f.Adopt([]EpochEntry{{1, 0}, {2, 700}, {6, 1000}}, 1000) },
			[]EpochEntry{{1, 0}, {2, 700}}},
		{"adopt the rest", func() error { return f.Adopt([]EpochEntry{{1, 0}, {2, 700}, {6, 1000}}, 1001) },
			[]EpochEntry{{1, 0}, {2, 700}, {6, 1000}}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := f.Entries(); !slices.Equal(got, s.want) {
			t.Fatalf("%s: %v, want %v", s.name, got, s.want)
		}
		again := openEpochs(t, fsys.Crash(rand.New(rand.NewSource(1))))
		if got := again.Entries(); !slices.Equal(got, s.want) {
			t.Fatalf("%s: after a crash the file holds %v, want %v", s.name, got, s.want)
		}
	}
	if err := f.Begin(5, 2000); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("beginning epoch 5 after 6: %v, want ErrStaleEpoch", err)
	}
	if err := f.Adopt([]EpochEntry{{2, 0}, {1, 5}}, 10); !errors.Is(err, ErrCorruption) {
		t.Fatalf("adopting falling epochs: %v, want ErrCorruption", err)
	}
	for end, want := range map[int64]int64{0: 0, 1: 1, 700: 1, 701: 2, 1000: 2, 1001: 6} {
		if got := f.EpochAt(end); got != want {
			t.Fatalf("EpochAt(%d) = %d, want %d", end, got, want)
		}
	}
}

func TestEpochFileDamageRefused(t *testing.T) {
	good := EncodeEpochs([]EpochEntry{{1, 0}, {2, 4096}})
	cases := map[string][]byte{
		"empty":      {},
		"bad magic":  append([]byte("XMEPOCH1"), good[8:]...),
		"flipped":    func() []byte { b := slices.Clone(good); b[15] ^= 1; return b }(),
		"short":      good[:len(good)-1],
		"falling":    EncodeEpochs([]EpochEntry{{2, 0}, {1, 4096}}),
		"same start": EncodeEpochs([]EpochEntry{{1, 0}, {2, 0}}),
		"negative":   EncodeEpochs([]EpochEntry{{-1, 0}}),
	}
	for name, data := range cases {
		fsys := NewMemFS()
		if err := WriteFileAtomic(fsys, "/store/"+EpochFileName, data); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenEpochFile(fsys, "/store/"+EpochFileName); !errors.Is(err, ErrCorruption) {
			t.Fatalf("%s: %v, want ErrCorruption", name, err)
		}
	}
}

// FuzzDecodeEpochs feeds arbitrary bytes to the epoch file's decoder: it
// never panics, and whatever it accepts encodes back to the same bytes.
func FuzzDecodeEpochs(f *testing.F) {
	f.Add(EncodeEpochs(nil))
	f.Add(EncodeEpochs([]EpochEntry{{1, 0}, {2, 4096}, {7, 1 << 30}}))
	f.Add([]byte("CMEPOCH1\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := DecodeEpochs(b)
		if err != nil {
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("error without a class: %v", err)
			}
			return
		}
		if got := EncodeEpochs(entries); string(got) != string(b) {
			t.Fatalf("accepted %x but encodes to %x", b, got)
		}
	})
}
