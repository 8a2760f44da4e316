package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// dial brings N emulated subscribers up on IFACE with the project's load
// client (test/peer, as make bench-sessions does), reports which AC each
// one went to and whether any address was given twice, holds the sessions
// HOLD seconds (0: until SIGINT or SIGTERM) and hangs them all up.
//
//	labtool dial IFACE N SERVICE USER PASSWORD HOLD [CONCURRENCY]
func dial(args []string) error {
	if len(args) != 6 && len(args) != 7 {
		return fmt.Errorf("dial IFACE N SERVICE USER PASSWORD HOLD [CONCURRENCY]")
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
	if len(args) == 7 {
		if conc, err = strconv.Atoi(args[6]); err != nil || conc <= 0 {
			return fmt.Errorf("dial: CONCURRENCY %q", args[6])
		}
	}
	mux, err := peer.Listen(args[0])
	if err != nil {
		return err
	}
	defer mux.Close()

	type result struct {
		c    *peer.Client
		ac   string
		addr netip.Addr
		err  error
	}
	results := make([]result, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := peer.Dial(ctx, mux, peer.Config{
				MAC:         []byte{0x02, 0xf1, 0, byte(i >> 16), byte(i >> 8), byte(i)},
				ServiceName: args[2], User: args[3], Password: args[4],
				Methods: []auth.Method{auth.PAP, auth.CHAP},
				Timeout: time.Second, MaxTimeout: 4 * time.Second, Restart: time.Second,
			})
			if err != nil {
				results[i].err = err
				return
			}
			info, err := c.WaitUp(ctx)
			if err != nil {
				c.Close()
				results[i].err = err
				return
			}
			s := c.Session()
			results[i] = result{c: c, ac: fmt.Sprintf("%s (%s)", s.ACName, s.ACMAC), addr: info.IP.Local}
		}()
	}
	wg.Wait()
	took := time.Since(start)

	perAC := map[string]int{}
	owner := map[netip.Addr]int{}
	failed, dups := 0, 0
	var firstErr error
	for i, r := range results {
		if r.err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		perAC[r.ac]++
		if j, dup := owner[r.addr]; dup {
			dups++
			fmt.Printf("dial: %v given to subscriber %d and %d\n", r.addr, j, i)
		}
		owner[r.addr] = i
	}
	fmt.Printf("dial: %d subscribers up in %v, %d failed\n", n-failed, took.Round(time.Millisecond), failed)
	if firstErr != nil {
		fmt.Printf("dial: first failure: %v\n", firstErr)
	}
	acs := make([]string, 0, len(perAC))
	for ac := range perAC {
		acs = append(acs, ac)
	}
	sort.Strings(acs)
	for _, ac := range acs {
		fmt.Printf("dial:   %-40s %4d subscribers (%.0f%%)\n", ac, perAC[ac], 100*float64(perAC[ac])/float64(n-failed))
	}
	fmt.Printf("dial: %d distinct addresses, %d given twice\n", len(owner), dups)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var timeout <-chan time.Time
	if hold > 0 {
		timeout = time.After(time.Duration(hold) * time.Second)
	}
	select {
	case <-sig:
	case <-timeout:
	}
	for _, r := range results {
		if r.c != nil {
			r.c.SendPADT()
			r.c.Close()
		}
	}
	fmt.Printf("dial: %d subscribers hung up (PADT)\n", n-failed)
	if dups > 0 {
		return fmt.Errorf("%d addresses given twice", dups)
	}
	return nil
}
