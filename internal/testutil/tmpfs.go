package testutil

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// SmallFilesystem mounts a tmpfs of sizeBytes on a fresh temporary
// directory and returns it, for tests that fill a disk for real. It skips
// the test, saying why, where mounting is not permitted (not root, no
// CAP_SYS_ADMIN, a sandbox without tmpfs). The file system is unmounted at
// cleanup, after every cleanup registered later (stores closed, children
// killed); lazily if something still holds it.
func SmallFilesystem(t testing.TB, sizeBytes int64) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "comet-smallfs-")
	if err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%d,mode=0755", sizeBytes)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		os.Remove(dir)
		t.Skipf("needs a small real file system: mounting a %d-byte tmpfs is not permitted here (%v); run as root to include this test", sizeBytes, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		os.Remove(dir)
	})
	return dir
}
