// Package wire cross-checks the project's codecs against independent
// implementations that run on this machine: frames the codecs write are
// dissected by tshark (Wireshark's dissectors), and frames built by scapy are
// handed back for the codecs to parse.
//
// Tests call these helpers directly. A missing tool skips the test on a
// developer machine and fails it under CI (CI set), where .ci/run installs
// every tool, so a skip there cannot hide a failure.
package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// scapyPython is Debian's interpreter, the one python3-scapy installs into;
// a python3 earlier on PATH (pyenv, venv) usually lacks scapy.
const scapyPython = "/usr/bin/python3"

// aggregator separates the occurrences of one field in tshark's output. A
// control character cannot appear in tshark's rendering of a field value.
const aggregator = "\x1f"

// RequireTool returns the path of the executable name, failing t when it is
// not installed: never a skip, or the cross-checks would pass unrun.
// `make test` installs the tools first (scripts/deps.sh).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s missing (Debian package %s): `make test` installs it, or scripts/deps.sh test", name, name)
	}
	return path
}

// WritePcap writes frames to path as a classic pcap file with the Ethernet
// link type (LINKTYPE_ETHERNET = 1), in order, with zero timestamps.
func WritePcap(path string, frames [][]byte) error {
	var b bytes.Buffer
	hdr := struct {
		Magic        uint32
		Major, Minor uint16
		ThisZone     int32
		SigFigs      uint32
		SnapLen      uint32
		LinkType     uint32
	}{0xa1b2c3d4, 2, 4, 0, 0, 262144, 1}
	if err := binary.Write(&b, binary.LittleEndian, hdr); err != nil {
		return err
	}
	for _, f := range frames {
		rec := [4]uint32{0, 0, uint32(len(f)), uint32(len(f))}
		if err := binary.Write(&b, binary.LittleEndian, rec); err != nil {
			return err
		}
		b.Write(f)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// tshark runs tshark over frames and returns its field output, one row per
// frame, one column per field, each column the field's occurrences.
func tshark(t testing.TB, frames [][]byte, fields []string) [][][]string {
	t.Helper()
	bin := RequireTool(t, "tshark")
	pcap := filepath.Join(t.TempDir(), "frames.pcap")
	if err := WritePcap(pcap, frames); err != nil {
		t.Fatalf("writing pcap: %v", err)
	}
	args := []string{"-n", "-r", pcap, "-T", "fields", "-E", "occurrence=a",
		"-E", "aggregator=" + aggregator, "-E", "separator=/t", "-e", "frame.number"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v: %s", args, err, stderr.String())
	}
	rows := make([][][]string, len(frames))
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		n, err := strconv.Atoi(cols[0])
		if err != nil || n < 1 || n > len(frames) {
			t.Fatalf("tshark: unexpected line %q", line)
		}
		row := make([][]string, len(fields))
		for i := range fields {
			if i+1 < len(cols) && cols[i+1] != "" {
				row[i] = strings.Split(cols[i+1], aggregator)
			}
		}
		rows[n-1] = row
	}
	for i, r := range rows {
		if r == nil {
			t.Fatalf("tshark printed nothing for frame %d", i+1)
		}
	}
	return rows
}

// TsharkFields dissects Ethernet frames with tshark and returns, for each
// frame and each named field (tshark display-filter names such as
// "pppoed.tags.service_name"), every occurrence of the field in order, as
// tshark renders it with -n.
func TsharkFields(t testing.TB, frames [][]byte, fields ...string) [][][]string {
	t.Helper()
	return tshark(t, frames, fields)
}

// Expert severities as tshark reports them in _ws.expert.severity.
const (
	severityWarn  = 0x600000
	severityError = 0x800000
)

// TsharkExpert dissects frames with tshark and returns, for each frame, the
// expert-info messages of warning or error severity and any malformed-packet
// marks. A well-formed frame yields none.
func TsharkExpert(t testing.TB, frames [][]byte) [][]string {
	t.Helper()
	rows := tshark(t, frames, []string{"_ws.expert.message", "_ws.expert.severity", "_ws.malformed"})
	out := make([][]string, len(rows))
	for i, r := range rows {
		msgs, sevs := r[0], r[1]
		for j, m := range msgs {
			sev := 0
			if j < len(sevs) {
				sev, _ = strconv.Atoi(sevs[j])
			}
			if sev >= severityWarn {
				out[i] = append(out[i], fmt.Sprintf("severity %#x: %s", sev, m))
			}
		}
		for _, m := range r[2] {
			out[i] = append(out[i], "malformed: "+m)
		}
	}
	return out
}

// Scapy runs program under Debian's python3 after `from scapy.all import *`.
// The program must assign `frames`, a list of scapy packets (or bytes);
// Scapy returns bytes(p) for each, in order.
func Scapy(t testing.TB, program string) [][]byte {
	t.Helper()
	if _, err := os.Stat(scapyPython); err != nil {
		t.Fatalf("%s missing (Debian package python3-scapy): `make test` installs it, or scripts/deps.sh test", scapyPython)
	}
	script := "import logging\nlogging.getLogger('scapy').setLevel(logging.ERROR)\n" +
		"from scapy.all import *\n" + program +
		"\nfor _f in frames:\n    print(bytes(_f).hex())\n"
	cmd := exec.Command(scapyPython, "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "No module named 'scapy'") {
			t.Fatalf("scapy missing from %s (Debian package python3-scapy): `make test` installs it, or scripts/deps.sh test", scapyPython)
		}
		t.Fatalf("scapy: %v: %s", err, stderr.String())
	}
	var frames [][]byte
	for _, line := range strings.Fields(string(out)) {
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("scapy: bad hex line %q: %v", line, err)
		}
		frames = append(frames, b)
	}
	return frames
}
