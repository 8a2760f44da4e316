package server

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
	"github.com/pppoe-xdp/pppoe-xdp/control/restart"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/control/state"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
)

// BenchmarkAdopt measures what a start costs with n sessions left by the
// previous run: restart.Reconcile reading the pinned maps and the state
// store, and the server adopting each session (record decoded, address
// reserved in its pool, id reserved, link restored, entry looked up,
// session started). The sessions are installed in real BPF maps and
// recorded in a real store first, outside the timer; their records are
// what the journal writes, queued with a state.Writer 64 at a time as
// pppoed's sessions queue them: the benchmark reports that write cost
// per session too, and the CPU time the process spent adopting beside
// the wall time.
//
//	go test -run - -bench Adopt -benchtime 1x ./control/server/
func BenchmarkAdopt(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchAdopt(b, n) })
	}
}

const adoptConfig = `
/ip pool add name=subs ranges=10.64.0.0/14
/ppp profile add name=p local-address=10.0.0.1 remote-address=subs
/ppp secret add name=alice password=wonderland profile=p
/interface pppoe-server server add interface=ether1 service-name=internet disabled=no default-profile=p
/system identity set name=ac1
`

// savedLink is an opened link as link.Save returns it: LCP with MRU and
// magic numbers, IPCP with the addresses.
func savedLink(local, remote netip.Addr, magic uint32) link.Saved {
	m := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	return link.Saved{
		Info: link.Info{Role: link.Authenticator, MRU: 1492, MTU: 1492, LocalMagic: magic, PeerMagic: ^magic,
			Method: auth.PAP, User: "alice", IP: link.IPConfig{Local: local, Remote: remote}},
		LCP: link.SavedProtocol{Protocol: ppp.ProtocolLCP, LastID: 1,
			Ours:   []ppp.Option{{Type: 5, Data: m(magic)}, {Type: 3, Data: []byte{0xc0, 0x23}}},
			Theirs: []ppp.Option{{Type: 1, Data: []byte{0x05, 0xd4}}, {Type: 5, Data: m(^magic)}}},
		NCPs: []link.SavedProtocol{{Protocol: ppp.ProtocolIPCP, LastID: 1,
			Ours:   []ppp.Option{{Type: 3, Data: local.AsSlice()}},
			Theirs: []ppp.Option{{Type: 3, Data: remote.AsSlice()}}}},
	}
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine the wall time swings with the load, the CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchAdopt(b *testing.B, n int) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pin := filepath.Join(maps.DefaultPinPath+"-test", fmt.Sprintf("server-adopt-%d", os.Getpid()))
		d, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: uint32(n + 16)})
		if err != nil {
			b.Skipf("maps: %v", err)
		}
		store, err := state.Open(b.TempDir(), state.Options{})
		if err != nil {
			b.Fatal(err)
		}
		dp := NewDataPlane(d)
		local := netip.MustParseAddr("10.0.0.1")
		base := netip.MustParseAddr("10.64.0.0")
		started := time.Now().Add(-time.Hour).UTC()
		recs := make([]state.Session, n)
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range work {
					mac := [6]byte{0x02, 0, byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
					sid := uint16(k%0xfffe) + 1
					remote := netip.AddrFrom4([4]byte{base.As4()[0], base.As4()[1] + byte(k>>16), byte(k >> 8), byte(k)})
					e := session.Entry{Circuit: pppoe.Circuit{Ifindex: 5, MAC: mac}, SessionID: sid, ACMAC: acMAC, IPv4: remote, MTU: 1492}
					if _, err := dp.Install(e); err != nil {
						b.Error(err)
						return
					}
					lk, _ := savedLink(local, remote, uint32(k)+1).MarshalBinary()
					rec := state.Session{Handle: uint64(k) + 1, Role: state.RoleServer, Phase: state.PhaseUp, SessionID: sid,
						PeerMAC: mac, Iface: state.Interface{Name: "ether1", Parent: "ether1", Ifindex: 5},
						MagicLocal: uint32(k) + 1, MagicPeer: ^(uint32(k) + 1), MRU: 1492, MTU: 1492,
						User: "alice", Profile: "p", Service: "internet", Pool: "subs", LocalIPv4: local, PeerIPv4: remote,
						Started: started, Link: lk}
					copy(rec.LocalMAC[:], acMAC)
					recs[k] = rec
				}
			}()
		}
		for k := 0; k < n; k++ {
			work <- k
		}
		close(work)
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		// The records go in as pppoed writes them: 64 sessions at a time
		// queue theirs with the state.Writer, whose goroutine commits.
		// Its time per record is what the store costs a session setup.
		writer := state.NewWriter(store, state.WriterOptions{})
		cpu0, t0 := cpuTime(), time.Now()
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := w; k < n; k += 64 {
					if err := writer.Put(recs[k], recs[k].SessionID); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		writer.Flush()
		writeWall, writeCPU := time.Since(t0), cpuTime()-cpu0
		writer.Close()
		recs = nil
		cfg, err := config.Load(adoptConfig)
		if err != nil {
			b.Fatal(err)
		}
		aaaLocal, err := aaa.New(cfg.LocalAAA(), nil)
		if err != nil {
			b.Fatal(err)
		}
		h := &hub{}
		var res restart.Result
		b.StartTimer()
		cpu0, t0 = cpuTime(), time.Now()
		srv, err := New(cfg, Options{
			AAA: aaaLocal, DataPlane: dp, State: store,
			// Idle sessions would start probing 10 s after adoption, and
			// their echoes go unanswered here: not what is measured.
			KeepaliveTimeout: time.Hour,
			Open:             func(string) (Port, error) { return Port{Conn: h.endpoint(), Ifindex: 5, MAC: acMAC}, nil },
			Resume: func(s *Server) (err error) {
				res, err = restart.Reconcile(restart.Options{Store: store, DataPlane: d, Adopter: s})
				return err
			},
		})
		took, cpu := time.Since(t0), cpuTime()-cpu0
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Adopted != n || len(srv.Sessions()) != n || aaaLocal.PoolUsed("subs") != n {
			b.Errorf("adopted %d, swept %d, %d sessions, pool %d used; want %d", res.Adopted, res.Swept, len(srv.Sessions()), aaaLocal.PoolUsed("subs"), n)
		}
		b.ReportMetric(took.Seconds(), "s/start")
		b.ReportMetric(cpu.Seconds(), "cpu-s/start")
		b.ReportMetric(float64(writeWall.Microseconds())/float64(n), "µs-write/session")
		b.ReportMetric(float64(writeCPU.Microseconds())/float64(n), "cpu-µs-write/session")
		b.Logf("%d sessions adopted in %v (%v of CPU, GOMAXPROCS %d); their records written in %v (%v of CPU)",
			res.Adopted, took, cpu, runtime.GOMAXPROCS(0), writeWall, writeCPU)
		srv.Close()
		store.Close()
		if err := d.Unpin(); err != nil {
			b.Error(err)
		}
		d.Close()
	}
}
