package sqlfilter

import (
	"testing"
)

// benchProps is a realistic stored property string: what the Go client
// sends (UNIQ_KEY, WAIT, TAGS, KEYS) plus a few user properties.
var benchProps = []byte("UNIQ_KEY\x01AC11000100002A9F0000000000000001\x02WAIT\x01true\x02TAGS\x01TagA\x02" +
	"KEYS\x01order-1 order-2\x02region\x01eu-west\x02a\x01x\x02c1\x015\x02c2\x01v6\x02price\x0142.50")

var benchExprs = []struct{ name, expr string }{
	{"simple", "a = 'x'"},
	{"complex", "(TAGS IN ('TagA', 'TagB') AND (c1 BETWEEN 4 AND 7) AND (c2 = 'v6' OR region = 'us')) OR price > 100.0"},
	{"miss", "absent = 'x'"},
}

func BenchmarkMatchProperties(b *testing.B) {
	for _, be := range benchExprs {
		b.Run("expr="+be.name, func(b *testing.B) {
			e := MustCompile(be.expr)
			want := e.EvaluateProperties(benchProps)
			b.SetBytes(int64(len(benchProps)))
			b.ReportAllocs()
			matched := 0
			for b.Loop() {
				if e.MatchProperties(benchProps) {
					matched++
				}
			}
			if (want == True) != (matched > 0) {
				b.Fatalf("matched %d times, expected result %s", matched, want)
			}
		})
	}
}

func BenchmarkMatchGetter(b *testing.B) {
	props := map[string]string{"a": "x", "TAGS": "TagA", "c1": "5", "c2": "v6", "region": "eu-west", "price": "42.50"}
	get := func(name string) (string, bool) {
		v, ok := props[name]
		return v, ok
	}
	for _, be := range benchExprs {
		b.Run("expr="+be.name, func(b *testing.B) {
			e := MustCompile(be.expr)
			b.ReportAllocs()
			for b.Loop() {
				e.Match(get)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, be := range benchExprs {
		b.Run("expr="+be.name, func(b *testing.B) {
			b.SetBytes(int64(len(be.expr)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(be.expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestMatchPropertiesDoesNotAllocate(t *testing.T) {
	for _, be := range benchExprs {
		e := MustCompile(be.expr)
		if n := testing.AllocsPerRun(100, func() { e.MatchProperties(benchProps) }); n != 0 {
			t.Errorf("%s: %v allocations per evaluation", be.name, n)
		}
	}
	if e := MustCompile(benchExprs[1].expr); e.EvaluateProperties(benchProps) != True {
		t.Fatalf("complex expression does not match the benchmark properties")
	}
	// Conversions on the evaluation path: numbers, doubles, NaN, failures.
	props := []byte("a\x01 3.5d\x02b\x01NaN\x02c\x0112\x02d\x01x")
	e := MustCompile("a > 3.0 AND b > 1.0 AND c BETWEEN 10 AND 20 AND NOT d = 3")
	if n := testing.AllocsPerRun(100, func() { e.EvaluateProperties(props) }); n != 0 {
		t.Errorf("conversions: %v allocations per evaluation", n)
	}
}
