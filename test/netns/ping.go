package netns

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// echoSocket is a raw ICMP (IPv4) or ICMPv6 socket bound to one local
// address of a namespace. The machines have no ping binary, and a raw
// socket sees every echo reply to its address, so the echo ids say which
// request a reply answers.
type echoSocket struct {
	c     *net.IPConn
	proto int // 1 or 58, for icmp.ParseMessage
	req   icmp.Type
	reply icmp.Type
}

// readBuffer is the receive buffer of an echo socket: a few seconds of a
// test's replies (hundreds of streams at 20/s, each reply's skb a few
// hundred bytes), so a reader the scheduler holds back on a loaded
// machine loses none.
const readBuffer = 8 << 20

func (n *NS) echoSocket(t testing.TB, src netip.Addr) (*echoSocket, error) {
	t.Helper()
	s := &echoSocket{proto: 1, req: ipv4.ICMPTypeEcho, reply: ipv4.ICMPTypeEchoReply}
	network := "ip4:icmp"
	if src.Is6() {
		s.proto, s.req, s.reply, network = 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, "ip6:ipv6-icmp"
	}
	err := n.Do(t, func() error {
		c, err := net.ListenIP(network, &net.IPAddr{IP: src.AsSlice()})
		if err != nil {
			return err
		}
		s.c = c
		// SO_RCVBUFFORCE (root) passes net.core.rmem_max, which is
		// the initial namespace's and usually 208 kB.
		rc, err := c.SyscallConn()
		if err == nil {
			rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, readBuffer) })
		}
		if err != nil {
			c.Close()
			return fmt.Errorf("receive buffer: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netns: ping from %v: %w", src, err)
	}
	return s, nil
}

