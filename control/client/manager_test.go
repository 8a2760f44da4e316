package client

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// Several clients on one interface (one Mux, one MAC): Host-Uniq keeps
// their discoveries apart, session ids their sessions.
func TestManagerSeveralClientsOneInterface(t *testing.T) {
	e := newEnv(t)
	newTestAC(t, e.hub, acOptions{
		name: "ac", mac: acMAC, services: []string{"pppoeservice"}, local: "10.0.0.1",
		pool:    []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"},
		secrets: map[string]string{"u1": "p1", "u2": "p2", "u3": "p3", "u4": "p4"},
	})
	cfg, err := config.Load(`/interface pppoe-client
add interface=ether2 user=u1 password=p1 disabled=no
add interface=ether2 user=u2 password=p2 disabled=no
add interface=ether2 user=u3 password=p3 disabled=no
add interface=ether2 user=u4 password=p4`)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(e.deps(), nil)
	t.Cleanup(func() { m.Close() })
	if err := m.Apply(cfg.Clients.Items()); err != nil {
		t.Fatal(err)
	}
	names := []string{"pppoe-out1", "pppoe-out2", "pppoe-out3"}
	waitFor(t, "all connected", func() bool {
		for _, n := range names {
			if st, err := m.Monitor(n); err != nil || st.Status != StateConnected {
				return false
			}
		}
		return true
	})
	sids := map[uint16]string{}
	addrs := map[netip.Addr]string{}
	for _, n := range names {
		st, _ := m.Monitor(n)
		if o, dup := sids[st.SessionID]; dup {
			t.Errorf("%s and %s share session id %#x", n, o, st.SessionID)
		}
		if o, dup := addrs[st.LocalAddress]; dup {
			t.Errorf("%s and %s share address %s", n, o, st.LocalAddress)
		}
		sids[st.SessionID], addrs[st.LocalAddress] = n, n
		nd, _ := e.dp.get(n)
		if nd.session == nil || nd.session.SessionID != st.SessionID || nd.session.Local != st.LocalAddress {
			t.Errorf("%s: installed %+v, monitor says sid %#x %s", n, nd.session, st.SessionID, st.LocalAddress)
		}
	}
	if _, err := m.Monitor("pppoe-out4"); !errors.Is(err, ErrDisabled) {
		t.Errorf("Monitor(disabled): %v", err)
	}
	if _, err := m.Monitor("nope"); !errors.Is(err, ErrNoClient) {
		t.Errorf("Monitor(unknown): %v", err)
	}
	list := m.List()
	if len(list) != 4 || list[3].Name != "pppoe-out4" || list[3].LastDisconnect != "disabled" {
		t.Errorf("List: %+v", list)
	}

	// Reload: out2 removed, out3 changed, out1 untouched, out4 enabled.
	before1, _ := m.Monitor("pppoe-out1")
	before3, _ := m.Monitor("pppoe-out3")
	next := []config.Client{cfg.Clients.At(0), cfg.Clients.At(2), cfg.Clients.At(3)}
	next[1].ACName = "ac"
	next[2].Disabled = false
	next[2].Password = "p4"
	if err := m.Apply(next); err != nil {
		t.Fatal(err)
	}
	if nd, _ := e.dp.get("pppoe-out2"); !nd.closed {
		t.Errorf("removed client's netdev not deleted")
	}
	waitFor(t, "out3 and out4 connected", func() bool {
		a, _ := m.Monitor("pppoe-out3")
		b, _ := m.Monitor("pppoe-out4")
		return a.Status == StateConnected && b.Status == StateConnected
	})
	after1, _ := m.Monitor("pppoe-out1")
	if after1.SessionID != before1.SessionID || after1.Uptime < before1.Uptime {
		t.Errorf("unchanged client reconnected: %+v → %+v", before1, after1)
	}
	if nd, _ := e.dp.get("pppoe-out1"); nd.installs != 1 {
		t.Errorf("unchanged client installed %d times", nd.installs)
	}
	after3, _ := m.Monitor("pppoe-out3")
	if after3.SessionID == before3.SessionID && after3.Uptime >= before3.Uptime {
		t.Errorf("changed client kept its session")
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"pppoe-out1", "pppoe-out3", "pppoe-out4"} {
		if nd, _ := e.dp.get(n); !nd.closed {
			t.Errorf("%s: netdev left after Close", n)
		}
	}
	if a, r := e.routes.snapshot(); len(a)+len(r) != 0 {
		t.Errorf("after Close: addresses %v routes %v", a, r)
	}
	if err := m.Apply(next); err == nil {
		t.Errorf("Apply after Close succeeded")
	}
}

func TestManagerReportsInvalidClient(t *testing.T) {
	e := newEnv(t)
	m := NewManager(e.deps(), nil)
	t.Cleanup(func() { m.Close() })
	bad := loadClient(t, quickExampleClient)
	bad.Allow = []string{"eap"}
	err := m.Apply([]config.Client{bad})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "PPPoE-Out") {
		t.Errorf("Apply: %v, want ErrConfig naming the client", err)
	}
}

func TestDemandSlotsDistinct(t *testing.T) {
	seen := map[netip.Addr]bool{}
	for k := range 127 {
		c := &Client{slot: k}
		l, gw := c.demandAddress()
		if !DemandNetwork.Contains(l) || !DemandNetwork.Contains(gw) || seen[l] || seen[gw] || l == gw {
			t.Fatalf("slot %d: %s via %s reused or outside %s", k, l, gw, DemandNetwork)
		}
		seen[l], seen[gw] = true, true
	}
}

// TestManagerProfileRateLimit: a client's sessions carry its profile's
// rate-limit into the data plane (rx: what the AC sends us), the default
// profile's when its own has none; a changed limit restarts the client
// with the new one.
func TestManagerProfileRateLimit(t *testing.T) {
	e := newEnv(t)
	newTestAC(t, e.hub, acOptions{
		name: "MikroTik", mac: acMAC, services: []string{"pppoeservice"},
		local: "10.0.0.1", pool: []string{"10.0.0.2", "10.0.0.3"},
		secrets: map[string]string{"u1": "p1", "u2": "p2"},
	})
	const script = `/ppp profile
set default rate-limit=%s
add name=capped rate-limit=10M/2M
/interface pppoe-client
add interface=ether2 user=u1 password=p1 disabled=no profile=capped
add interface=ether2 user=u2 password=p2 disabled=no`
	load := func(def string) *config.Config {
		cfg, err := config.Load(fmt.Sprintf(script, def))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	m := NewManager(e.deps(), nil)
	t.Cleanup(func() { m.Close() })
	check := func(def string) {
		t.Helper()
		if err := m.ApplyConfig(load(def)); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"pppoe-out1": "10M/2M", "pppoe-out2": def} {
			waitFor(t, name+" installed with "+want, func() bool {
				nd, ok := e.dp.get(name)
				return ok && !nd.closed && nd.session != nil && nd.session.RateLimit.String() == want
			})
		}
		nd, _ := e.dp.get("pppoe-out1")
		if l := nd.session.RateLimit; l.Rx.Rate != 10_000_000 || l.Tx.Rate != 2_000_000 {
			t.Errorf("pppoe-out1 limit rx %d tx %d, want rx (from the AC) 10M, tx 2M", l.Rx.Rate, l.Tx.Rate)
		}
	}
	check("1M/512k")
	check("4M/1M")
}
