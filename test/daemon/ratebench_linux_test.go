package daemon

import (
	"encoding/json"
	"flag"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
)

// benchRate turns TestRateLimitAccuracy on (`make bench-ratelimit`): it
// measures, prints and never fails on a figure.
var (
	benchRate     = flag.Bool("bench-ratelimit", false, "run the rate-limit accuracy bench (TestRateLimitAccuracy)")
	benchRateOnly = flag.String("bench-ratelimit-only", "", "only the rate-limit bench rows matching this regexp")
	benchRateTime = flag.Duration("bench-ratelimit-time", 10*time.Second, "length of each rate-limit bench flow")
)

// iperfRun is one iperf3 client run: the receiver's rate and the sender's
// retransmissions.
type iperfRun struct {
	bps     float64
	retrans int
}

func iperfAt(n *netns.NS, src string, args ...string) (iperfRun, error) {
	var out string
	var err error
	for try := 0; try < 10; try++ {
		out, err = n.Output("iperf3", append([]string{"-c", coreAddr.String(), "-B", src, "-J"}, args...)...)
		// The server takes a moment after a test before it takes the next.
		if !strings.Contains(out, "the server is busy") {
			break
		}
		time.Sleep(time.Second)
	}
	var r struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal([]byte(out), &r); jerr != nil || err != nil || r.Error != "" {
		return iperfRun{}, fmt.Errorf("iperf3 %v: %v %v %s", args, err, jerr, r.Error)
	}
	return iperfRun{r.End.SumReceived.BitsPerSecond, r.End.SumSent.Retransmits}, nil
}

