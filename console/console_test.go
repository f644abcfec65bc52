package console

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesFilesWithPolicyAndGzip(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	tr := &http.Transport{DisableCompression: true}
	get := func(path, enc string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rd io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			rd = zr
		}
		body, _ := io.ReadAll(rd)
		return resp, string(body)
	}
	resp, body := get("/ui/", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script type="module" src="js/app.js">`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("index: %d %v", resp.StatusCode, resp.Header)
	}
	plain, plainBody := get("/ui/vendor/uPlot.esm.js", "")
	zipped, zippedBody := get("/ui/vendor/uPlot.esm.js", "gzip, br")
	if plain.Header.Get("Content-Encoding") != "" || zipped.Header.Get("Content-Encoding") != "gzip" ||
		plainBody != zippedBody || zipped.ContentLength >= plain.ContentLength/2 ||
		!strings.HasPrefix(zipped.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("gzip: plain %d bytes %v, zipped %d bytes %v", plain.ContentLength, plain.Header, zipped.ContentLength, zipped.Header)
	}
	if resp, _ := get("/ui/nothing.js", "gzip"); resp.StatusCode != 404 {
		t.Fatalf("missing file: %d", resp.StatusCode)
	}
}
