package sqlfilter

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// parseError is the expected outcome of a case that must not compile.
const parseError = "PARSE_ERROR"

type evalCase struct {
	expr  string
	props map[string]string
	want  string // TRUE, FALSE, NULL, EVAL_ERROR or PARSE_ERROR
}

func p(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func runCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for i, c := range cases {
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			if got := outcome(c.expr, c.props); got != c.want {
				t.Fatalf("%q with %v: got %s, want %s", c.expr, c.props, got, c.want)
			}
		})
	}
}

func TestEquality(t *testing.T) {
	runCases(t, []evalCase{
		{"a = 'x'", p("a", "x"), "TRUE"},
		{"a = 'x'", p("a", "X"), "FALSE"},
		{"a = 'x'", p("a", "x "), "FALSE"},
		{"a = 'x'", nil, "NULL"},
		{"'x' = a", nil, "FALSE"},
		{"a = b", nil, "TRUE"}, // both NULL
		{"a = b", p("a", "1"), "FALSE"},
		{"a = b", p("b", "1"), "NULL"},
		{"a = b", p("a", "NaN", "b", "NaN"), "TRUE"},
		{"a = 3.0", p("a", "3"), "TRUE"},
		{"a = 3.0", p("a", "3.0e0"), "TRUE"},
		{"a = 2147483648", p("a", "2147483648.0"), "EVAL_ERROR"},
		{"a = 9223372036854775807", p("a", "9223372036854775807"), "TRUE"},
		{"a = 3", p("a", "٣"), "TRUE"}, // Character.digit accepts Unicode digits
		{"a = 3", p("a", "-"), "EVAL_ERROR"},
		{"a = 3", p("a", ""), "EVAL_ERROR"},
		{"a = -3", p("a", "-3"), "TRUE"},
		{"-2147483648 = a", p("a", "-2147483648"), "TRUE"},
		{"a = 1", p("a", "2147483648"), "EVAL_ERROR"},
		{"a = TRUE", p("a", "tRuE"), "TRUE"},
		{"a = TRUE", p("a", "true "), "FALSE"},
		{"1 = TRUE", nil, "FALSE"},
		{"TRUE = 1", nil, parseError},
		{"TRUE = 'x'", nil, parseError},
		{"TRUE = FALSE", nil, "FALSE"},
		{"a = NULL", nil, parseError},
		{"NULL = a", nil, parseError},
		{"a <> NULL", nil, parseError},
		{"(a = 'x') = 'x'", p("a", "x"), "EVAL_ERROR"}, // Java casts the Boolean to String
		{"'true' = (a = 'x')", p("a", "x"), "TRUE"},
		{"(a = 'x') = TRUE", p("a", "x"), "TRUE"},
		{"(a = 'x') = 1", p("a", "x"), "FALSE"},
		{"a = 'x' = TRUE", p("a", "x"), "TRUE"},
		{"NOT a = 'x'", p("a", "x"), "EVAL_ERROR"}, // (NOT a) = 'x'
		{"NOT a = 'x'", nil, "NULL"},
	})
}

func TestNotEqual(t *testing.T) {
	runCases(t, []evalCase{
		{"a <> 'x'", p("a", "y"), "TRUE"},
		{"a <> 'x'", p("a", "x"), "FALSE"},
		{"a <> 'x'", nil, "NULL"},
		{"'x' <> a", nil, "TRUE"},
		{"a <> 3", p("a", "x"), "EVAL_ERROR"},
		{"a<>3", p("a", "4"), "TRUE"},
	})
}

func TestIsNull(t *testing.T) {
	runCases(t, []evalCase{
		{"a IS NULL", nil, "TRUE"},
		{"a IS NULL", p("a", ""), "FALSE"},
		{"a IS NOT NULL", p("a", ""), "TRUE"},
		{"a is not null", nil, "FALSE"},
		{"a iS nOt NuLl", p("a", "1"), "TRUE"},
		{"'x' IS NULL", nil, "FALSE"},
		{"(a = 3) IS NULL", p("a", "x"), "EVAL_ERROR"},
		{"(a = 3) IS NULL", nil, "TRUE"},
		{"a IS", nil, parseError},
		{"a IS NOT", nil, parseError},
		{"a IS 3", nil, parseError},
	})
}

