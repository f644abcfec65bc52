package sqlfilter

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// probe is one record of testdata/sqlfilter_probes.json: an expression,
// string properties and the outcome RocketMQ's own evaluator produced.
type probe struct {
	ID         string            `json:"id"`
	Expr       string            `json:"expr"`
	Props      map[string]string `json:"props"`
	JavaResult string            `json:"java_result"`
	Note       string            `json:"note"`
}

// strictDeviations are the probes where RocketMQ ignores tokens after a
// complete expression and this package rejects them (see the package doc).
var strictDeviations = map[string]bool{
	"p057": true, // a like 'x%'           -> Java parses the bare property a
	"p058": true, // a > 1 + 2             -> Java parses a > 1
	"p070": true, // a = 'x' garbage here  -> Java parses a = 'x'
}

func loadProbes(t testing.TB) []probe {
	t.Helper()
	data, err := os.ReadFile("testdata/sqlfilter_probes.json")
	if err != nil {
		t.Fatal(err)
	}
	var probes []probe
	if err := json.Unmarshal(data, &probes); err != nil {
		t.Fatal(err)
	}
	return probes
}

func TestProbes(t *testing.T) {
	probes := loadProbes(t)
	if len(probes) != 71 {
		t.Fatalf("loaded %d probes, want 71", len(probes))
	}
	for _, p := range probes {
		t.Run(p.ID, func(t *testing.T) {
			want := p.JavaResult
			if strictDeviations[p.ID] {
				if want == "PARSE_ERROR" {
					t.Fatalf("probe %s is listed as a deviation but Java rejects it too", p.ID)
				}
				want = "PARSE_ERROR"
			}
			got := outcome(p.Expr, p.Props)
			if got != want {
				t.Fatalf("%q with %v: got %s, want %s (%s)", p.Expr, p.Props, got, want, p.Note)
			}
		})
	}
}

// outcome compiles expr and evaluates it both through Evaluate and over
// the raw property encoding, and names the result as the probes do.
func outcome(expr string, props map[string]string) string {
	e, err := Compile(expr)
	if err != nil {
		if !errors.Is(err, ErrParse) {
			return "UNEXPECTED_ERROR_CLASS"
		}
		return "PARSE_ERROR"
	}
	r := e.Evaluate(mapGetter(props))
	if raw := e.EvaluateProperties(encodeProps(props)); raw != r {
		return "RAW_DISAGREES:" + raw.String() + "/" + r.String()
	}
	if r == Error {
		return "EVAL_ERROR"
	}
	return r.String()
}

func mapGetter(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// encodeProps builds the raw property encoding with a decoy property
// first so look-ups never just find the first item.
func encodeProps(m map[string]string) []byte {
	raw := []byte("UNIQ_KEY\x01AC1100010000\x02")
	for k, v := range m {
		raw = append(raw, k...)
		raw = append(raw, 0x01)
		raw = append(raw, v...)
		raw = append(raw, 0x02)
	}
	return raw
}
