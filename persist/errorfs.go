package persist

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// OpKind names an FS operation, for fault injection.
type OpKind int

const (
	OpOpen OpKind = iota
	OpRemove
	OpRename
	OpMkdir
	OpReadDir
	OpStat
	OpSyncDir
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpAllocate
	OpMap
	OpMsync
	OpClose
)

var opNames = [...]string{"open", "remove", "rename", "mkdir", "readdir", "stat", "syncdir",
	"read", "write", "sync", "truncate", "allocate", "map", "msync", "close"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", int(k))
}

// Op describes one FS operation about to run.
type Op struct {
	Kind  OpKind
	Path  string
	Index int64 // 0-based sequence number of this operation in the ErrorFS
}

// ErrInjected is the error an ErrorFS returns for an injected fault.
var ErrInjected = errors.New("persist: injected fault")

// Injector decides, for each operation, whether it fails. Returning a
// non-nil error fails the operation with it; for OpWrite, an error wrapping
// ErrTornWrite makes the write land only its first half before failing.
type Injector func(op Op) error

// ErrTornWrite marks an injected write that lands partially.
var ErrTornWrite = errors.New("persist: injected torn write")

// FailAt returns an injector that fails operation i (0-based) and only it.
func FailAt(i int64) Injector {
	return func(op Op) error {
		if op.Index == i {
			return fmt.Errorf("%w: %s %s (op %d)", ErrInjected, op.Kind, op.Path, op.Index)
		}
		return nil
	}
}

// FailKind returns an injector that fails every operation of kind k once
// armed is set.
func FailKind(k OpKind, armed *atomic.Bool) Injector {
	return func(op Op) error {
		if op.Kind == k && armed.Load() {
			return fmt.Errorf("%w: %s %s", ErrInjected, op.Kind, op.Path)
		}
		return nil
	}
}

// ErrorFS wraps an FS and consults an Injector before every operation.
type ErrorFS struct {
	inner  FS
	inject Injector
	ops    atomic.Int64
}

// NewErrorFS wraps inner.
func NewErrorFS(inner FS, inject Injector) *ErrorFS {
	return &ErrorFS{inner: inner, inject: inject}
}

// Ops is the number of operations seen so far.
func (e *ErrorFS) Ops() int64 { return e.ops.Load() }

func (e *ErrorFS) check(kind OpKind, path string) error {
	i := e.ops.Add(1) - 1
	if e.inject == nil {
		return nil
	}
	return e.inject(Op{Kind: kind, Path: path, Index: i})
}

func (e *ErrorFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{fs: e, inner: f, name: name}, nil
}

func (e *ErrorFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

func (e *ErrorFS) Rename(oldName, newName string) error {
	if err := e.check(OpRename, oldName); err != nil {
		return err
	}
	return e.inner.Rename(oldName, newName)
}

func (e *ErrorFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := e.check(OpMkdir, dir); err != nil {
		return err
	}
	return e.inner.MkdirAll(dir, perm)
}

func (e *ErrorFS) ReadDir(dir string) ([]string, error) {
	if err := e.check(OpReadDir, dir); err != nil {
		return nil, err
	}
	return e.inner.ReadDir(dir)
}

func (e *ErrorFS) Stat(name string) (int64, error) {
	if err := e.check(OpStat, name); err != nil {
		return 0, err
	}
	return e.inner.Stat(name)
}

func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

func (e *ErrorFS) Usage(dir string) (uint64, uint64, error) { return e.inner.Usage(dir) }

// BootID is the inner file system's.
func (e *ErrorFS) BootID() string { return e.inner.BootID() }

type errorFile struct {
	fs    *ErrorFS
	inner File
	name  string
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpWrite, f.name); err != nil {
		if errors.Is(err, ErrTornWrite) {
			n, _ := f.inner.WriteAt(p[:len(p)/2], off)
			return n, err
		}
		return 0, err
	}
	return f.inner.WriteAt(p, off)
}

func (f *errorFile) Sync() error {
	if err := f.fs.check(OpSync, f.name); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.check(OpTruncate, f.name); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *errorFile) Allocate(size int64) error {
	if err := f.fs.check(OpAllocate, f.name); err != nil {
		return err
	}
	return f.inner.Allocate(size)
}

func (f *errorFile) Size() (int64, error) { return f.inner.Size() }

func (f *errorFile) Map(size int) (Mapping, error) {
	if err := f.fs.check(OpMap, f.name); err != nil {
		return nil, err
	}
	m, err := f.inner.Map(size)
	if err != nil {
		return nil, err
	}
	return &errorMapping{fs: f.fs, inner: m, name: f.name}, nil
}

func (f *errorFile) Close() error {
	if err := f.fs.check(OpClose, f.name); err != nil {
		f.inner.Close()
		return err
	}
	return f.inner.Close()
}

type errorMapping struct {
	fs    *ErrorFS
	inner Mapping
	name  string
}

func (m *errorMapping) Bytes() []byte { return m.inner.Bytes() }

func (m *errorMapping) Sync(off, n int) error {
	if err := m.fs.check(OpMsync, m.name); err != nil {
		return err
	}
	return m.inner.Sync(off, n)
}

func (m *errorMapping) Unmap() error { return m.inner.Unmap() }