func TestRelational(t *testing.T) {
	runCases(t, []evalCase{
		{"a > 3", p("a", "4"), "TRUE"},
		{"a >= 3", p("a", "3"), "TRUE"},
		{"a < 3", p("a", "3"), "FALSE"},
		{"a <= 3", p("a", "+3"), "TRUE"},
		{"a > 3", nil, "NULL"},
		{"3 < a", p("a", "4"), "TRUE"},
		{"a > 3", p("a", "3.5"), "EVAL_ERROR"},
		{"a > 3", p("a", "3 "), "EVAL_ERROR"},
		{"a > 3.0", p("a", " 3.5\t"), "TRUE"},
		{"a > 3.0", p("a", "3.5F"), "TRUE"},
		{"a > 3.0", p("a", "3.5dd"), "EVAL_ERROR"},
		{"a > 3.0", p("a", "0x1p2"), "TRUE"},
		{"a > 3.0", p("a", "0x1.8P1d"), "FALSE"},
		{"a > 3.0", p("a", "0x1"), "EVAL_ERROR"},
		{"a > 3.0", p("a", "NaN"), "TRUE"},
		{"a < 3.0", p("a", "-NaN"), "FALSE"},
		{"a > 1E308", p("a", "Infinity"), "TRUE"},
		{"a < 1.0", p("a", "-Infinity"), "TRUE"},
		{"a > 3.0", p("a", "infinity"), "EVAL_ERROR"},
		{"a > 3.0", p("a", "1e"), "EVAL_ERROR"},
		{"a > 3.0", p("a", "."), "EVAL_ERROR"},
		{"a > 3.0", p("a", "4."), "TRUE"},
		{"a > 0.1", p("a", ".2"), "TRUE"},
		{"a > 3.0", p("a", "1e999"), "TRUE"},
		{"a > 3", p("a", "٤"), "TRUE"},
		{"a > 2147483648", p("a", "9223372036854775808"), "EVAL_ERROR"},
		{"a > 2147483648", p("a", "9223372036854775807"), "TRUE"},
		{"a > 1", p("a", "2147483648"), "EVAL_ERROR"},
		{"a > b", p("a", "10", "b", "9"), "TRUE"},
		{"a > b", p("a", "x", "b", "9"), "EVAL_ERROR"},
		{"a < b", p("a", "-0.0", "b", "0"), "TRUE"},
		{"a > b", p("a", "NaN", "b", "Infinity"), "TRUE"},
		{"a > b", p("b", "1"), "NULL"},
		{"-a > 0", p("a", "5"), "NULL"},
		{"a > -5", p("a", "-4"), "TRUE"},
		{"a > - -5", p("a", "4"), "FALSE"},
		{"a = +5", p("a", "5"), "TRUE"},
		{"2 > 1", nil, "TRUE"},
		{"2 > 1.5", nil, "TRUE"},
		{"2147483648 > 2147483647", nil, "TRUE"},
		{"a > 'x'", nil, parseError},
		{"'x' > a", nil, parseError},
		{"a > TRUE", nil, parseError},
		{"a > NULL", nil, parseError},
		{"a > +'x'", nil, parseError},
		{"a > (b = 1)", nil, parseError},
		{"a > 1 > 0", nil, parseError},
		{"a > -(b = 1)", p("a", "1", "b", "x"), "EVAL_ERROR"},
		{"a > -(b = 1)", p("b", "x"), "NULL"}, // right side not evaluated
		{"a > -'x'", p("a", "1"), "NULL"},
		{"a >", nil, parseError},
		{"a => 1", nil, parseError},
	})
}

