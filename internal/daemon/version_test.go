package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cometmq/comet/internal/ops"
	"github.com/cometmq/comet/internal/version"
)

func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"version", "-version", "--version"} {
		var stdout, stderr bytes.Buffer
		if code := Run([]string{arg}, &stdout, &stderr); code != ExitOK {
			t.Fatalf("%s: exit %d: %s", arg, code, stderr.String())
		}
		if want := "comet " + version.Get().String() + "\n"; stdout.String() != want {
			t.Errorf("%s printed %q, want %q", arg, stdout.String(), want)
		}
	}
}

// TestStatusAndMetricsCarryTheVersion: /status names the build and
// /metrics has comet_build_info.
func TestStatusAndMetricsCarryTheVersion(t *testing.T) {
	cfg, err := loadConfig("broker", []string{"-http-listen", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logging, err := ops.NewLogging(io.Discard, "text", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{mode: "broker", cfg: cfg, logging: logging, log: logging.Logger}
	p.current.Store(cfg)
	if err := p.startHTTP(); err != nil {
		t.Fatal(err)
	}
	defer p.http.Shutdown(context.Background())
	get := func(path string) string {
		resp, err := http.Get("http://" + p.http.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	var st struct {
		Version version.Info `json:"version"`
	}
	if err := json.Unmarshal([]byte(get("/status")), &st); err != nil || st.Version != version.Get() {
		t.Errorf("/status version %+v (%v), want %+v", st.Version, err, version.Get())
	}
	want := `comet_build_info{goversion="` + version.Get().GoVersion + `",revision="` + version.Get().Revision +
		`",version="` + version.Get().Version + `"} 1`
	if metrics := get("/metrics"); !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
