// Command labtool is the demo lab's toolbox (scripts/demo.sh), so the lab
// needs nothing beyond iproute2 and this repository: run it inside a
// namespace with "ip netns exec".
//
//	labtool ping SRC DST [COUNT]     ICMP echo, prints replies, fails on none
//	labtool sink ADDR:PORT           TCP listener that discards and reports
//	labtool stream ADDR:PORT SECONDS [SRC]  TCP sender at full speed
//	labtool get URL                  HTTP GET, body to stdout (metrics)
//	labtool txoff IFACE...           transmit checksum offload off
//	labtool dial IFACE N SERVICE USER PASSWORD HOLD [CONCURRENCY [KEEPALIVE]]
//	                                 N emulated subscribers (test/peer),
//	                                 their split over the ACs (dial.go)
//	labtool sqlippool DIR LISTEN CLIENTS FIRST N
//	                                 PostgreSQL and FreeRADIUS sqlippool,
//	                                 the fleet's shared pool (sqlippool.go)
//
// txoff is a lab artefact of veth: a veth hands its peer CHECKSUM_PARTIAL
// packets whose checksum an XDP redirect loses (a NIC never receives such
// packets).
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: labtool ping|sink|stream|get|txoff|dial|sqlippool ARGS")
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "ping":
		err = ping(args)
	case "sink":
		err = sink(args)
	case "stream":
		err = stream(args)
	case "get":
		err = get(args)
	case "dial":
		err = dial(args)
	case "sqlippool":
		err = sqlippoolCmd(args)
	case "txoff":
		for _, a := range args {
			if err = maps.SetTxChecksum(a, false); err != nil {
				break
			}
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labtool:", err)
		os.Exit(1)
	}
}

func ping(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("ping SRC DST [COUNT]")
	}
	count := 3
	if len(args) > 2 {
		count, _ = strconv.Atoi(args[2])
	}
	c, err := icmp.ListenPacket("ip4:icmp", args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.ParseIP(args[1])}
	id := os.Getpid() & 0xffff
	got := 0
	buf := make([]byte, 65536)
	for seq := 1; seq <= count; seq++ {
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: bytes.Repeat([]byte{0xa5}, 56)}}
		b, _ := m.Marshal(nil)
		start := time.Now()
		if _, err := c.WriteTo(b, dst); err != nil {
			return err
		}
		deadline := start.Add(time.Second)
		for c.SetReadDeadline(deadline) == nil {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				fmt.Printf("%s: seq=%d timeout\n", args[1], seq)
				break
			}
			r, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || r.Type != ipv4.ICMPTypeEchoReply || from.String() != dst.String() {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq {
				got++
				fmt.Printf("%s: seq=%d time=%v\n", args[1], seq, time.Since(start).Round(time.Microsecond))
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Printf("%s: %d/%d replies\n", args[1], got, count)
	if got == 0 {
		return fmt.Errorf("no reply from %s", args[1])
	}
	return nil
}

func sink(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("sink ADDR:PORT")
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			start := time.Now()
			n, err := io.Copy(io.Discard, c)
			secs := time.Since(start).Seconds()
			fmt.Printf("sink: %s sent %d bytes in %.1fs (%.1f Mbit/s), %v\n", c.RemoteAddr(), n, secs, float64(n)*8/secs/1e6, err)
		}()
	}
}

func stream(args []string) error {
	if len(args) != 2 && len(args) != 3 {
		return fmt.Errorf("stream ADDR:PORT SECONDS [SRC]")
	}
	secs, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	if len(args) == 3 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(args[2])}
	}
	c, err := d.Dial("tcp", args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	buf := bytes.Repeat([]byte("pppoe-xdp "), 6400)
	end := time.Now().Add(time.Duration(secs) * time.Second)
	var n int64
	for time.Now().Before(end) {
		c.SetWriteDeadline(end)
		w, err := c.Write(buf)
		n += int64(w)
		if err != nil {
			break
		}
	}
	fmt.Printf("stream: %d bytes to %s in %ds (%.1f Mbit/s)\n", n, args[0], secs, float64(n)*8/float64(secs)/1e6)
	return nil
}

func get(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("get URL")
	}
	r, err := (&http.Client{Timeout: 5 * time.Second}).Get(args[0])
	if err != nil {
		return err
	}
	defer r.Body.Close()
	_, err = io.Copy(os.Stdout, r.Body)
	return err
}