func TestBetween(t *testing.T) {
	runCases(t, []evalCase{
		{"a BETWEEN 0 AND 3", p("a", "0"), "TRUE"},
		{"a BETWEEN 0 AND 3", p("a", "3"), "TRUE"},
		{"a BETWEEN 0 AND 3", p("a", "4"), "FALSE"},
		{"a BETWEEN 0 AND 3", nil, "NULL"},
		{"a between 1 and 1", p("a", "1"), "TRUE"},
		{"a between 1 and 10", p("a", "5.5"), "EVAL_ERROR"},
		{"a between 1.0 and 10", p("a", "5.5"), "EVAL_ERROR"},
		{"a between 6.0 and 10", p("a", "5.5"), "FALSE"}, // right half not evaluated
		{"a between 1.0 and 10.0", p("a", "5.5"), "TRUE"},
		{"a between -5 and -10", p("a", "-7"), "FALSE"}, // negations are not literals: no bound check
		{"a between 10 and 0", nil, parseError},
		{"a between 10 and 5.0", nil, parseError},
		{"a between 'a' and 'b'", nil, parseError},
		{"a between NULL and 1", nil, parseError},
		{"a between TRUE and FALSE", nil, parseError},
		{"a between b and c", p("a", "2", "b", "1", "c", "3"), "TRUE"},
		{"a between 1", nil, parseError},
		{"a between 1 and 2 and b = 'x'", p("a", "1", "b", "x"), "TRUE"},
		{"a NOT BETWEEN 0 AND 3", p("a", "4"), "TRUE"},
		{"a NOT BETWEEN 0 AND 3", p("a", "2"), "FALSE"},
		{"a not between 2 and 10", nil, "NULL"},
		{"a not between 10 and 0", p("a", "5"), "TRUE"},
		{"a not between 'a' and 'b'", nil, parseError},
		{"NOT a BETWEEN 1 AND 2", nil, parseError},
	})
}

func TestIn(t *testing.T) {
	long := "a IN ('0', '1', '2', '3', '4', '5', '6', '7', '8', '9')"
	runCases(t, []evalCase{
		{"a IN ('x', 'y')", p("a", "y"), "TRUE"},
		{"a IN ('x', 'y')", p("a", "z"), "FALSE"},
		{"a IN ('x')", nil, "NULL"},
		{"a NOT IN ('x')", p("a", "y"), "TRUE"},
		{"a NOT IN ('x')", p("a", "x"), "FALSE"},
		{"a NOT IN ('x')", nil, "NULL"},
		{long, p("a", "7"), "TRUE"},
		{long, p("a", "07"), "FALSE"},
		{"(a) IN ('x')", p("a", "x"), "TRUE"},
		{"TAGS IN ('TagA', 'TagB')", p("TAGS", "TagB"), "TRUE"},
		{"a IN ()", nil, parseError},
		{"a IN ('x',)", nil, parseError},
		{"a IN ('x' 'y')", nil, parseError},
		{"a IN 'x'", nil, parseError},
		{"a IN (b)", nil, parseError},
		{"a IN (1)", nil, parseError},
		{"'x' IN ('x')", nil, parseError},
		{"-a IN ('x')", nil, parseError},
		{"NOT a IN ('x')", nil, parseError},
	})
}

func TestStringMatch(t *testing.T) {
	runCases(t, []evalCase{
		{"a CONTAINS 'b'", p("a", "abc"), "TRUE"},
		{"a CONTAINS 'B'", p("a", "abc"), "FALSE"},
		{"a NOT CONTAINS 'b'", p("a", "abc"), "FALSE"},
		{"a NOT CONTAINS 'x'", p("a", "abc"), "TRUE"},
		{"a CONTAINS 'x'", nil, "FALSE"},
		{"a NOT CONTAINS 'x'", nil, "FALSE"},
		{"a CONTAINS ''", p("a", "abc"), "FALSE"},
		{"a NOT CONTAINS ''", p("a", "abc"), "FALSE"},
		{"a STARTSWITH 'ab'", p("a", "abc"), "TRUE"},
		{"a STARTSWITH 'bc'", p("a", "abc"), "FALSE"},
		{"a NOT STARTSWITH 'bc'", p("a", "abc"), "TRUE"},
		{"a NOT STARTSWITH 'x'", nil, "FALSE"},
		{"a ENDSWITH 'bc'", p("a", "abc"), "TRUE"},
		{"a endswith 'ab'", p("a", "abc"), "FALSE"},
		{"a NOT ENDSWITH 'ab'", p("a", "abc"), "TRUE"},
		{"a NOT ENDSWITH ''", p("a", "abc"), "FALSE"},
		{"'axb' contains 'x'", nil, "TRUE"},
		{"3 contains '3'", nil, "FALSE"},
		{"(a = 'x') contains 'x'", p("a", "x"), "FALSE"},
		{"(a = 3) contains 'x'", p("a", "x"), "EVAL_ERROR"},
		{"(a = 3) contains ''", p("a", "x"), "FALSE"}, // search checked first
		{"KEYS CONTAINS 'k2'", p("KEYS", "k1 k2"), "TRUE"},
		{"a contains 'x' contains 'y'", p("a", "x"), "FALSE"},
		{"a CONTAINS b", nil, parseError},
		{"a CONTAINS 1", nil, parseError},
		{"a NOT", nil, parseError},
		{"a contains 'x' > 1", nil, parseError},
	})
}

