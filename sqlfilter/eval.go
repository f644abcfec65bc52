package sqlfilter

import (
	"bytes"
	"math"
	"strings"
)

// Result is the outcome of evaluating an expression against one message.
// Only True is a match.
type Result uint8

const (
	False   Result = iota
	True           // the message matches
	Unknown        // SQL NULL, e.g. a comparison with a missing property
	Error          // RocketMQ's evaluator would throw (e.g. "abc" compared with 3)
)

func (r Result) String() string {
	switch r {
	case True:
		return "TRUE"
	case False:
		return "FALSE"
	case Unknown:
		return "NULL"
	}
	return "EVAL_ERROR"
}

// Match reports whether the message whose properties get returns matches.
// get returns a property's value and whether it is present.
func (e *Expr) Match(get func(name string) (string, bool)) bool {
	return e.Evaluate(get) == True
}

// Evaluate is Match with the three-valued result and evaluation errors
// told apart.
func (e *Expr) Evaluate(get func(name string) (string, bool)) Result {
	ev := evaluator{get: get}
	return ev.result(e.root)
}

// MatchProperties reports whether a message matches, reading property
// values straight out of raw, the RocketMQ property encoding
// (name 0x01 value 0x02 ...), as stored in the commit log. It does not
// allocate, and nothing it reads is kept after it returns.
func (e *Expr) MatchProperties(raw []byte) bool {
	return e.EvaluateProperties(raw) == True
}

// EvaluateProperties is MatchProperties with the full Result.
func (e *Expr) EvaluateProperties(raw []byte) Result {
	ev := evaluator{raw: raw, itemKeys: e.itemKeys}
	return ev.result(e.root)
}

// evaluator evaluates one expression against one message and lives on the
// caller's stack. Over raw properties, the first property read locates
// every property the expression names in one pass (spans, by slot).
type evaluator struct {
	raw      []byte
	get      func(string) (string, bool)
	itemKeys [][]byte // per slot: name + 0x01
	resolved bool
	spans    [maxResolved]span
}

// span is where a property value lies in raw; start < 0 if it is missing.
type span struct{ start, end int32 }

func (ev *evaluator) result(root *node) Result {
	switch ev.test(root) {
	case triTrue:
		return True
	case triFalse:
		return False
	case triNull:
		return Unknown
	}
	return Error
}

func (ev *evaluator) property(n *node) value {
	var s string
	var ok bool
	switch {
	case ev.get != nil:
		s, ok = ev.get(n.name)
	case n.slot < 0 || len(ev.raw) > math.MaxInt32:
		s, ok = lookupRaw(ev.raw, n.key)
	default:
		if !ev.resolved {
			ev.resolve()
		}
		sp := ev.spans[n.slot]
		s, ok = rawString(ev.raw[max(sp.start, 0):sp.end]), sp.start >= 0
	}
	if !ok {
		return nullValue
	}
	return value{k: kString, s: s}
}

// resolve locates every property the expression names. With one name it
// searches for it; with more it splits raw into items once and matches
// each item against every name.
func (ev *evaluator) resolve() {
	ev.resolved = true
	if len(ev.itemKeys) == 1 {
		start, end := findRaw(ev.raw, ev.itemKeys[0])
		ev.spans[0] = span{int32(start), int32(end)}
		return
	}
	for i := range ev.itemKeys {
		ev.spans[i] = span{-1, 0}
	}
	raw := ev.raw
	for pos := 0; pos < len(raw); {
		end := bytes.IndexByte(raw[pos:], 0x02)
		if end < 0 {
			end = len(raw)
		} else {
			end += pos
		}
		item := raw[pos:end]
		for i, k := range ev.itemKeys {
			if bytes.HasPrefix(item, k) {
				ev.spans[i] = span{int32(pos + len(k)), int32(end)}
			}
		}
		pos = end + 1
	}
}

// tri is the outcome of a boolean node: SQL's three values, plus the
// exception RocketMQ's evaluator would throw.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
	triErr
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func (t tri) not() tri {
	if t <= triTrue {
		return t ^ 1
	}
	return t
}

