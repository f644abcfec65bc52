package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/cometmq/comet/client"
	"github.com/cometmq/comet/internal/admin"
)

// Problem is an RFC 9457 problem detail, the body of every error answer
// (Content-Type application/problem+json). Part of the format: do not
// change.
//
//	{"type": "about:blank",           always: the status says what kind
//	 "title": "Not Found",            the status text
//	 "status": 404,
//	 "detail": "topic Orders ...",    what went wrong, for a person
//	 "instance": "/api/v1/topics/X"}  the request path
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// statusOf maps an error class to its HTTP status: one table for the
// whole API.
func statusOf(err error) int {
	var brokerErr *client.BrokerError
	switch {
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrBadRequest), errors.Is(err, admin.ErrInvalid), errors.Is(err, client.ErrInvalidMessage),
		errors.Is(err, client.ErrInvalidOption):
		return http.StatusBadRequest
	case errors.Is(err, admin.ErrNotFound), errors.Is(err, client.ErrNoRoute):
		return http.StatusNotFound
	case errors.Is(err, ErrBusy), errors.Is(err, client.ErrBrokerBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, client.ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, admin.ErrUnreachable), errors.Is(err, admin.ErrBroker), errors.Is(err, client.ErrConnection),
		errors.Is(err, client.ErrProtocol), errors.As(err, &brokerErr):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// fail answers err as a problem; client mistakes are logged at most as the
// limiter allows, server-side failures always.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 || a.opts.LogLimiter("httpapi:"+r.Pattern) {
		a.opts.Logger.Warn("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	a.problem(w, r, status, err.Error())
}

func (a *API) problem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	writeProblemBody(w, Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail,
		Instance: r.URL.Path})
}

func writeProblemBody(w http.ResponseWriter, p Problem) {
	body, _ := json.Marshal(p)
	w.Write(append(body, '\n'))
}
