package persist

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrLocked: another process holds the data directory.
var ErrLocked = errors.New("persist: data directory in use")

// LockFileName is the lock file inside a data directory. It holds the
// process id of the holder as decimal text, for the error another process
// gets; the lock itself is the flock(2), not the file's existence.
const LockFileName = "lock"

// DirLock is an exclusive flock(2) on a data directory's lock file, held
// for as long as the broker owning the directory runs. Two processes
// writing one directory would overwrite each other's log tail and
// metadata; the second one to start gets ErrLocked instead, with the
// holder's process id. The kernel drops the lock when the holder exits in
// any way, kill -9 included, so a restart never finds a stale lock. The
// lock is on an open file description: a second LockDir in the same
// process fails too.
//
// It works on the real file system only, not through FS: flock belongs to
// the process, which the crash-simulating file systems do not model.
type DirLock struct {
	path string
	once sync.Once
	file *os.File
}

// LockDir creates dir if needed and locks it, or fails with an error
// wrapping ErrLocked that names the holder's process id.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("persist: data dir: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("persist: open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := lockHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("persist: data dir %s is in use by %s (it holds %s): %w", dir, holder, path, ErrLocked)
		}
		return nil, fmt.Errorf("persist: lock %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("persist: write lock file %s: %w", path, err)
	}
	return &DirLock{path: path, file: f}, nil
}

// lockHolder describes the process named in a held lock file.
func lockHolder(f *os.File) string {
	buf := make([]byte, 32)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "another process"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return "another process (its pid is not yet written)"
	}
	return "process " + strconv.Itoa(pid)
}

// HolderPID reads the process id written in dir's lock file, 0 when there
// is none. It says nothing about whether the lock is held.
func HolderPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, LockFileName))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Release unlocks the directory (once; later calls do nothing). The file
// stays: removing it would let a process that opened it just before lock
// a file no longer in the directory.
func (l *DirLock) Release() error {
	if l == nil {
		return nil
	}
	var err error
	l.once.Do(func() {
		l.file.Truncate(0)
		err = unix.Flock(int(l.file.Fd()), unix.LOCK_UN)
		if cerr := l.file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			err = fmt.Errorf("persist: release %s: %w", l.path, err)
		}
	})
	return err
}
