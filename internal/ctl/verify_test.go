package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flipInSegment flips one bit of the first occurrence of marker in the
// broker's first commit-log segment, through the file (the broker maps it
// shared, so it reads the flipped byte at once), and returns the file
// offset of the flipped byte.
func flipInSegment(t *testing.T, dir, marker string) int64 {
	t.Helper()
	path := filepath.Join(dir, "store", "commitlog", "00000000000000000000")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	n, _ := f.ReadAt(buf, 0)
	at := bytes.Index(buf[:n], []byte(marker))
	if at < 0 {
		t.Fatalf("marker %q not in the segment", marker)
	}
	at += len(marker) / 2
	if _, err := f.WriteAt([]byte{buf[at] ^ 0x10}, int64(at)); err != nil {
		t.Fatal(err)
	}
	return int64(at)
}

// TestVerifyPrintAndViewOfADamagedRecord flips a body byte of one stored
// message: broker verify lists its range and exits 5, message print
// skips it and prints the rest, message view refuses it.
func TestVerifyPrintAndViewOfADamagedRecord(t *testing.T) {
	f := newFixture(t)
	const topic = "Damaged"
	ids := map[int]string{}
	for i := 0; i < 20; i++ {
		ids[i] = f.send(topic, 0, fmt.Sprintf("message-%02d-body", i), fmt.Sprintf("k%d", i), "")
	}
	var clean []verifyResult
	f.okJSON(&clean, "broker", "verify")
	if len(clean) != 1 || len(clean[0].Damaged) != 0 || clean[0].Records < 20 {
		t.Fatalf("verify of an intact log: %+v", clean)
	}

	at := flipInSegment(t, f.env.Dir, "message-07-body")
	out, errOut, code := f.ctl("broker", "verify", "-json")
	if code != ExitDamaged {
		t.Fatalf("verify of a damaged log: exit %d, want %d\n%s\n%s", code, ExitDamaged, out, errOut)
	}
	var res []verifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Damaged) != 1 {
		t.Fatalf("damaged ranges: %+v", res)
	}
	d := res[0].Damaged[0]
	if d.Segment != "00000000000000000000" || at < d.Offset || at >= d.Offset+d.Length || !strings.Contains(d.Reason, "body crc") {
		t.Fatalf("damaged range %+v does not cover the flipped byte at %d", d, at)
	}
	if res[0].Records != clean[0].Records-1 {
		t.Fatalf("%d valid records after the flip, %d before", res[0].Records, clean[0].Records)
	}

	printed := f.ok("message", "print", "-topic", topic, "-queue", "0", "-count", "100")
	if strings.Contains(printed, "message-07") || strings.Count(printed, "-body") != 19 {
		t.Fatalf("message print of a queue with a damaged record:\n%s", printed)
	}
	errOut = f.wantCode(ExitNotFound, "message", "view", ids[7])
	if !strings.Contains(errOut, "damaged record") {
		t.Fatalf("message view of the damaged record: %s", errOut)
	}
	f.ok("message", "view", ids[8])
	if st := f.env.Broker.Store().Stats(); st.CorruptRecords < 2 {
		t.Fatalf("damaged reads counted %d times", st.CorruptRecords)
	}
}
