package acl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

const oneAccount = "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    defaultTopicPerm: PUB\n"
const twoAccounts = oneAccount + "  - accessKey: hijklmn\n    secretKey: 7654321\n"

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	// Write beside and rename, as editors and config tools do, so the
	// watcher never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherReloadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	writeFile(t, path, oneAccount)
	w, err := Open(path, WatchOptions{Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	defer w.Close()
	if w.Rules().Accounts() != 1 {
		t.Fatalf("accounts = %d", w.Rules().Accounts())
	}
	writeFile(t, path, twoAccounts)
	testutil.WaitFor(t, 5*time.Second, "the second account", func() bool { return w.Rules().Accounts() == 2 })

	// A file that does not parse keeps the rules in force.
	before := w.Rules()
	writeFile(t, path, twoAccounts+"    bogus: 1\n")
	testutil.WaitFor(t, 5*time.Second, "the failed reload", func() bool { return w.Failures() == 1 })
	if w.Rules() != before {
		t.Fatal("a bad file replaced the rules")
	}
	// Not read again until it changes.
	if w.changed() {
		t.Fatal("an unchanged bad file counts as changed: it would be read and logged every interval")
	}
	writeFile(t, path, oneAccount)
	testutil.WaitFor(t, 5*time.Second, "the fixed file", func() bool { return w.Rules().Accounts() == 1 })
}

func TestWatcherReloadKeepsRulesOnBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl.yml")
	writeFile(t, path, oneAccount)
	w, err := Open(path, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := w.Rules()
	writeFile(t, path, "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n  - accessKey: abcdefg\n    secretKey: 1234567\n")
	err = w.Reload()
	if !errors.Is(err, ErrBadFile) || w.Rules() != before {
		t.Fatalf("Reload = %v; rules replaced: %v", err, w.Rules() != before)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); !errors.Is(err, os.ErrNotExist) || w.Rules() != before {
		t.Fatalf("Reload of a missing file = %v", err)
	}
	writeFile(t, path, twoAccounts)
	if err := w.Reload(); err != nil || w.Rules().Accounts() != 2 {
		t.Fatalf("Reload = %v, accounts %d", err, w.Rules().Accounts())
	}
}

func TestOpenRefusesBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl.yml")
	writeFile(t, path, "accounts:\n  - accessKey: abcdefg\n    secretKey: 1234567\n    whiteRemoteAddress: 1.2.3.999\n")
	if _, err := Open(path, WatchOptions{}); !errors.Is(err, ErrBadFile) {
		t.Fatalf("Open = %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none.yml"), WatchOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of a missing file = %v", err)
	}
}