// asValue is a boolean node's outcome as an operand of = or <>.
func (t tri) asValue() value {
	switch t {
	case triTrue:
		return trueValue
	case triFalse:
		return falseValue
	case triNull:
		return nullValue
	}
	return errValue
}

// eval evaluates an operand: a literal, a property, a negation, or a
// boolean node compared with = or <>.
func (ev *evaluator) eval(n *node) value {
	switch n.op {
	case opConst:
		return n.val
	case opProp:
		return ev.property(n)
	case opNeg:
		return negate(ev.eval(n.l))
	}
	return ev.test(n).asValue()
}

// test evaluates a boolean node.
func (ev *evaluator) test(n *node) tri {
	switch n.op {
	case opConst:
		if n.val.k == kBool {
			return triOf(n.val.b)
		}
		return triNull
	case opCast:
		// Only a real boolean is TRUE; a property value is a string, so
		// FALSE, or NULL when missing.
		if ev.property(n.l).k == kNull {
			return triNull
		}
		return triFalse
	case opNot:
		return ev.test(n.l).not()
	case opAnd:
		return ev.and(n.l, n.r)
	case opOr:
		return ev.or(n.l, n.r)
	case opEq:
		return ev.equal(n.l, n.r)
	case opNe:
		return ev.equal(n.l, n.r).not()
	case opIsNull, opIsNotNull:
		return ev.isNull(n)
	case opGt, opGe, opLt, opLe:
		return ev.relational(n.op, n.l, n.r)
	case opBetween:
		return ev.andRel(opGe, n.l, n.r, opLe, n.l, n.x)
	case opNotBetween:
		return ev.orRel(opLt, n.l, n.r, opGt, n.l, n.x)
	case opIn, opNotIn:
		return ev.in(n)
	}
	return ev.stringMatch(n)
}

func negate(v value) value {
	switch v.k {
	case kInt:
		v.i = int64(-int32(v.i))
	case kLong:
		v.i = -v.i
	case kDouble:
		v.f = -v.f
	case kErr:
	default:
		return nullValue
	}
	return v
}

// and is SQL AND with RocketMQ's evaluation order: the right side is not
// evaluated when the left is FALSE (or threw).
func (ev *evaluator) and(l, r *node) tri {
	lv := ev.test(l)
	if decidesAnd(lv) {
		return lv
	}
	return combineAnd(lv, ev.test(r))
}

// or is SQL OR; the right side is not evaluated when the left is TRUE.
func (ev *evaluator) or(l, r *node) tri {
	lv := ev.test(l)
	if decidesOr(lv) {
		return lv
	}
	return combineOr(lv, ev.test(r))
}

// andRel is BETWEEN: (v >= lo) AND (v <= hi).
func (ev *evaluator) andRel(o1 op, l1, r1 *node, o2 op, l2, r2 *node) tri {
	lv := ev.relational(o1, l1, r1)
	if decidesAnd(lv) {
		return lv
	}
	return combineAnd(lv, ev.relational(o2, l2, r2))
}

// orRel is NOT BETWEEN: (v < lo) OR (v > hi).
func (ev *evaluator) orRel(o1 op, l1, r1 *node, o2 op, l2, r2 *node) tri {
	lv := ev.relational(o1, l1, r1)
	if decidesOr(lv) {
		return lv
	}
	return combineOr(lv, ev.relational(o2, l2, r2))
}

func decidesAnd(t tri) bool { return t == triFalse || t == triErr }
func decidesOr(t tri) bool  { return t == triTrue || t == triErr }

func combineAnd(lv, rv tri) tri {
	switch {
	case decidesAnd(rv):
		return rv
	case lv == triNull || rv == triNull:
		return triNull
	}
	return triTrue
}

func combineOr(lv, rv tri) tri {
	switch {
	case decidesOr(rv):
		return rv
	case lv == triNull || rv == triNull:
		return triNull
	}
	return triFalse
}

