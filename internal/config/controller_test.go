package config

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func loadControllerWith(t *testing.T, args []string, env map[string]string) (*Controller, error) {
	t.Helper()
	fs := flag.NewFlagSet("comet controller", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return loadController(fs, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func TestControllerConfig(t *testing.T) {
	peers := "n0=127.0.0.1:19870,n1=127.0.0.1:19871,n2=127.0.0.1:19872"
	c, err := loadControllerWith(t, []string{"--id", "n1", "--peers", peers}, map[string]string{"COMET_ELECTION_TIMEOUT": "4s"})
	if err != nil {
		t.Fatal(err)
	}
	opts := c.Options(nil)
	if opts.ID != "n1" || len(opts.Peers) != 3 || opts.Peers[2].Addr != "127.0.0.1:19872" || opts.ElectionTimeout != 4*time.Second ||
		opts.RaftTimeout != 500*time.Millisecond || opts.DataDir != "./comet-controller" || opts.Listen != "" || c.HTTPListen != "" {
		t.Fatalf("options: %+v", opts)
	}
	path := writeFile(t, "id = \"n2\"\npeers = \""+peers+"\"\nelection-timeout = \"2s\"\ndata-dir = \"/var/lib/comet-controller\"\n")
	if c, err = loadControllerWith(t, []string{"-config", path}, nil); err != nil || c.ID != "n2" || c.ElectionTimeout != 2*time.Second {
		t.Fatalf("from file: %+v %v", c, err)
	}
	for _, bad := range [][]string{
		{"--id", "n1"},
		{"--id", "n9", "--peers", peers},
		{"--id", "n1", "--peers", "n0=127.0.0.1:1,n1"},
		{"--id", "n1", "--peers", "n0=127.0.0.1:1,n1=127.0.0.1:1"},
		{"--id", "n1", "--peers", peers, "--election-timeout", "100ms"},
		{"--id", "n1", "--peers", peers, "--log-format", "xml"},
		{"--id", "n1", "--peers", peers, "extra"},
	} {
		if _, err := loadControllerWith(t, bad, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", strings.Join(bad, " "), err)
		}
	}
}
