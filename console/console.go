// Package console is Comet's web console: a few static pages and ES
// modules, embedded in the binary and served under /ui/, that call the
// HTTP API (/api/v1) from the browser. Nothing is fetched from elsewhere:
// the charting library is vendored (web/vendor, by vendor.sh from npm) and
// embedded with the rest, so the console works offline.
//
// It owns the files and how they are served (content types, caching, a
// strict Content-Security-Policy that allows only this origin). It never
// talks to a broker itself and never renders data on the server: every
// number it shows comes from the API, so the console can do nothing the API
// does not allow.
package console

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed web
var files embed.FS

// Prefix is where the console is served.
const Prefix = "/ui/"

// contentSecurityPolicy keeps the pages to their own origin: no inline
// script, no third-party resource, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the console under Prefix.
func Handler() http.Handler {
	web, err := fs.Sub(files, "web")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	static := http.StripPrefix(Prefix, http.FileServerFS(web))
	zipped := &gzipCache{fsys: web}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, Prefix+"vendor/") {
			h.Set("Cache-Control", "public, max-age=86400")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		if zipped.serve(w, r) {
			return
		}
		static.ServeHTTP(w, r)
	})
}

// gzipCache answers text files gzip-compressed to clients that accept it,
// compressing each file once: the files are embedded and never change.
type gzipCache struct {
	fsys fs.FS
	mu   struct {
		sync.Mutex
		files map[string][]byte
	}
}

func (c *gzipCache) serve(w http.ResponseWriter, r *http.Request) bool {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = "index.html"
	}
	ext := path.Ext(name)
	if (ext != ".js" && ext != ".css" && ext != ".html") || !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		return false
	}
	body, ok := c.get(name)
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", mime.TypeByExtension(ext))
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	http.ServeContent(w, r, name, startTime, bytes.NewReader(body))
	return true
}

func (c *gzipCache) get(name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if body, ok := c.mu.files[name]; ok {
		return body, true
	}
	raw, err := fs.ReadFile(c.fsys, name)
	if err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	if c.mu.files == nil {
		c.mu.files = map[string][]byte{}
	}
	c.mu.files[name] = buf.Bytes()
	return buf.Bytes(), true
}

// startTime stands for the files' modification time: they change only
// with the binary.
var startTime = time.Now()
