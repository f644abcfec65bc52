package sqlfilter

import (
	"math"
	"strconv"
	"strings"
)

// maxDepth bounds the depth of the expression tree (nesting and chains
// of operators) so that neither parsing nor evaluation recurses without
// limit on hostile input.
const maxDepth = 1000

// MaxExpressionBytes is the longest expression Compile reads. RocketMQ
// clients send expressions of a few dozen bytes; 4 KiB is generous, and
// compiling it takes at most about a millisecond.
const MaxExpressionBytes = 4096

// maxResolved is how many distinct properties an evaluation over raw
// properties locates in its single pass; later ones are searched for on
// each use.
const maxResolved = 8

// inSetThreshold is the IN-list length from which membership uses a map.
const inSetThreshold = 8

// Compile parses expr and applies RocketMQ's compile-time checks. Errors
// wrap ErrParse; an expression longer than MaxExpressionBytes is refused
// without being read. Unlike RocketMQ, any token left after a complete
// expression is an error (see the package doc).
func Compile(expr string) (*Expr, error) {
	if len(expr) > MaxExpressionBytes {
		return nil, parseErrorf(MaxExpressionBytes, "expression of %d bytes is longer than the %d-byte limit", len(expr), MaxExpressionBytes)
	}
	toks, err := tokenize(expr)
	if err != nil {
		return nil, err
	}
	p := parser{toks: toks, slots: map[string]int{}}
	root, err := p.orExpr()
	if err == nil {
		root, err = p.asBoolean(root)
	}
	if err == nil && p.peek().kind != tEOF {
		t := p.peek()
		err = parseErrorf(t.pos, "unexpected %s after a complete expression", describe(t))
	}
	if err == nil && treeDepth(root) > maxDepth {
		err = parseErrorf(0, "expression nested deeper than %d", maxDepth)
	}
	if err != nil {
		return nil, err
	}
	e := &Expr{src: expr, root: root, props: p.names}
	for _, name := range p.names[:min(len(p.names), maxResolved)] {
		e.itemKeys = append(e.itemKeys, []byte(name+"\x01"))
	}
	var b strings.Builder
	writeNode(&b, root, true)
	e.canon = b.String()
	return e, nil
}

// MustCompile is Compile for expressions known to be valid; it panics on
// an error.
func MustCompile(expr string) *Expr {
	e, err := Compile(expr)
	if err != nil {
		panic(err)
	}
	return e
}

// parser is a recursive-descent parser over the token slice, following
// the precedence of RocketMQ's SelectorParser.jj.
type parser struct {
	toks  []token
	pos   int
	depth int
	slots map[string]int
	names []string
}

func (p *parser) peek() token       { return p.toks[p.pos] }
func (p *parser) peekKind() tokKind { return p.toks[p.pos].kind }

// peek2 is the kind of the token after the next one.
func (p *parser) peek2() tokKind {
	if p.pos+1 < len(p.toks) {
		return p.toks[p.pos+1].kind
	}
	return tEOF
}

func (p *parser) advance() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) expect(k tokKind) (token, error) {
	t := p.peek()
	if t.kind != k {
		return t, parseErrorf(t.pos, "expected %s, found %s", k, describe(t))
	}
	return p.advance(), nil
}

