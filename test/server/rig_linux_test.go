// Package server_test runs the access concentrator (control/server) end to
// end: subscriber, AC and core network namespaces joined by veth pairs,
// the BPF data plane attached for real, and scripted subscribers
// (test/peer) that discover, authenticate, get an address and send
// traffic through the maps.
package server_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/afpacket"
	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/radius"
	"github.com/pppoe-xdp/pppoe-xdp/control/radiusaaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/server"
	"github.com/pppoe-xdp/pppoe-xdp/control/session"
	"github.com/pppoe-xdp/pppoe-xdp/maps"
	"github.com/pppoe-xdp/pppoe-xdp/test/netns"
	"github.com/pppoe-xdp/pppoe-xdp/test/peer"
)

// quickExample is the RouterOS reference's PPPoE server Quick Example,
// with the AC's access veth as the interface.
const quickExample = `
/ip pool add name=pppoe-pool ranges=10.0.0.2-10.0.0.5
/ppp profile add local-address=10.0.0.1 name=for-pppoe remote-address=pppoe-pool
/ppp secret add name=MT-User password=StrongPass profile=for-pppoe service=pppoe
/system identity set name=test-ac
`

// quickServer is the Quick Example's server entry.
const quickServer = `/interface pppoe-server server add default-profile=for-pppoe disabled=no interface=acc0 service-name=pppoeservice`

var (
	acLocal  = netip.MustParseAddr("10.0.0.1")
	poolNet  = netip.MustParsePrefix("10.0.0.0/29")
	coreAddr = netip.MustParseAddr("198.51.100.2")
)

// rig is subscriber ─eth0/acc0─ AC ─up0/cor0─ core, with control/server
// and the data plane running for the AC.
type rig struct {
	t             *testing.T
	sub, ac, core *netns.NS
	acc0, up0     int
	accMAC        net.HardwareAddr
	dp            *maps.Datapath
	aaa           *aaa.Local
	srv           *server.Server
	mux           *peer.Mux
	nextMAC       byte
	keepalive     time.Duration
	echoInterval  time.Duration
	accessMTU     int
	fastFarEnds   bool
	// radiusConfig, when set, is added to the configuration and the AAA
	// is radius.Backend over the local secrets (radius_linux_test.go).
	radiusConfig string
	backend      *radiusaaa.Backend
}

// rigOption changes the rig before the server starts.
type rigOption func(*rig)

// withKeepalive overrides every server's keepalive-timeout and the probe
// period, as the daemon's tests would.
func withKeepalive(timeout, echo time.Duration) rigOption {
	return func(r *rig) { r.keepalive, r.echoInterval = timeout, echo }
}

// withAccessMTU sets the MTU of both ends of the access veth.
func withAccessMTU(mtu int) rigOption { return func(r *rig) { r.accessMTU = mtu } }

// withFastFarEnds turns GRO on at both far ends (cor0, eth0), so the AC's
// veths take XDP frames and its fast paths redirect both ways; for tests
// that exist to show the fast path. Without it the kernel forwards what
// the fast paths would redirect.
func withFastFarEnds() rigOption { return func(r *rig) { r.fastFarEnds = true } }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// requireRoot fails without root: BPF and network namespaces need it.
func requireRoot(t *testing.T) {
	t.Helper()
	netns.RequireRoot(t)
}

// newRig builds the namespaces, attaches the data plane as the daemon
// would and starts control/server with quickExample + servers.
func newRig(t *testing.T, servers string, opts ...rigOption) *rig {
	requireRoot(t)
	r := &rig{t: t, sub: netns.New(t), ac: netns.New(t), core: netns.New(t), nextMAC: 1}
	for _, o := range opts {
		o(r)
	}
	_, r.acc0 = netns.Veth(t, r.sub, "eth0", r.ac, "acc0")
	r.up0, _ = netns.Veth(t, r.ac, "up0", r.core, "cor0")
	if r.accessMTU != 0 {
		mtu := fmt.Sprint(r.accessMTU)
		r.sub.Run(t, "ip", "link", "set", "eth0", "mtu", mtu)
		r.ac.Run(t, "ip", "link", "set", "acc0", "mtu", mtu)
	}

	// Core: the far end, routing the pool back to the AC.
	r.core.Run(t, "ip", "addr", "add", coreAddr.String()+"/24", "dev", "cor0")
	r.core.Run(t, "ip", "route", "add", poolNet.String(), "via", "198.51.100.1")
	r.core.TxChecksumOff(t, "cor0")
	if r.fastFarEnds {
		r.core.GRO(t, "cor0", true)
		r.sub.GRO(t, "eth0", true)
	}

	// AC: forwarding, uplink address, pppoe0 with local-address and the
	// pool routed into it, programs on access, uplink and pppoe0.
	r.ac.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	r.ac.Run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "up0")
	pin := filepath.Join(maps.DefaultPinPath+"-test", r.ac.Name)
	dp, err := maps.Open(maps.Options{PinPath: pin, MaxSessions: 1024})
	must(t, err)
	t.Cleanup(func() {
		if err := dp.Unpin(); err != nil {
			t.Error(err)
		}
		dp.Close()
	})
	r.dp = dp
	must(t, r.ac.Do(t, func() error {
		ifi, err := net.InterfaceByIndex(r.acc0)
		if err != nil {
			return err
		}
		r.accMAC = ifi.HardwareAddr
		dev, err := maps.CreatePPPoE0("pppoe0", "pppoe0-p", 1500)
		if err != nil {
			return err
		}
		if err := maps.AddAddress(dev.Index, netip.PrefixFrom(acLocal, 32)); err != nil {
			return err
		}
		if err := maps.AddRoute(dev.Index, poolNet); err != nil {
			return err
		}
		if err := dp.SetPPPoE0(dev.Index, dev.MAC); err != nil {
			return err
		}
		if err := dp.AttachAccess(r.acc0); err != nil {
			return err
		}
		if err := dp.AttachUplink(r.up0); err != nil {
			return err
		}
		return dp.AttachPPPoE0(dev.Index)
	}))
	// Static neighbours both ways, so the first packets take the fast path.
	upMAC, corMAC := r.hwaddr(r.ac, "up0"), r.hwaddr(r.core, "cor0")
	r.ac.Run(t, "ip", "neigh", "replace", coreAddr.String(), "lladdr", corMAC.String(), "dev", "up0", "nud", "permanent")
	r.core.Run(t, "ip", "neigh", "replace", "198.51.100.1", "lladdr", upMAC.String(), "dev", "cor0", "nud", "permanent")

	cfg, err := config.Load(quickExample + servers + "\n" + r.radiusConfig)
	must(t, err)
	r.aaa, err = aaa.New(cfg.LocalAAA(), nil)
	must(t, err)
	var backend aaa.Backend = r.aaa
	var observers []session.Observer
	if r.radiusConfig != "" {
		r.backend = radiusaaa.NewBackend(r.aaa, radiusaaa.BackendOptions{
			Sessions:   rigSessions{r},
			Accounting: radius.AccountingOptions{RetryMin: 200 * time.Millisecond, RetryMax: time.Second},
		})
		backend, observers = r.backend, []session.Observer{r.backend}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = r.backend.Close(ctx)
		})
	}
	r.srv, err = server.New(cfg, server.Options{
		AAA:              backend,
		Observers:        observers,
		DataPlane:        server.NewDataPlane(dp),
		Open:             r.open,
		KeepaliveTimeout: r.keepalive,
		EchoInterval:     r.echoInterval,
	})
	must(t, err)
	t.Cleanup(func() { r.srv.Close() })

	must(t, r.sub.Do(t, func() (err error) {
		r.mux, err = peer.Listen("eth0")
		return err
	}))
	t.Cleanup(func() { r.mux.Close() })
	return r
}

