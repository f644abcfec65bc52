package persist

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// MemFS is an in-memory FS that remembers what has been made durable, so a
// test can simulate a machine crash: Crash returns a new MemFS holding only
// synced data (plus, optionally, a random part of the unsynced data), and
// only the directory entries made durable by SyncDir.
//
// Mappings returned by Map share the file's live bytes, as a MAP_SHARED
// mapping shares the page cache. Each MemFS has a boot id: Crash starts a
// new boot, ProcessCrash keeps the boot.
type MemFS struct {
	boot uint64
	mu   struct {
		sync.Mutex
		files   map[string]*memNode // live view: name -> node
		durable map[string]*memNode // names that survive a crash
		dirs    map[string]bool
		// capacity limits the total allocated bytes; 0 = unlimited.
		capacity int64
	}
}

type memNode struct {
	mu      sync.Mutex
	data    []byte // live bytes (page cache)
	synced  []byte // bytes as of the last Sync
	touched bool   // data differs from synced
}

// memFSBoots numbers the boots of every MemFS of the process.
var memFSBoots atomic.Uint64

// NewMemFS returns an empty in-memory file system, on a boot of its own.
func NewMemFS() *MemFS {
	m := &MemFS{boot: memFSBoots.Add(1)}
	m.mu.files = map[string]*memNode{}
	m.mu.durable = map[string]*memNode{}
	m.mu.dirs = map[string]bool{"/": true, ".": true}
	return m
}

// SetCapacity limits the bytes the FS will allocate; Allocate beyond it fails
// with ErrDiskFull. 0 removes the limit.
func (m *MemFS) SetCapacity(bytes int64) {
	m.mu.Lock()
	m.mu.capacity = bytes
	m.mu.Unlock()
}

func (m *MemFS) usedLocked() int64 {
	var n int64
	for _, node := range m.mu.files {
		node.mu.Lock()
		n += int64(len(node.data))
		node.mu.Unlock()
	}
	return n
}

// BootID names the simulated boot of the machine.
func (m *MemFS) BootID() string { return "memfs-boot-" + strconv.FormatUint(m.boot, 10) }

func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mu.dirs[filepath.Dir(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	node, ok := m.mu.files[name]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok:
		node = &memNode{}
		m.mu.files[name] = node
	}
	if flag&os.O_TRUNC != 0 {
		node.mu.Lock()
		node.data = node.data[:0]
		node.touched = true
		node.mu.Unlock()
	}
	return &memFile{fs: m, node: node, name: name}, nil
}

func (m *MemFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.files[name]; ok {
		delete(m.mu.files, name)
		return nil
	}
	if m.mu.dirs[name] {
		prefix := name + "/"
		for f := range m.mu.files {
			if strings.HasPrefix(f, prefix) {
				return &fs.PathError{Op: "remove", Path: name, Err: fmt.Errorf("directory not empty")}
			}
		}
		delete(m.mu.dirs, name)
		return nil
	}
	return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
}

func (m *MemFS) Rename(oldName, newName string) error {
	oldName, newName = filepath.Clean(oldName), filepath.Clean(newName)
	m.mu.Lock()
	defer m.mu.Unlock()
	node, ok := m.mu.files[oldName]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldName, Err: fs.ErrNotExist}
	}
	delete(m.mu.files, oldName)
	m.mu.files[newName] = node
	return nil
}

func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := dir; ; d = filepath.Dir(d) {
		m.mu.dirs[d] = true
		if d == filepath.Dir(d) {
			break
		}
	}
	return nil
}

