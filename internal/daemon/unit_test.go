package daemon

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// unitSettings reads the [Service] settings of a systemd unit file; a
// repeated key keeps every value.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			out[k] = append(out[k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSystemdUnitDoesNotRestartOnConfigErrors keeps the unit file and the
// exit codes together: a configuration error is not retried forever, and
// no limit is raised that comet has no use for.
func TestSystemdUnitDoesNotRestartOnConfigErrors(t *testing.T) {
	s := unitSettings(t, "../../deploy/systemd/comet.service")
	if got := s["RestartPreventExitStatus"]; len(got) != 1 || got[0] != strconv.Itoa(ExitConfig) {
		t.Errorf("RestartPreventExitStatus = %q, want %d (ExitConfig)", got, ExitConfig)
	}
	if got := s["Restart"]; len(got) != 1 || got[0] != "on-failure" {
		t.Errorf("Restart = %q, want on-failure", got)
	}
	if got, ok := s["LimitMEMLOCK"]; ok {
		t.Errorf("LimitMEMLOCK = %q: comet locks no memory", got)
	}
}
