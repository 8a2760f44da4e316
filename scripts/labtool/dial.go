package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// dial brings N emulated subscribers up on IFACE with the project's load
// client (test/peer's Subscriber, as the fleet lab's), reports which AC
// each one went to and whether any address was given twice, holds the
// sessions HOLD seconds (0: until SIGINT or SIGTERM) and hangs them all up.
// With KEEPALIVE (a duration, e.g. 1s) each subscriber probes its AC and,
// once the AC is gone, rediscovers and dials again, as a CPE does; dial
// then prints the split whenever it changes, and how long it took for
// every subscriber to be back up (make demo-fleet's failover).
//
//	labtool dial IFACE N SERVICE USER PASSWORD HOLD [CONCURRENCY [KEEPALIVE]]
func dial(args []string) error {
	if len(args) < 6 || len(args) > 8 {
		return fmt.Errorf("dial IFACE N SERVICE USER PASSWORD HOLD [CONCURRENCY [KEEPALIVE]]")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n <= 0 || n > 1<<16 {
		return fmt.Errorf("dial: N %q: want 1..65536", args[1])
	}
	hold, err := strconv.Atoi(args[5])
	if err != nil || hold < 0 {
		return fmt.Errorf("dial: HOLD %q: want seconds, 0 for until a signal", args[5])
	}
	conc := 8
	if len(args) >= 7 {
		if conc, err = strconv.Atoi(args[6]); err != nil || conc <= 0 {
			return fmt.Errorf("dial: CONCURRENCY %q", args[6])
		}
	}
	var keepalive time.Duration
	if len(args) == 8 {
		if keepalive, err = time.ParseDuration(args[7]); err != nil || keepalive <= 0 {
			return fmt.Errorf("dial: KEEPALIVE %q: want a duration such as 1s", args[7])
		}
	}
	mux, err := peer.Listen(args[0])
	if err != nil {
		return err
	}
	defer mux.Close()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	subs := make([]*peer.Subscriber, n)
	var running, wave sync.WaitGroup
	sem := make(chan struct{}, conc)
	start := time.Now()
	for i := range n {
		subs[i] = peer.NewSubscriber(peer.Config{
			MAC:         []byte{0x02, 0xf1, 0, byte(i >> 16), byte(i >> 8), byte(i)},
			ServiceName: args[2], User: args[3], Password: args[4],
			Methods: []auth.Method{auth.PAP, auth.CHAP},
			Timeout: time.Second, MaxTimeout: 4 * time.Second, Restart: time.Second,
			Keepalive: keepalive,
		})
		sem <- struct{}{}
		running.Add(1)
		wave.Add(1)
		up := make(chan struct{})
		go func() {
			defer running.Done()
			subs[i].Run(ctx, mux, func() { close(up) })
		}()
		// The first wave: CONCURRENCY dialling at once, each given a
		// minute before it counts as failed (it keeps trying).
		go func() {
			defer func() { <-sem; wave.Done() }()
			select {
			case <-up:
			case <-time.After(time.Minute):
			}
		}()
	}
	wave.Wait()
	took := time.Since(start)

	split, down, dups := census(subs, true)
	fmt.Printf("dial: %d subscribers up in %v, %d failed\n", n-down, took.Round(time.Millisecond), down)
	for _, line := range split {
		fmt.Printf("dial:   %s (%.0f%%)\n", line.text, 100*float64(line.count)/float64(max(1, n-down)))
	}
	fmt.Printf("dial: %d distinct addresses, %d given twice\n", n-down-dups, dups)

	var timeout <-chan time.Time
	if hold > 0 {
		timeout = time.After(time.Duration(hold) * time.Second)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := splitText(split, down)
	var firstDown time.Time
	worst := dups
wait:
	for {
		select {
		case <-sig:
			break wait
		case <-timeout:
			break wait
		case <-tick.C:
		}
		if keepalive == 0 {
			continue
		}
		split, down, dups := census(subs, false)
		worst = max(worst, dups)
		if text := splitText(split, down); text != last {
			last = text
			fmt.Printf("dial: %s %s\n", time.Now().Format("15:04:05.000"), text)
		}
		switch {
		case down > 0 && firstDown.IsZero():
			firstDown = time.Now()
		case down == 0 && !firstDown.IsZero():
			fmt.Printf("dial: all %d up again %v after the first went down; %d addresses given twice\n",
				n, time.Since(firstDown).Round(10*time.Millisecond), dups)
			firstDown = time.Time{}
		}
	}
	cancel()
	running.Wait()
	fmt.Printf("dial: %d subscribers hung up (PADT)\n", n)
	if worst > 0 {
		return fmt.Errorf("%d addresses given twice", worst)
	}
	return nil
}

type acCount struct {
	text  string
	count int
}

// census counts the subscribers up on each AC (sorted by AC), those down,
// and the addresses held by more than one; each line names the AC and,
// with mac, its MAC.
func census(subs []*peer.Subscriber, mac bool) (split []acCount, down, dups int) {
	perAC := map[string]int{}
	owner := map[netip.Addr]bool{}
	for _, s := range subs {
		st := s.State()
		if st.ACName == "" {
			down++
			continue
		}
		ac := st.ACName
		if mac {
			ac = fmt.Sprintf("%s (%s)", st.ACName, st.ACMAC)
		}
		perAC[ac]++
		if owner[st.Addr] {
			dups++
		}
		owner[st.Addr] = true
	}
	for ac, c := range perAC {
		split = append(split, acCount{fmt.Sprintf("%-40s %4d subscribers", ac, c), c})
	}
	sort.Slice(split, func(i, j int) bool { return split[i].text < split[j].text })
	return split, down, dups
}

// splitText is a census on one line.
func splitText(split []acCount, down int) string {
	var b strings.Builder
	for _, l := range split {
		f := strings.Fields(l.text)
		fmt.Fprintf(&b, "%s %d, ", f[0], l.count)
	}
	fmt.Fprintf(&b, "down %d", down)
	return b.String()
}
