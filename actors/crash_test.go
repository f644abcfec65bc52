package actors

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cometmq/comet/persist"
)

// The crash test runs the writer in a child process (this test binary,
// re-executed) that appends from many goroutines in sync-flush mode and
// prints every acknowledged record. The parent kills it with SIGKILL at a
// random moment, recovers the store and checks every acknowledged record
// is there, byte-identical at its offset, queue offsets are dense and
// nothing that was never submitted appears. COMET_CRASH_CYCLES raises the
// number of cycles (default 20).

const crashChildEnv = "COMET_CRASH_CHILD"

func crashStoreOptions(dir string) persist.Options {
	return persist.Options{Dir: dir, SegmentSize: 1 << 20, CQEntriesPerFile: 1024,
		IndexSlotsPerFile: 1 << 12, IndexEntriesPerFile: 1 << 14}
}

// crashBody is the deterministic body of message seq of producer p in a cycle.
func crashBody(cycle, p, seq int) []byte {
	head := fmt.Sprintf("c%d-p%d-s%d|", cycle, p, seq)
	n := 64 + (cycle*7+p*13+seq*31)%900
	b := make([]byte, n)
	copy(b, head)
	for i := len(head); i < n; i++ {
		b[i] = byte('a' + (i+seq)%26)
	}
	return b
}

type printCompletion struct {
	out  chan<- string
	line string
}

func (c *printCompletion) Complete(req *AppendRequest) {
	if req.Err != nil {
		return
	}
	r := req.Results[0]
	m := req.Messages[0]
	c.out <- fmt.Sprintf("%s %d %d %d %s", m.Topic, m.QueueID, r.QueueOffset, r.PhysicalOffset, c.line)
}

// TestCrashChild is the child's body; it does nothing unless re-executed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestKill9")
	}
	cycle, _ := strconv.Atoi(os.Getenv("COMET_CRASH_CYCLE"))
	store, err := persist.Open(crashStoreOptions(dir))
	if err != nil {
		fmt.Println("OPENFAIL", err)
		os.Exit(3)
	}
	w := NewWriter(store, WriterOptions{Flush: FlushSync})
	w.Start()
	out := make(chan string, 4096)
	go func() {
		bw := bufio.NewWriter(os.Stdout)
		for line := range out {
			bw.WriteString(line + "\n")
			if len(out) == 0 {
				bw.Flush()
			}
		}
	}()
	fmt.Println("READY")
	var wg sync.WaitGroup
	for p := 0; p < 32; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for seq := 0; ; seq++ {
				done := make(chan struct{})
				c := &ackThen{printCompletion: printCompletion{out: out, line: fmt.Sprintf("%d %d %d", cycle, p, seq)}, done: done}
				req := &AppendRequest{Messages: []persist.Message{{Topic: fmt.Sprintf("crash-%d", p%3),
					QueueID: int32(p % 4), Body: crashBody(cycle, p, seq), Properties: []byte("KEYS\x01k" + strconv.Itoa(seq))}}, Done: c}
				for w.Submit(req) != nil {
					time.Sleep(100 * time.Microsecond)
				}
				<-done
			}
		}(p)
	}
	wg.Wait()
}

type ackThen struct {
	printCompletion
	done chan struct{}
}

func (a *ackThen) Complete(req *AppendRequest) {
	a.printCompletion.Complete(req)
	close(a.done)
}

type crashAck struct {
	topic         string
	queueID       int32
	qoff, phys    int64
	cycle, p, seq int
}

func parseAck(line string) (crashAck, bool) {
	f := strings.Fields(line)
	if len(f) != 7 {
		return crashAck{}, false
	}
	var a crashAck
	var q int64
	var err error
	a.topic = f[0]
	q, err = strconv.ParseInt(f[1], 10, 32)
	a.queueID = int32(q)
	vals := []*int64{&a.qoff, &a.phys}
	for i, v := range vals {
		if *v, err = strconv.ParseInt(f[2+i], 10, 64); err != nil {
			return a, false
		}
	}
	a.cycle, _ = strconv.Atoi(f[4])
	a.p, _ = strconv.Atoi(f[5])
	a.seq, _ = strconv.Atoi(f[6])
	return a, err == nil
}

func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	cycles := 20
	if v, err := strconv.Atoi(os.Getenv("COMET_CRASH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var acked []crashAck
	for cycle := 0; cycle < cycles; cycle++ {
		acks := runCrashChild(t, dir, cycle, time.Duration(30+rng.Intn(250))*time.Millisecond)
		acked = append(acked, acks...)
		verifyCrashStore(t, dir, acked)
	}
	t.Logf("%d cycles, %d acknowledged records verified", cycles, len(acked))
}

// runCrashChild starts the child, lets it append for d, kills it with
// SIGKILL and returns the acknowledgements it printed.
func runCrashChild(t *testing.T, dir string, cycle int, d time.Duration) []crashAck {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "COMET_CRASH_CYCLE="+strconv.Itoa(cycle))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var acks []crashAck
	var killAt <-chan time.Time
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				return acks
			}
			switch {
			case line == "READY":
				killAt = time.After(d)
			case strings.HasPrefix(line, "OPENFAIL"):
				t.Fatalf("cycle %d: child could not open the store: %s", cycle, line)
			default:
				if a, ok := parseAck(line); ok {
					acks = append(acks, a)
				}
			}
		case <-killAt:
			cmd.Process.Signal(syscall.SIGKILL)
			killAt = nil
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("cycle %d: child did not become ready or die in time; stderr: %s", cycle, stderr.String())
		}
	}
}

// verifyCrashStore recovers the store and checks every acknowledged record
// and the density of every queue.
func verifyCrashStore(t *testing.T, dir string, acked []crashAck) {
	t.Helper()
	s, err := persist.Open(crashStoreOptions(dir))
	if err != nil {
		t.Fatalf("recover after kill -9: %v", err)
	}
	defer s.Close()
	for _, a := range acked {
		q := s.ConsumeQueue(a.topic, a.queueID)
		if q == nil {
			t.Fatalf("acknowledged %+v: queue missing", a)
		}
		e, ok := q.Entry(a.qoff)
		if !ok || e.CommitLogOffset != a.phys {
			t.Fatalf("acknowledged %+v: queue entry %+v ok=%v (recovery %+v)", a, e, ok, s.Recovery())
		}
		rv, err := s.RecordAt(a.phys)
		if err != nil {
			t.Fatalf("acknowledged %+v: %v", a, err)
		}
		if !bytes.Equal(rv.Body(), crashBody(a.cycle, a.p, a.seq)) {
			t.Fatalf("acknowledged %+v: body differs", a)
		}
	}
	for _, q := range s.Queues() {
		for off := q.MinOffset(); off < q.MaxOffset(); off++ {
			e, ok := q.Entry(off)
			if !ok {
				t.Fatalf("queue %s-%d: hole at %d", q.Topic(), q.QueueID(), off)
			}
			rv, err := s.RecordAt(e.CommitLogOffset)
			if err != nil || rv.QueueOffset() != off {
				t.Fatalf("queue %s-%d offset %d: %v", q.Topic(), q.QueueID(), off, err)
			}
			var c, p, seq int
			if _, err := fmt.Sscanf(string(rv.Body()), "c%d-p%d-s%d|", &c, &p, &seq); err != nil ||
				!bytes.Equal(rv.Body(), crashBody(c, p, seq)) {
				t.Fatalf("queue %s-%d offset %d holds a record nobody wrote", q.Topic(), q.QueueID(), off)
			}
		}
	}
}
