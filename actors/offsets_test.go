package actors

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/cometmq/comet/persist"
)

// TestOffsetTablePersistsThroughFaults fails the metadata rewrite below the
// file-system seam: the error reaches the caller, the table stays dirty,
// and the next write stores every committed offset.
func TestOffsetTablePersistsThroughFaults(t *testing.T) {
	mem := persist.NewMemFS()
	var armed atomic.Bool
	efs := persist.NewErrorFS(mem, persist.FailKind(persist.OpSync, &armed))
	table, err := loadOffsetTable(efs, "data")
	if err != nil {
		t.Fatal(err)
	}
	table.commit("T", "g", 0, 10)
	table.commit("T", "g", 3, 7)
	armed.Store(true)
	if err := table.persist(); !errors.Is(err, persist.ErrInjected) {
		t.Fatalf("persist with failing syncs: %v", err)
	}
	armed.Store(false)
	if err := table.persist(); err != nil {
		t.Fatalf("persist after the fault: %v", err)
	}
	reloaded, err := loadOffsetTable(mem.Crash(nil), "data")
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[int32]int64{0: 10, 3: 7} {
		if got, ok := reloaded.query("T", "g", q); !ok || got != want {
			t.Fatalf("queue %d after a crash: offset %d (found %v), want %d", q, got, ok, want)
		}
	}
}
