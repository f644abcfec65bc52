package daemon

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	var unhealthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if unhealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if code := Main([]string{"healthcheck", srv.URL}, io.Discard); code != ExitOK {
		t.Fatalf("healthy: exit %d", code)
	}
	unhealthy.Store(true)
	if code := Main([]string{"healthcheck", srv.URL}, io.Discard); code != ExitFailure {
		t.Fatalf("unhealthy: exit %d", code)
	}
	srv.Close()
	if code := Main([]string{"healthcheck", srv.URL}, io.Discard); code != ExitFailure {
		t.Fatalf("unreachable: exit %d", code)
	}
}
