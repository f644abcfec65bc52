package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/netio/remoting"
)

func TestNoArgumentsIsAUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run(nil, &out, &errOut); code != ExitUsage || out.Len() != 0 || !strings.Contains(errOut.String(), "usage: cometctl") {
		t.Fatalf("no arguments: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := Run([]string{"help"}, &out, &errOut); code != ExitOK || !strings.Contains(out.String(), "cluster list") {
		t.Fatalf("help: exit %d, stdout %q", code, out.String())
	}
}

// TestCommonFlagsBeforeTheCommand: "cometctl -namesrv X cluster list"
// works like the flags after it; a command's own flag first is refused.
func TestCommonFlagsBeforeTheCommand(t *testing.T) {
	f := newFixture(t)
	var out, errOut bytes.Buffer
	code := Run([]string{"-namesrv", f.env.NamesrvAddr, "-json", "--timeout=3s", "cluster", "list"}, &out, &errOut)
	var rows []clusterRow
	if code != ExitOK || json.Unmarshal(out.Bytes(), &rows) != nil || len(rows) != 1 {
		t.Fatalf("flags first: exit %d\nstdout %s\nstderr %s", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := Run([]string{"-queues", "3", "topic", "create", "T"}, &out, &errOut); code != ExitUsage ||
		!strings.Contains(errOut.String(), "-queues before the command") {
		t.Fatalf("a command flag first: exit %d, %q", code, errOut.String())
	}
	if code := Run([]string{"-namesrv"}, &out, &errOut); code != ExitUsage {
		t.Fatalf("a flag without its value: exit %d", code)
	}
}

// TestErrorsPrintedOnce: without -json an error is one stderr line; with
// -json it is one JSON object on stdout and stderr stays empty.
func TestErrorsPrintedOnce(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run([]string{"topic", "list", "-namesrv", "127.0.0.1:1", "-timeout", "1s"}, &out, &errOut)
	if code != ExitUnreachable || strings.Count(errOut.String(), "\n") != 1 || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	code = Run([]string{"topic", "list", "-namesrv", "127.0.0.1:1", "-timeout", "1s", "-json"}, &out, &errOut)
	var e errorOut
	if code != ExitUnreachable || errOut.Len() != 0 || json.Unmarshal(out.Bytes(), &e) != nil ||
		e.ExitCode != ExitUnreachable || !strings.Contains(e.Error, "127.0.0.1:1") {
		t.Fatalf("-json: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

func TestClusterListNumbersAreNumbers(t *testing.T) {
	f := newFixture(t)
	f.send("Counted", 0, "one", "k", "t")
	var rows []map[string]any
	f.okJSON(&rows, "cluster", "list")
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	if put, ok := rows[0]["putMessages"].(float64); !ok || put < 1 {
		t.Errorf("putMessages = %#v, want a number >= 1", rows[0]["putMessages"])
	}
	if up, ok := rows[0]["uptimeSeconds"].(float64); !ok || up < 0 || up > 3600 {
		t.Errorf("uptimeSeconds = %#v, want seconds", rows[0]["uptimeSeconds"])
	}
	if _, ok := rows[0]["runtime"]; ok {
		t.Error("the Java runtime string is still there")
	}
}

// TestBrokerConfigRealValues: the segment size is the broker's own.
func TestBrokerConfigRealValues(t *testing.T) {
	f := newFixture(t)
	var cfg map[string]map[string]string
	f.okJSON(&cfg, "broker", "config")
	if got := cfg[f.env.BrokerAddr]["mapedFileSizeCommitLog"]; got != fmt.Sprint(64<<20) {
		t.Errorf("mapedFileSizeCommitLog = %q, want the cluster's 64 MiB", got)
	}
}

// TestTopicCreateDefaultsAndReservedNames: without -queues a topic gets
// the auto-create queue count; reserved names need -force.
func TestTopicCreateDefaultsAndReservedNames(t *testing.T) {
	f := newFixture(t)
	f.ok("topic", "create", "Plain")
	var rows []topicRow
	f.okJSON(&rows, "topic", "list")
	if !hasTopic(rows, "Plain", 4, 6) {
		t.Fatalf("topic create without -queues: %+v", rows)
	}
	for _, name := range []string{"%RETRY%orders", "%DLQ%orders", "TBW102", "broker-a", "DefaultCluster"} {
		errOut := f.wantCode(ExitUsage, "topic", "create", name)
		if !strings.Contains(errOut, "-force") {
			t.Errorf("create %s: %q does not mention -force", name, errOut)
		}
	}
	f.wantCode(ExitUsage, "topic", "delete", "%DLQ%orders")
	f.ok("topic", "create", "%DLQ%orders", "-queues", "1", "-force")
	f.ok("topic", "delete", "%DLQ%orders", "-force")
}

// sendUnique stores a message carrying a client MSG_ID (UNIQ_KEY).
func (f *fixture) sendUnique(topic, body, uniq string) {
	f.t.Helper()
	props := remoting.AppendProperties(nil, map[string]string{"UNIQ_KEY": uniq})
	h := remoting.SendHeader{ProducerGroup: "pg", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		BornTimestamp: time.Now().UnixMilli(), Properties: string(props)}
	cmd := remoting.NewRequest(remoting.RequestSendMessage)
	h.Apply(cmd)
	cmd.Body = []byte(body)
	if resp := f.invoke(cmd); resp.Code != remoting.ResponseSuccess {
		f.t.Fatalf("send: %s %s", remoting.ResponseName(resp.Code), resp.Remark)
	}
}

// TestMessageViewByMsgIDWithoutTopic: the MSG_ID message print shows is
// enough for message view.
func TestMessageViewByMsgIDWithoutTopic(t *testing.T) {
	f := newFixture(t)
	const uniq = "7F00000100002A9F0000000000000042"
	f.send("Other", 0, "noise", "k", "t")
	f.sendUnique("Invoices", "invoice 42", uniq)
	var listed []messageOut
	f.okJSON(&listed, "message", "print", "-topic", "Invoices", "-queue", "0", "-broker-name", "broker-a")
	var m messageOut
	f.okJSON(&m, "message", "view", uniq)
	if m.Topic != "Invoices" || m.Body != "invoice 42" || m.MsgID != uniq {
		t.Fatalf("view by MSG_ID: %+v", m)
	}
	f.wantCode(ExitNotFound, "message", "view", "7F00000100002A9F00000000000000FF")
	if errOut := f.wantCode(ExitUsage, "message", "view", "not-an-id"); !strings.Contains(errOut, "32 hex digits") {
		t.Errorf("a malformed id: %q", errOut)
	}
}
