package pppoe

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/ethernet"
)

// fast client timings, so retransmission tests take milliseconds.
func clientConfig(mac net.HardwareAddr) ClientConfig {
	return ClientConfig{MAC: mac, Timeout: 20 * time.Millisecond, MaxTimeout: 80 * time.Millisecond}
}

// serve runs a server on a new port of h until the test ends.
func serve(t *testing.T, h *hub, cfg ServerConfig, adm Admission) *Server {
	t.Helper()
	s := NewServer(cfg, adm, nil)
	p := h.port()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, p) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve returned %v, want context.Canceled", err)
		}
	})
	return s
}

func discoverCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func count(frames [][]byte, code Code, src net.HardwareAddr) int {
	n := 0
	for _, b := range frames {
		f, p, err := ParseFrame(b)
		if err == nil && p.Code == code && bytes.Equal(f.Source, src) {
			n++
		}
	}
	return n
}

func TestDiscover(t *testing.T) {
	h := &hub{}
	adm := &fakeAdm{}
	serve(t, h, testConfig(), adm)
	cfg := clientConfig(subMAC)
	cfg.VLANs = qinq
	cfg.MaxPayload = 1500
	cfg.HostUniq = []byte("me")
	s, err := Discover(discoverCtx(t), h.port(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := Session{
		ACMAC: srvMAC, ACName: "ac1", ServiceName: "internet", SessionID: 1, MaxPayload: 1500,
		LocalMAC: subMAC, VLANs: qinq, HostUniq: []byte("me"),
	}
	// The cookie is the PADO's, echoed in the PADR.
	var offered, echoed ACCookie
	for _, b := range h.frames() {
		switch _, p, _ := ParseFrame(b); p.Code {
		case CodePADO:
			offered, _ = FindTag[ACCookie](p.Tags)
		case CodePADR:
			echoed, _ = FindTag[ACCookie](p.Tags)
		}
	}
	if len(offered) != CookieLen || !bytes.Equal(offered, echoed) || !bytes.Equal(s.Cookie, offered) {
		t.Fatalf("PADO cookie %x, PADR cookie %x, session cookie %x", offered, echoed, s.Cookie)
	}
	s.Cookie = nil
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("session\n got %+v\nwant %+v", s, want)
	}
	opens := adm.opens()
	if len(opens) != 1 || opens[0].c != circuitFor(subMAC, qinq) || opens[0].hostUniq != "me" {
		t.Fatalf("Open calls %+v", opens)
	}
	// The client's PADT for the session parses and names it.
	b, err := s.PADT("user request")
	if err != nil {
		t.Fatal(err)
	}
	f, p, err := ParseFrame(b)
	if err != nil || p.Code != CodePADT || p.SessionID != 1 || !bytes.Equal(f.Destination, srvMAC) || !reflect.DeepEqual(f.VLANs, qinq) {
		t.Fatalf("client PADT %+v %+v %v", f, p, err)
	}
}

func TestDiscoverRetransmitsLostPADI(t *testing.T) {
	h := &hub{}
	var mu sync.Mutex
	lost := 0
	h.drop = func(b []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		if _, p, _ := ParseFrame(b); p.Code == CodePADI && lost < 2 {
			lost++
			return true
		}
		return false
	}
	serve(t, h, testConfig(), &fakeAdm{})
	start := time.Now()
	if _, err := Discover(discoverCtx(t), h.port(), clientConfig(subMAC)); err != nil {
		t.Fatal(err)
	}
	if n := count(h.frames(), CodePADI, subMAC); n != 3 {
		t.Fatalf("%d PADIs sent, want 3 (two lost)", n)
	}
	// Two timeouts, doubling: 20ms + 40ms.
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("discovery took %v, less than the 60ms of two backed-off timeouts", d)
	}
}

