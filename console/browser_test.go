package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cometmq/comet/console"
	"github.com/cometmq/comet/httpapi"
	"github.com/cometmq/comet/internal/cluster"
	"github.com/cometmq/comet/internal/testutil"
)

// findBrowser returns a Chromium or Chrome binary, or "".
func findBrowser() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// site is a cluster with the API and the console on one HTTP server.
func startSite(t *testing.T) (*httptest.Server, *cluster.Cluster) {
	t.Helper()
	cl := cluster.StartTest(t, nil)
	api, err := httpapi.New(httpapi.Options{Namesrv: []string{cl.NamesrvAddr}, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(httpapi.Prefix+"/", api.Handler())
	mux.Handle(console.Prefix, console.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); api.Close() })
	return srv, cl
}

// browserErrors collects what the page reports as errors.
type browserErrors struct {
	mu   sync.Mutex
	list []string
}

func (b *browserErrors) add(s string) { b.mu.Lock(); b.list = append(b.list, s); b.mu.Unlock() }

func (b *browserErrors) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.list...)
}

func newBrowser(t *testing.T, exe string, errs *browserErrors) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				errs.add(m.String() + " " + m.URL)
			}
		}
	}()
	return ctx
}

func postJSON(t *testing.T, url string, body any, out any) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %s", url, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// screenshotDir is where screenshots go: $COMET_SCREENSHOTS, or the
// test's temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("COMET_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644); err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// text reads the text of the element sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// TestConsoleInChromium drives the console in headless Chromium: the
// overview, creating a topic, finding a message produced through the API,
// its trace, and a group's offset reset to a time with its preview. Any
// error the page reports fails the test.
func TestConsoleInChromium(t *testing.T) {
	exe := findBrowser()
	if exe == "" {
		t.Skip("no Chromium found (install Debian's chromium package: apt-get install -y chromium); browser test skipped")
	}
	srv, cl := startSite(t)
	errs := &browserErrors{}
	ctx := newBrowser(t, exe, errs)
	dir := screenshotDir(t)
	ui := srv.URL + console.Prefix

	testutil.WaitFor(t, 10*time.Second, "the broker registered", func() bool {
		resp, err := http.Get(srv.URL + "/api/v1/cluster")
		if err == nil {
			defer resp.Body.Close()
		}
		var l struct{ Items []any }
		return err == nil && json.NewDecoder(resp.Body).Decode(&l) == nil && len(l.Items) == 1
	})
	do(t, ctx, "overview", chromedp.Navigate(ui+"#/overview"),
		chromedp.WaitVisible(chromedp.CSS(`#broker-table`)), chromedp.WaitVisible(chromedp.CSS(`#rates .uplot`)))
	if brokers := text(t, ctx, `#broker-table`); !strings.Contains(brokers, cl.BrokerAddr) || !strings.Contains(brokers, "master") {
		t.Fatalf("overview shows %q", brokers)
	}
	shot(t, ctx, dir, "overview-1280x800")

	do(t, ctx, "create topic", chromedp.Navigate(ui+"#/topics"), chromedp.WaitVisible(chromedp.CSS(`#create-topic`)),
		chromedp.SendKeys(chromedp.CSS(`#new-topic`), "WebTopic"), chromedp.Click(chromedp.CSS(`#create-topic button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#queue-table`)))
	if queues := text(t, ctx, `#queue-table`); strings.Count(queues, "broker-a") != 8 {
		t.Fatalf("new topic's queues: %q", queues)
	}
	shot(t, ctx, dir, "topic")

	var sent struct {
		Results []struct{ MsgID, OffsetMsgID string }
	}
	postJSON(t, srv.URL+"/api/v1/topics/WebTopic/messages", map[string]any{"body": `{"order":42,"items":["a"]}`,
		"keys": []string{"web-key"}, "tag": "web"}, &sent)
	msgID := sent.Results[0].MsgID
	testutil.WaitFor(t, 10*time.Second, "the message found by key", func() bool {
		do(t, ctx, "search", chromedp.Navigate(ui+"#/messages?topic=WebTopic&key=web-key&begin=-1h&end=now"),
			chromedp.WaitVisible(chromedp.CSS(`#result-table`)))
		return strings.Contains(text(t, ctx, `#result-table`), msgID)
	})
	do(t, ctx, "open message", chromedp.Click(chromedp.CSS(`#result-table a`)), chromedp.WaitVisible(chromedp.CSS(`#trace-timeline`)))
	kind := eval[string](t, ctx, `document.getElementById('body').dataset.kind`)
	body, trace := text(t, ctx, `#body`), text(t, ctx, `#trace-timeline`)
	if kind != "json" || !strings.Contains(body, `"order": 42`) || !strings.Contains(trace, "stored on") {
		t.Fatalf("message view: kind %q body %q trace %q", kind, body, trace)
	}
	shot(t, ctx, dir, "message")

	var fetched struct{ Commit []map[string]any }
	postJSON(t, srv.URL+"/api/v1/groups/web-group/fetch", map[string]any{"topic": "WebTopic"}, &fetched)
	postJSON(t, srv.URL+"/api/v1/groups/web-group/commit", map[string]any{"offsets": fetched.Commit}, nil)
	do(t, ctx, "group page", chromedp.Navigate(ui+"#/groups/web-group"), chromedp.WaitVisible(chromedp.CSS(`#progress-table`)),
		chromedp.WaitReady(chromedp.CSS(`#reset-topic option[value="WebTopic"]`)),
		chromedp.SetValue(chromedp.CSS(`#reset-time`), "earliest"), chromedp.Click(chromedp.CSS(`#reset-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#preview-table`)))
	if preview := text(t, ctx, `#preview-table`); !strings.Contains(preview, "-1") {
		t.Fatalf("preview does not move one message back: %q", preview)
	}
	do(t, ctx, "reset", chromedp.Click(chromedp.CSS(`#reset-apply`)), chromedp.WaitVisible(chromedp.CSS(`#reset-done`)))
	shot(t, ctx, dir, "group-reset")

	do(t, ctx, "phone size", chromedp.EmulateViewport(390, 844), chromedp.Navigate(ui+"#/overview"),
		chromedp.WaitVisible(chromedp.CSS(`#broker-table`)))
	if sw, cw := eval[int](t, ctx, `document.documentElement.scrollWidth`), eval[int](t, ctx, `document.documentElement.clientWidth`); sw > cw {
		t.Errorf("phone-sized overview scrolls sideways: %d > %d", sw, cw)
	}
	shot(t, ctx, dir, "overview-390x844")
	if e := errs.all(); len(e) > 0 {
		t.Fatalf("the page reported errors:\n%s", strings.Join(e, "\n"))
	}
	t.Logf("screenshots in %s", dir)
}

