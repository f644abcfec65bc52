package sqlfilter

import (
	"errors"
	"fmt"
)

// ErrParse is the class of every error Compile returns: the expression is
// not valid SQL92 filter syntax or fails one of the compile-time checks.
var ErrParse = errors.New("sqlfilter: invalid expression")

// ParseError says where and why an expression was rejected.
type ParseError struct {
	Offset int // byte offset in the expression
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("sqlfilter: invalid expression at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrParse) hold.
func (e *ParseError) Unwrap() error { return ErrParse }

func parseErrorf(offset int, format string, args ...any) error {
	return &ParseError{Offset: offset, Reason: fmt.Sprintf(format, args...)}
}
