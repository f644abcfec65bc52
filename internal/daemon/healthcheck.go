package daemon

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck is `comet healthcheck [URL]`: exit 0 when URL (default the
// local /healthz) answers 200 within 3 s, else 1. Container images have no
// curl; their HEALTHCHECK runs this.
func healthcheck(args []string, stderr io.Writer) int {
	url := "http://127.0.0.1:9877/healthz"
	if len(args) > 0 {
		url = args[0]
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "comet healthcheck:", err)
		return ExitFailure
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "comet healthcheck:", url, resp.Status)
		return ExitFailure
	}
	return ExitOK
}
