package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/lcp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/link"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/mp"
	"github.com/pppoe-xdp/pppoe-xdp/control/pppoe"
)

// hub is an in-memory broadcast domain: every frame written by one
// endpoint reaches every other one, as on a shared Ethernet segment.
type hub struct {
	mu  sync.Mutex
	eps []*endpoint
}

type endpoint struct {
	h      *hub
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	// cut takes the endpoint off the wire: what it writes is lost (a
	// process killed with its socket).
	cut atomic.Bool
}

func (h *hub) endpoint() *endpoint {
	e := &endpoint{h: h, in: make(chan []byte, 1024), closed: make(chan struct{})}
	h.mu.Lock()
	h.eps = append(h.eps, e)
	h.mu.Unlock()
	return e
}

func (e *endpoint) ReadFrame(b []byte) (int, error) {
	select {
	case f := <-e.in:
		return copy(b, f), nil
	case <-e.closed:
		return 0, ErrClosed
	}
}

func (e *endpoint) WriteFrame(b []byte) error {
	if e.cut.Load() {
		return nil
	}
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	for _, o := range e.h.eps {
		if o == e {
			continue
		}
		select {
		case o.in <- append([]byte(nil), b...):
		default:
		}
	}
	return nil
}

func (e *endpoint) SetReadDeadline(time.Time) error { return nil }

func (e *endpoint) Close() error {
	e.once.Do(func() { close(e.closed) })
	return nil
}

var (
	acMAC     = net.HardwareAddr{0x02, 0xac, 0, 0, 0, 0x01}
	clientMAC = net.HardwareAddr{0x02, 0xc1, 0, 0, 0, 0x02}
)

// fakeInterfaces attaches every client to one Mux on the hub, as the
// daemon attaches the clients of one interface to one AF_PACKET socket.
// Interfaces can go (their Mux shut down) and come back (a new Mux).
type fakeInterfaces struct {
	t   *testing.T
	h   *hub
	mac net.HardwareAddr

	mu      sync.Mutex
	mux     *Mux
	present map[string]bool
	ifindex int
}

func newFakeInterfaces(t *testing.T, h *hub, mac net.HardwareAddr) *fakeInterfaces {
	f := &fakeInterfaces{t: t, h: h, mac: mac, present: map[string]bool{"ether1": true, "ether2": true}, ifindex: 2}
	f.mux = f.newMux()
	return f
}

func (f *fakeInterfaces) newMux() *Mux {
	m := NewMux(f.h.endpoint())
	f.t.Cleanup(func() { m.Close() })
	return m
}

func (f *fakeInterfaces) Attach(name string) (Attachment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.present[name] {
		return Attachment{}, fmt.Errorf("no interface %q", name)
	}
	return Attachment{Conn: f.mux.Port(), Ifindex: f.ifindex, MAC: f.mac, Lost: f.mux.Done()}, nil
}

// gone deletes an interface: its socket is shut down under the clients.
func (f *fakeInterfaces) gone(name string) {
	f.mu.Lock()
	delete(f.present, name)
	m := f.mux
	f.mux = f.newMux()
	f.mu.Unlock()
	m.Shutdown("interface " + name + " deleted")
}

// add creates an interface, with a new ifindex.
func (f *fakeInterfaces) add(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.present[name] = true
	f.ifindex++
}

// fakeDP is a DataPlane keeping netdevs in memory.
type fakeDP struct {
	mu      sync.Mutex
	next    int
	netdevs map[string]*fakeNetdev
	// mp makes the netdevs MPNetdevs (multilink's user-space half).
	mp bool
}

// fakeMPNetdev is a fakeNetdev with multilink's user-space half.
type fakeMPNetdev struct {
	*fakeNetdev
}

func (n fakeMPNetdev) Inject(proto ppp.Protocol, _ []byte) error {
	n.dp.mu.Lock()
	defer n.dp.mu.Unlock()
	n.injected = append(n.injected, proto)
	return nil
}

func (n fakeMPNetdev) Divert(to func(ppp.Protocol, []byte)) {
	n.dp.mu.Lock()
	defer n.dp.mu.Unlock()
	n.divert, n.divertTo = to != nil, to
}

type fakeNetdev struct {
	dp      *fakeDP
	name    string
	ifindex int
	mtu     int
	demand  chan struct{}

	// guarded by dp.mu
	session  *Session
	installs int
	closed   bool
	stats    Stats
	divert   bool // a Divert function is registered
	divertTo func(ppp.Protocol, []byte)
	injected []ppp.Protocol
}

