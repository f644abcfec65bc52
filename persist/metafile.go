package persist

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Metadata files (topic configuration, consumer offsets) are small and
// rewritten whole. WriteFileAtomic leaves either the old or the new content
// after a crash, never a mix: it writes a temporary file beside the target,
// syncs it, renames it over the target and syncs the directory. Both go
// through the FS seam, so fault injection reaches metadata as it reaches
// the log.

// metaTempSuffix marks a temporary metadata file; one left by a crash
// between the write and the rename is removed by RemoveMetaTemps.
const metaTempSuffix = ".tmp"

// WriteFileAtomic replaces path with data durably through fsys.
func WriteFileAtomic(fsys FS, path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("persist: metadata dir %s: %w", dir, err)
	}
	tmp := path + metaTempSuffix
	if err := writeSynced(fsys, tmp, data); err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("persist: rename %s: %w", path, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("persist: sync dir %s: %w", dir, err)
	}
	return nil
}

func writeSynced(fsys FS, name string, data []byte) error {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("persist: create %s: %w", name, err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return fmt.Errorf("persist: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("persist: sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("persist: close %s: %w", name, err)
	}
	return nil
}

// ReadFile reads a whole metadata file through fsys. A missing file is an
// error wrapping fs.ErrNotExist.
func ReadFile(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("persist: stat %s: %w", path, err)
	}
	data := make([]byte, size)
	if n, err := f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && int64(n) == size) {
		return nil, fmt.Errorf("persist: read %s: %w", path, err)
	}
	return data, nil
}

// RemoveMetaTemps removes the temporary files a crash left behind while
// path was being rewritten (path.tmp, and the path.tmpNNN names earlier
// versions used), and returns their names. Other files are left alone.
func RemoveMetaTemps(fsys FS, path string) ([]string, error) {
	dir, base := filepath.Split(path)
	names, err := fsys.ReadDir(filepath.Clean(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range names {
		suffix, ok := strings.CutPrefix(n, base+metaTempSuffix)
		if !ok || strings.Trim(suffix, "0123456789") != "" {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, n)); err != nil {
			return removed, fmt.Errorf("persist: remove %s: %w", n, err)
		}
		removed = append(removed, n)
	}
	return removed, nil
}
