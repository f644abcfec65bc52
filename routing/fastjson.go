package routing

// quoteBareIntegerKeys rewrites object keys written as bare integers
// ({0:"a",-1:"b"}) into quoted keys ({"0":"a","-1":"b"}), leaving every other
// byte alone. It reports false when the text is not balanced enough to walk
// (an unterminated string, a closing bracket without an opener).
func quoteBareIntegerKeys(text []byte) ([]byte, bool) {
	out := make([]byte, 0, len(text)+16)
	var containers []byte // '{' or '['
	expectKey := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '"':
			end, ok := SkipJSONString(text, i)
			if !ok {
				return nil, false
			}
			out = append(out, text[i:end]...)
			i = end - 1
			expectKey = false
			continue
		case c == '{':
			containers = append(containers, '{')
			expectKey = true
		case c == '[':
			containers = append(containers, '[')
			expectKey = false
		case c == '}' || c == ']':
			if len(containers) == 0 {
				return nil, false
			}
			containers = containers[:len(containers)-1]
			expectKey = false
		case c == ',':
			expectKey = len(containers) > 0 && containers[len(containers)-1] == '{'
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case expectKey && (c == '-' || (c >= '0' && c <= '9')):
			end := i + 1
			for end < len(text) && text[end] >= '0' && text[end] <= '9' {
				end++
			}
			out = append(out, '"')
			out = append(out, text[i:end]...)
			out = append(out, '"')
			i = end - 1
			expectKey = false
			continue
		default:
			expectKey = false
		}
		out = append(out, c)
	}
	return out, true
}

// SkipJSONString returns the index just past the JSON string whose opening
// quote is at start, and false when the string is not terminated. The
// scanners of Java's fastjson output (here and in cometctl's admin bodies)
// share it.
func SkipJSONString(text []byte, start int) (int, bool) {
	for i := start + 1; i < len(text); i++ {
		switch text[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}