func newFakeDP() *fakeDP { return &fakeDP{next: 100, netdevs: map[string]*fakeNetdev{}} }

func (d *fakeDP) Netdev(name string, mtu int) (Netdev, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if nd, ok := d.netdevs[name]; ok && !nd.closed {
		return nil, fmt.Errorf("netdev %s exists", name)
	}
	d.next++
	nd := &fakeNetdev{dp: d, name: name, ifindex: d.next, mtu: mtu, demand: make(chan struct{}, 1)}
	d.netdevs[name] = nd
	if d.mp {
		return fakeMPNetdev{nd}, nil
	}
	return nd, nil
}

// get returns a copy of the netdev's state.
func (d *fakeDP) get(name string) (fakeNetdev, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	nd, ok := d.netdevs[name]
	if !ok {
		return fakeNetdev{}, false
	}
	return fakeNetdev{name: nd.name, ifindex: nd.ifindex, mtu: nd.mtu, session: nd.session, installs: nd.installs, closed: nd.closed,
		divert: nd.divert, divertTo: nd.divertTo, injected: slices.Clone(nd.injected)}, true
}

func (n *fakeNetdev) Ifindex() int { return n.ifindex }

func (n *fakeNetdev) Install(s Session) error {
	n.dp.mu.Lock()
	defer n.dp.mu.Unlock()
	if n.closed {
		return errors.New("netdev closed")
	}
	n.session = &s
	n.installs++
	return nil
}

func (n *fakeNetdev) Remove() error {
	n.dp.mu.Lock()
	defer n.dp.mu.Unlock()
	n.session = nil
	return nil
}

func (n *fakeNetdev) Stats() (Stats, error) {
	n.dp.mu.Lock()
	defer n.dp.mu.Unlock()
	return n.stats, nil
}

func (n *fakeNetdev) Demand() <-chan struct{} { return n.demand }

func (n *fakeNetdev) Close() error {
	n.dp.mu.Lock()
	defer n.dp.mu.Unlock()
	n.session = nil
	n.closed = true
	return nil
}

// fakeRoutes records addresses and routes.
type fakeRoutes struct {
	mu     sync.Mutex
	addrs  map[Address]bool
	routes map[Route]bool
}

func newFakeRoutes() *fakeRoutes {
	return &fakeRoutes{addrs: map[Address]bool{}, routes: map[Route]bool{}}
}

func (r *fakeRoutes) AddAddress(a Address) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.addrs[a] {
		return fmt.Errorf("address %v: %w", a, fs.ErrExist)
	}
	r.addrs[a] = true
	return nil
}

func (r *fakeRoutes) DelAddress(a Address) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.addrs[a] {
		return fmt.Errorf("no address %v", a)
	}
	delete(r.addrs, a)
	return nil
}

func (r *fakeRoutes) AddRoute(rt Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.routes[rt] {
		return fmt.Errorf("route %v: %w", rt, fs.ErrExist)
	}
	r.routes[rt] = true
	return nil
}

func (r *fakeRoutes) DelRoute(rt Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.routes[rt] {
		return fmt.Errorf("no route %v", rt)
	}
	delete(r.routes, rt)
	return nil
}

func (r *fakeRoutes) snapshot() ([]Address, []Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var as []Address
	for a := range r.addrs {
		as = append(as, a)
	}
	var rs []Route
	for rt := range r.routes {
		rs = append(rs, rt)
	}
	return as, rs
}

// testAC is a scripted access concentrator: pppoe.Server for discovery and
// a link.Link in the Authenticator role per session.
type testAC struct {
	t      *testing.T
	ep     *endpoint
	srv    *pppoe.Server
	ids    *pppoe.SessionIDs
	secret map[string]string
	local  netip.Addr
	pool   []netip.Addr // handed out in order, returned on close
	dns    [2]netip.Addr
	mrru   uint16
	v6     *acIPv6

	// padtAfterPADS makes the AC behave as rp-pppoe's pppoe-server
	// without pppd: PADS, then PADT at once.
	padtAfterPADS atomic.Bool
	// silent drops every session frame from clients: a dead AC.
	silent atomic.Bool
	// rejectIPCP answers a client's IPCP with a Protocol-Reject (RFC
	// 1661 §5.7): an AC that offers IPv6 only, as pppd's noip.
	rejectIPCP atomic.Bool

	mu       sync.Mutex
	sessions map[acKey]*acSession
	pending  []acKey // opened by PADR, Up after the PADS went out
	padrs    int
	echoReqs int
	echoReps []uint32 // the magic numbers of Echo-Replies to the AC's Echo-Requests (echo)
	terms    int      // Terminate-Requests received
	padtsIn  int
	// mpRe reassembles each session's MP fragments (RFC 1990) as an AC
	// would; mpDelivered counts the packets it completed.
	mpRe        map[acKey]*mp.Reassembler
	mpDelivered int
}

