package acl

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWatchInterval is how often a Watcher looks at its file.
const DefaultWatchInterval = time.Second

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Interval between looks at the file (default DefaultWatchInterval).
	Interval time.Duration
	Logger   *slog.Logger
}

// Watcher holds the rules of one ACL file and reloads them when the file
// changes (a look every Interval: size, modification time, then a hash of
// the content) or when Reload is called (SIGHUP). A file that does not
// parse, or cannot be read, keeps the previous rules and is logged with
// the reason; the first load must succeed.
type Watcher struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	rules    atomic.Pointer[Rules]

	reloads  atomic.Uint64
	failures atomic.Uint64

	mu struct {
		sync.Mutex
		stamp fileStamp
	}
	stop chan struct{}
	done chan struct{}
}

// fileStamp tells whether the file changed since it was last read.
type fileStamp struct {
	size    int64
	modTime time.Time
	sum     [sha256.Size]byte
}

// Open loads path and returns a Watcher holding its rules; Start begins
// watching it.
func Open(path string, opts WatchOptions) (*Watcher, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultWatchInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{path: path, interval: opts.Interval, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	rules, stamp, err := w.read()
	if err != nil {
		return nil, err
	}
	w.rules.Store(rules)
	w.mu.stamp = stamp
	return w, nil
}

// Rules returns the rules in force.
func (w *Watcher) Rules() *Rules { return w.rules.Load() }

// Path is the watched file.
func (w *Watcher) Path() string { return w.path }

// Reloads and Failures count the reloads that replaced the rules and
// those that kept the previous ones.
func (w *Watcher) Reloads() uint64  { return w.reloads.Load() }
func (w *Watcher) Failures() uint64 { return w.failures.Load() }

// Start watches the file until Close.
func (w *Watcher) Start() { go w.watchLoop() }

// Close stops watching and waits for the watch goroutine. Call once, after
// Start.
func (w *Watcher) Close() {
	close(w.stop)
	<-w.done
}

func (w *Watcher) watchLoop() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if w.changed() {
				_ = w.Reload()
			}
		}
	}
}

// changed reports whether the file's size or modification time differ
// from the last read (an unreadable file counts as changed, so Reload
// logs why).
func (w *Watcher) changed() bool {
	fi, err := os.Stat(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		return w.mu.stamp.size != missingFile
	}
	return fi.Size() != w.mu.stamp.size || !fi.ModTime().Equal(w.mu.stamp.modTime)
}

// Reload reads the file again. When it parses, its rules replace the
// ones in force (if its content changed); otherwise the previous rules stay
// and the reason is logged and returned.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rules, stamp, err := w.read()
	if err != nil {
		w.failures.Add(1)
		// Not read again until it changes; the rules in force keep their
		// content hash zeroed, so restoring the old file reloads it.
		w.mu.stamp = stamp
		w.log.Error("acl: reload failed; keeping the previous rules", "file", w.path, "err", err)
		return err
	}
	if stamp.sum == w.mu.stamp.sum {
		w.mu.stamp = stamp
		return nil
	}
	w.mu.stamp = stamp
	w.rules.Store(rules)
	w.reloads.Add(1)
	w.log.Info("acl: rules reloaded", "file", w.path, "accounts", rules.Accounts())
	return nil
}

// missingFile is the size of a stamp taken when the file was absent.
const missingFile = -1

// read reads and parses the file. The stamp names what was read (size and
// time) even when it did not parse; its hash is set only when it did.
func (w *Watcher) read() (*Rules, fileStamp, error) {
	f, err := os.Open(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fileStamp{size: missingFile}, fmt.Errorf("acl: %w", err)
	}
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("acl: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("acl: %w", err)
	}
	stamp := fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, stamp, fmt.Errorf("acl: read %s: %w", w.path, err)
	}
	rules, err := Parse(data)
	if err != nil {
		return nil, stamp, fmt.Errorf("%w (in %s)", err, w.path)
	}
	stamp.sum = sha256.Sum256(data)
	return rules, stamp, nil
}
