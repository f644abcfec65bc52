package ringbuf

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"weak"
)

// registry lists every live ring for metrics. It holds rings weakly: a ring
// nobody references any more is garbage collected and drops out, so
// short-lived rings (tests, per-connection rings) do not accumulate.
var registry struct {
	mu struct {
		sync.Mutex
		nextID  uint64
		entries map[uint64]registryEntry
	}
}

type registryEntry struct {
	id    uint64
	stats func() (Stats, bool)
}

// register adds ring to the registry until it is garbage collected.
func register[R any](ring *R, statsOf func(*R) Stats) {
	ref := weak.Make(ring)
	stats := func() (Stats, bool) {
		live := ref.Value()
		if live == nil {
			return Stats{}, false
		}
		return statsOf(live), true
	}
	registry.mu.Lock()
	if registry.mu.entries == nil {
		registry.mu.entries = make(map[uint64]registryEntry)
	}
	registry.mu.nextID++
	id := registry.mu.nextID
	registry.mu.entries[id] = registryEntry{id: id, stats: stats}
	registry.mu.Unlock()
	runtime.AddCleanup(ring, unregister, id)
}

func unregister(id uint64) {
	registry.mu.Lock()
	delete(registry.mu.entries, id)
	registry.mu.Unlock()
}

// Registered returns the stats of every live ring, sorted by name and then
// by creation order. Names need not be unique.
func Registered() []Stats {
	registry.mu.Lock()
	entries := make([]registryEntry, 0, len(registry.mu.entries))
	for _, entry := range registry.mu.entries {
		entries = append(entries, entry)
	}
	registry.mu.Unlock()
	slices.SortFunc(entries, func(a, b registryEntry) int { return cmp.Compare(a.id, b.id) })
	all := make([]Stats, 0, len(entries))
	for _, entry := range entries {
		if stats, live := entry.stats(); live {
			all = append(all, stats)
		}
	}
	slices.SortStableFunc(all, func(a, b Stats) int { return cmp.Compare(a.Name, b.Name) })
	return all
}