func describe(t token) string {
	switch t.kind {
	case tIdent, tInt, tFloat:
		return t.kind.String() + " " + strconv.Quote(t.text)
	case tString:
		return "string literal"
	}
	return t.kind.String()
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxDepth {
		return parseErrorf(pos, "expression nested deeper than %d", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// orExpr: andExpr (OR andExpr)*
func (p *parser) orExpr() (*node, error) {
	left, err := p.andExpr()
	for err == nil && p.peekKind() == tOr {
		p.advance()
		var right *node
		if right, err = p.andExpr(); err == nil {
			left, err = p.logical(opOr, left, right)
		}
	}
	return left, err
}

// andExpr: equality (AND equality)*
func (p *parser) andExpr() (*node, error) {
	left, err := p.equality()
	for err == nil && p.peekKind() == tAnd {
		p.advance()
		var right *node
		if right, err = p.equality(); err == nil {
			left, err = p.logical(opAnd, left, right)
		}
	}
	return left, err
}

func (p *parser) logical(o op, left, right *node) (*node, error) {
	l, err := p.asBoolean(left)
	if err != nil {
		return nil, err
	}
	r, err := p.asBoolean(right)
	if err != nil {
		return nil, err
	}
	return &node{op: o, l: l, r: r}, nil
}

// equality: comparison ( = comparison | <> comparison | IS [NOT] NULL )*
func (p *parser) equality() (*node, error) {
	left, err := p.comparison()
	for err == nil {
		t := p.peek()
		switch {
		case t.kind == tEq || t.kind == tNe:
			p.advance()
			var right *node
			if right, err = p.comparison(); err == nil {
				left, err = newEquality(t, left, right)
			}
		case t.kind == tIs && p.peek2() == tNull:
			p.advance()
			p.advance()
			left = &node{op: opIsNull, l: left}
		case t.kind == tIs:
			p.advance()
			if _, err = p.expect(tNot); err == nil {
				_, err = p.expect(tNull)
			}
			left = &node{op: opIsNotNull, l: left}
		default:
			return left, nil
		}
	}
	return nil, err
}

// newEquality applies RocketMQ's operand checks for = and <>: no NULL
// literal on either side, and a TRUE/FALSE literal on the left only
// against a boolean on the right.
func newEquality(t token, left, right *node) (*node, error) {
	for _, n := range []*node{left, right} {
		if n.op == opConst && n.val.k == kNull {
			return nil, parseErrorf(t.pos, "NULL cannot be compared with %s; use IS NULL", t.text)
		}
	}
	if left.op == opConst && right.op == opConst && left.isBoolean() && !right.isBoolean() {
		return nil, parseErrorf(t.pos, "a boolean literal cannot be compared with a non-boolean literal")
	}
	o := opEq
	if t.kind == tNe {
		o = opNe
	}
	return &node{op: o, l: left, r: right}, nil
}

// comparison: unary ( relop unary | [NOT] BETWEEN unary AND unary |
// [NOT] IN (strings) | [NOT] CONTAINS|STARTSWITH|ENDSWITH string )*
func (p *parser) comparison() (*node, error) {
	left, err := p.unary()
	for err == nil {
		t := p.peek()
		negated := false
		if t.kind == tNot && isNegatable(p.peek2()) {
			p.advance()
			negated = true
			t = p.peek()
		}
		switch t.kind {
		case tGt, tGe, tLt, tLe:
			p.advance()
			var right *node
			if right, err = p.unary(); err == nil {
				left, err = newRelational(relOps[t.kind], t.pos, left, right)
			}
		case tBetween:
			left, err = p.between(left, negated)
		case tIn:
			left, err = p.in(left, negated)
		case tContains, tStartsWith, tEndsWith:
			left, err = p.stringMatch(left, negated)
		default:
			return left, nil
		}
	}
	return nil, err
}

var relOps = map[tokKind]op{tGt: opGt, tGe: opGe, tLt: opLt, tLe: opLe}

func isNegatable(k tokKind) bool {
	return k == tBetween || k == tIn || k == tContains || k == tStartsWith || k == tEndsWith
}

// newRelational applies RocketMQ's check that only numbers, properties
// and negations are ordered: no string, boolean or NULL literal and no
// boolean expression.
func newRelational(o op, pos int, left, right *node) (*node, error) {
	if err := checkOrderable(pos, left); err != nil {
		return nil, err
	}
	if err := checkOrderable(pos, right); err != nil {
		return nil, err
	}
	return &node{op: o, l: left, r: right}, nil
}

func checkOrderable(pos int, n *node) error {
	if n.op == opConst {
		if k := n.val.k; k == kInt || k == kLong || k == kDouble {
			return nil
		}
		return parseErrorf(pos, "%s cannot be compared with < <= > >= BETWEEN", constName(n))
	}
	if n.isBoolean() {
		return parseErrorf(pos, "a boolean expression cannot be compared with < <= > >= BETWEEN")
	}
	return nil
}

func constName(n *node) string {
	var b strings.Builder
	printValue(&b, n.val)
	return b.String()
}

func (p *parser) between(value *node, negated bool) (*node, error) {
	t := p.advance()
	lo, err := p.unary()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tAnd); err != nil {
		return nil, err
	}
	hi, err := p.unary()
	if err != nil {
		return nil, err
	}
	if !negated {
		if err := checkBetweenBounds(t.pos, lo, hi); err != nil {
			return nil, err
		}
	}
	for _, n := range []*node{value, lo, hi} {
		if err := checkOrderable(t.pos, n); err != nil {
			return nil, err
		}
	}
	o := opBetween
	if negated {
		o = opNotBetween
	}
	return &node{op: o, l: value, r: lo, x: hi}, nil
}

// checkBetweenBounds rejects BETWEEN with two literal bounds where the
// lower is above the upper, comparing them as the evaluator would.
func checkBetweenBounds(pos int, lo, hi *node) error {
	if lo.op != opConst || hi.op != opConst {
		return nil
	}
	if lo.val.k == kNull || hi.val.k == kNull {
		return parseErrorf(pos, "BETWEEN bounds cannot be NULL")
	}
	c, ok := compareValues(hi.val, lo.val)
	if !ok || c < 0 {
		return parseErrorf(pos, "BETWEEN lower bound %s is above upper bound %s", constName(lo), constName(hi))
	}
	return nil
}

func (p *parser) in(left *node, negated bool) (*node, error) {
	t := p.advance()
	if left.op != opProp {
		return nil, parseErrorf(t.pos, "IN needs a property on its left")
	}
	if _, err := p.expect(tLParen); err != nil {
		return nil, err
	}
	var list []string
	for {
		s, err := p.expect(tString)
		if err != nil {
			return nil, err
		}
		list = append(list, s.text)
		if p.peekKind() != tComma {
			break
		}
		p.advance()
	}
	if _, err := p.expect(tRParen); err != nil {
		return nil, err
	}
	n := &node{op: opIn, l: left, list: list}
	if negated {
		n.op = opNotIn
	}
	if len(list) >= inSetThreshold {
		n.set = make(map[string]struct{}, len(list))
		for _, s := range list {
			n.set[s] = struct{}{}
		}
	}
	return n, nil
}

var stringMatchOps = map[tokKind][2]op{
	tContains:   {opContains, opNotContains},
	tStartsWith: {opStartsWith, opNotStartsWith},
	tEndsWith:   {opEndsWith, opNotEndsWith},
}

func (p *parser) stringMatch(left *node, negated bool) (*node, error) {
	t := p.advance()
	s, err := p.expect(tString)
	if err != nil {
		return nil, err
	}
	ops := stringMatchOps[t.kind]
	o := ops[0]
	if negated {
		o = ops[1]
	}
	return &node{op: o, l: left, str: s.text}, nil
}

// unary: + unary | - unary | NOT unary | primary
func (p *parser) unary() (*node, error) {
	t := p.peek()
	switch t.kind {
	case tPlus, tMinus, tNot:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer p.leave()
		p.advance()
		operand, err := p.unary()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tPlus:
			return operand, nil
		case tMinus:
			return &node{op: opNeg, l: operand}, nil
		}
		b, err := p.asBoolean(operand)
		if err != nil {
			return nil, err
		}
		return &node{op: opNot, l: b}, nil
	}
	return p.primary()
}

// primary: literal | identifier | ( orExpr )
func (p *parser) primary() (*node, error) {
	t := p.advance()
	switch t.kind {
	case tString:
		return &node{op: opConst, val: value{k: kString, s: t.text}}, nil
	case tInt:
		return intLiteral(t)
	case tFloat:
		return floatLiteral(t)
	case tTrue, tFalse:
		return &node{op: opConst, val: boolValue(t.kind == tTrue)}, nil
	case tNull:
		return &node{op: opConst, val: nullValue}, nil
	case tIdent:
		return p.property(t.text), nil
	case tLParen:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		defer p.leave()
		n, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, parseErrorf(t.pos, "expected an operand, found %s", describe(t))
}

func (p *parser) property(name string) *node {
	slot, ok := p.slots[name]
	if !ok {
		slot = len(p.names)
		p.slots[name] = slot
		p.names = append(p.names, name)
	}
	if slot >= maxResolved {
		slot = -1
	}
	return &node{op: opProp, name: name, slot: slot, key: []byte(name + "\x01")}
}

// intLiteral: a 64-bit value, an Integer when it fits in 32 bits.
func intLiteral(t token) (*node, error) {
	text := strings.TrimRight(t.text, "lL")
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, parseErrorf(t.pos, "integer literal %s is outside the 64-bit range", t.text)
	}
	k := kLong
	if v <= math.MaxInt32 {
		k = kInt
	}
	return &node{op: opConst, val: value{k: k, i: v}}, nil
}

// floatLiteral: a double that is finite and at least Double.MIN_VALUE, so
// 0.0 is rejected as RocketMQ rejects it.
func floatLiteral(t token) (*node, error) {
	f, err := strconv.ParseFloat(t.text, 64)
	if err != nil && !isRangeError(err) {
		return nil, parseErrorf(t.pos, "bad float literal %s", t.text)
	}
	if math.IsInf(f, 0) || f > math.MaxFloat64 {
		return nil, parseErrorf(t.pos, "float literal %s is greater than the largest double", t.text)
	}
	if f < math.SmallestNonzeroFloat64 {
		return nil, parseErrorf(t.pos, "float literal %s is less than the smallest positive double (write 0 for zero)", t.text)
	}
	return &node{op: opConst, val: value{k: kDouble, f: f}}, nil
}

// treeDepth is the depth of the tree under root, found without recursion
// (the tree may be arbitrarily deep until this check rejects it).
func treeDepth(root *node) int {
	type item struct {
		n     *node
		depth int
	}
	deepest := 0
	stack := []item{{root, 1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		deepest = max(deepest, it.depth)
		for _, child := range [...]*node{it.n.l, it.n.r, it.n.x} {
			if child != nil {
				stack = append(stack, item{child, it.depth + 1})
			}
		}
	}
	return deepest
}

// asBoolean is RocketMQ's asBooleanExpression: boolean expressions pass,
// a property becomes a boolean cast, anything else is rejected.
func (p *parser) asBoolean(n *node) (*node, error) {
	switch {
	case n.isBoolean():
		return n, nil
	case n.op == opProp:
		return &node{op: opCast, l: n}, nil
	}
	var b strings.Builder
	writeNode(&b, n, true)
	return nil, parseErrorf(p.peek().pos, "%s does not result in a boolean value", b.String())
}
