package sqlfilter

import (
	"math"
	"strconv"
	"strings"
)

// kind is the Java type a value would have in RocketMQ's evaluator.
type kind uint8

const (
	kNull   kind = iota // SQL unknown / a missing property
	kBool               // java.lang.Boolean
	kInt                // java.lang.Integer (integer literal within 32 bits)
	kLong               // java.lang.Long
	kDouble             // java.lang.Double
	kString             // java.lang.String (every property value)
	kErr                // an evaluation exception: the whole expression fails
)

// value is one evaluated operand. It is passed by value and never escapes
// an evaluation, so s may alias the caller's property bytes.
type value struct {
	k kind
	b bool
	i int64
	f float64
	s string
}

var (
	nullValue  = value{k: kNull}
	errValue   = value{k: kErr}
	trueValue  = value{k: kBool, b: true}
	falseValue = value{k: kBool}
)

func boolValue(b bool) value { return value{k: kBool, b: b} }

type op uint8

const (
	opConst op = iota
	opProp
	opNeg
	opNot
	opCast // a property used as a boolean
	opAnd
	opOr
	opEq
	opNe
	opIsNull
	opIsNotNull
	opGt
	opGe
	opLt
	opLe
	opBetween
	opNotBetween
	opIn
	opNotIn
	opContains
	opNotContains
	opStartsWith
	opNotStartsWith
	opEndsWith
	opNotEndsWith
)

var opSymbols = [...]string{
	opAnd: "AND", opOr: "OR", opEq: "=", opNe: "<>", opGt: ">", opGe: ">=", opLt: "<", opLe: "<=",
	opIsNull: "IS NULL", opIsNotNull: "IS NOT NULL", opBetween: "BETWEEN", opNotBetween: "NOT BETWEEN",
	opIn: "IN", opNotIn: "NOT IN", opContains: "CONTAINS", opNotContains: "NOT CONTAINS",
	opStartsWith: "STARTSWITH", opNotStartsWith: "NOT STARTSWITH", opEndsWith: "ENDSWITH",
	opNotEndsWith: "NOT ENDSWITH",
}

// node is one compiled expression node. Which fields are used depends on
// op: l (and r, x) are operands, val a constant, name/slot/key a property,
// str the search string of CONTAINS and friends, list/set an IN list.
type node struct {
	op   op
	l, r *node
	x    *node // BETWEEN upper bound
	val  value
	name string
	slot int    // index in Expr.itemKeys, or -1
	key  []byte // name + 0x01: how the property's items start in the raw encoding
	str  string
	list []string
	set  map[string]struct{} // for long IN lists
}

// isBoolean reports whether n is a Java BooleanExpression: a comparison,
// a logical operator, a boolean cast or a TRUE/FALSE/NULL constant.
func (n *node) isBoolean() bool {
	switch n.op {
	case opConst:
		return n.val.k == kBool || n.val.k == kNull
	case opProp, opNeg:
		return false
	}
	return true
}

// Expr is a compiled SQL92 filter expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	src      string
	root     *node
	canon    string
	props    []string // distinct property names, in order of first use
	itemKeys [][]byte // name + 0x01 of the first maxResolved names, by slot
}

// Source is the text the expression was compiled from.
func (e *Expr) Source() string { return e.src }

// String is the canonical form: fully parenthesized, keywords upper case,
// comments and redundant white space removed. Compiling it yields an
// expression with the same String and the same behaviour.
func (e *Expr) String() string { return e.canon }

// Properties lists the property names the expression reads.
func (e *Expr) Properties() []string { return append([]string(nil), e.props...) }

// writeNode writes n in canonical form. Every composite node is
// parenthesized except the root.
func writeNode(b *strings.Builder, n *node, top bool) {
	switch n.op {
	case opConst:
		printValue(b, n.val)
	case opProp:
		b.WriteString(n.name)
	case opCast:
		writeNode(b, n.l, top)
	case opNeg:
		// "--" would start a comment, so a nested negation is parenthesized.
		b.WriteByte('-')
		if n.l.op == opNeg {
			b.WriteByte('(')
			writeNode(b, n.l, true)
			b.WriteByte(')')
		} else {
			writeNode(b, n.l, false)
		}
	default:
		if !top {
			b.WriteByte('(')
		}
		writeComposite(b, n)
		if !top {
			b.WriteByte(')')
		}
	}
}

func writeComposite(b *strings.Builder, n *node) {
	switch n.op {
	case opNot:
		b.WriteString("NOT ")
		writeNode(b, n.l, false)
	case opIsNull, opIsNotNull:
		writeNode(b, n.l, false)
		b.WriteString(" " + opSymbols[n.op])
	case opBetween, opNotBetween:
		writeNode(b, n.l, false)
		b.WriteString(" " + opSymbols[n.op] + " ")
		writeNode(b, n.r, false)
		b.WriteString(" AND ")
		writeNode(b, n.x, false)
	case opIn, opNotIn:
		writeNode(b, n.l, false)
		b.WriteString(" " + opSymbols[n.op] + " (")
		for i, s := range n.list {
			if i > 0 {
				b.WriteString(", ")
			}
			printString(b, s)
		}
		b.WriteByte(')')
	case opContains, opNotContains, opStartsWith, opNotStartsWith, opEndsWith, opNotEndsWith:
		writeNode(b, n.l, false)
		b.WriteString(" " + opSymbols[n.op] + " ")
		printString(b, n.str)
	default: // binary operators
		writeNode(b, n.l, false)
		b.WriteString(" " + opSymbols[n.op] + " ")
		writeNode(b, n.r, false)
	}
}

func printValue(b *strings.Builder, v value) {
	switch v.k {
	case kNull:
		b.WriteString("NULL")
	case kBool:
		if v.b {
			b.WriteString("TRUE")
		} else {
			b.WriteString("FALSE")
		}
	case kInt, kLong:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case kDouble:
		b.WriteString(formatFloatLiteral(v.f))
	case kString:
		printString(b, v.s)
	}
}

// formatFloatLiteral prints f so that it lexes as a float literal again
// and parses to the same value.
func formatFloatLiteral(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return s // never a literal: compile rejects them
	}
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func printString(b *strings.Builder, s string) {
	b.WriteByte('\'')
	b.WriteString(strings.ReplaceAll(s, "'", "''"))
	b.WriteByte('\'')
}
