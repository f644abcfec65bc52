package adminwire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cometmq/comet/routing"
)

// ErrMalformed is the class of every decoding error of this package.
var ErrMalformed = errors.New("adminwire: malformed body")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// members calls fn for each member of the object at the start of data. Keys
// may be JSON strings, bare scalars (fastjson's integer keys) or whole
// objects (fastjson's object keys); key and value are the raw text of each.
func members(data []byte, fn func(key, value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return malformed("want an object at byte %d", i)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		keyEnd, err := skipValue(data, i)
		if err != nil {
			return err
		}
		key := data[i:keyEnd]
		i = skipSpace(data, keyEnd)
		if i >= len(data) || data[i] != ':' {
			return malformed("want ':' at byte %d", i)
		}
		i = skipSpace(data, i+1)
		valueEnd, err := skipValue(data, i)
		if err != nil {
			return err
		}
		if err := fn(key, data[i:valueEnd]); err != nil {
			return err
		}
		i = skipSpace(data, valueEnd)
		if i >= len(data) {
			return malformed("unterminated object")
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return nil
		default:
			return malformed("want ',' or '}' at byte %d", i)
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at i: a string,
// a balanced object or array, or a bare scalar.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, malformed("value expected at end of input")
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		return skipContainer(data, i)
	}
	start := i
	for i < len(data) && !isDelimiter(data[i]) {
		i++
	}
	if i == start {
		return 0, malformed("value expected at byte %d", i)
	}
	return i, nil
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ':', '{', '}', '[', ']', '"', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

func skipString(data []byte, start int) (int, error) {
	if end, ok := routing.SkipJSONString(data, start); ok {
		return end, nil
	}
	return 0, malformed("unterminated string at byte %d", start)
}

// skipContainer skips a balanced object or array without recursion, so
// hostile nesting costs no stack.
func skipContainer(data []byte, start int) (int, error) {
	depth := 0
	for i := start; i < len(data); i++ {
		switch data[i] {
		case '"':
			end, err := skipString(data, i)
			if err != nil {
				return 0, err
			}
			i = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, malformed("unbalanced container at byte %d", start)
}

// field returns the raw value of the member named name of the object in
// data, or nil when it is absent.
func field(data []byte, name string) ([]byte, error) {
	var found []byte
	err := members(data, func(key, value []byte) error {
		if found == nil && keyString(key) == name {
			found = value
		}
		return nil
	})
	return found, err
}

// keyString is a key's text: a JSON string unquoted, a bare scalar as is.
func keyString(key []byte) string {
	if len(key) > 0 && key[0] == '"' {
		var s string
		if json.Unmarshal(key, &s) == nil {
			return s
		}
	}
	return string(key)
}

// keyInt parses an integer key, bare or quoted.
func keyInt(key []byte) (int64, error) {
	v, err := strconv.ParseInt(keyString(key), 10, 64)
	if err != nil {
		return 0, malformed("integer key %q", key)
	}
	return v, nil
}

// unmarshal decodes standard JSON text, classing errors as ErrMalformed.
func unmarshal(data []byte, v any, what string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return malformed("%s: %v", what, err)
	}
	return nil
}

// appendJSON appends v's standard JSON encoding.
func appendJSON(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the package's own plain structs are encoded here.
		panic("adminwire: encode: " + err.Error())
	}
	return append(dst, b...)
}