// send sends one echo request to dst. (An ICMPv6 raw socket has the
// kernel compute the checksum, RFC 3542 §3.1.)
func (s *echoSocket) send(dst netip.Addr, id, seq int, data []byte) error {
	m := icmp.Message{Type: s.req, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}
	b, err := m.Marshal(nil)
	if err != nil {
		return err
	}
	_, err = s.c.WriteToIP(b, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// recv reads the next echo reply and returns who sent it with its id and
// sequence number; other ICMP messages are skipped.
func (s *echoSocket) recv(buf []byte) (from netip.Addr, id, seq int, err error) {
	for {
		k, addr, err := s.c.ReadFromIP(buf) // an IPv4 header is stripped
		if err != nil {
			return netip.Addr{}, 0, 0, err
		}
		r, err := icmp.ParseMessage(s.proto, buf[:k])
		if err != nil || r.Type != s.reply {
			continue
		}
		e, ok := r.Body.(*icmp.Echo)
		from, okAddr := netip.AddrFromSlice(addr.IP)
		if !ok || !okAddr {
			continue
		}
		return from.Unmap(), e.ID, e.Seq, nil
	}
}

// Ping sends count ICMP echo requests (ICMPv6 when src is IPv6) of size
// data bytes from src to dst inside n, one at a time, waiting up to a
// second for each reply, and returns how many were answered.
func (n *NS) Ping(t testing.TB, src, dst netip.Addr, count, size int) int {
	t.Helper()
	s, err := n.echoSocket(t, src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.Close()
	id := rand.IntN(1 << 16)
	data := bytes.Repeat([]byte{0xa5}, size)
	got := 0
	buf := make([]byte, 65536)
	for seq := 1; seq <= count; seq++ {
		if err := s.send(dst, id, seq, data); err != nil {
			t.Logf("ping %v: %v", dst, err)
			continue
		}
		deadline := time.Now().Add(time.Second)
		for s.c.SetReadDeadline(deadline) == nil {
			from, rid, rseq, err := s.recv(buf)
			if err != nil {
				break
			}
			if from == dst && rid == id && rseq == seq {
				got++
				break
			}
		}
	}
	return got
}

// Reachable sends one echo at a time, each waited for a second, until
// one is answered or tries are spent. Tests call it where the first
// packets of a path wait on neighbour discovery on a busy machine, before
// they count what the path delivers once it is resolved.
func (n *NS) Reachable(t testing.TB, src, dst netip.Addr, tries int) bool {
	t.Helper()
	for range tries {
		if n.Ping(t, src, dst, 1, 56) == 1 {
			return true
		}
	}
	return false
}

// PingEvery sends count ICMP echo requests from src to dst inside n, one
// every interval whatever the answers, and returns how many distinct ones
// were answered within a second of the last: a stream of traffic with
// its losses counted at the far end, across whatever happens meanwhile.
func (n *NS) PingEvery(t testing.TB, src, dst netip.Addr, count int, interval time.Duration) int {
	t.Helper()
	st := n.startStreams(t, src, []netip.Addr{dst}, interval, count)
	<-st.sender
	_, answered := st.Stop()
	return answered[0]
}

// Streams is a ping stream to each of several destinations at once,
// through one socket: every interval one echo request goes to each
// destination, and each destination's answers are counted apart. Each
// has an echo id of its own, so a reply counts for the stream it answers
// and no other. (A socket per stream would see every stream's replies:
// n streams would cost n² deliveries.)
type Streams struct {
	t      testing.TB
	s      *echoSocket
	src    netip.Addr
	dsts   []netip.Addr
	base   int // destination i's echo id is base+i
	stop   chan struct{}
	sender chan struct{} // closed when the sender ends
	reader chan struct{} // closed when the reader ends
	sent   []int         // the sender's until it ends
	once   sync.Once     // Stop's

	mu       sync.Mutex
	answered []int
	total    int // answers counted, of all streams
	want     int // requests sent, of all streams, once the sender ended
}

// maxRounds is how many requests a stream sends at most: the echo
// sequence number has 16 bits.
const maxRounds = 1<<16 - 1

// StartStreams starts a ping stream from src to each of dsts inside n,
// one request to each every interval, until Stop (or maxRounds).
func (n *NS) StartStreams(t testing.TB, src netip.Addr, dsts []netip.Addr, interval time.Duration) *Streams {
	t.Helper()
	return n.startStreams(t, src, dsts, interval, maxRounds)
}

func (n *NS) startStreams(t testing.TB, src netip.Addr, dsts []netip.Addr, interval time.Duration, rounds int) *Streams {
	t.Helper()
	st := &Streams{t: t, src: src, dsts: dsts, base: rand.IntN(1 << 16),
		stop: make(chan struct{}), sender: make(chan struct{}), reader: make(chan struct{}),
		sent: make([]int, len(dsts)), answered: make([]int, len(dsts))}
	if len(dsts) > 1<<16 {
		t.Errorf("netns: %d streams, at most 65536 echo ids", len(dsts))
		close(st.sender)
		close(st.reader)
		return st
	}
	s, err := n.echoSocket(t, src)
	if err != nil {
		t.Error(err)
		close(st.sender)
		close(st.reader)
		return st
	}
	st.s = s
	go st.read(min(rounds, maxRounds))
	go st.send(interval, min(rounds, maxRounds))
	// A test that fails half-way must not leave the sender logging after
	// it ended.
	t.Cleanup(func() { st.Stop() })
	return st
}

func (st *Streams) send(interval time.Duration, rounds int) {
	defer close(st.sender)
	data := make([]byte, 56)
	failed := 0
	var first error
	tick := time.NewTicker(interval)
	defer tick.Stop()
rounds:
	for seq := 1; seq <= rounds; seq++ {
		for i, d := range st.dsts {
			if err := st.s.send(d, (st.base+i)&0xffff, seq, data); err != nil {
				if failed++; first == nil {
					first = err
				}
				continue
			}
			st.sent[i]++
		}
		if seq == rounds {
			break
		}
		select {
		case <-tick.C:
		case <-st.stop:
			break rounds
		}
	}
	if failed > 0 {
		st.t.Logf("ping from %v: %d requests not sent, the first: %v", st.src, failed, first)
	}
}

func (st *Streams) read(rounds int) {
	defer close(st.reader)
	stream := make(map[netip.Addr]int, len(st.dsts))
	for i, d := range st.dsts {
		stream[d] = i
	}
	seen := make([][]bool, len(st.dsts))
	buf := make([]byte, 65536)
	for {
		from, id, seq, err := st.s.recv(buf)
		if err != nil {
			return
		}
		i, ok := stream[from]
		if !ok || id != (st.base+i)&0xffff || seq < 1 || seq > rounds {
			continue
		}
		if seen[i] == nil {
			seen[i] = make([]bool, rounds+1)
		}
		if seen[i][seq] {
			continue // a duplicate
		}
		seen[i][seq] = true
		st.mu.Lock()
		st.answered[i]++
		st.total++
		all := st.total == st.want
		st.mu.Unlock()
		if all {
			return
		}
	}
}

// Stop ends the streams (a PingEvery's once its count is sent), waits
// up to a second for the last answers, and returns per destination how
// many requests were sent and how many of them answered. Calling it again
// returns the same.
func (st *Streams) Stop() (sent, answered []int) {
	st.once.Do(func() {
		close(st.stop)
		<-st.sender
		if st.s == nil {
			return
		}
		want := 0
		for _, k := range st.sent {
			want += k
		}
		st.mu.Lock()
		st.want = want
		wait := time.Second
		if st.total == want {
			wait = 0
		}
		st.mu.Unlock()
		st.s.c.SetReadDeadline(time.Now().Add(wait))
		<-st.reader
		st.s.c.Close()
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sent, append([]int(nil), st.answered...)
}
