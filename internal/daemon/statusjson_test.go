package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/ops"
)

func TestLowerCamel(t *testing.T) {
	for in, want := range map[string]string{"CutReason": "cutReason", "ID": "id", "HAAddr": "haAddr", "Name": "name",
		"data-dir": "dataDir", "log-rate-limit": "logRateLimit", "lagBytes": "lagBytes", "LagSeconds": "lagSeconds",
		"PID": "pid", "listen": "listen"} {
		if got := lowerCamel(in); got != want {
			t.Errorf("lowerCamel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusJSONOneStyle(t *testing.T) {
	type inner struct {
		Name     string
		Duration time.Duration
	}
	v := struct {
		Items  []inner        `json:"items"`
		Writer map[string]any `json:"writer"`
	}{Items: []inner{{"a", 1500 * time.Millisecond}}, Writer: map[string]any{"avgSyncMicros": 250.0}}
	got, err := statusJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := json.Marshal(got)
	if want := `{"items":[{"durationSeconds":1.5,"name":"a"}],"writer":{"avgSyncSeconds":0.00025}}`; string(text) != want {
		t.Errorf("got %s\nwant %s", text, want)
	}
}

// TestStatusPageSpeaksOneStyle starts a broker process and checks that
// every key of /status is lowerCamel and durations are seconds.
func TestStatusPageSpeaksOneStyle(t *testing.T) {
	cfg, err := loadConfig("broker", []string{"-data-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-namesrv-listen", "127.0.0.1:0",
		"-http-listen", "127.0.0.1:0", "-ha-listen", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logging, err := ops.NewLogging(io.Discard, "text", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{mode: "broker", cfg: cfg, logging: logging, log: logging.Logger, notifier: ops.NewNotifier()}
	p.current.Store(cfg)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	defer p.shutdown()
	resp, err := http.Get("http://" + p.http.Addr() + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, val := range v {
				if !camel.MatchString(k) || strings.HasSuffix(k, "Micros") || strings.HasSuffix(k, "Nanos") || strings.HasSuffix(k, "Millis") {
					t.Errorf("%s.%s: not lowerCamel, or a duration not in seconds", path, k)
				}
				walk(path+"."+k, val)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		}
	}
	walk("", page)
	broker, _ := page["broker"].(map[string]any)
	recovery, _ := broker["recovery"].(map[string]any)
	if d, ok := recovery["durationSeconds"].(float64); !ok || d <= 0 || d > 60 {
		t.Errorf("broker.recovery.durationSeconds = %v", recovery["durationSeconds"])
	}
	config, _ := page["config"].(map[string]any)
	if config["shutdownTimeout"] != 30.0 || config["autoCreateTopic"] != true || config["dataDir"] != cfg.DataDir {
		t.Errorf("config: shutdownTimeout %v, autoCreateTopic %v, dataDir %v", config["shutdownTimeout"], config["autoCreateTopic"], config["dataDir"])
	}
}

// TestUnreachableNameServersMeanNotReady: a broker none of whose name
// servers answers is not ready, says why, shows it in /status and counts
// the failures.
func TestUnreachableNameServersMeanNotReady(t *testing.T) {
	cfg, err := loadConfig("broker", []string{"-data-dir", t.TempDir(), "-listen", "127.0.0.1:0", "-namesrv-listen", "",
		"-namesrv", "127.0.0.1:1", "-http-listen", "127.0.0.1:0", "-ha-listen", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logging, err := ops.NewLogging(io.Discard, "text", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{mode: "broker", cfg: cfg, logging: logging, log: logging.Logger, notifier: ops.NewNotifier()}
	p.current.Store(cfg)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	defer p.shutdown()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + p.http.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not registered with any name server") ||
		!strings.Contains(body, "127.0.0.1:1") {
		t.Errorf("/readyz: %d %q", code, body)
	}
	_, status := get("/status")
	var page struct {
		Registration []struct {
			Namesrv    string `json:"namesrv"`
			Registered bool   `json:"registered"`
			LastError  string `json:"lastError"`
			Failures   int64  `json:"failures"`
		} `json:"registration"`
	}
	if err := json.Unmarshal([]byte(status), &page); err != nil || len(page.Registration) != 1 ||
		page.Registration[0].Registered || page.Registration[0].LastError == "" || page.Registration[0].Failures < 1 {
		t.Errorf("/status registration: %+v (%v)", page.Registration, err)
	}
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `comet_namesrv_registered{namesrv="127.0.0.1:1"} 0`) ||
		!strings.Contains(metrics, `comet_namesrv_registration_failures_total{namesrv="127.0.0.1:1"}`) {
		t.Errorf("/metrics lacks the registration families")
	}
}
