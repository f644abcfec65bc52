package persist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// FS is the file-system seam under the store. Everything persist does to a
// disk goes through it, so tests can swap in MemFS (crashable, drops unsynced
// data) or ErrorFS (fails the i-th operation, tears writes).
type FS interface {
	// OpenFile opens or creates a file (flags as os.OpenFile).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldName, newName string) error
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir returns the entry names of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// Stat reports whether name exists and its size.
	Stat(name string) (size int64, err error)
	// SyncDir makes creations, removals and renames inside dir durable.
	SyncDir(dir string) error
	// Usage reports the total and free bytes of the file system holding dir.
	Usage(dir string) (total, free uint64, err error)
	// BootID names the current boot of the machine ("" when unknown).
	// Everything written through a mapping survives the death of the
	// process that wrote it as long as the boot does not change.
	BootID() string
}

// File is an open file of an FS.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	Truncate(size int64) error
	// Allocate reserves blocks for [0, size) so that later writes through a
	// mapping cannot fail for lack of space. It fails with an error wrapping
	// ErrDiskFull when the space is not there.
	Allocate(size int64) error
	Size() (int64, error)
	// Map maps [0, size) shared and writable. The file must already be
	// allocated to at least size bytes.
	Map(size int) (Mapping, error)
	Close() error
}

// Mapping is a shared writable memory mapping of a file.
type Mapping interface {
	Bytes() []byte
	// Sync makes [off, off+n) of the mapping durable (msync MS_SYNC).
	Sync(off, n int) error
	Unmap() error
}

// OSFS is the real file system.
type OSFS struct{}

type osFile struct{ f *os.File }

type osMapping struct{ b []byte }

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (OSFS) Remove(name string) error                    { return os.Remove(name) }
func (OSFS) Rename(oldName, newName string) error        { return os.Rename(oldName, newName) }
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (OSFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (OSFS) Stat(name string) (int64, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (OSFS) Usage(dir string) (total, free uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

// BootID is the kernel's random boot id.
func (OSFS) BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error)  { return f.f.ReadAt(p, off) }
func (f *osFile) WriteAt(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }
func (f *osFile) Sync() error                              { return unix.Fdatasync(int(f.f.Fd())) }
func (f *osFile) Truncate(size int64) error                { return f.f.Truncate(size) }
func (f *osFile) Close() error                             { return f.f.Close() }

func (f *osFile) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f *osFile) Allocate(size int64) error {
	err := unix.Fallocate(int(f.f.Fd()), 0, 0, size)
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("persist: allocate %d bytes for %s: %w (%v)", size, filepath.Base(f.f.Name()), ErrDiskFull, err)
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		// File systems without fallocate (tmpfs on old kernels): fall back
		// to extending the file; writes may then fail late, which the
		// caller cannot prevent on such a file system.
		return f.f.Truncate(size)
	}
	return err
}

func (f *osFile) Map(size int) (Mapping, error) {
	b, err := unix.Mmap(int(f.f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("persist: mmap %s: %w", filepath.Base(f.f.Name()), err)
	}
	return &osMapping{b: b}, nil
}

func (m *osMapping) Bytes() []byte { return m.b }

func (m *osMapping) Sync(off, n int) error {
	if n <= 0 {
		return nil
	}
	// msync needs a page-aligned start address.
	page := os.Getpagesize()
	start := off &^ (page - 1)
	end := off + n
	if end > len(m.b) {
		end = len(m.b)
	}
	return unix.Msync(m.b[start:end], unix.MS_SYNC)
}

func (m *osMapping) Unmap() error {
	if m.b == nil {
		return nil
	}
	err := unix.Munmap(m.b)
	m.b = nil
	return err
}
