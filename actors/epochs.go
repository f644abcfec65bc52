package actors

import (
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/cometmq/comet/ha"
	"github.com/cometmq/comet/persist"
)

// Epochs: the broker keeps persist's epoch file beside its store
// (<data>/store/epochs). A master begins its epoch at its log end when it
// takes the role (BecomeMaster refuses an epoch older than the log's
// newest); a replica records its master's entries for the bytes it is
// about to append, before it appends them, and drops the entries of what
// it truncates, after the cut. Either order leaves at worst an entry past
// the log end after a crash, which counts for nothing. The HA handshake
// exchanges the entries, so a member rejoining after a failover truncates
// to its divergence point with the new master.

// epochState is the epoch file and, on a replica, its master's entries.
type epochState struct {
	file   *persist.EpochFile
	master atomic.Pointer[[]persist.EpochEntry] // from the last WELCOME
}

func openEpochs(b *Broker) (*epochState, error) {
	f, err := persist.OpenEpochFile(b.opts.FS, filepath.Join(b.opts.DataDir, "store", persist.EpochFileName))
	if err != nil {
		return nil, fmt.Errorf("actors: %w", err)
	}
	return &epochState{file: f}, nil
}

// haEntries is the file in the HA transport's terms.
func (e *epochState) haEntries() []ha.EpochEntry {
	entries := e.file.Entries()
	out := make([]ha.EpochEntry, len(entries))
	for i, x := range entries {
		out[i] = ha.EpochEntry{Epoch: x.Epoch, Start: x.Start}
	}
	return out
}

// learnMaster keeps the master's entries from WELCOME (HA client).
func (e *epochState) learnMaster(entries []ha.EpochEntry) error {
	out := make([]persist.EpochEntry, len(entries))
	for i, x := range entries {
		out[i] = persist.EpochEntry{Epoch: x.Epoch, Start: x.Start}
	}
	e.master.Store(&out)
	return nil
}

// beforeAppend records the master's entries for bytes up to upTo.
func (e *epochState) beforeAppend(upTo int64) error {
	m := e.master.Load()
	if m == nil {
		return nil
	}
	return e.file.Adopt(*m, upTo)
}

// lastEpoch is the epoch of the last byte below end.
func (e *epochState) lastEpoch(end int64) int64 { return e.file.EpochAt(end) }