func TestDiscoverLostPADSGetsTheSameSession(t *testing.T) {
	h := &hub{}
	var mu sync.Mutex
	lost := false
	h.drop = func(b []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		if _, p, _ := ParseFrame(b); p.Code == CodePADS && !lost {
			lost = true
			return true
		}
		return false
	}
	adm := &fakeAdm{}
	s := serve(t, h, testConfig(), adm)
	sess, err := Discover(discoverCtx(t), h.port(), clientConfig(subMAC))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(adm.opens()); n != 1 || sess.SessionID != adm.opens()[0].sid {
		t.Fatalf("%d sessions opened, client has 0x%04x", n, sess.SessionID)
	}
	if c := s.Counters(); c.PADRDuplicates != 1 {
		t.Fatalf("PADRDuplicates = %d, want 1", c.PADRDuplicates)
	}
}

// TestDiscoverTwoClientsOneMAC runs two clients with the same MAC on one
// segment (two pppoe-client entries on one interface): each sees the
// other's PADO and PADS and must keep only its own, by Host-Uniq.
func TestDiscoverTwoClientsOneMAC(t *testing.T) {
	h := &hub{}
	adm := &fakeAdm{}
	serve(t, h, testConfig(), adm)
	ctx := discoverCtx(t)
	var wg sync.WaitGroup
	sessions := make([]Session, 2)
	errs := make([]error, 2)
	for i := range 2 {
		p := h.port()
		wg.Go(func() { sessions[i], errs[i] = Discover(ctx, p, clientConfig(subMAC)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if sessions[0].SessionID == sessions[1].SessionID {
		t.Fatalf("both clients got session 0x%04x", sessions[0].SessionID)
	}
	if bytes.Equal(sessions[0].HostUniq, sessions[1].HostUniq) {
		t.Fatal("both clients drew the same Host-Uniq")
	}
	got := map[string]uint16{}
	for _, o := range adm.opens() {
		got[o.hostUniq] = o.sid
	}
	for _, s := range sessions {
		if got[string(s.HostUniq)] != s.SessionID {
			t.Fatalf("client with Host-Uniq %x has session 0x%04x, AC opened %v", s.HostUniq, s.SessionID, got)
		}
	}
}

func secondServer() ServerConfig {
	cfg := testConfig()
	cfg.ACName = "ac2"
	cfg.MAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	cfg.ServiceNames = []string{"iptv"}
	return cfg
}

func TestScanSeesTwoServers(t *testing.T) {
	h := &hub{}
	serve(t, h, testConfig(), &fakeAdm{})
	serve(t, h, secondServer(), &fakeAdm{})
	offers, err := Scan(discoverCtx(t), h.port(), 150*time.Millisecond, clientConfig(subMAC))
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ service, mac, acName string }
	got := map[row]bool{}
	key := func(o Offer) row { return row{o.Service, o.MACAddress.String(), o.ACName} }
	for _, o := range offers {
		if got[key(o)] {
			t.Fatalf("offer %+v listed twice", o)
		}
		got[key(o)] = true
	}
	want := []Offer{
		{Service: "internet", MACAddress: srvMAC, ACName: "ac1"},
		{Service: "voip", MACAddress: srvMAC, ACName: "ac1"},
		{Service: "iptv", MACAddress: secondServer().MAC, ACName: "ac2"},
	}
	if len(offers) != len(want) {
		t.Fatalf("offers %+v, want %+v", offers, want)
	}
	for _, w := range want {
		if !got[key(w)] {
			t.Fatalf("offers %+v lack %+v", offers, w)
		}
	}
}

func TestDiscoverChoosesByACNameAndService(t *testing.T) {
	tests := []struct {
		name, acName, service string
		wantAC                string
		wantService           string
	}{
		{"by AC name", "ac2", "", "ac2", "iptv"},
		{"by service", "", "iptv", "ac2", "iptv"},
		{"by both", "ac1", "voip", "ac1", "voip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hub{}
			serve(t, h, testConfig(), &fakeAdm{})
			serve(t, h, secondServer(), &fakeAdm{})
			cfg := clientConfig(subMAC)
			cfg.ACName, cfg.ServiceName = tt.acName, tt.service
			s, err := Discover(discoverCtx(t), h.port(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if s.ACName != tt.wantAC || s.ServiceName != tt.wantService {
				t.Fatalf("got AC %q service %q, want %q %q", s.ACName, s.ServiceName, tt.wantAC, tt.wantService)
			}
		})
	}
}

func TestDiscoverRefused(t *testing.T) {
	h := &hub{}
	serve(t, h, testConfig(), &fakeAdm{err: errors.New("pool empty")})
	_, err := Discover(discoverCtx(t), h.port(), clientConfig(subMAC))
	var pe *PADSError
	if !errors.As(err, &pe) || pe.Tag != TagACSystemError || pe.Message != "pool empty" || !bytes.Equal(pe.ACMAC, srvMAC) {
		t.Fatalf("Discover error %v, want an AC-System-Error PADSError", err)
	}
}

// fakeAC answers PADI with a fixed PADO and PADR with what reply builds,
// for the client paths a real server never takes.
func fakeAC(t *testing.T, h *hub, reply func(padr *Packet) *Packet) {
	fakeACReplies(t, h, func(r *Packet) []*Packet {
		if out := reply(r); out != nil {
			return []*Packet{out}
		}
		return nil
	})
}

// fakeACReplies is fakeAC answering a PADR with several packets in order.
func fakeACReplies(t *testing.T, h *hub, reply func(padr *Packet) []*Packet) {
	p := h.port()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); p.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2000)
		for ctx.Err() == nil {
			n, err := p.ReadFrame(buf)
			if err != nil {
				return
			}
			f, req, err := ParseFrame(buf[:n])
			if err != nil {
				continue
			}
			hu, _ := FindTag[HostUniq](req.Tags)
			var out []*Packet
			switch req.Code {
			case CodePADI:
				out = []*Packet{{Code: CodePADO, Tags: []Tag{ACName("fake"), ServiceName("x"), hu}}}
			case CodePADR:
				out = reply(&req)
			}
			for _, o := range out {
				p.WriteFrame(buildFrame(t, f.Source, srvMAC, f.VLANs, o))
			}
		}
	}()
}

func TestDiscoverPADSErrors(t *testing.T) {
	hu := func(r *Packet) HostUniq { h, _ := FindTag[HostUniq](r.Tags); return h }
	tests := []struct {
		name    string
		reply   func(r *Packet) *Packet
		wantTag TagType
		wantMsg string
	}{
		{
			name: "Service-Name-Error",
			reply: func(r *Packet) *Packet {
				return &Packet{Code: CodePADS, Tags: []Tag{ServiceName("x"), hu(r), ServiceNameError("no such service")}}
			},
			wantTag: TagServiceNameError, wantMsg: "no such service",
		},
		{
			name: "Generic-Error with a session id",
			reply: func(r *Packet) *Packet {
				return &Packet{Code: CodePADS, SessionID: 5, Tags: []Tag{ServiceName("x"), hu(r), GenericError("later")}}
			},
			wantTag: TagGenericError, wantMsg: "later",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hub{}
			fakeAC(t, h, tt.reply)
			_, err := Discover(discoverCtx(t), h.port(), clientConfig(subMAC))
			var pe *PADSError
			if !errors.As(err, &pe) || pe.Tag != tt.wantTag || pe.Message != tt.wantMsg {
				t.Fatalf("Discover error %v, want %v %q", err, tt.wantTag, tt.wantMsg)
			}
		})
	}
}

