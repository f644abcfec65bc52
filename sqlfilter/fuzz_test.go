package sqlfilter

import (
	"testing"
)

// FuzzCompile checks that Compile never panics and that every compiled
// expression prints to a canonical form that compiles to the same form
// and evaluates the same way.
func FuzzCompile(f *testing.F) {
	for _, p := range loadProbes(f) {
		f.Add(p.Expr)
	}
	for _, s := range []string{
		"a BETWEEN 0 AND 3", "TAGS IN ('TagA', 'TagB') AND (c1 BETWEEN 4 AND 7) AND (c2 = 'v6')",
		"a NOT CONTAINS 'x' OR b STARTSWITH 'y' OR c NOT ENDSWITH 'z'", "NOT (a = 1) AND - -b > -2.5E3",
		"/* c */ a IS NOT NULL -- d\n", "a = 'it''s' OR a <> 1L", "(((a)))", "a > .5e-3",
	} {
		f.Add(s)
	}
	raw := encodeProps(map[string]string{"a": "1", "b": "-3", "c": "x", "TAGS": "TagA", "c1": "5", "c2": "v6"})
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src)
		if err != nil {
			return
		}
		assertStable(t, e)
		again := MustCompile(e.String())
		if r1, r2 := e.EvaluateProperties(raw), again.EvaluateProperties(raw); r1 != r2 {
			t.Fatalf("%q evaluates to %s, its canonical form %q to %s", src, r1, e.String(), r2)
		}
	})
}
