package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/pppoe-xdp/pppoe-xdp/test/sqlippool"
)

// sqlippoolCmd runs the fleet's shared address pool until SIGINT or
// SIGTERM: PostgreSQL with the radippool table holding N addresses from
// FIRST, and FreeRADIUS with sqlippool on it (test/sqlippool, the fleet
// lab's, with Debian's queries) listening on LISTEN:1812/1813 for the
// NASes of CLIENTS (a network); its configuration and log go in DIR. It
// prints a line with "ready", then the psql command that reads the pool.
//
//	labtool sqlippool DIR LISTEN CLIENTS FIRST N
func sqlippoolCmd(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("sqlippool DIR LISTEN CLIENTS FIRST N")
	}
	first, err := netip.ParseAddr(args[3])
	if err != nil {
		return fmt.Errorf("sqlippool: FIRST: %w", err)
	}
	n, err := strconv.Atoi(args[4])
	if err != nil || n <= 0 || n > 1<<16 {
		return fmt.Errorf("sqlippool: N %q: want 1..65536", args[4])
	}
	var pool []netip.Addr
	for a := first; len(pool) < n; a = a.Next() {
		pool = append(pool, a)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	lab, err := sqlippool.Launch(args[0], sqlippool.Options{Pool: pool, Listen: args[1], Clients: args[2], AuthPort: 1812, AcctPort: 1813})
	if err != nil {
		return err
	}
	fmt.Printf("sqlippool: ready: FreeRADIUS on %s:1812/1813 for %s, pool fleet %v-%v (%d addresses) in PostgreSQL\n",
		args[1], args[2], pool[0], pool[len(pool)-1], n)
	fmt.Printf("sqlippool: psql: %s\n", lab.PG.PSQL("radius"))
	<-sig
	return lab.Close()
}
