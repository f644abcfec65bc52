package remoting

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	cases := []struct {
		name  string
		props string
		want  map[string]string
	}{
		{"go client trailing separator", "TAGS\x01x\x02UNIQ_KEY\x01abc\x02", map[string]string{"TAGS": "x", "UNIQ_KEY": "abc"}},
		{"java no trailing separator", "TAGS\x01x\x02KEYS\x01a b", map[string]string{"TAGS": "x", "KEYS": "a b"}},
		{"empty", "", map[string]string{}},
		{"empty items", "\x02\x02A\x011\x02\x02", map[string]string{"A": "1"}},
		{"missing name separator", "JUNK\x02A\x011", map[string]string{"A": "1"}},
		{"empty key", "\x01v\x02A\x011", map[string]string{"A": "1"}},
		{"empty value", "A\x01\x02B\x012", map[string]string{"A": "", "B": "2"}},
		{"split at first separator", "A\x011\x012", map[string]string{"A": "1\x012"}},
		{"last wins", "A\x011\x02A\x012", map[string]string{"A": "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseProperties(tc.props)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q want %q", got, tc.want)
			}
			for k, v := range tc.want {
				if pv, ok := PropertyValue(tc.props, k); !ok || pv != v {
					t.Fatalf("PropertyValue(%q) = %q, %v", k, pv, ok)
				}
			}
			if _, ok := PropertyValue(tc.props, "NOPE"); ok {
				t.Fatal("found an absent key")
			}
		})
	}
}

func TestPropertyValuePrefixKeyIsNotMatch(t *testing.T) {
	props := "TAGSX\x01no\x02TAG\x01no2\x02TAGS\x01yes"
	if v, ok := PropertyValue(props, "TAGS"); !ok || v != "yes" {
		t.Fatalf("got %q, %v", v, ok)
	}
	if _, ok := PropertyValue(props, ""); ok {
		t.Fatal("empty key found")
	}
}

func TestPropertyValueDoesNotAllocate(t *testing.T) {
	props := "TAGS\x01x\x02UNIQ_KEY\x01abc\x02KEYS\x01k1 k2\x02"
	allocs := testing.AllocsPerRun(100, func() {
		if v, _ := PropertyValue(props, PropertyKeys); v != "k1 k2" {
			t.Fatal(v)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

func TestAppendPropertiesSortedDeterministic(t *testing.T) {
	m := map[string]string{"UNIQ_KEY": "u", "TAGS": "t", "KEYS": "a b", "BAD\x01KEY": "x", "BADVAL": "x\x02y"}
	got := string(AppendProperties(nil, m))
	want := "KEYS\x01a b\x02TAGS\x01t\x02UNIQ_KEY\x01u"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if string(AppendProperties(nil, nil)) != "" {
		t.Fatal("nil map")
	}
	p := AppendProperty([]byte("A\x011\x02"), "B", "2")
	p = AppendProperty(p, "C", "3")
	if string(p) != "A\x011\x02B\x012\x02C\x013" {
		t.Fatalf("AppendProperty: %q", p)
	}
}

func FuzzProperties(f *testing.F) {
	f.Add("TAGS\x01x\x02UNIQ_KEY\x01abc\x02", "TAGS")
	f.Add("\x02\x02A\x011\x012\x02\x01", "A")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, props, key string) {
		m := ParseProperties(props)
		want, wantOK := m[key]
		if got, ok := PropertyValue(props, key); ok != wantOK || got != want {
			t.Fatalf("PropertyValue(%q) = %q,%v; map has %q,%v", key, got, ok, want, wantOK)
		}
		encoded := string(AppendProperties(nil, m))
		back := ParseProperties(encoded)
		for k, v := range m {
			if strings.ContainsAny(v, "\x02") || strings.ContainsAny(k, "\x01\x02") {
				continue
			}
			if back[k] != v {
				t.Fatalf("key %q: %q after round trip, want %q", k, back[k], v)
			}
		}
	})
}