func TestLogic(t *testing.T) {
	runCases(t, []evalCase{
		{"TRUE AND TRUE", nil, "TRUE"},
		{"TRUE AND FALSE", nil, "FALSE"},
		{"TRUE AND NULL", nil, "NULL"},
		{"NULL AND FALSE", nil, "FALSE"},
		{"FALSE AND NULL", nil, "FALSE"},
		{"NULL AND NULL", nil, "NULL"},
		{"TRUE OR NULL", nil, "TRUE"},
		{"NULL OR TRUE", nil, "TRUE"},
		{"NULL OR FALSE", nil, "NULL"},
		{"FALSE OR FALSE", nil, "FALSE"},
		{"NOT TRUE", nil, "FALSE"},
		{"NOT NULL", nil, "NULL"},
		{"NULL", nil, "NULL"},
		{"NOT NOT TRUE", nil, "TRUE"},
		{"FALSE AND a = 3", p("a", "x"), "FALSE"},
		{"a = 3 AND FALSE", p("a", "x"), "EVAL_ERROR"},
		{"TRUE OR a = 3", p("a", "x"), "TRUE"},
		{"a = 3 OR TRUE", p("a", "x"), "EVAL_ERROR"},
		{"a = 1 OR b = 2 AND c = 3", p("a", "1"), "TRUE"}, // AND binds tighter
		{"(a = 1 OR b = 2) AND c = 3", p("a", "1"), "NULL"},
		{"a", p("a", "true"), "FALSE"},
		{"a", nil, "NULL"},
		{"NOT a", p("a", "true"), "TRUE"},
		{"a AND b = '1'", p("a", "x", "b", "1"), "FALSE"},
		{"a OR b = '1'", p("b", "1"), "TRUE"},
		{"TRUE AND 3", nil, parseError},
		{"'x' OR TRUE", nil, parseError},
		{"NOT 3", nil, parseError},
		{"NOT -a", nil, parseError},
		{"-a", nil, parseError},
		{"a = 'x' AND", nil, parseError},
		{"AND a = 'x'", nil, parseError},
		{"a = 'x' OR OR b = 'y'", nil, parseError},
	})
}

