package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cometmq/comet/internal/testutil"
)

// containerTool finds podman or docker.
func containerTool() string {
	for _, name := range []string{"podman", "docker"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestContainerImage builds the Dockerfile's image, runs it, and waits for
// its /healthz (slow: set COMET_IMAGE_TEST=1). It skips, saying why, where
// the base image cannot be pulled or containers cannot run.
func TestContainerImage(t *testing.T) {
	if os.Getenv("COMET_IMAGE_TEST") != "1" {
		t.Skip("set COMET_IMAGE_TEST=1 to build and run the container image (slow)")
	}
	tool := containerTool()
	if tool == "" {
		t.Skip("neither podman nor docker is installed: container image not built")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tag := "localhost/comet:test"
	out, err := exec.Command(tool, "build", "-t", tag, root).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "registry") || strings.Contains(string(out), "no such host") {
			t.Skipf("%s cannot pull the base image here (no registry reachable): %s", tool, lastLine(out))
		}
		t.Fatalf("%s build: %v\n%s", tool, err, out)
	}
	size, _ := exec.Command(tool, "image", "inspect", "--format", "{{.Size}}", tag).Output()
	t.Logf("image %s: %s bytes", tag, strings.TrimSpace(string(size)))
	out, err = exec.Command(tool, "run", "-d", "-p", "127.0.0.1::9877", tag).CombinedOutput()
	if err != nil {
		t.Skipf("%s cannot run containers on this machine: %s", tool, lastLine(out))
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(tool, "rm", "-f", id).Run() })
	port, err := exec.Command(tool, "port", id, "9877").Output()
	if err != nil {
		t.Fatalf("%s port: %v", tool, err)
	}
	url := "http://" + strings.TrimSpace(strings.Split(string(port), "\n")[0]) + "/api/v1/cluster"
	testutil.WaitFor(t, 60*time.Second, "the container's API", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
