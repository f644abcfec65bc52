package sqlfilter

import (
	"strings"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tFloat
	tNot
	tAnd
	tOr
	tBetween
	tIn
	tTrue
	tFalse
	tNull
	tIs
	tContains
	tStartsWith
	tEndsWith
	tEq
	tNe
	tGt
	tGe
	tLt
	tLe
	tLParen
	tRParen
	tComma
	tPlus
	tMinus
)

var tokNames = [...]string{
	tEOF: "end of input", tIdent: "identifier", tString: "string literal", tInt: "integer literal",
	tFloat: "float literal", tNot: "NOT", tAnd: "AND", tOr: "OR", tBetween: "BETWEEN", tIn: "IN",
	tTrue: "TRUE", tFalse: "FALSE", tNull: "NULL", tIs: "IS", tContains: "CONTAINS",
	tStartsWith: "STARTSWITH", tEndsWith: "ENDSWITH", tEq: "'='", tNe: "'<>'", tGt: "'>'", tGe: "'>='",
	tLt: "'<'", tLe: "'<='", tLParen: "'('", tRParen: "')'", tComma: "','", tPlus: "'+'", tMinus: "'-'",
}

func (k tokKind) String() string { return tokNames[k] }

// keywords are matched case-insensitively against whole identifier tokens.
var keywords = map[string]tokKind{
	"NOT": tNot, "AND": tAnd, "OR": tOr, "BETWEEN": tBetween, "IN": tIn, "TRUE": tTrue,
	"FALSE": tFalse, "NULL": tNull, "IS": tIs, "CONTAINS": tContains, "STARTSWITH": tStartsWith,
	"ENDSWITH": tEndsWith,
}

// maxKeywordLen is the length of the longest keyword (STARTSWITH).
const maxKeywordLen = 10

// keyword looks an identifier up among the keywords, ignoring case.
func keyword(text string) (tokKind, bool) {
	if len(text) > maxKeywordLen {
		return 0, false
	}
	var upper [maxKeywordLen]byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper[i] = c
	}
	kw, ok := keywords[string(upper[:len(text)])]
	return kw, ok
}

// token is one lexeme. text is the source text for identifiers and
// numbers, and the decoded value for string literals.
type token struct {
	kind tokKind
	pos  int
	text string
}

// lexer splits an expression into tokens, skipping white space and
// comments. It works on bytes: everything outside string literals is ASCII.
type lexer struct {
	src string
	pos int
}

// tokenize returns every token of src followed by tEOF.
func tokenize(src string) ([]token, error) {
	lx := lexer{src: src}
	var out []token
	for {
		t, err := lx.next()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if t.kind == tEOF {
			return out, nil
		}
	}
}

func (lx *lexer) next() (token, error) {
	if err := lx.skipSpaceAndComments(); err != nil {
		return token{}, err
	}
	start := lx.pos
	if start >= len(lx.src) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := lx.src[start]
	switch {
	case isIdentStart(c):
		return lx.identifier(), nil
	case isDigit(c), c == '.' && start+1 < len(lx.src) && isDigit(lx.src[start+1]):
		return lx.number()
	case c == '\'':
		return lx.stringLiteral()
	}
	return lx.operator()
}

func (lx *lexer) skipSpaceAndComments() error {
	for lx.pos < len(lx.src) {
		rest := lx.src[lx.pos:]
		switch {
		case isSpace(rest[0]):
			lx.pos++
		case strings.HasPrefix(rest, "--"):
			// A line comment ends at a line break or at the end of input.
			end := strings.IndexAny(rest, "\r\n")
			if end < 0 {
				end = len(rest)
			}
			lx.pos += end
		case strings.HasPrefix(rest, "/*"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				return parseErrorf(lx.pos, "unterminated /* comment")
			}
			lx.pos += 2 + end + 2
		default:
			return nil
		}
	}
	return nil
}

func (lx *lexer) identifier() token {
	start := lx.pos
	for lx.pos < len(lx.src) && isIdentPart(lx.src[lx.pos]) {
		lx.pos++
	}
	text := lx.src[start:lx.pos]
	if kw, ok := keyword(text); ok {
		return token{kind: kw, pos: start, text: text}
	}
	return token{kind: tIdent, pos: start, text: text}
}

// number lexes DECIMAL (0 | [1-9][0-9]*, optional L) and FLOATING_POINT
// (5.5, 5., .5, 5E10, 5.5E-3) literals.
func (lx *lexer) number() (token, error) {
	start := lx.pos
	lx.skipDigits()
	intEnd := lx.pos
	isFloat := false
	if lx.pos < len(lx.src) && lx.src[lx.pos] == '.' {
		lx.pos++
		lx.skipDigits()
		isFloat = true
	}
	if n := lx.exponentLen(); n > 0 {
		lx.pos += n
		isFloat = true
	}
	if isFloat {
		return token{kind: tFloat, pos: start, text: lx.src[start:lx.pos]}, nil
	}
	if lx.src[start] == '0' && intEnd-start > 1 {
		return token{}, parseErrorf(start, "integer literal %q has a leading zero", lx.src[start:intEnd])
	}
	if lx.pos < len(lx.src) && (lx.src[lx.pos] == 'l' || lx.src[lx.pos] == 'L') {
		lx.pos++
	}
	return token{kind: tInt, pos: start, text: lx.src[start:lx.pos]}, nil
}

func (lx *lexer) skipDigits() {
	for lx.pos < len(lx.src) && isDigit(lx.src[lx.pos]) {
		lx.pos++
	}
}

// exponentLen is the length of an exponent ([eE][+-]?[0-9]+) at the
// current position, or 0.
func (lx *lexer) exponentLen() int {
	rest := lx.src[lx.pos:]
	if len(rest) < 2 || (rest[0] != 'e' && rest[0] != 'E') {
		return 0
	}
	i := 1
	if rest[i] == '+' || rest[i] == '-' {
		i++
	}
	j := i
	for j < len(rest) && isDigit(rest[j]) {
		j++
	}
	if j == i {
		return 0
	}
	return j
}

// stringLiteral lexes '...' where ” stands for one quote.
func (lx *lexer) stringLiteral() (token, error) {
	start := lx.pos
	var b strings.Builder
	i := start + 1
	for {
		j := strings.IndexByte(lx.src[i:], '\'')
		if j < 0 {
			return token{}, parseErrorf(start, "unterminated string literal")
		}
		b.WriteString(lx.src[i : i+j])
		i += j + 1
		if i < len(lx.src) && lx.src[i] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		lx.pos = i
		return token{kind: tString, pos: start, text: b.String()}, nil
	}
}

func (lx *lexer) operator() (token, error) {
	start := lx.pos
	c := lx.src[start]
	var next byte
	if start+1 < len(lx.src) {
		next = lx.src[start+1]
	}
	kind, n := tEOF, 1
	switch c {
	case '=':
		kind = tEq
	case '<':
		kind = tLt
		if next == '>' {
			kind, n = tNe, 2
		} else if next == '=' {
			kind, n = tLe, 2
		}
	case '>':
		kind = tGt
		if next == '=' {
			kind, n = tGe, 2
		}
	case '(':
		kind = tLParen
	case ')':
		kind = tRParen
	case ',':
		kind = tComma
	case '+':
		kind = tPlus
	case '-':
		kind = tMinus
	default:
		return token{}, parseErrorf(start, "unexpected character %q", lx.src[start:start+1])
	}
	lx.pos += n
	return token{kind: kind, pos: start, text: lx.src[start:lx.pos]}, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }
