package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/cometmq/comet/netio/remoting"
)

// snapshotFormat is the version of the snapshot document.
const snapshotFormat = 1

// snapshotDoc is a snapshot: the whole state as JSON. Part of the format:
// do not change.
type snapshotDoc struct {
	Format int               `json:"format"`
	Groups map[string]*Group `json:"groups"`
}

// fsm is the raft.FSM over State. Apply runs on raft's FSM goroutine;
// readers take the lock to copy what they need.
type fsm struct {
	mu struct {
		sync.RWMutex
		state *State
	}
}

func newFSM() *fsm {
	f := &fsm{}
	f.mu.state = NewState()
	return f
}

// Apply decodes one committed command and applies it. The returned Result
// reaches the proposer through ApplyFuture.Response.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return Result{}
	}
	var c Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return refuse(remoting.ResponseControllerInvalidRequest, "undecodable command at index %d: %v", l.Index, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.state.Apply(&c)
}

// Snapshot copies the state as its encoded document, so Persist runs
// concurrently with later Applies without sharing anything.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	data, err := f.snapshotBytes()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot(data), nil
}

// Restore replaces the state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("controller: read snapshot: %w", err)
	}
	return f.restoreBytes(data)
}

func (f *fsm) snapshotBytes() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return json.Marshal(snapshotDoc{Format: snapshotFormat, Groups: f.mu.state.Groups})
}

func (f *fsm) restoreBytes(data []byte) error {
	var doc snapshotDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("controller: decode snapshot: %w", err)
	}
	if doc.Format != snapshotFormat {
		return fmt.Errorf("controller: snapshot format %d, want %d", doc.Format, snapshotFormat)
	}
	st := NewState()
	for k, g := range doc.Groups {
		if g == nil || groupKey(g.Cluster, g.Name) != k {
			return fmt.Errorf("controller: snapshot group %q does not match its key", k)
		}
		st.Groups[k] = g
	}
	f.mu.Lock()
	f.mu.state = st
	f.mu.Unlock()
	return nil
}

// group returns a copy of one group, nil if there is none.
func (f *fsm) group(cluster, name string) *Group {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if g := f.mu.state.Groups[groupKey(cluster, name)]; g != nil {
		return g.clone()
	}
	return nil
}

// groups returns copies of every group (of one cluster unless cluster is
// ""), sorted by cluster and name.
func (f *fsm) groups(cluster string) []*Group {
	f.mu.RLock()
	out := make([]*Group, 0, len(f.mu.state.Groups))
	for _, g := range f.mu.state.Groups {
		if cluster == "" || g.Cluster == cluster {
			out = append(out, g.clone())
		}
	}
	f.mu.RUnlock()
	sortGroups(out)
	return out
}

// fsmSnapshot is an encoded state.
type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("controller: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}
