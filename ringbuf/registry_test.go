package ringbuf

import (
	"cmp"
	"runtime"
	"slices"
	"testing"
	"time"
)

func registeredByName(name string) []Stats {
	var found []Stats
	for _, stats := range Registered() {
		if stats.Name == name {
			found = append(found, stats)
		}
	}
	return found
}

func TestRegistryListsLiveRingsSortedByName(t *testing.T) {
	ingress := NewMPSC[int]("registry-test/ingress", 8)
	acks := NewSPSC[string]("registry-test/acks", 4)
	ingress.TryPush(1)
	ingress.TryPush(2)
	acks.TryPush("ok")
	acks.Close()

	got := registeredByName("registry-test/ingress")
	if len(got) != 1 || got[0].Depth != 2 || got[0].Capacity != 8 || got[0].Closed {
		t.Fatalf("registry entry for ingress = %+v", got)
	}
	got = registeredByName("registry-test/acks")
	if len(got) != 1 || got[0].Depth != 1 || !got[0].Closed {
		t.Fatalf("registry entry for acks = %+v", got)
	}
	all := Registered()
	if !slices.IsSortedFunc(all, func(a, b Stats) int { return cmp.Compare(a.Name, b.Name) }) {
		t.Fatal("Registered() is not sorted by name")
	}
	runtime.KeepAlive(ingress)
	runtime.KeepAlive(acks)
}

func TestRegistryDropsCollectedRings(t *testing.T) {
	func() {
		for range 3 {
			NewMPSC[int]("registry-test/short-lived", 4)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(registeredByName("registry-test/short-lived")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("collected rings still registered: %v", registeredByName("registry-test/short-lived"))
		}
		runtime.GC()
	}
}