// TestConsoleFigures measures page load time and bytes transferred for the
// overview and the topic list with 1,000 topics and 200 groups (set
// COMET_CONSOLE_FIGURES=1):
//
//	COMET_CONSOLE_FIGURES=1 go test ./console -run TestConsoleFigures -v
func TestConsoleFigures(t *testing.T) {
	if os.Getenv("COMET_CONSOLE_FIGURES") != "1" {
		t.Skip("set COMET_CONSOLE_FIGURES=1 to measure the console's page loads")
	}
	exe := findBrowser()
	if exe == "" {
		t.Skip("no Chromium found (apt-get install -y chromium)")
	}
	srv, _ := startSite(t)
	api := srv.URL + "/api/v1"
	for i := range 1000 {
		postJSON(t, api+"/topics", map[string]any{"topic": fmt.Sprintf("Topic%04d", i), "queues": 4}, nil)
	}
	for i := range 200 {
		postJSON(t, fmt.Sprintf("%s/groups/group%03d/commit", api, i), map[string]any{"offsets": []map[string]any{
			{"topic": fmt.Sprintf("Topic%04d", i), "brokerName": "broker-a", "queueId": 0, "offset": 0}}}, nil)
	}
	ctx := newBrowser(t, exe, &browserErrors{})
	const measure = `JSON.stringify((() => {
		const nav = performance.getEntriesByType('navigation')[0];
		const res = performance.getEntriesByType('resource');
		return {shownMs: Math.round(performance.now()), bytes: nav.transferSize + res.reduce((s, e) => s + e.transferSize, 0),
			requests: res.length + 1};
	})())`
	for _, page := range []struct{ name, hash, ready string }{
		{"overview (cold cache)", "#/overview", "#broker-table"},
		{"topics, 1,000 rows", "#/topics", "#topic-table"},
		{"groups, 200 rows", "#/groups", "#group-table"},
	} {
		do(t, ctx, page.name, chromedp.Navigate("about:blank"), chromedp.Navigate(srv.URL+console.Prefix+"?"+page.hash[2:]+page.hash),
			chromedp.WaitVisible(chromedp.CSS(page.ready)))
		t.Logf("%s: %s", page.name, eval[string](t, ctx, measure))
	}
}