type acKey struct {
	mac [6]byte
	sid uint16
}

type acSession struct {
	lk   *link.Link
	c    pppoe.Circuit
	addr netip.Addr
	v6   *acV6 // IPv6 while IPv6CP is open (ipv6_test.go)
}

type acOptions struct {
	name     string
	mac      net.HardwareAddr
	services []string
	local    string
	pool     []string
	dns      [2]string
	secrets  map[string]string
	mrru     uint16  // the AC's mrru, 0 disabled
	ipv6     *acIPv6 // IPv6CP, RA and DHCPv6 (ipv6_test.go); nil rejects IPv6CP
}

func newTestAC(t *testing.T, h *hub, o acOptions) *testAC {
	ac := &testAC{t: t, ep: h.endpoint(), ids: pppoe.NewSessionIDs(), secret: o.secrets, mrru: o.mrru, v6: o.ipv6,
		local: netip.MustParseAddr(o.local), sessions: map[acKey]*acSession{}}
	for _, p := range o.pool {
		ac.pool = append(ac.pool, netip.MustParseAddr(p))
	}
	for i, d := range o.dns {
		if d != "" {
			ac.dns[i] = netip.MustParseAddr(d)
		}
	}
	ac.srv = pppoe.NewServer(pppoe.ServerConfig{ACName: o.name, MAC: o.mac, Ifindex: 1, ServiceNames: o.services,
		MaxPayload: 1480}, ac, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ac.loop(ctx) }()
	t.Cleanup(func() { cancel(); ac.ep.Close(); <-done })
	return ac
}

// Open implements pppoe.Admission.
func (ac *testAC) Open(c pppoe.Circuit, r pppoe.PADR) (uint16, error) {
	maxPayload := r.MaxPayload
	sid, err := ac.ids.Allocate(c.MAC)
	if err != nil {
		return 0, err
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	ac.padrs++
	k := acKey{c.MAC, sid}
	s := &acSession{c: c}
	lk, err := link.New(link.Config{
		Role:     link.Authenticator,
		Methods:  []auth.Method{auth.MSCHAPv2, auth.MSCHAPv1, auth.CHAP, auth.PAP},
		Verifier: link.Passwords(func(u string) (string, bool) { p, ok := ac.secret[u]; return p, ok }),
		Addresses: link.AddressFunc(func(string) (link.IPConfig, error) {
			// Called from Receive with ac.mu held.
			if len(ac.pool) == 0 {
				return link.IPConfig{}, errors.New("pool exhausted")
			}
			s.addr, ac.pool = ac.pool[0], ac.pool[1:]
			return link.IPConfig{Local: ac.local, Remote: s.addr, DNS1: ac.dns[0], DNS2: ac.dns[1]}, nil
		}),
		MaxPayload:  maxPayload,
		Restart:     100 * time.Millisecond,
		Multilink:   lcp.MultilinkPolicy{MRRU: ac.mrru},
		IPv6:        func() bool { return ac.v6 != nil },
		InterfaceID: ac.v6.interfaceID(),
	})
	if err != nil {
		ac.t.Errorf("AC link: %v", err)
		return 0, err
	}
	s.lk = lk
	ac.sessions[k] = s
	ac.pending = append(ac.pending, k)
	return sid, nil
}

// Close implements pppoe.Admission: the client's PADT.
func (ac *testAC) Close(c pppoe.Circuit, sid uint16) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	ac.padtsIn++
	ac.drop(acKey{c.MAC, sid})
}

// drop forgets a session; ac.mu held.
func (ac *testAC) drop(k acKey) {
	if s, ok := ac.sessions[k]; ok {
		if s.addr.IsValid() {
			ac.pool = append(ac.pool, s.addr)
		}
		delete(ac.sessions, k)
		ac.ids.Release(k.mac, k.sid)
	}
}