// TestDiscoverPADT: a PADT before the PADS ends some older session of the
// host (one-session-per-host ends it just before confirming the new one);
// Discover ignores it and returns the new session, and leaves a PADT after
// the PADS on the connection for the session's owner.
func TestDiscoverPADT(t *testing.T) {
	hu := func(r *Packet) HostUniq { h, _ := FindTag[HostUniq](r.Tags); return h }
	padt := func(sid uint16) *Packet {
		return &Packet{Code: CodePADT, SessionID: sid, Tags: []Tag{GenericError("replaced")}}
	}
	pads := func(r *Packet) *Packet {
		return &Packet{Code: CodePADS, SessionID: 7, Tags: []Tag{ServiceName("x"), hu(r)}}
	}
	tests := []struct {
		name  string
		reply func(r *Packet) []*Packet
		after bool // a PADT for the new session follows its PADS
	}{
		{"old session's PADT, then PADS", func(r *Packet) []*Packet { return []*Packet{padt(6), pads(r)} }, false},
		{"PADT with no session id, then PADS", func(r *Packet) []*Packet { return []*Packet{padt(0), pads(r)} }, false},
		{"PADT for the id the PADS will carry, then PADS", func(r *Packet) []*Packet { return []*Packet{padt(7), pads(r)} }, false},
		{"PADS then its PADT", func(r *Packet) []*Packet { return []*Packet{pads(r), padt(7)} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hub{}
			fakeACReplies(t, h, tt.reply)
			conn := h.port()
			s, err := Discover(discoverCtx(t), conn, clientConfig(subMAC))
			if err != nil {
				t.Fatal(err)
			}
			if s.SessionID != 7 {
				t.Fatalf("session id %d, want 7", s.SessionID)
			}
			if !tt.after {
				return
			}
			conn.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 1600)
			for {
				n, err := conn.ReadFrame(buf)
				if err != nil {
					t.Fatalf("PADT after PADS not seen: %v", err)
				}
				if _, p, err := ParseFrame(buf[:n]); err == nil && p.Code == CodePADT {
					if p.SessionID != s.SessionID {
						t.Fatalf("PADT for session %d, want %d", p.SessionID, s.SessionID)
					}
					return
				}
			}
		})
	}
}

