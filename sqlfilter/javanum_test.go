package sqlfilter

import (
	"math"
	"testing"
	"unicode"
)

func TestJavaParseDouble(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1", 1, true}, {"-1.5", -1.5, true}, {"+.5", 0.5, true}, {"5.", 5, true}, {"1e3", 1000, true},
		{"1E+3", 1000, true}, {"1e-3", 0.001, true}, {" 2 ", 2, true}, {"\x00\t2\x1f", 2, true},
		{"2d", 2, true}, {"2F", 2, true}, {"2.5e1f", 25, true}, {"NaN", nan, true}, {"-NaN", nan, true},
		{"Infinity", math.Inf(1), true}, {"-Infinity", math.Inf(-1), true}, {"+Infinity", math.Inf(1), true},
		{"0x10p0", 16, true}, {"0X.8P1", 1, true}, {"-0x1.8p1", -3, true}, {"0x1p-1d", 0.5, true},
		{"1e400", math.Inf(1), true}, {"-1e400", math.Inf(-1), true}, {"1e-400", 0, true},
		{"", 0, false}, {"   ", 0, false}, {".", 0, false}, {"e5", 0, false}, {"1e", 0, false},
		{"1e+", 0, false}, {"1.2.3", 0, false}, {"2dd", 0, false}, {"2 d", 0, false}, {"nan", 0, false},
		{"Inf", 0, false}, {"infinity", 0, false}, {"NaNd", 0, false}, {"0x10", 0, false}, {"0xp1", 0, false},
		{"0x1.8", 0, false}, {"1_000", 0, false}, {"0x1_0p0", 0, false}, {"١", 0, false}, {"--1", 0, false},
		{"+", 0, false}, {"1\u00a0", 0, false},
	}
	for _, c := range cases {
		got, ok := javaParseDouble(c.in)
		if ok != c.ok || ok && javaCompareDouble(got, c.want) != 0 {
			t.Errorf("javaParseDouble(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestJavaParseInteger(t *testing.T) {
	cases := []struct {
		in     string
		long64 bool
		want   int64
		ok     bool
	}{
		{"0", false, 0, true}, {"007", false, 7, true}, {"+3", false, 3, true}, {"-3", false, -3, true},
		{"2147483647", false, math.MaxInt32, true}, {"-2147483648", false, math.MinInt32, true},
		{"2147483648", false, 0, false}, {"-2147483649", false, 0, false},
		{"2147483648", true, 2147483648, true}, {"9223372036854775807", true, math.MaxInt64, true},
		{"-9223372036854775808", true, math.MinInt64, true}, {"9223372036854775808", true, 0, false},
		{"99999999999999999999999", true, 0, false}, {"١٢", false, 12, true}, {"٣x", false, 0, false},
		{"", false, 0, false}, {"-", false, 0, false}, {"+", false, 0, false}, {" 1", false, 0, false},
		{"1 ", false, 0, false}, {"1.0", false, 0, false}, {"1e3", false, 0, false}, {"0x1", false, 0, false},
		{"𝟏", false, 0, false}, // outside the BMP: two surrogates in Java
		{"\xff", false, 0, false},
	}
	for _, c := range cases {
		got, ok := javaParseInteger(c.in, c.long64)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("javaParseInteger(%q, %v) = %v, %v; want %v, %v", c.in, c.long64, got, ok, c.want, c.ok)
		}
	}
}

// TestDecimalDigitRanges checks the assumption javaDigit rests on: every
// Unicode decimal-digit range starts at a zero and holds whole runs of ten.
func TestDecimalDigitRanges(t *testing.T) {
	for _, r := range unicode.Nd.R16 {
		if r.Stride != 1 || (r.Hi-r.Lo+1)%10 != 0 {
			t.Fatalf("Nd range %#x..%#x stride %d is not whole runs of ten", r.Lo, r.Hi, r.Stride)
		}
	}
	for _, s := range []string{"0", "٠", "०", "０"} {
		if d, _ := javaDigit(s); d != 0 {
			t.Fatalf("javaDigit(%q) = %d", s, d)
		}
	}
	if d, _ := javaDigit("９"); d != 9 {
		t.Fatalf("javaDigit(fullwidth 9) = %d", d)
	}
}

func TestJavaCompareDouble(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	negZero := math.Copysign(0, -1)
	cases := []struct {
		a, b float64
		want int
	}{
		{1, 2, -1}, {2, 1, 1}, {1, 1, 0}, {negZero, 0, -1}, {0, negZero, 1}, {nan, inf, 1},
		{inf, nan, -1}, {nan, nan, 0}, {nan, -inf, 1},
	}
	for _, c := range cases {
		if got := javaCompareDouble(c.a, c.b); got != c.want {
			t.Errorf("javaCompareDouble(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestPropertyLookup(t *testing.T) {
	raw := []byte("a\x01first\x02ab\x01x\x02\x02b\x01\x02c\x01v\x01w\x02a\x01last\x02noval\x02xa\x01no")
	cases := []struct {
		name, want string
		ok         bool
	}{
		{"a", "last", true}, {"ab", "x", true}, {"b", "", true}, {"c", "v\x01w", true},
		{"noval", "", false}, {"x", "", false}, {"v", "", false}, {"xa", "no", true},
	}
	for _, c := range cases {
		got, ok := lookupRaw(raw, []byte(c.name+"\x01"))
		if got != c.want || ok != c.ok {
			t.Errorf("lookupRaw(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
		got, ok = LookupProperty(raw, c.name)
		if got != c.want || ok != c.ok {
			t.Errorf("LookupProperty(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	if _, ok := lookupRaw(nil, []byte("a\x01")); ok {
		t.Error("found a property in empty raw")
	}
	if _, ok := LookupProperty([]byte("a\x01b"), ""); ok {
		t.Error("found a property with an empty name")
	}
	if n := testing.AllocsPerRun(100, func() { LookupProperty(raw, "c") }); n != 0 {
		t.Errorf("LookupProperty allocates %v times", n)
	}
}
