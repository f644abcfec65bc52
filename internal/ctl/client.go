package ctl

import (
	"fmt"
	"io"
	"time"

	"github.com/cometmq/comet/internal/admin"
	"github.com/cometmq/comet/netio/remoting"
)

// env is one run's connection state and output settings. The operations
// themselves are internal/admin's, shared with the HTTP API; ctl only
// parses arguments and prints.
type env struct {
	stdout, stderr io.Writer
	namesrv        string
	broker         string
	json           bool
	timeout        time.Duration
	client         *admin.Client
	emitted        bool // the command printed its result
	security       security
}

func (e *env) close() {
	if e.client != nil {
		e.client.Close()
	}
}

// admin is the run's operations client, made on first use from the flags.
func (e *env) admin() *admin.Client {
	if e.client == nil {
		e.client = admin.New(admin.Options{Namesrv: admin.SplitAddrs(e.namesrv), Broker: e.broker, Timeout: e.timeout,
			Notice: func(msg string) { fmt.Fprintln(e.stderr, "cometctl:", msg) },
			Client: e.security.clientOptions(remoting.ClientOptions{})})
	}
	return e.client
}

// Row types of the JSON output (part of cometctl's interface).
type (
	clusterRow     = admin.ClusterRow
	topicRow       = admin.TopicRow
	resultRow      = admin.ResultRow
	queueStatusRow = admin.QueueStatus
	groupRow       = admin.GroupRow
	progressReport = admin.Progress
	resetRow       = admin.ResetRow
	messageOut     = admin.Message
)

// worst keeps the error with the most telling exit code of several.
func worst(errs []error) error {
	var pick error
	for _, err := range errs {
		if err != nil && (pick == nil || exitCode(err) < exitCode(pick)) {
			pick = err
		}
	}
	return pick
}
