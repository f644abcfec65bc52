package daemon

import (
	"net/http"

	"github.com/cometmq/comet/httpapi"
)

// startAPI makes the HTTP API once the name servers are known: the
// embedded one first, then those configured. Until then (and without any
// name server) /api/v1 answers 503.
func (p *process) startAPI() {
	if p.http == nil || !p.cfg.HTTPAPI {
		return
	}
	var addrs []string
	if ns := p.namesrv.Load(); ns != nil {
		addrs = append(addrs, ns.Addr())
	}
	addrs = append(addrs, p.cfg.NamesrvAddrs()...)
	if len(addrs) == 0 {
		p.log.Warn("comet: no name server known: the HTTP API stays off")
		return
	}
	api, err := httpapi.New(httpapi.Options{Namesrv: addrs, MaxMessageBytes: p.cfg.MaxMessageSize, Logger: p.log})
	if err != nil {
		p.log.Error("comet: HTTP API", "err", err)
		return
	}
	if p.cfg.HTTPOffLoopback() {
		p.log.Warn("comet: the HTTP API and console change the cluster and show message bodies; they listen beyond loopback without accounts",
			"http", p.cfg.HTTPListen)
	}
	p.api.Store(api)
}

// serveAPI hands a request to the API, or answers 503 before it exists.
func (p *process) serveAPI(w http.ResponseWriter, r *http.Request) {
	if api := p.api.Load(); api != nil {
		api.Handler().ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the HTTP API is not serving (starting, or no name server known)"}` + "\n"))
}
