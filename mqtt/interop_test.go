package mqtt

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Clients nobody here wrote, driven as child processes: Debian's
// mosquitto-clients (both protocol levels) and MQTT.js (MQTT 5 over
// WebSocket). .ci/run installs them; without them the tests skip, saying
// what is missing.

func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (%s)", name, install)
	}
	return p
}

// TestMosquittoClients: mosquitto_sub receives what mosquitto_pub sends,
// over MQTT 3.1.1 and 5.0, QoS 0 to 2; MQTT 5 user properties arrive.
func TestMosquittoClients(t *testing.T) {
	pub := needTool(t, "mosquitto_pub", "apt-get install mosquitto-clients")
	sub := needTool(t, "mosquitto_sub", "apt-get install mosquitto-clients")
	tg := startGateway(t, "", Options{}, nil)
	host, port, _ := strings.Cut(tg.gw.Addr(), ":")
	for _, v := range []string{"mqttv311", "mqttv5"} {
		for _, qos := range []string{"0", "1", "2"} {
			t.Run(v+"/qos"+qos, func(t *testing.T) {
				topic := "mosq/" + v + "/" + qos
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				args := []string{"-h", host, "-p", port, "-V", v, "-q", qos, "-t", topic, "-C", "1", "-v"}
				if v == "mqttv5" {
					args = append(args, "-F", "%t %p %P")
				}
				subCmd := exec.CommandContext(ctx, sub, args...)
				var out strings.Builder
				subCmd.Stdout = &out
				if err := subCmd.Start(); err != nil {
					t.Fatal(err)
				}
				waitSubscribed(t, tg, topic)
				pubArgs := []string{"-h", host, "-p", port, "-V", v, "-q", qos, "-t", topic, "-m", "hello " + v}
				if v == "mqttv5" {
					pubArgs = append(pubArgs, "-D", "publish", "user-property", "origin", "mosquitto")
				}
				if b, err := exec.CommandContext(ctx, pub, pubArgs...).CombinedOutput(); err != nil {
					t.Fatalf("mosquitto_pub: %v %s", err, b)
				}
				if err := subCmd.Wait(); err != nil {
					t.Fatalf("mosquitto_sub: %v (%q)", err, out.String())
				}
				got := strings.TrimSpace(out.String())
				if !strings.HasPrefix(got, topic+" hello "+v) || (v == "mqttv5" && !strings.Contains(got, "origin:mosquitto")) {
					t.Fatalf("mosquitto_sub printed %q", got)
				}
			})
		}
	}
}

// waitSubscribed polls until some session subscribes to filter.
func waitSubscribed(t *testing.T, tg *testGateway, filter string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tg.gw.subs.mu.RLock()
		found := false
		tg.gw.subs.tree.match(filter, func(*session, *subscription) { found = true }, func(*shareGroup[*session, *subscription]) {})
		tg.gw.subs.mu.RUnlock()
		if found {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no subscription to %s", filter)
}

// TestMQTTJSOverWebSocket: MQTT.js (MQTT 5 over WebSocket) publishes to
// itself with user properties, a response topic and a content type.
func TestMQTTJSOverWebSocket(t *testing.T) {
	node := needTool(t, "node", "apt-get install nodejs")
	dir, _ := filepath.Abs(filepath.Join("testdata", "mqttjs"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mqtt")); err != nil {
		t.Skipf("MQTT.js not installed (npm install --prefix %s)", dir)
	}
	tg := startGateway(t, "", Options{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "roundtrip.js"), "ws://"+tg.gw.WSAddr()+"/mqtt")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s%s", err, out, stderr.String())
	}
	var got struct {
		Topic   string `json:"topic"`
		Payload string `json:"payload"`
		QoS     int    `json:"qos"`
		Props   struct {
			UserProperties map[string]any `json:"userProperties"`
			ResponseTopic  string         `json:"responseTopic"`
			ContentType    string         `json:"contentType"`
		} `json:"props"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Topic != "js/x" || got.Payload != "from mqtt.js" || got.QoS != 1 || got.Props.ResponseTopic != "js/reply" ||
		got.Props.ContentType != "text/plain" || got.Props.UserProperties["k"] == nil {
		t.Fatalf("MQTT.js received %s", out)
	}
}
