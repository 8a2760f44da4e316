package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// queueProps are the properties of a session's dynamic simple queue, as
// RouterOS shows the queue a PPP profile's rate-limit creates (named
// <pppoe-USER>, target the session's interface, flag D): each a
// "target upload/target download" pair, which for a PPP session is the
// rate-limit's rx/tx. bucket-size is the policer's depth
// (maps.DefaultRateDepth in RouterOS's unit, a multiple of max-limit; a
// shaped download's horizon is maps.DefaultShapeHorizon);
// queue names how the
// download is held: default-small (policed) or the queue-type that shapes.
// bytes and packets are the session's counters, dropped what its limit
// dropped: the BPF's policer and EDT horizon, and for a download shaped
// by an HTB class what that class's queue dropped (printQueues adds it).
var queueProps = []struct {
	name string
	get  func(a *Active) string
}{
	{"name", func(a *Active) string { return "<pppoe-" + a.Name + ">" }},
	{"target", func(a *Active) string { return "<pppoe-" + a.Name + ">" }},
	{"parent", func(a *Active) string { return "none" }},
	{"priority", func(a *Active) string { p := strconv.Itoa(a.RateLimit.Priority); return p + "/" + p }},
	{"queue", func(a *Active) string {
		if a.ShapeTx {
			return "default-small/fq-codel-default"
		}
		return "default-small/default-small"
	}},
	{"limit-at", func(a *Active) string { return ratelimit.RatePair(a.RateLimit.Rx.RateMin, a.RateLimit.Tx.RateMin) }},
	{"max-limit", func(a *Active) string { return ratelimit.RatePair(a.RateLimit.Rx.Rate, a.RateLimit.Tx.Rate) }},
	{"burst-limit", func(a *Active) string {
		return ratelimit.RatePair(burst(a.RateLimit.Rx).BurstRate, burst(a.RateLimit.Tx).BurstRate)
	}},
	{"burst-threshold", func(a *Active) string {
		return ratelimit.RatePair(burst(a.RateLimit.Rx).BurstThreshold, burst(a.RateLimit.Tx).BurstThreshold)
	}},
	{"burst-time", func(a *Active) string {
		return ratelimit.TimePair(burst(a.RateLimit.Rx).BurstTime, burst(a.RateLimit.Tx).BurstTime)
	}},
	{"bucket-size", func(a *Active) string { return bucketSize + "/" + bucketSize }},
	{"bytes", func(a *Active) string { return fmt.Sprintf("%d/%d", a.BytesIn, a.BytesOut) }},
	{"packets", func(a *Active) string { return fmt.Sprintf("%d/%d", a.PacketsIn, a.PacketsOut) }},
	{"dropped", func(a *Active) string { return fmt.Sprintf("%d/%d", a.RateDropsIn, a.RateDropsOut) }},
}

// bucketSize is maps.DefaultRateDepth as RouterOS's bucket-size, a
// multiple of max-limit (a second's worth is 1).
var bucketSize = strconv.FormatFloat(maps.DefaultRateDepth.Seconds(), 'f', -1, 64)

// burst is d with its burst fields zero when it has no burst, as RouterOS
// prints a queue without one (burst-limit=0 burst-threshold=0
// burst-time=0s).
func burst(d ratelimit.Dir) ratelimit.Dir {
	if !d.Bursts() {
		return ratelimit.Dir{}
	}
	return d
}

// printQueues prints /queue simple: one dynamic queue per limited
// session, RouterOS's print form (every property as name=value), or a JSON
// array of the same.
func (d *Daemon) printQueues(out io.Writer, cmd config.Command, asJSON bool) error {
	if _, err := printFlags(cmd, "detail", "stats"); err != nil {
		return err
	}
	var qs []Active
	for _, a := range d.sessions() {
		if a.RateLimit.Limited() {
			qs = append(qs, a)
		}
	}
	if len(qs) > 0 {
		drops, err := d.opts.Servers.QueueDrops()
		if err != nil {
			return fmt.Errorf("queue simple: %w", err)
		}
		for i := range qs {
			qs[i].RateDropsOut += drops[qs[i].ID]
		}
	}
	if asJSON {
		rows := make([]map[string]string, 0, len(qs))
		for i := range qs {
			row := map[string]string{}
			for _, p := range queueProps {
				row[p.name] = p.get(&qs[i])
			}
			rows = append(rows, row)
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	var b strings.Builder
	b.WriteString("Flags: X - disabled, I - invalid, D - dynamic\n")
	for i := range qs {
		var words []string
		for _, p := range queueProps {
			v := p.get(&qs[i])
			if p.name == "name" {
				v = strconv.Quote(v)
			} else {
				v = config.Cell(v)
			}
			words = append(words, p.name+"="+v)
		}
		fmt.Fprintf(&b, "%2d D %s\n\n", i, wrap(words, 5, 80))
	}
	_, err := io.WriteString(out, b.String())
	return err
}
