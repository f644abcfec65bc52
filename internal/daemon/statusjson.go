package daemon

import (
	"encoding/json"
	"strings"
	"unicode"
)

// The /status page speaks one style: lowerCamel keys and durations in
// seconds. Its parts come from packages that name their fields for Go
// (ringbuf.Stats, persist.RecoveryReport, ha.MemberStatus carry no JSON
// tags) or in other units; statusJSON rewrites them on the way out instead
// of teaching each package about the page.

// durationKeys are keys whose numbers are durations in another unit, with
// the factor to seconds and the key they become.
var durationKeys = map[string]struct {
	key    string
	factor float64
}{
	"Duration":      {"durationSeconds", 1e-9}, // time.Duration fields (nanoseconds)
	"avgSyncMicros": {"avgSyncSeconds", 1e-6},
}

// statusJSON returns v as JSON-shaped values with every key in lowerCamel
// and every known duration in seconds.
func statusJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, err
	}
	return normalize(tree), nil
}

func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			if d, ok := durationKeys[k]; ok {
				if n, isNum := val.(float64); isNum {
					out[d.key] = n * d.factor
					continue
				}
			}
			out[lowerCamel(k)] = normalize(val)
		}
		return out
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
		return v
	}
	return v
}

// lowerCamel turns "CutReason", "ID", "HAAddr" and "data-dir" into
// "cutReason", "id", "haAddr" and "dataDir".
func lowerCamel(k string) string {
	if strings.Contains(k, "-") {
		parts := strings.Split(k, "-")
		for i := 1; i < len(parts); i++ {
			if parts[i] != "" {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
		}
		return strings.Join(parts, "")
	}
	r := []rune(k)
	// Lower the leading run of capitals, keeping the last one of a run
	// that a lower-case letter follows (HAAddr: "ha" + "Addr").
	n := 0
	for n < len(r) && unicode.IsUpper(r[n]) {
		n++
	}
	if n > 1 && n < len(r) {
		n--
	}
	for i := range n {
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}