// TestDiscoverNoPADSRestartsWithPADI: an AC that offers but never
// confirms gets PADRAttempts PADRs, then discovery starts over.
func TestDiscoverNoPADSRestartsWithPADI(t *testing.T) {
	h := &hub{}
	fakeAC(t, h, func(*Packet) *Packet { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	cfg := clientConfig(subMAC)
	cfg.PADRAttempts = 2
	_, err := Discover(ctx, h.port(), cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Discover error %v, want the context's", err)
	}
	padis, padrs := count(h.frames(), CodePADI, subMAC), count(h.frames(), CodePADR, subMAC)
	if padis < 2 || padrs < 2*(padis-1) {
		t.Fatalf("%d PADIs and %d PADRs; want PADI again after every 2 PADRs", padis, padrs)
	}
}

func TestDiscoverCancel(t *testing.T) {
	h := &hub{}
	p := h.port()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	start := time.Now()
	cfg := clientConfig(subMAC)
	cfg.Timeout = time.Hour // only cancellation can end the wait
	cfg.MaxTimeout = time.Hour
	if _, err := Discover(ctx, p, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Discover error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancelled Discover returned after %v", d)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.deadline.IsZero() {
		t.Fatalf("Discover left a read deadline %v on the connection", p.deadline)
	}
}

func TestClientConfigErrors(t *testing.T) {
	h := &hub{}
	tests := []struct {
		name string
		conn FrameConn
		cfg  ClientConfig
	}{
		{"no deadline support", struct{ FrameConn }{h.port()}, clientConfig(subMAC)},
		{"no MAC", h.port(), ClientConfig{}},
		{"group MAC", h.port(), clientConfig(ethernet.Broadcast)},
		{"three VLANs", h.port(), ClientConfig{MAC: subMAC, VLANs: make([]ethernet.VLAN, 3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Discover(context.Background(), tt.conn, tt.cfg); err == nil {
				t.Fatal("Discover accepted the configuration")
			}
			if _, err := Scan(context.Background(), tt.conn, time.Millisecond, tt.cfg); err == nil {
				t.Fatal("Scan accepted the configuration")
			}
		})
	}
}

// scriptConn plays frames to a client, then ends its context.
type scriptConn struct {
	frames [][]byte
	cancel func()
	sent   [][]byte
}

func (c *scriptConn) ReadFrame(b []byte) (int, error) {
	if len(c.frames) == 0 {
		c.cancel()
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(b, c.frames[0])
	c.frames = c.frames[1:]
	return n, nil
}

func (c *scriptConn) WriteFrame(b []byte) error {
	c.sent = append(c.sent, append([]byte(nil), b...))
	return nil
}

func (c *scriptConn) SetReadDeadline(time.Time) error { return nil }

// FuzzClientReply gives Discover a valid PADO and then an arbitrary frame
// where it waits for the PADS: it must not panic, and a session it accepts
// must come from a PADS that parses, validates and round-trips.
func FuzzClientReply(f *testing.F) {
	hu := HostUniq("fuzz")
	pado := func(t testing.TB) []byte {
		return buildFrame(t, subMAC, srvMAC, nil, &Packet{Code: CodePADO, Tags: []Tag{ACName("a"), ServiceName("s"), ACCookie{1}, hu}})
	}
	f.Add(buildFrame(f, subMAC, srvMAC, nil, &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("s"), hu, PPPMaxPayload(1500)}}))
	f.Add(buildFrame(f, subMAC, srvMAC, nil, &Packet{Code: CodePADS, Tags: []Tag{ServiceName("s"), hu, ACSystemError("full")}}))
	f.Add(buildFrame(f, subMAC, srvMAC, nil, &Packet{Code: CodePADT, SessionID: 1}))
	f.Add(buildFrame(f, subMAC, srvMAC, vlan100, &Packet{Code: CodePADS, SessionID: 1, Tags: []Tag{ServiceName("s"), hu}}))
	f.Add(padiQinQ)
	f.Fuzz(func(t *testing.T, reply []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		conn := &scriptConn{frames: [][]byte{pado(t), reply}, cancel: cancel}
		cfg := clientConfig(subMAC)
		cfg.HostUniq = hu
		s, err := Discover(ctx, conn, cfg)
		if err != nil {
			return
		}
		fr, p, perr := ParseFrame(reply)
		if perr != nil || p.Code != CodePADS || p.SessionID != s.SessionID {
			t.Fatalf("session %+v from a reply that is no PADS: %+v %v", s, p, perr)
		}
		checkRoundTrip(t, reply)
		if !bytes.Equal(fr.Source, srvMAC) {
			t.Fatalf("session from %v, the PADO came from %v", fr.Source, srvMAC)
		}
	})
}

// TestClientReplyFilter plays a valid PADO and then one reply: the client
// must take only a valid PADS for it, from the AC it chose, on its VLANs.
func TestClientReplyFilter(t *testing.T) {
	hu := HostUniq("me")
	other := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}
	pads := func(tags ...Tag) *Packet {
		return &Packet{Code: CodePADS, SessionID: 9, Tags: append([]Tag{ServiceName("s")}, tags...)}
	}
	good := buildFrame(t, subMAC, srvMAC, nil, pads(hu))
	tests := []struct {
		name   string
		reply  []byte
		accept bool
	}{
		{"PADS for us", good, true},
		{"PADS with another Host-Uniq", buildFrame(t, subMAC, srvMAC, nil, pads(HostUniq("you"))), false},
		{"PADS without Host-Uniq", buildFrame(t, subMAC, srvMAC, nil, pads()), false},
		{"PADS to another MAC", buildFrame(t, sub2MAC, srvMAC, nil, pads(hu)), false},
		{"PADS from another AC", buildFrame(t, subMAC, other, nil, pads(hu)), false},
		{"PADS on a VLAN", buildFrame(t, subMAC, srvMAC, vlan100, pads(hu)), false},
		{"PADS with session id 0xffff", buildFrame(t, subMAC, srvMAC, nil, &Packet{Code: CodePADS, SessionID: 0xffff, Tags: []Tag{ServiceName("s"), hu}}), false},
		{"PADS with two Service-Names", buildFrame(t, subMAC, srvMAC, nil, pads(ServiceName("t"), hu)), false},
		{"PADS truncated", good[:len(good)-1], false},
		{"PADS LENGTH past the end", withByte(good, 19, good[19]+1), false},
		{"PADT from another AC", buildFrame(t, subMAC, other, nil, &Packet{Code: CodePADT, SessionID: 9}), false},
		{"session frame", buildFrame(t, subMAC, srvMAC, nil, &Packet{Code: CodeSession, SessionID: 9, Payload: []byte{0xc0, 0x21}}), false},
	}
	pado := buildFrame(t, subMAC, srvMAC, nil, &Packet{Code: CodePADO, Tags: []Tag{ACName("a"), ServiceName("s"), hu}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			conn := &scriptConn{frames: [][]byte{pado, tt.reply}, cancel: cancel}
			cfg := clientConfig(subMAC)
			cfg.HostUniq = hu
			s, err := Discover(ctx, conn, cfg)
			if tt.accept {
				if err != nil || s.SessionID != 9 {
					t.Fatalf("Discover = %+v, %v; want session 9", s, err)
				}
				return
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Discover = %+v, %v; want the reply ignored", s, err)
			}
		})
	}
}

