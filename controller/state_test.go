package controller

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cometmq/comet/netio/remoting"
)

var update = flag.Bool("update", false, "rewrite golden files")

// scenario is one block of testdata/transitions.txt.
type scenario struct {
	name  string
	lines []string // commands, and comments starting with '#'
}

func readScenarios(t *testing.T, path string) []scenario {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []scenario
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			out = append(out, scenario{name: strings.TrimPrefix(line, "## ")})
		case line == "" || len(out) == 0:
		default:
			out[len(out)-1].lines = append(out[len(out)-1].lines, line)
		}
	}
	return out
}

// runScenario applies the scenario's commands to a fresh state and writes
// the transcript.
func runScenario(t *testing.T, s scenario, w *strings.Builder) *State {
	t.Helper()
	st := NewState()
	fmt.Fprintf(w, "## %s\n", s.name)
	for _, line := range s.lines {
		if strings.HasPrefix(line, "#") {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		var c Command
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%s: %q: %v", s.name, line, err)
		}
		res := st.Apply(&c)
		fmt.Fprintf(w, "> %s\n= %s", line, remoting.ResponseName(res.Code))
		if res.Remark != "" {
			fmt.Fprintf(w, " (%s)", res.Remark)
		}
		if res.BrokerID != 0 {
			fmt.Fprintf(w, " brokerId=%d", res.BrokerID)
		}
		if res.MasterChanged {
			fmt.Fprintf(w, " masterChanged prev=%d", res.PrevMaster)
		}
		w.WriteString("\n")
		if g := st.Groups[groupKey(c.Cluster, c.Group)]; g != nil {
			writeGroup(w, g)
		}
	}
	w.WriteString("\n")
	return st
}

// writeGroup renders a group in two lines: the election state, then each
// member as id:code addr/haAddr epoch@offset.
func writeGroup(w *strings.Builder, g *Group) {
	fmt.Fprintf(w, "  %s/%s master=%d epoch=%d set=%v@%d lease=%d next=%d\n   ",
		g.Cluster, g.Name, g.MasterID, g.Epoch, g.SyncStateSet, g.SyncStateSetEpoch, g.LeaseExpiry, g.NextID)
	for _, m := range g.Members {
		fmt.Fprintf(w, " %d:%s %s/%s %d@%d", m.ID, m.Code, m.Addr, m.HAAddr, m.LastEpoch, m.ConfirmedOffset)
	}
	w.WriteString("\n")
}

// TestControllerFSMGolden applies every scenario of
// testdata/transitions.txt and compares the transcript with
// testdata/transitions.golden (go test -run FSMGolden -update rewrites it).
func TestControllerFSMGolden(t *testing.T) {
	var w strings.Builder
	for _, s := range readScenarios(t, "testdata/transitions.txt") {
		runScenario(t, s, &w)
	}
	const golden = "testdata/transitions.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(w.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.String(); got != string(want) {
		t.Errorf("transcript differs from %s (rerun with -update and review the diff):\n%s", golden, firstDiff(got, string(want)))
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, a, b)
		}
	}
	return ""
}

// TestControllerFSMDeterministic applies each scenario twice and through a
// snapshot round trip: every path ends in the same bytes.
func TestControllerFSMDeterministic(t *testing.T) {
	for _, s := range readScenarios(t, "testdata/transitions.txt") {
		var w1, w2 strings.Builder
		a, b := runScenario(t, s, &w1), runScenario(t, s, &w2)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) || w1.String() != w2.String() {
			t.Fatalf("%s: two runs differ", s.name)
		}
		f, g := newFSM(), newFSM()
		f.mu.state = a
		snap, err := f.snapshotBytes()
		if err != nil {
			t.Fatal(err)
		}
		if err := g.restoreBytes(snap); err != nil {
			t.Fatalf("%s: restore: %v", s.name, err)
		}
		jc, _ := json.Marshal(g.mu.state)
		if !bytes.Equal(ja, jc) {
			t.Fatalf("%s: snapshot round trip differs:\n%s\n%s", s.name, ja, jc)
		}
	}
}

// TestControllerStateBounds: registrations cannot grow the state past its
// bounds.
func TestControllerStateBounds(t *testing.T) {
	st := NewState()
	for i := range MaxMembersPerGroup + 1 {
		res := st.Apply(&Command{Op: opRegister, Cluster: "c", Group: "g", Code: fmt.Sprintf("code-%04d", i), Addr: "10.0.0.1:1"})
		if want := i < MaxMembersPerGroup; (res.Code == remoting.ResponseSuccess) != want {
			t.Fatalf("member %d: %s %s", i, remoting.ResponseName(res.Code), res.Remark)
		}
	}
	for i := 1; i < MaxGroups; i++ {
		st.Groups[fmt.Sprintf("c/g%d", i)] = &Group{Cluster: "c", Name: fmt.Sprintf("g%d", i)}
	}
	if res := st.Apply(&Command{Op: opRegister, Cluster: "c", Group: "one-more", Code: "code-aaaa", Addr: "10.0.0.1:1"}); res.Code == remoting.ResponseSuccess {
		t.Fatal("a group past MaxGroups was registered")
	}
}
