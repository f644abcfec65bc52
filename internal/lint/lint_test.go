package lint

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cometmq/comet"

// layers lists, for every package of the module, the module packages it may
// import (non-test imports). A package missing from this table fails the
// test, so a new package states its place in the layering when it is added.
// The arrows only point down: a package appears here only after everything
// it may import.
var layers = map[string][]string{
	// Leaves: they import nothing of the broker.
	"netio/remoting":        nil,
	"ringbuf":               nil,
	"persist":               nil,
	"sqlfilter":             nil,
	"internal/atomicfile":   nil,
	"internal/adminwire":    {"routing"},
	"internal/ops":          nil,
	"internal/version":      nil,
	"console":               nil,
	"internal/testutil":     nil,
	"internal/testutil/rmq": {"internal/testutil", "netio/remoting"},
	// Replication transport: reads and writes the log through interfaces.
	"ha": nil,

	// Access control: the ACL file, signatures and decisions.
	"acl": {"netio/remoting"},

	// Routing data (routes, cluster info, topic configs as the wire carries
	// them) and the allocation strategies: what the SDK and the broker share.
	"routing": nil,

	// The network layer: event loops and dispatch, never state.
	"netio": {"netio/remoting", "ringbuf"},

	// The name server (its registry and its server) and the broker-side
	// registrar that keeps a broker registered with it.
	"namesrv": {"netio", "netio/remoting", "routing", "internal/adminwire", "internal/atomicfile"},

	// The controller quorum (raft) that records each broker group's master,
	// epoch and in-sync set.
	"controller": {"netio/remoting"},

	// The SDK: the wire and the routing data only, never the server.
	"client": {"netio/remoting", "routing", "internal/atomicfile"},

	// The broker core.
	"actors": {"controller", "ha", "namesrv", "netio", "netio/remoting", "persist", "ringbuf", "routing", "sqlfilter",
		"internal/adminwire", "internal/atomicfile", "internal/version"},

	// Gateways: more front doors onto the broker core (its writer and store).
	"mqtt": {"actors", "internal/adminwire", "netio/remoting", "persist"},

	// Wiring above the core.
	"internal/config":  {"acl", "actors", "controller", "mqtt", "netio", "netio/remoting"},
	"internal/admin":   {"internal/adminwire", "netio/remoting", "routing"},
	"internal/ctl":     {"controller", "internal/admin", "internal/adminwire", "netio/remoting", "routing"},
	"httpapi":          {"client", "internal/admin", "internal/adminwire", "netio/remoting", "routing"},
	"internal/daemon":  {"acl", "actors", "console", "controller", "httpapi", "internal/config", "internal/ops", "internal/version", "mqtt", "namesrv", "netio", "netio/remoting", "persist"},
	"internal/cluster": {"actors", "namesrv"},
	"perf":             {"actors", "client", "internal/adminwire", "internal/cluster", "internal/config", "netio/remoting", "routing"},

	// Commands: each main only wires.
	"cmd/comet":       {"internal/daemon"},
	"cmd/cometctl":    {"internal/ctl"},
	"cmd/comet-bench": {"actors", "perf"},
}

// forbidden lists third-party packages a module package must never import.
var forbidden = map[string][]string{
	"netio/remoting": {"github.com/panjf2000/gnet/v2", "github.com/asynkron/protoactor-go"},
	"client":         {"github.com/panjf2000/gnet/v2", "github.com/asynkron/protoactor-go"},
	"persist":        {"github.com/panjf2000/gnet/v2", "github.com/asynkron/protoactor-go"},
	"routing":        {"github.com/panjf2000/gnet/v2", "github.com/asynkron/protoactor-go"},
	"sqlfilter":      {"github.com/panjf2000/gnet/v2", "github.com/asynkron/protoactor-go"},
	"ringbuf":        {"github.com/panjf2000/gnet/v2", "github.com/asynkron/protoactor-go"},
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// imports maps every module package (relative path) to its non-test imports.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		if pkg == "internal/lint" {
			continue
		}
		pkgs[pkg] = fields[1:]
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	pkgs := imports(t, moduleRoot(t))
	for pkg, deps := range pkgs {
		allowed, known := layers[pkg]
		if !known {
			t.Errorf("package %s has no place in the layering table of internal/lint: add it", pkg)
			continue
		}
		for _, dep := range deps {
			if slices.Contains(forbidden[pkg], dep) {
				t.Errorf("%s imports %s, which its package doc forbids", pkg, dep)
			}
			rel, ok := strings.CutPrefix(dep, module+"/")
			if !ok {
				continue
			}
			if !slices.Contains(allowed, rel) {
				t.Errorf("%s imports %s: not allowed by the layering (allowed: %v)", pkg, rel, allowed)
			}
		}
	}
	for pkg := range layers {
		if _, ok := pkgs[pkg]; !ok {
			t.Errorf("layering table names %s, which is not a package of the module", pkg)
		}
	}
}

// TestStaticcheck runs staticcheck, pinned in go.mod as a tool, over the
// module and fails on any finding.
func TestStaticcheck(t *testing.T) {
	if testing.Short() {
		t.Skip("staticcheck skipped in -short mode")
	}
	cmd := exec.Command("go", "tool", "staticcheck", "./...")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("staticcheck found problems (%v):\n%s", err, out)
	}
}

// TestGofmt fails on any Go file that gofmt would change.
func TestGofmt(t *testing.T) {
	cmd := exec.Command("gofmt", "-l", ".")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("gofmt not runnable: %v", err)
	}
	if files := strings.TrimSpace(string(out)); files != "" {
		t.Fatalf("files not gofmt-ed:\n%s", files)
	}
}