func TestLexicalRules(t *testing.T) {
	runCases(t, []evalCase{
		{"a_b$1 = '1'", p("a_b$1", "1"), "TRUE"},
		{"$a = '1'", p("$a", "1"), "TRUE"},
		{"_ = '1'", p("_", "1"), "TRUE"},
		{"A = '1'", p("a", "1"), "NULL"},
		{"nota = '1'", p("nota", "1"), "TRUE"},
		{"now = '1'", p("now", "1"), "TRUE"},
		{"a = 'it''s'", p("a", "it's"), "TRUE"},
		{"a = ''''", p("a", "'"), "TRUE"},
		{"a = ''", p("a", ""), "TRUE"},
		{"a = 'ü'", p("a", "ü"), "TRUE"},
		{"a = 'x\ny'", p("a", "x\ny"), "TRUE"},
		{"a = 10L", p("a", "10"), "TRUE"},
		{"a = 0l", p("a", "0"), "TRUE"},
		{"a > 5.", p("a", "6"), "TRUE"},
		{"a > 5E1", p("a", "51"), "TRUE"},
		{"a > 5e-1", p("a", "0.6"), "TRUE"},
		{"a > 4.9e-324", p("a", "1"), "TRUE"},
		{"a > 1.7976931348623157e308", p("a", "Infinity"), "TRUE"},
		{"a > 1.8e308", nil, parseError},
		{"a > 1e-400", nil, parseError},
		{"a > 0.0", nil, parseError},
		{"a > 9223372036854775807", p("a", "1"), "FALSE"},
		{"a > 9223372036854775808", nil, parseError},
		{"a = 007", nil, parseError},
		{"/* c */ a = 'x' /* d */", p("a", "x"), "TRUE"},
		{"a /* c ** */ = 'x'", p("a", "x"), "TRUE"},
		{"a = 'x' -- c", p("a", "x"), "TRUE"},
		{"a = 'x' -- c\r\nAND b = 'y'", p("a", "x"), "NULL"},
		{"a =\t'x'\f", p("a", "x"), "TRUE"},
		{"a = 'x' /* unterminated", nil, parseError},
		{"a = 'x", nil, parseError},
		{"a = \"x\"", nil, parseError},
		{"a != 'x'", nil, parseError},
		{"a == 'x'", nil, parseError},
		{"a.b = '1'", nil, parseError},
		{"a-b = '1'", nil, parseError},
		{"ä = '1'", nil, parseError},
		{"a = 'x' ;", nil, parseError},
		{"a = 'x' garbage", nil, parseError},
		{"a like 'x%'", nil, parseError},
		{"a > 1 + 2", nil, parseError},
		{"a = 1 1", nil, parseError},
		{"(a = 'x'", nil, parseError},
		{"a = 'x')", nil, parseError},
		{"", nil, parseError},
		{"  -- only a comment", nil, parseError},
		{"'abc'", nil, parseError},
		{"3", nil, parseError},
		{"TRUE", nil, "TRUE"},
		{"1 = 1", nil, "TRUE"},
	})
}

func TestParseErrorsWrapErrParse(t *testing.T) {
	for _, expr := range []string{"", "a =", "a > 'x'", "a = 'x' junk", "a ;", "((((a"} {
		_, err := Compile(expr)
		var pe *ParseError
		if !errors.Is(err, ErrParse) || !errors.As(err, &pe) {
			t.Fatalf("%q: error %v does not wrap ErrParse as a *ParseError", expr, err)
		}
	}
}

func TestNestingIsBounded(t *testing.T) {
	deep := ""
	for range maxDepth + 10 {
		deep += "("
	}
	if _, err := Compile(deep + "a = 'x'"); !errors.Is(err, ErrParse) {
		t.Fatalf("deep nesting: %v", err)
	}
	chain := "a" + strings.Repeat("=a", maxDepth+10) // within MaxExpressionBytes: the depth check rejects it
	if _, err := Compile(chain); !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("long chain: %v", err)
	}
	ok := "a = '0'"
	for i := range 100 {
		ok += fmt.Sprintf(" OR a = '%d'", i)
	}
	if got := outcome(ok, p("a", "99")); got != "TRUE" {
		t.Fatalf("100-term OR: %s", got)
	}
}

func TestLongExpressionIsRefusedUnread(t *testing.T) {
	atLimit := "a = '" + strings.Repeat("x", MaxExpressionBytes-6) + "'"
	if _, err := Compile(atLimit); err != nil {
		t.Fatalf("an expression of exactly %d bytes: %v", len(atLimit), err)
	}
	huge := strings.Repeat("(", 1<<20) + "a = 'x'"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Compile(huge)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("a 1 MiB expression: %v", err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 64<<10 {
		t.Fatalf("refusing a 1 MiB expression allocated %d bytes: it was read", allocated)
	}
}

func TestVeryLongChainIsRejectedQuickly(t *testing.T) {
	var b []byte
	b = append(b, "a = '0'"...)
	for range 20_000 {
		b = append(b, " OR a = '0'"...)
	}
	if _, err := Compile(string(b)); !errors.Is(err, ErrParse) {
		t.Fatalf("a 20k-term chain: %v", err)
	}
}
