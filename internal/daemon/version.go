package daemon

import (
	"fmt"
	"io"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cometmq/comet/internal/version"
)

// Run is Main with the version request answered first: `comet version`,
// `comet --version` or `comet -version` print the build to stdout.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && slices.Contains([]string{"version", "-version", "--version"}, args[0]) {
		fmt.Fprintln(stdout, "comet", version.Get())
		return ExitOK
	}
	return Main(args, stderr)
}

// buildInfo is the comet_build_info gauge: always 1, the build in its
// labels, so a dashboard can tell which version each process runs.
func buildInfo() prometheus.Collector {
	v := version.Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "comet_build_info",
		Help:        "Always 1; the labels describe the running build.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion}})
	g.Set(1)
	return g
}
