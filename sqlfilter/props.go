package sqlfilter

import (
	"strings"
	"unsafe"
)

// The property encoding is the one RocketMQ stores and sends:
//
//	name 0x01 value 0x02 name 0x01 value 0x02 ... (trailing 0x02 optional)
//
// Items are separated by 0x02, an item's name ends at its first 0x01, items
// without 0x01 are ignored and the last item with a name wins, as in the
// broker's property parser. Names in expressions never contain 0x01 or
// 0x02, so an item belongs to a name exactly when it starts with the
// name's item key, name + 0x01.

// LookupProperty returns the value of property name in raw without
// copying or allocating. The returned string aliases raw: it must not be
// kept beyond the life of raw's contents.
func LookupProperty(raw []byte, name string) (string, bool) {
	if name == "" {
		return "", false
	}
	start, end := findItem(raw, name, len(name))
	if start < 0 {
		return "", false
	}
	return rawString(raw[start:end]), true
}

// lookupRaw is LookupProperty with the name's item key (name + 0x01)
// precomputed.
func lookupRaw(raw []byte, key []byte) (string, bool) {
	start, end := findRaw(raw, key)
	if start < 0 {
		return "", false
	}
	return rawString(raw[start:end]), true
}

// findRaw returns the bounds of the value for key (name + 0x01) in raw,
// or start = -1.
func findRaw(raw []byte, key []byte) (start, end int) {
	return findItem(raw, rawString(key), len(key)-1)
}

// findItem searches raw for pattern, which starts with a property name of
// nameLen bytes, and keeps the last hit that is a whole item name: at the
// start of raw or after 0x02, and followed by 0x01. Searching for the
// name rather than the separator skips most items: a name's first letter
// is usually rarer than 0x02.
func findItem(raw []byte, pattern string, nameLen int) (start, end int) {
	s := rawString(raw)
	start = -1
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], pattern)
		if i < 0 {
			break
		}
		at := from + i
		if (at == 0 || s[at-1] == 0x02) && at+nameLen < len(s) && s[at+nameLen] == 0x01 {
			start = at + nameLen + 1
		}
		from = at + 1
	}
	if start < 0 {
		return -1, 0
	}
	end = strings.IndexByte(s[start:], 0x02)
	if end < 0 {
		return start, len(s)
	}
	return start, start + end
}

// rawString views b as a string without copying; the caller must not let
// it outlive b's contents.
func rawString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
