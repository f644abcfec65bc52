package sqlfilter

import (
	"slices"
	"testing"
)

func TestCanonicalString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a = 'x'", "a = 'x'"},
		{"  a   =   'x'  -- c\n", "a = 'x'"},
		{"a is not null and a in ('1','2')", "(a IS NOT NULL) AND (a IN ('1', '2'))"},
		{"a = 1 or b = 2 and c = 3", "(a = 1) OR ((b = 2) AND (c = 3))"},
		{"a between -5 and 10L", "a BETWEEN -5 AND 10"},
		{"a > - -5", "a > -(-5)"},
		{"a > -(b)", "a > -b"},
		{"NOT a", "NOT a"},
		{"not not a", "NOT (NOT a)"},
		{"a", "a"},
		{"a = 'it''s'", "a = 'it''s'"},
		{"a > 5.", "a > 5.0"},
		{"a > 1e21", "a > 1e+21"},
		{"a > .5E-3", "a > 0.0005"},
		{"a = 2147483648", "a = 2147483648"},
		{"x not contains 'y' or x startswith 'z'", "(x NOT CONTAINS 'y') OR (x STARTSWITH 'z')"},
		{"a not between 1 and 2", "a NOT BETWEEN 1 AND 2"},
		{"((a = 'x'))", "a = 'x'"},
		{"(a = 'x') = TRUE", "(a = 'x') = TRUE"},
		{"a <> 1", "a <> 1"},
		{"+a > 1", "a > 1"},
		{"NULL", "NULL"},
	}
	for _, c := range cases {
		e, err := Compile(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if got := e.String(); got != c.want {
			t.Errorf("%q: String() = %q, want %q", c.in, got, c.want)
		}
		assertStable(t, e)
	}
}

// assertStable checks that the canonical form compiles to the same
// canonical form.
func assertStable(t testing.TB, e *Expr) {
	t.Helper()
	again, err := Compile(e.String())
	if err != nil {
		t.Fatalf("canonical form %q of %q does not compile: %v", e.String(), e.Source(), err)
	}
	if again.String() != e.String() {
		t.Fatalf("canonical form of %q is unstable: %q then %q", e.Source(), e.String(), again.String())
	}
}

func TestPropertiesAndSource(t *testing.T) {
	e := MustCompile("b = 'x' AND a > 1 AND b IS NOT NULL AND TAGS IN ('t')")
	if got, want := e.Properties(), []string{"b", "a", "TAGS"}; !slices.Equal(got, want) {
		t.Fatalf("Properties() = %v, want %v", got, want)
	}
	if e.Source() != "b = 'x' AND a > 1 AND b IS NOT NULL AND TAGS IN ('t')" {
		t.Fatalf("Source() = %q", e.Source())
	}
}

func TestManyPropertiesBeyondResolved(t *testing.T) {
	expr := "p0 = '0'"
	props := map[string]string{"p0": "0"}
	last := ""
	for i := 1; i < maxResolved+4; i++ {
		last = "p" + string(rune('a'+i))
		expr += " AND " + last + " = '" + last + "' AND " + last + " IS NOT NULL"
		props[last] = last
	}
	if got := outcome(expr, props); got != "TRUE" {
		t.Fatalf("got %s", got)
	}
	delete(props, last)
	if got := outcome(expr, props); got != "FALSE" {
		t.Fatalf("without %s: got %s", last, got)
	}
}
