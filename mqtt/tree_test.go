package mqtt

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateFilters(t *testing.T) {
	good := []string{"#", "+", "a/#", "a/+/b", "+/+", "/+", "a//b", "/", "$SYS/#", "a/b/c"}
	bad := map[string]error{"": errTopicEmpty, "a#": errFilterHash, "a/#/b": errFilterHash, "a+": errFilterPlus,
		"a/+b": errFilterPlus, "#/a": errFilterHash}
	for _, f := range good {
		if err := validateTopicFilter(f); err != nil {
			t.Errorf("%q: %v", f, err)
		}
	}
	for f, want := range bad {
		if err := validateTopicFilter(f); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", f, err, want)
		}
	}
	share, filter, err := parseFilter("$share/g1/a/+")
	if err != nil || share != "g1" || filter != "a/+" {
		t.Errorf("share: %q %q %v", share, filter, err)
	}
	for _, f := range []string{"$share/", "$share//a", "$share/g", "$share/g+/a", "$share/g/"} {
		if _, _, err := parseFilter(f); err == nil {
			t.Errorf("%q accepted", f)
		}
	}
}

// TestMatchRules is §4.7's examples.
func TestMatchRules(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"sport/#", "sport", true},
		{"#", "a/b", true},
		{"sport/tennis/+", "sport/tennis/player1", true},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"sport/+", "sport", false},
		{"sport/+", "sport/", true},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		{"#", "$SYS/x", false},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"$SYS/#", "$SYS/monitor/Clients", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
		{"A", "a", false},
	}
	for _, c := range cases {
		if got := matchFilter(c.filter, c.topic); got != c.want {
			t.Errorf("matchFilter(%q, %q) = %v", c.filter, c.topic, got)
		}
		tr := &topicTree[string, int]{}
		tr.add(c.filter, "", "s", 1)
		if got := treeMatches(tr, c.topic); (len(got) == 1) != c.want {
			t.Errorf("tree %q on %q = %v", c.filter, c.topic, got)
		}
	}
}

func treeMatches(tr *topicTree[string, int], topic string) []string {
	var got []string
	tr.match(topic, func(k string, _ int) { got = append(got, k) }, func(g *shareGroup[string, int]) {
		for _, m := range g.members {
			got = append(got, "share:"+g.name+":"+m.key)
		}
	})
	slices.Sort(got)
	return got
}

func TestTreeAddRemoveShared(t *testing.T) {
	tr := &topicTree[string, int]{}
	if tr.add("a/+", "", "s1", 1) || !tr.add("a/+", "", "s1", 2) {
		t.Fatal("second add of the same key must replace")
	}
	tr.add("a/#", "", "s2", 1)
	tr.add("a/b", "g", "s3", 1)
	tr.add("a/b", "g", "s4", 1)
	if got := treeMatches(tr, "a/b"); !slices.Equal(got, []string{"s1", "s2", "share:g:s3", "share:g:s4"}) {
		t.Fatalf("matches %v", got)
	}
	if tr.count != 4 {
		t.Fatalf("count %d", tr.count)
	}
	if !tr.remove("a/b", "g", "s3") || tr.remove("a/b", "g", "s3") || !tr.remove("a/+", "", "s1") {
		t.Fatal("remove")
	}
	tr.remove("a/b", "g", "s4")
	tr.remove("a/#", "", "s2")
	if !tr.root.empty() || tr.count != 0 {
		t.Fatalf("tree not pruned: %+v count %d", tr.root, tr.count)
	}
}

// FuzzTopicMatch: the tree agrees with the level-by-level reference for
// every valid filter and topic, and removing the filter empties the tree.
func FuzzTopicMatch(f *testing.F) {
	f.Add("a/+/c", "a/b/c")
	f.Add("#", "$SYS/a")
	f.Add("a/#", "a")
	f.Add("+/+", "/x")
	f.Add("$share/g/a/#", "a/b")
	f.Fuzz(func(t *testing.T, full, topic string) {
		share, filter, err := parseFilter(full)
		if err != nil || validateTopicName(topic) != nil || !validUTF8([]byte(topic)) {
			return
		}
		tr := &topicTree[string, int]{}
		tr.add(filter, share, "k", 1)
		tr.add("other/"+strings.Repeat("x", len(topic)%5), "", "z", 1)
		got := slices.Contains(treeMatches(tr, topic), "k") || slices.Contains(treeMatches(tr, topic), "share:"+share+":k")
		if want := matchFilter(filter, topic); got != want {
			t.Fatalf("filter %q topic %q: tree %v, reference %v", full, topic, got, want)
		}
		if !tr.remove(filter, share, "k") {
			t.Fatalf("remove %q failed", full)
		}
		tr.remove("other/"+strings.Repeat("x", len(topic)%5), "", "z")
		if !tr.root.empty() || tr.count != 0 {
			t.Fatalf("tree not empty after removing %q", full)
		}
	})
}