// hwaddr returns the MAC address of an interface in n.
func (r *rig) hwaddr(n *netns.NS, name string) net.HardwareAddr {
	var mac net.HardwareAddr
	must(r.t, n.Do(r.t, func() error {
		ifi, err := net.InterfaceByName(name)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}))
	return mac
}

// open opens an access interface inside the AC's namespace and puts the
// data plane on it, as the daemon does (again, for one attached already).
func (r *rig) open(name string) (server.Port, error) {
	var p server.Port
	err := r.ac.Do(r.t, func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		if err := r.dp.AttachAccess(ifi.Index); err != nil {
			return err
		}
		c, err := afpacket.Listen(ifi)
		if err != nil {
			return err
		}
		p = server.Port{Conn: c, Ifindex: ifi.Index, MAC: ifi.HardwareAddr}
		return nil
	})
	return p, err
}

// mac returns a fresh subscriber MAC.
func (r *rig) mac() net.HardwareAddr {
	r.nextMAC++
	return net.HardwareAddr{0x02, 0x5b, 0, 0, 0, r.nextMAC}
}

// peerConfig is the Quick Example's secret on a fresh MAC.
func (r *rig) peerConfig() peer.Config {
	return peer.Config{
		MAC:        r.mac(),
		User:       "MT-User",
		Password:   "StrongPass",
		Timeout:    100 * time.Millisecond,
		MaxTimeout: 400 * time.Millisecond,
		Restart:    300 * time.Millisecond,
	}
}

// dial discovers and brings a session up, failing the test otherwise.
func (r *rig) dial(cfg peer.Config) *peer.Client {
	r.t.Helper()
	c, err := r.tryDial(cfg)
	must(r.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.WaitUp(ctx)
	must(r.t, err)
	return c
}

// tryDial runs discovery only.
func (r *rig) tryDial(cfg peer.Config) (*peer.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := peer.Dial(ctx, r.mux, cfg)
	if err == nil {
		r.t.Cleanup(c.Close)
	}
	return c, err
}

// key is the maps key of a client's session.
func (r *rig) key(c *peer.Client) maps.Key {
	s := c.Session()
	k := maps.Key{Ifindex: r.acc0, SessionID: s.SessionID, ClientMAC: s.LocalMAC}
	if len(s.VLANs) > 0 {
		k.OuterVLAN = s.VLANs[0].ID
	}
	if len(s.VLANs) > 1 {
		k.InnerVLAN = s.VLANs[1].ID
	}
	return k
}

// entry waits for the client's session in the maps.
func (r *rig) entry(t *testing.T, c *peer.Client) (s maps.Session, idx maps.Index) {
	t.Helper()
	eventually(t, 2*time.Second, "maps entry", func() bool {
		var err error
		s, idx, err = r.dp.Lookup(r.key(c))
		return err == nil
	})
	return s, idx
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// clean waits until no session is left: no server session, no maps entry,
// no pool address handed out.
func (r *rig) clean(t *testing.T) {
	t.Helper()
	eventually(t, 5*time.Second, "no sessions, entries or leases", func() bool {
		return len(r.srv.Sessions()) == 0 && r.dp.Len() == 0 && r.aaa.PoolUsed("pppoe-pool") == 0
	})
}

// ended returns how many sessions ended for reason.
func (r *rig) ended(reason session.Reason) uint64 { return r.srv.Counters().Ended[reason] }

// outputHas reports whether every want appears in out.
func outputHas(out string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(out, w) {
			return false
		}
	}
	return true
}
