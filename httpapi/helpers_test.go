package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
	"github.com/cometmq/comet/netio/remoting"
)

// apiEnv is a running cluster with the API in front of it.
type apiEnv struct {
	t   testing.TB
	cl  *cluster.Cluster
	api *API
	srv *httptest.Server
}

func newAPIEnv(t testing.TB, mutate func(*Options)) *apiEnv {
	t.Helper()
	cl := cluster.StartTest(t, nil)
	opts := Options{Namesrv: []string{cl.NamesrvAddr}, Timeout: 3 * time.Second}
	if mutate != nil {
		mutate(&opts)
	}
	api, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { srv.Close(); api.Close() })
	e := &apiEnv{t: t, cl: cl, api: api, srv: srv}
	testutil.WaitFor(t, 10*time.Second, "the broker in the cluster listing", func() bool {
		rows, err := api.admin.Cluster()
		return err == nil && len(rows) == 1
	})
	return e
}

// call sends a request (body marshalled as JSON unless it is a string,
// sent as is) and decodes the answer into out; it returns the status.
func (e *apiEnv) call(method, path string, body any, out any) int {
	e.t.Helper()
	status, data, _ := e.raw(method, path, body, "application/json", nil)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: answer %q: %v", method, path, data, err)
		}
	}
	return status
}

func (e *apiEnv) raw(method, path string, body any, contentType string, header http.Header) (int, []byte, http.Header) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+Prefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

// mustProblem asserts a problem answer with status want.
func (e *apiEnv) mustProblem(want int, method, path string, body any, contentType string) Problem {
	e.t.Helper()
	status, data, h := e.raw(method, path, body, contentType, nil)
	var p Problem
	if status != want || h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(data, &p) != nil ||
		p.Status != want || p.Detail == "" {
		e.t.Fatalf("%s %s: status %d %s %q, want a %d problem", method, path, status, h.Get("Content-Type"), data, want)
	}
	return p
}

// sendBackToDLQ asks the broker to move m to group's dead-letter topic, as
// a consumer that gives up on it does (CONSUMER_SEND_MSG_BACK, delay -1).
func sendBackToDLQ(t testing.TB, e *apiEnv, group string, m admin.Message) {
	t.Helper()
	cmd := remoting.NewRequest(remoting.RequestConsumerSendMsgBack)
	cmd.Ext.Set("group", group)
	cmd.Ext.Set("offset", strconv.FormatInt(m.CommitLogOffset, 10))
	cmd.Ext.Set("delayLevel", "-1")
	cmd.Ext.Set("originMsgId", m.MsgID)
	cmd.Ext.Set("originTopic", m.Topic)
	cmd.Ext.Set("maxReconsumeTimes", "16")
	resp, err := e.api.admin.Invoke(e.cl.BrokerAddr, cmd)
	if err != nil {
		t.Fatalf("send back: %v (%+v)", err, resp)
	}
}