func (ac *testAC) loop(ctx context.Context) {
	frames := make(chan []byte, 64)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := ac.ep.ReadFrame(buf)
			if err != nil {
				return
			}
			frames <- append([]byte(nil), buf[:n]...)
		}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-frames:
			ac.frame(f)
		case now := <-tick.C:
			ac.mu.Lock()
			for k, s := range ac.sessions {
				ac.output(k, s, s.lk.Tick(now))
				ac.tickIPv6(k, s, now)
			}
			ac.mu.Unlock()
		}
	}
}

func (ac *testAC) frame(b []byte) {
	now := time.Now()
	for _, r := range ac.srv.Handle(b, now) {
		ac.ep.WriteFrame(r)
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	for _, k := range ac.pending {
		s := ac.sessions[k]
		if s == nil {
			continue
		}
		if ac.padtAfterPADS.Load() {
			ac.ep.WriteFrame(ac.srv.PADT(s.c, k.sid, "pppd could not start"))
			ac.drop(k)
			continue
		}
		ac.output(k, s, s.lk.Up(now))
	}
	ac.pending = nil
	f, p, err := pppoe.ParseFrame(b)
	if err != nil || p.Code != pppoe.CodeSession {
		return
	}
	c, err := pppoe.CircuitOf(1, &f)
	if err != nil {
		return
	}
	k := acKey{c.MAC, p.SessionID}
	s := ac.sessions[k]
	if s == nil {
		return
	}
	var pf ppp.Frame
	if pf.UnmarshalBinary(p.Payload) != nil {
		return
	}
	if pf.Protocol == ppp.ProtocolLCP && len(pf.Information) > 0 {
		switch ppp.Code(pf.Information[0]) {
		case ppp.EchoRequest:
			ac.echoReqs++
		case ppp.TerminateRequest:
			ac.terms++
		}
	}
	if ac.silent.Load() {
		return
	}
	if pf.Protocol == ppp.ProtocolIPv6 {
		ac.receiveIPv6(k, s, pf.Information, now)
		return
	}
	if pf.Protocol == ppp.ProtocolMP {
		ac.reassemble(k, s, pf.Information, now)
		return
	}
	if pf.Protocol == ppp.ProtocolIPCP && ac.rejectIPCP.Load() {
		rej := ppp.NewProtocolReject(0x42, pf, 1480)
		if b, err := rej.MarshalBinary(); err == nil {
			ac.send(k, s, ppp.Frame{Protocol: ppp.ProtocolLCP, Information: b})
		}
		return
	}
	ac.output(k, s, s.lk.Receive(pf, now))
}

// reassemble takes one of a session's MP fragments; ac.mu held.
func (ac *testAC) reassemble(k acKey, s *acSession, b []byte, now time.Time) {
	if ac.mpRe == nil {
		ac.mpRe = map[acKey]*mp.Reassembler{}
	}
	re := ac.mpRe[k]
	if re == nil {
		in := s.lk.Info()
		f := mp.Long
		if in.Multilink.RecvShortSeq {
			f = mp.Short
		}
		re = mp.NewReassembler(mp.ReassemblerConfig{Format: f, MRRU: in.Multilink.RecvMRRU, MRU: in.MRU})
		ac.mpRe[k] = re
	}
	out, _ := re.Receive(b, now)
	ac.mpDelivered += len(out)
}

// output sends a link's frames and acts on Down; ac.mu held.
func (ac *testAC) output(k acKey, s *acSession, out link.Output) {
	for _, f := range out.Send {
		ac.send(k, s, f)
	}
	for _, ev := range out.Events {
		if r, ok := ev.(link.EchoReply); ok {
			ac.echoReps = append(ac.echoReps, r.Magic)
		}
		ac.eventIPv6(k, s, ev)
		if _, ok := ev.(link.Down); ok {
			ac.ep.WriteFrame(ac.srv.PADT(s.c, k.sid, ""))
			ac.drop(k)
			return
		}
	}
}

// send sends one PPP frame of session k; ac.mu held.
func (ac *testAC) send(k acKey, s *acSession, f ppp.Frame) {
	pl, err := f.MarshalBinary()
	if err != nil {
		ac.t.Errorf("AC marshal: %v", err)
		return
	}
	b, err := pppoe.MarshalFrame(s.c.HardwareAddr(), ac.srv.Config().MAC, nil,
		&pppoe.Packet{Code: pppoe.CodeSession, SessionID: k.sid, Payload: pl})
	if err != nil {
		ac.t.Errorf("AC marshal: %v", err)
		return
	}
	ac.ep.WriteFrame(b)
}

// kill ends every session from the AC's side with a PADT.
func (ac *testAC) kill(msg string) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	for k, s := range ac.sessions {
		ac.ep.WriteFrame(ac.srv.PADT(s.c, k.sid, msg))
		ac.drop(k)
	}
}

