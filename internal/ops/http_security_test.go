package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/internal/testutil"
)

// TestHTTPSAdminOnly: over HTTPS, /status and /debug/pprof/ need what
// Admin accepts; /metrics, /healthz and /readyz stay open.
func TestHTTPSAdminOnly(t *testing.T) {
	files := testutil.NewTLSFiles(t, t.TempDir())
	admin := func(r *http.Request) error {
		if user, pass, ok := r.BasicAuth(); ok && user == "adminAK" && pass == "adminSK" {
			return nil
		}
		return errors.New("acl: not authenticated: want an admin account")
	}
	srv, err := StartHTTP(HTTPOptions{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Pprof: true,
		Status: func() any { return map[string]int{"answer": 42} }, TLS: files.ServerConfig(t, false), Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: files.ClientConfig(t, false)}}
	get := func(path, user, pass string) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+srv.Addr()+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/metrics", "/healthz"} {
		if code, _ := get(path, "", ""); code != 200 {
			t.Errorf("%s without credentials: %d", path, code)
		}
	}
	for _, path := range []string{"/status", "/debug/pprof/"} {
		if code, body := get(path, "", ""); code != 401 || !strings.Contains(body, "want an admin account") {
			t.Errorf("%s without credentials: %d %q", path, code, body)
		}
		if code, _ := get(path, "adminAK", "wrong"); code != 401 {
			t.Errorf("%s with a wrong secret: %d", path, code)
		}
		if code, _ := get(path, "adminAK", "adminSK"); code != 200 {
			t.Errorf("%s as admin: %d", path, code)
		}
	}
	// Go's server answers a plain request on a TLS port with 400.
	if resp, err := http.Get("http://" + srv.Addr() + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served on the HTTPS port")
		}
	}
}
