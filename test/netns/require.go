package netns

import (
	"os"
	"os/exec"
	"testing"
)

// How a test meets a missing prerequisite: it fails, naming what is missing
// and how to get it. Never a skip: a suite that skips what it cannot run
// reports green with its cross-checks unrun. `make test` installs every
// tool first (scripts/deps.sh), so there a tool is missing only when the
// operator turned installing off (NO_INSTALL=1), and then it is an error.

// toolPackage is the Debian package of each command the tests run.
var toolPackage = map[string]string{
	"ip":              "iproute2",
	"tc":              "iproute2",
	"sysctl":          "procps",
	"bpftool":         "bpftool",
	"tshark":          "tshark",
	"pppoe":           "pppoe",
	"pppoe-discovery": "pppoe",
	"pppoe-server":    "pppoe",
	"pppd":            "ppp",
	"freeradius":      "freeradius",
	"radclient":       "freeradius-utils",
	"unshare":         "util-linux",
}

// RequireTool fails t when the command name is not on PATH.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		pkg := toolPackage[name]
		if pkg == "" {
			pkg = "?"
		}
		t.Fatalf("%s missing (Debian package %s): `make test` installs it, or scripts/deps.sh test", name, pkg)
	}
}

// RequireRoot fails t unless it runs as root, which BPF and network
// namespaces need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (BPF, network namespaces): run `make test` as root")
	}
}
