package sqlfilter

import (
	"cmp"
	"errors"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// compareValues is RocketMQ's typed comparison (__compare with string
// conversion on): values of one type compare naturally; numbers widen
// Integer → Long → Double; a string meeting a number or boolean is
// converted to that type with Java's Integer/Long/Double/Boolean.valueOf;
// a boolean meeting anything but a string compares as less. ok is false
// where Java throws (a failed conversion; a boolean on the left of a
// string, which Java casts wrongly).
func compareValues(lv, rv value) (c int, ok bool) {
	if lv.k == rv.k {
		return compareSameKind(lv, rv), true
	}
	switch lv.k {
	case kBool:
		return -1, rv.k != kString
	case kInt, kLong:
		return compareInteger(lv, rv)
	case kDouble:
		return compareDouble(lv, rv)
	case kString:
		return compareString(lv, rv)
	}
	return -1, true
}

func compareSameKind(lv, rv value) int {
	switch lv.k {
	case kBool:
		return compareBool(lv.b, rv.b)
	case kInt, kLong:
		return cmp.Compare(lv.i, rv.i)
	case kDouble:
		return javaCompareDouble(lv.f, rv.f)
	}
	return cmp.Compare(lv.s, rv.s)
}

// compareInteger: lv is an Integer or a Long and rv is of another type.
func compareInteger(lv, rv value) (int, bool) {
	switch rv.k {
	case kInt, kLong:
		return cmp.Compare(lv.i, rv.i), true
	case kDouble:
		return javaCompareDouble(float64(lv.i), rv.f), true
	case kString:
		r, ok := javaParseInteger(rv.s, lv.k == kLong)
		return cmp.Compare(lv.i, r), ok
	}
	return -1, true
}

// compareDouble: lv is a Double and rv is of another type.
func compareDouble(lv, rv value) (int, bool) {
	switch rv.k {
	case kInt, kLong:
		return javaCompareDouble(lv.f, float64(rv.i)), true
	case kString:
		r, ok := javaParseDouble(rv.s)
		return javaCompareDouble(lv.f, r), ok
	}
	return -1, true
}

// compareString: lv is a String and rv is of another type.
func compareString(lv, rv value) (int, bool) {
	switch rv.k {
	case kBool:
		return compareBool(javaParseBoolean(lv.s), rv.b), true
	case kInt, kLong:
		l, ok := javaParseInteger(lv.s, rv.k == kLong)
		return cmp.Compare(l, rv.i), ok
	case kDouble:
		l, ok := javaParseDouble(lv.s)
		return javaCompareDouble(l, rv.f), ok
	}
	return -1, true
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// javaEquals is Java's Object.equals for the value types: same type and
// same value, doubles by their bit pattern (NaN equals NaN, -0.0 does not
// equal 0.0).
func javaEquals(lv, rv value) bool {
	if lv.k != rv.k {
		return false
	}
	switch lv.k {
	case kBool:
		return lv.b == rv.b
	case kInt, kLong:
		return lv.i == rv.i
	case kDouble:
		return javaDoubleBits(lv.f) == javaDoubleBits(rv.f)
	case kString:
		return lv.s == rv.s
	}
	return true
}

// javaCompareDouble is Double.compare: numeric order, then -0.0 < 0.0 and
// NaN above everything, NaN equal to NaN.
func javaCompareDouble(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return cmp.Compare(javaDoubleBits(a), javaDoubleBits(b))
}

// javaDoubleBits is Double.doubleToLongBits: the IEEE bits with every NaN
// collapsed to the canonical one.
func javaDoubleBits(f float64) int64 {
	if f != f {
		return 0x7ff8000000000000
	}
	return int64(math.Float64bits(f))
}

// javaParseBoolean is Boolean.valueOf(String): "true" in any case is
// true, anything else false.
func javaParseBoolean(s string) bool {
	if len(s) != 4 {
		return false
	}
	return s[0]|0x20 == 't' && s[1]|0x20 == 'r' && s[2]|0x20 == 'u' && s[3]|0x20 == 'e'
}

// javaParseInteger is Integer.valueOf (long64=false) or Long.valueOf: an
// optional sign and decimal digits (any Unicode decimal digit, as
// Character.digit accepts), no white space, no decimal point or
// exponent, within range.
func javaParseInteger(s string, long64 bool) (int64, bool) {
	if s == "" {
		return 0, false
	}
	limit := uint64(math.MaxInt32)
	if long64 {
		limit = math.MaxInt64
	}
	neg := false
	i := 0
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i = 1
		if len(s) == 1 {
			return 0, false
		}
	}
	if neg {
		limit++
	}
	var acc uint64
	for i < len(s) {
		d, size := javaDigit(s[i:])
		if d < 0 {
			return 0, false
		}
		i += size
		if acc > (limit-uint64(d))/10 {
			return 0, false
		}
		acc = acc*10 + uint64(d)
	}
	if neg {
		return -int64(acc), true
	}
	return int64(acc), true
}

// javaDigit is Character.digit(ch, 10) for the next character of s: the
// value of an ASCII or other Unicode decimal digit in the Basic
// Multilingual Plane (Java sees characters beyond it as two surrogates,
// which are not digits), or -1.
func javaDigit(s string) (digit, size int) {
	if c := s[0]; c < utf8.RuneSelf {
		if c >= '0' && c <= '9' {
			return int(c - '0'), 1
		}
		return -1, 1
	}
	r, size := utf8.DecodeRuneInString(s)
	if r > 0xFFFF || !unicode.Is(unicode.Nd, r) {
		return -1, size
	}
	for _, rg := range unicode.Nd.R16 {
		if uint16(r) >= rg.Lo && uint16(r) <= rg.Hi {
			return int(uint16(r)-rg.Lo) % 10, size
		}
	}
	return -1, size
}

// javaParseDouble is Double.valueOf(String): characters up to U+0020 are
// trimmed from both ends; then an optional sign and "NaN", "Infinity", a
// decimal number with an optional exponent, or a hexadecimal
// floating-point number; then an optional f, F, d or D suffix.
func javaParseDouble(s string) (float64, bool) {
	s = javaTrim(s)
	if s == "" {
		return 0, false
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	neg := s[0] == '-'
	switch body {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		if neg {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	var n int
	if len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		n = hexFloatLen(body)
	} else {
		n = decimalFloatLen(body)
	}
	if n == 0 || !(n == len(body) || n == len(body)-1 && isFloatSuffix(body[n])) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:len(s)-len(body)+n], 64)
	if err != nil && !isRangeError(err) {
		return 0, false
	}
	return f, true
}

func isFloatSuffix(c byte) bool { return c == 'f' || c == 'F' || c == 'd' || c == 'D' }

func isRangeError(err error) bool { return errors.Is(err, strconv.ErrRange) }

// javaTrim is String.trim: it removes every character <= ' '.
func javaTrim(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}

// decimalFloatLen is the length of the longest prefix of s of the form
// digits [. digits] [(e|E) [+-] digits] with at least one mantissa digit,
// or 0.
func decimalFloatLen(s string) int {
	i := countDigits(s, 0)
	mantissa := i
	if i < len(s) && s[i] == '.' {
		j := countDigits(s, i+1)
		mantissa += j - (i + 1)
		i = j
	}
	if mantissa == 0 {
		return 0
	}
	return i + exponentLen(s[i:], 'e', 'E')
}

// hexFloatLen is the length of the longest prefix of s of the form
// 0x hexdigits [. hexdigits] (p|P) [+-] digits with at least one mantissa
// digit, or 0. The binary exponent is mandatory, as in Java.
func hexFloatLen(s string) int {
	i := countHexDigits(s, 2)
	mantissa := i - 2
	if i < len(s) && s[i] == '.' {
		j := countHexDigits(s, i+1)
		mantissa += j - (i + 1)
		i = j
	}
	if mantissa == 0 {
		return 0
	}
	n := exponentLen(s[i:], 'p', 'P')
	if n == 0 {
		return 0
	}
	return i + n
}

// exponentLen is the length of an exponent marker, optional sign and at
// least one decimal digit at the start of s, or 0.
func exponentLen(s string, lower, upper byte) int {
	if len(s) == 0 || (s[0] != lower && s[0] != upper) {
		return 0
	}
	i := 1
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := countDigits(s, i)
	if j == i {
		return 0
	}
	return j
}

func countDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func countHexDigits(s string, i int) int {
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i]|0x20 >= 'a' && s[i]|0x20 <= 'f') {
		i++
	}
	return i
}