func (m *MemFS) ReadDir(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.mu.dirs[dir] {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	seen := map[string]bool{}
	for f := range m.mu.files {
		if filepath.Dir(f) == dir {
			seen[filepath.Base(f)] = true
		}
	}
	for d := range m.mu.dirs {
		if d != dir && filepath.Dir(d) == dir {
			seen[filepath.Base(d)] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (m *MemFS) Stat(name string) (int64, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if node, ok := m.mu.files[name]; ok {
		node.mu.Lock()
		defer node.mu.Unlock()
		return int64(len(node.data)), nil
	}
	if m.mu.dirs[name] {
		return 0, nil
	}
	return 0, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// SyncDir makes the current set of files directly inside dir durable.
func (m *MemFS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.mu.durable {
		if filepath.Dir(name) == dir {
			if _, ok := m.mu.files[name]; !ok {
				delete(m.mu.durable, name)
			}
		}
	}
	for name, node := range m.mu.files {
		if filepath.Dir(name) == dir {
			m.mu.durable[name] = node
		}
	}
	return nil
}

func (m *MemFS) Usage(dir string) (total, free uint64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	used := m.usedLocked()
	capacity := m.mu.capacity
	if capacity == 0 {
		capacity = 1 << 40
	}
	if used > capacity {
		used = capacity
	}
	return uint64(capacity), uint64(capacity - used), nil
}

// Crash returns the file system as a machine crash would leave it: only
// durable directory entries, each holding its synced bytes. With rng set,
// every unsynced 512-byte block of a file survives with probability 1/2,
// modelling a kernel that wrote back part of its dirty pages.
func (m *MemFS) Crash(rng *rand.Rand) *MemFS {
	out := NewMemFS()
	m.mu.Lock()
	defer m.mu.Unlock()
	out.mu.capacity = m.mu.capacity
	for d := range m.mu.dirs {
		out.mu.dirs[d] = true
	}
	for name, node := range m.mu.durable {
		node.mu.Lock()
		data := append([]byte(nil), node.synced...)
		if rng != nil {
			data = mixUnsynced(data, node.data, rng)
		}
		node.mu.Unlock()
		n := &memNode{data: data, synced: append([]byte(nil), data...)}
		out.mu.files[name] = n
		out.mu.durable[name] = n
	}
	return out
}

// ProcessCrash returns the file system as a kill -9 of the process leaves
// it: every byte written (the page cache survives), every entry present.
func (m *MemFS) ProcessCrash() *MemFS {
	out := NewMemFS()
	out.boot = m.boot
	m.mu.Lock()
	defer m.mu.Unlock()
	out.mu.capacity = m.mu.capacity
	for d := range m.mu.dirs {
		out.mu.dirs[d] = true
	}
	for name, node := range m.mu.files {
		node.mu.Lock()
		data := append([]byte(nil), node.data...)
		node.mu.Unlock()
		n := &memNode{data: data, synced: append([]byte(nil), data...)}
		out.mu.files[name] = n
		out.mu.durable[name] = n
	}
	return out
}

func mixUnsynced(synced, live []byte, rng *rand.Rand) []byte {
	const block = 512
	if len(live) > len(synced) {
		synced = append(synced, make([]byte, len(live)-len(synced))...)
	}
	synced = synced[:len(live)]
	for off := 0; off < len(live); off += block {
		end := min(off+block, len(live))
		if rng.Intn(2) == 0 {
			copy(synced[off:end], live[off:end])
		}
	}
	return synced
}

type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	closed bool
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	end := off + int64(len(p))
	if end > int64(len(f.node.data)) {
		f.node.data = growTo(f.node.data, int(end))
	}
	copy(f.node.data[off:], p)
	f.node.touched = true
	return len(p), nil
}

func growTo(b []byte, n int) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	nb := make([]byte, n)
	copy(nb, b)
	return nb
}

func (f *memFile) Sync() error {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.synced = append(f.node.synced[:0], f.node.data...)
	f.node.touched = false
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if size > int64(len(f.node.data)) {
		f.node.data = growTo(f.node.data, int(size))
	} else {
		clear(f.node.data[size:])
		f.node.data = f.node.data[:size]
	}
	f.node.touched = true
	return nil
}

func (f *memFile) Allocate(size int64) error {
	f.fs.mu.Lock()
	capacity := f.fs.mu.capacity
	used := int64(0)
	if capacity > 0 {
		used = f.fs.usedLocked()
	}
	f.fs.mu.Unlock()
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	grow := size - int64(len(f.node.data))
	if grow <= 0 {
		return nil
	}
	if capacity > 0 && used+grow > capacity {
		return fmt.Errorf("persist: allocate %d bytes for %s: %w", size, filepath.Base(f.name), ErrDiskFull)
	}
	f.node.data = growTo(f.node.data, int(size))
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	return int64(len(f.node.data)), nil
}

func (f *memFile) Map(size int) (Mapping, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if size > len(f.node.data) {
		return nil, fmt.Errorf("persist: map %s: %d bytes beyond file size %d", filepath.Base(f.name), size, len(f.node.data))
	}
	return &memMapping{node: f.node, b: f.node.data[:size:size]}, nil
}

func (f *memFile) Close() error {
	f.closed = true
	return nil
}

type memMapping struct {
	node *memNode
	b    []byte
}

func (m *memMapping) Bytes() []byte { return m.b }

func (m *memMapping) Sync(off, n int) error {
	m.node.mu.Lock()
	defer m.node.mu.Unlock()
	end := min(off+n, len(m.node.data))
	if len(m.node.synced) < end {
		m.node.synced = growTo(m.node.synced, end)
	}
	copy(m.node.synced[off:end], m.node.data[off:end])
	return nil
}

func (m *memMapping) Unmap() error { return nil }