// TestClientOfferFilter: a PADO not for this client gets no PADR.
func TestClientOfferFilter(t *testing.T) {
	hu := HostUniq("me")
	pado := func(name string, tags ...Tag) []byte {
		return buildFrame(t, subMAC, srvMAC, nil, &Packet{Code: CodePADO, Tags: append([]Tag{ACName(name)}, tags...)})
	}
	tests := []struct {
		name     string
		acName   string
		service  string
		offer    []byte
		wantPADR bool
	}{
		{"any AC, any service", "", "", pado("a", ServiceName("s"), hu), true},
		{"wanted AC", "a", "", pado("a", ServiceName("s"), hu), true},
		{"other AC name", "b", "", pado("a", ServiceName("s"), hu), false},
		{"wanted service among several", "", "t", pado("a", ServiceName("s"), ServiceName("t"), hu), true},
		{"service not offered", "", "u", pado("a", ServiceName("s"), hu), false},
		{"other Host-Uniq", "", "", pado("a", ServiceName("s"), HostUniq("you")), false},
		{"PADO without Service-Name", "", "", pado("a", hu), false},
		{"PADO with two AC-Names", "", "", pado("a", ACName("b"), ServiceName("s"), hu), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			conn := &scriptConn{frames: [][]byte{tt.offer}, cancel: cancel}
			cfg := clientConfig(subMAC)
			cfg.HostUniq, cfg.ACName, cfg.ServiceName = hu, tt.acName, tt.service
			Discover(ctx, conn, cfg)
			var padr *Packet
			for _, b := range conn.sent {
				if _, p, err := ParseFrame(b); err == nil && p.Code == CodePADR {
					padr = &p
				}
			}
			if (padr != nil) != tt.wantPADR {
				t.Fatalf("PADR sent: %v, want %v", padr != nil, tt.wantPADR)
			}
			if padr != nil {
				want := tt.service
				if want == "" {
					want = "s" // the first offered
				}
				if sn, _ := FindTag[ServiceName](padr.Tags); string(sn) != want {
					t.Fatalf("PADR asks for %q, want %q", sn, want)
				}
			}
		})
	}
}

func TestScanCancelReturnsWhatItHas(t *testing.T) {
	h := &hub{}
	serve(t, h, testConfig(), &fakeAdm{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	offers, err := Scan(ctx, h.port(), time.Hour, clientConfig(subMAC))
	if !errors.Is(err, context.DeadlineExceeded) || len(offers) != 2 {
		t.Fatalf("Scan = %+v, %v; want the 2 offers and the context's error", offers, err)
	}
}