// equal is RocketMQ's "=": both sides are evaluated; a NULL on the left
// only gives NULL, a NULL on the right only FALSE, two NULLs TRUE; equal
// values of one type are TRUE; otherwise the typed comparison decides.
func (ev *evaluator) equal(l, r *node) tri {
	if l.op == opProp && r.op == opConst && r.val.k == kString {
		// The common "property = 'literal'": NULL when the property is
		// missing, else exact string equality.
		v := ev.property(l)
		if v.k != kString {
			return triNull
		}
		return triOf(v.s == r.val.s)
	}
	lv := ev.eval(l)
	if lv.k == kErr {
		return triErr
	}
	rv := ev.eval(r)
	if rv.k == kErr {
		return triErr
	}
	return equalValues(lv, rv)
}

func equalValues(lv, rv value) tri {
	switch {
	case lv.k == kNull && rv.k == kNull:
		return triTrue
	case lv.k == kNull:
		return triNull
	case rv.k == kNull:
		return triFalse
	case javaEquals(lv, rv):
		return triTrue
	}
	c, ok := compareValues(lv, rv)
	if !ok {
		return triErr
	}
	return triOf(c == 0)
}

func (ev *evaluator) isNull(n *node) tri {
	v := ev.eval(n.l)
	if v.k == kErr {
		return triErr
	}
	return triOf((v.k == kNull) == (n.op == opIsNull))
}

// relational is RocketMQ's < <= > >=: NULL if either side is NULL (the
// right is not evaluated when the left is NULL); two strings are compared
// as doubles; otherwise the typed comparison decides.
func (ev *evaluator) relational(o op, l, r *node) tri {
	lv := ev.eval(l)
	if t, done := operandOutcome(lv); done {
		return t
	}
	rv := ev.eval(r)
	if t, done := operandOutcome(rv); done {
		return t
	}
	var c int
	if lv.k == kString && rv.k == kString {
		lf, ok1 := javaParseDouble(lv.s)
		rf, ok2 := javaParseDouble(rv.s)
		if !ok1 || !ok2 {
			return triErr
		}
		c = javaCompareDouble(lf, rf)
	} else {
		var ok bool
		if c, ok = compareValues(lv, rv); !ok {
			return triErr
		}
	}
	switch o {
	case opGt:
		return triOf(c > 0)
	case opGe:
		return triOf(c >= 0)
	case opLt:
		return triOf(c < 0)
	}
	return triOf(c <= 0)
}

// operandOutcome ends a comparison whose operand is NULL or threw.
func operandOutcome(v value) (tri, bool) {
	switch v.k {
	case kNull:
		return triNull, true
	case kErr:
		return triErr, true
	}
	return 0, false
}

// in: NULL for a missing property, otherwise exact string membership.
func (ev *evaluator) in(n *node) tri {
	v := ev.property(n.l)
	if v.k != kString {
		return triNull
	}
	found := false
	if n.set != nil {
		_, found = n.set[v.s]
	} else {
		for _, s := range n.list {
			if s == v.s {
				found = true
				break
			}
		}
	}
	return triOf(found != (n.op == opNotIn))
}

// stringMatch is CONTAINS, STARTSWITH, ENDSWITH and their NOT forms: an
// empty search string, a missing value and a non-string value are FALSE
// for both the positive and the negated form.
func (ev *evaluator) stringMatch(n *node) tri {
	if n.str == "" {
		return triFalse
	}
	v := ev.eval(n.l)
	if v.k == kErr {
		return triErr
	}
	if v.k != kString {
		return triFalse
	}
	var hit bool
	switch n.op {
	case opContains, opNotContains:
		hit = strings.Contains(v.s, n.str)
	case opStartsWith, opNotStartsWith:
		hit = strings.HasPrefix(v.s, n.str)
	default:
		hit = strings.HasSuffix(v.s, n.str)
	}
	negated := n.op == opNotContains || n.op == opNotStartsWith || n.op == opNotEndsWith
	return triOf(hit != negated)
}