func (ac *testAC) count(f func(ac *testAC) int) int {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return f(ac)
}

// fastTiming makes every timer short enough for unit tests.
var fastTiming = Timing{
	DiscoveryTimeout:    30 * time.Millisecond,
	DiscoveryMaxTimeout: 120 * time.Millisecond,
	DiscoveryLimit:      time.Second,
	Restart:             100 * time.Millisecond,
	ReconnectMin:        20 * time.Millisecond,
	ReconnectMax:        100 * time.Millisecond,
	EchoInterval:        20 * time.Millisecond,
	CloseTimeout:        500 * time.Millisecond,
}

// loadClient parses a RouterOS /interface pppoe-client line, the way the
// daemon gets its config.
func loadClient(t *testing.T, script string) config.Client {
	t.Helper()
	c, err := config.Load(script)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if c.Clients.Len() != 1 {
		t.Fatalf("config: %d clients, want 1", c.Clients.Len())
	}
	return c.Clients.At(0)
}

// env is one test's world: a hub, the client side's fakes.
type env struct {
	mu     sync.Mutex
	states []State // status changes of the clients started, deduplicated

	hub     *hub
	ifs     *fakeInterfaces
	dp      *fakeDP
	routes  *fakeRoutes
	dns     *ResolvConf
	dnsPath string
}

func newEnv(t *testing.T) *env {
	h := &hub{}
	path := t.TempDir() + "/resolv.conf"
	return &env{hub: h, ifs: newFakeInterfaces(t, h, clientMAC), dp: newFakeDP(), routes: newFakeRoutes(),
		dns: NewResolvConf(path), dnsPath: path}
}

func (e *env) deps() Deps {
	return Deps{Interfaces: e.ifs, DataPlane: e.dp, Routes: e.routes, DNS: e.dns, Timing: fastTiming}
}

// start runs a client until the test ends; the returned func stops it and
// waits for Run to return.
func (e *env) start(t *testing.T, cfg config.Client) (*Client, func()) {
	t.Helper()
	c, err := New(cfg, e.deps(), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.trace(c)
	return c, run(t, c).stop
}

// running is a client's Run in its own goroutine.
type running struct {
	t        *testing.T
	cancel   context.CancelFunc
	finished chan struct{} // closed when Run has returned, with err set
	err      error
	once     sync.Once
}

// run starts c.Run. Its stop, which also runs when the test ends, cancels
// Run and waits for it: Run's teardown still writes (resolv.conf in the
// test's TempDir, the fakes), so it must be over before the test is.
func run(t *testing.T, c *Client) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, cancel: cancel, finished: make(chan struct{})}
	go func() {
		r.err = c.Run(ctx)
		close(r.finished)
	}()
	t.Cleanup(r.stop)
	return r
}

// stop cancels Run and fails the test if it does not return, or returns
// an error.
func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.finished:
			if r.err != nil {
				r.t.Errorf("Run: %v", r.err)
			}
		case <-time.After(5 * time.Second):
			r.t.Errorf("Run did not return")
		}
	})
}

// waitFor polls cond until it holds or the hang guard fires.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func connected(c *Client) func() bool {
	return func() bool { return c.Monitor().Status == StateConnected }
}

func macEqual(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) }

type configClient = config.Client

func configSeconds(d time.Duration) config.Seconds { return config.Seconds(d) }

// trace records c's status changes into e.states.
func (e *env) trace(c *Client) {
	c.trace = func(s Status) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if n := len(e.states); n == 0 || e.states[n-1] != s.Status {
			e.states = append(e.states, s.Status)
		}
	}
}

func (e *env) history() []State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.states)
}

func loadClientNoT(script string) config.Client {
	c, err := config.Load(script)
	if err != nil || c.Clients.Len() != 1 {
		panic(err)
	}
	return c.Clients.At(0)
}
