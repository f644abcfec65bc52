package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cometmq/comet/client"
	"github.com/cometmq/comet/internal/admin"
)

// Error classes of the package's own errors.
var (
	// ErrUnauthenticated is what an Authorizer wraps to ask for credentials.
	ErrUnauthenticated = errors.New("httpapi: unauthenticated")
	// ErrBadRequest classes malformed requests (bad JSON, bad parameters).
	ErrBadRequest = errors.New("httpapi: bad request")
	// ErrBusy classes requests refused because a bounded resource is full.
	ErrBusy = errors.New("httpapi: busy")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// Options configure the API.
type Options struct {
	// Namesrv lists the name servers of the cluster the API serves.
	Namesrv []string
	// Timeout bounds each request to a name server or broker (default 5 s).
	Timeout time.Duration
	// MaxBodyBytes bounds a request body (default 8 MiB, or three times
	// MaxMessageBytes when that is more: room for one base64 message); a
	// larger one is answered 413 and nothing is stored.
	MaxBodyBytes int64
	// MaxMessageBytes bounds one message body (default 4 MiB, the
	// broker's default).
	MaxMessageBytes int
	// MaxFetches bounds the consumer fetches that wait at once (default
	// 64); more are answered 503.
	MaxFetches int
	// ProducerGroup names the producer group of HTTP sends (default
	// COMET_HTTP_PRODUCER).
	ProducerGroup string
	// Authorizer decides each request; nil admits every request.
	Authorizer Authorizer
	Logger     *slog.Logger
	// LogLimiter, when set, is asked before each warning about a refused
	// request (true: log it), so bad clients cannot flood the log.
	LogLimiter func(key string) bool
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = client.MaxBodySize
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = max(8<<20, 3*int64(o.MaxMessageBytes))
	}
	if o.MaxFetches <= 0 {
		o.MaxFetches = 64
	}
	if o.ProducerGroup == "" {
		o.ProducerGroup = "COMET_HTTP_PRODUCER"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LogLimiter == nil {
		o.LogLimiter = func(string) bool { return true }
	}
}

// API serves /api/v1. Make one with New and close it when done.
type API struct {
	opts     Options
	admin    *admin.Client
	sdk      *client.Client
	producer *client.Producer
	fetch    *fetcher
	routes   *routeCache
	mux      *http.ServeMux
	handler  http.Handler

	closeOnce sync.Once
}

// New makes the API. It connects lazily: a cluster that is not up yet
// makes requests fail (502), not New.
func New(opts Options) (*API, error) {
	opts.defaults()
	if len(opts.Namesrv) == 0 {
		return nil, errors.New("httpapi: no name server")
	}
	sdk, err := client.New(client.WithNameServers(opts.Namesrv...), client.WithRequestTimeout(opts.Timeout),
		client.WithLogger(opts.Logger), client.WithInstanceName("comet-http"))
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	producer, err := sdk.NewProducer(opts.ProducerGroup, client.WithSendTimeout(opts.Timeout))
	if err != nil {
		sdk.Close()
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	a := &API{opts: opts, sdk: sdk, producer: producer,
		admin: admin.New(admin.Options{Namesrv: opts.Namesrv, Timeout: opts.Timeout})}
	a.routes = newRouteCache(a.admin, 5*time.Second)
	a.fetch = newFetcher(a.admin, a.routes, opts.MaxFetches)
	a.mux = http.NewServeMux()
	for _, rt := range a.table() {
		a.mux.Handle(rt.method+" "+Prefix+rt.path, a.wrap(rt))
	}
	a.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, http.StatusForbidden, "cross-origin request refused: state-changing calls must come from the same origin")
	}))
	a.handler = cop.Handler(a.mux)
	return a, nil
}

// Prefix is where the API is served.
const Prefix = "/api/v1"

// Handler serves every path under Prefix.
func (a *API) Handler() http.Handler { return a.handler }

// Close releases the connections.
func (a *API) Close() error {
	a.closeOnce.Do(func() {
		a.producer.Close()
		a.sdk.Close()
		a.admin.Close()
	})
	return nil
}

// route is one endpoint: what it needs and what serves it.
type route struct {
	method, path string
	id           string // operationId in openapi.json
	access       Access
	serve        func(w http.ResponseWriter, r *http.Request) error
}

// wrap applies the Authorizer and the body limit and turns the handler's
// error into a problem answer.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := Operation{Access: rt.access, Name: rt.id, Topic: r.PathValue("topic"), Group: r.PathValue("group")}
		if a.opts.Authorizer != nil {
			if err := a.opts.Authorizer.Authorize(r, op); err != nil {
				a.authProblem(w, r, err)
				return
			}
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
		}
		if err := rt.serve(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

func (a *API) authProblem(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Basic realm="comet", charset="UTF-8"`)
		a.problem(w, r, http.StatusUnauthorized, err.Error())
		return
	}
	a.problem(w, r, http.StatusForbidden, err.Error())
}

// readJSON decodes a JSON request body into v: the content type must be
// JSON, the body one value with no unknown fields.
func readJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return fmt.Errorf("%w: want Content-Type application/json", errUnsupportedMedia)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("%w: body over %d bytes", errTooLarge, tooBig.Limit)
		}
		return badRequest("body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("body: one JSON value expected")
	}
	return nil
}

var (
	errUnsupportedMedia = errors.New("httpapi: unsupported media type")
	errTooLarge         = errors.New("httpapi: request too large")
)

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// requestContext bounds a handler's work by the request and a limit.
func requestContext(r *http.Request, limit time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), limit)
}