// TestRateLimitAccuracy is the rate-limit bench: real TCP (one flow and
// eight) and UDP at twice the rate through a session limited to 10M/10M,
// 50M/5M and 200M/200M, both directions, the achieved rate against the
// limit; the same downloads shaped (rows down/htb or down/edt); and fairness: a session's TCP download alone and while a second
// session on the same AC floods its own.
func TestRateLimitAccuracy(t *testing.T) {
	// Not parallel: it measures throughput.
	if !*benchRate {
		t.Skip("a bench: make bench-ratelimit (-bench-ratelimit)")
	}
	netns.RequireTool(t, "iperf3")
	only := regexp.MustCompile(*benchRateOnly)
	secs := fmt.Sprint(int(benchRateTime.Seconds()))
	l := newLab(t, "ether3", "ether2", "10.0.0.0/24")
	ac := startDaemon(t, l.ac, "ac", fmt.Sprintf(quickServer, "two")+"/ppp profile add name=flood local-address=10.0.0.1 remote-address=pppoe-pool rate-limit=10M/10M\n/ppp secret set spare profile=flood\n", l.pins, "--uplink", "up0")
	cl := startDaemon(t, l.cl, "client", quickClient, l.pins)
	iperfServer(t, l.core)
	// A second iperf3 server for the flooding session.
	cmd := exec.Command("ip", "netns", "exec", l.core.Name, "iperf3", "-s", "-p", "5202", "--bind", coreAddr.String())
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var src string
	connect := func(limit string) {
		t.Helper()
		ac.ctl("/ppp profile set for-pppoe rate-limit=" + limit)
		ac.ctl("/ppp active remove [find name=MT-User]")
		waitFor(t, 30*time.Second, "session limited to "+limit, func() bool {
			for _, r := range ac.active() {
				if r["name"] == "MT-User" && r["address"] != "" && cl.monitor("PPPoE-Out")["local-address"] == r["address"] {
					src = r["address"]
					return true
				}
			}
			return false
		})
		l.cl.Run(t, "ip", "route", "replace", "198.51.100.0/24", "dev", "PPPoE-Out")
	}
	rates := map[string]float64{"10M": 10e6, "50M": 50e6, "5M": 5e6, "200M": 200e6}
	var b strings.Builder
	fmt.Fprintf(&b, "rate-limit accuracy, %s s flows, policer (bucket %s), %s\n", secs, "see maps.DefaultRateDepth", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "%-10s %-9s %-12s %10s %10s %8s %8s\n", "limit", "dir", "traffic", "limit Mb/s", "got Mb/s", "got/lim", "retrans")
	for _, limit := range []string{"10M/10M", "50M/5M", "200M/200M"} {
		rx, tx, _ := strings.Cut(limit, "/")
		connected := false
		for _, dir := range []struct {
			name string
			rate float64
			args []string
		}{{"upload", rates[rx], nil}, {"download", rates[tx], []string{"-R"}}} {
			for _, tr := range []struct {
				name string
				args []string
			}{
				{"tcp x1", nil},
				{"tcp x8", []string{"-P", "8"}},
				{"udp 2x", []string{"-u", "-b", fmt.Sprint(int(2 * dir.rate)), "-l", "1400"}},
			} {
				row := limit + " " + dir.name + " " + tr.name
				if !only.MatchString(row) {
					continue
				}
				if !connected {
					connect(limit)
					connected = true
				}
				r, err := iperfAt(l.cl, src, append(append([]string{"-t", secs}, dir.args...), tr.args...)...)
				if err != nil {
					fmt.Fprintf(&b, "%-10s %-9s %-12s %v\n", limit, dir.name, tr.name, err)
					continue
				}
				fmt.Fprintf(&b, "%-10s %-9s %-12s %10.1f %10.2f %8.3f %8d\n", limit, dir.name, tr.name, dir.rate/1e6, r.bps/1e6, r.bps/dir.rate, r.retrans)
			}
		}
	}
	// The shaped download (queue-type=fq-codel-default): EDT with fq, or
	// HTB where the kernel has no fq (pppoed's -shaper auto); the row
	// says which the AC installed.
	for _, limit := range []string{"10M/10M", "50M/5M", "200M/200M"} {
		_, tx, _ := strings.Cut(limit, "/")
		connected := false
		for _, tr := range []struct {
			name string
			args []string
		}{
			{"tcp x1", nil},
			{"tcp x8", []string{"-P", "8"}},
			{"udp 2x", []string{"-u", "-b", fmt.Sprint(int(2 * rates[tx])), "-l", "1400"}},
		} {
			row := limit + " shaped download " + tr.name
			if !only.MatchString(row) {
				continue
			}
			if !connected {
				ac.ctl("/ppp profile set for-pppoe queue-type=fq-codel-default")
				connect(limit)
				connected = true
			}
			mode := "?"
			switch q := l.ac.Run(t, "tc", "qdisc", "show", "dev", "ether3"); {
			case strings.Contains(q, "qdisc htb 5050:"):
				mode = "htb"
			case strings.Contains(q, "qdisc fq "):
				mode = "edt"
			}
			r, err := iperfAt(l.cl, src, append([]string{"-t", secs, "-R"}, tr.args...)...)
			if err != nil {
				fmt.Fprintf(&b, "%-10s %-9s %-12s %v\n", limit, "down/"+mode, tr.name, err)
				continue
			}
			fmt.Fprintf(&b, "%-10s %-9s %-12s %10.1f %10.2f %8.3f %8d\n", limit, "down/"+mode, tr.name, rates[tx]/1e6, r.bps/1e6, r.bps/rates[tx], r.retrans)
		}
		if connected {
			ac.ctl("/ppp profile set for-pppoe queue-type=default-small")
		}
	}
	if only.MatchString("fairness") {
		// Fairness: MT-User (10M/10M) downloads alone, then while spare's
		// session (10M/10M too) is flooded with UDP at 100M.
		connect("10M/10M")
		cl.ctl("/interface pppoe-client add interface=ether2 password=two service-name=pppoeservice name=Out2 disabled=no user=spare")
		var src2 string
		waitFor(t, 30*time.Second, "second session", func() bool {
			for _, r := range ac.active() {
				if r["name"] == "spare" && r["address"] != "" && cl.monitor("Out2")["local-address"] == r["address"] {
					src2 = r["address"]
					return true
				}
			}
			return false
		})
		l.cl.Run(t, "ip", "rule", "add", "from", src2, "table", "102")
		l.cl.Run(t, "ip", "route", "replace", "198.51.100.0/24", "dev", "Out2", "table", "102")
		alone, err := iperfAt(l.cl, src, "-t", secs, "-R")
		must(t, err)
		flood := exec.Command("ip", "netns", "exec", l.cl.Name, "iperf3", "-c", coreAddr.String(), "-p", "5202", "-B", src2,
			"-R", "-u", "-b", "100M", "-l", "1400", "-t", fmt.Sprint(int(benchRateTime.Seconds())+4))
		must(t, flood.Start())
		time.Sleep(2 * time.Second)
		beside, err := iperfAt(l.cl, src, "-t", secs, "-R")
		flood.Process.Kill()
		flood.Wait()
		must(t, err)
		fmt.Fprintf(&b, "fairness: 10M/10M TCP download alone %.2f Mb/s, beside a session flooded at 100M %.2f Mb/s (ratio %.3f)\n",
			alone.bps/1e6, beside.bps/1e6, beside.bps/alone.bps)
	}
	t.Log("\n" + b.String())
}
