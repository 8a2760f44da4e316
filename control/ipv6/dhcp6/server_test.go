package dhcp6

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/pppoe-xdp/pppoe-xdp/control/ipv6"
)

// msg builds a client message with the given options.
func msg(t dhcpv6.MessageType, opts ...dhcpv6.Option) *dhcpv6.Message {
	m := &dhcpv6.Message{MessageType: t, TransactionID: dhcpv6.TransactionID{1, 2, 3}}
	for _, o := range opts {
		m.AddOption(o)
	}
	return m
}

func iaPD(prefix string) *dhcpv6.OptIAPD {
	ia := &dhcpv6.OptIAPD{IaId: [4]byte{0, 0, 0, 9}}
	if prefix != "" {
		ia.Options.Add(&dhcpv6.OptIAPrefix{Prefix: ipNet(netip.MustParsePrefix(prefix))})
	}
	return ia
}

func send(t *testing.T, s *Server, m *dhcpv6.Message, dst netip.Addr) (*dhcpv6.Message, Result, error) {
	t.Helper()
	pkt, err := marshal(m, ipv6.LinkLocal(clientIID), dst, ClientPort, ServerPort)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Handle(t0, pkt)
	if err != nil || res.Reply == nil {
		return nil, res, err
	}
	r := mustParse(t, res.Reply, ClientPort)
	if r.dst != ipv6.LinkLocal(clientIID) || r.src != ipv6.LinkLocal(serverIID) {
		t.Fatalf("reply from %v to %v", r.src, r.dst)
	}
	return r.msg, res, nil
}

// TestServerDiscards: RFC 8415 §16 and §18.4's rules on which messages a
// server must discard, each row breaking one.
func TestServerDiscards(t *testing.T) {
	other := &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: net.HardwareAddr{2, 9, 9, 9, 9, 9}}
	us := ipv6.LinkLocal(serverIID)
	all := ipv6.AllDHCPRelayAgentsAndServers
	for _, tc := range []struct {
		name string
		m    *dhcpv6.Message
		dst  netip.Addr
	}{
		{"Solicit with a Server Identifier", msg(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientID), dhcpv6.OptServerID(serverID), iaPD("")), all},
		{"Solicit without a Client Identifier", msg(dhcpv6.MessageTypeSolicit, iaPD("")), all},
		{"Solicit to our unicast address", msg(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientID), iaPD("")), us},
		{"Solicit to someone else", msg(dhcpv6.MessageTypeSolicit, dhcpv6.OptClientID(clientID), iaPD("")), netip.MustParseAddr("fe80::99")},
		{"Request for another server", msg(dhcpv6.MessageTypeRequest, dhcpv6.OptClientID(clientID), dhcpv6.OptServerID(other), iaPD("")), all},
		{"Request without a Server Identifier", msg(dhcpv6.MessageTypeRequest, dhcpv6.OptClientID(clientID), iaPD("")), all},
		{"Renew for another server", msg(dhcpv6.MessageTypeRenew, dhcpv6.OptClientID(clientID), dhcpv6.OptServerID(other), iaPD("")), all},
		{"Rebind with a Server Identifier", msg(dhcpv6.MessageTypeRebind, dhcpv6.OptClientID(clientID), dhcpv6.OptServerID(serverID), iaPD("")), all},
		{"Release without a Client Identifier", msg(dhcpv6.MessageTypeRelease, dhcpv6.OptServerID(serverID), iaPD("")), all},
		{"Information-request with an IA", msg(dhcpv6.MessageTypeInformationRequest, dhcpv6.OptClientID(clientID), iaPD("")), all},
		{"an Advertise", msg(dhcpv6.MessageTypeAdvertise, dhcpv6.OptClientID(clientID), dhcpv6.OptServerID(serverID)), all},
		{"Confirm without addresses", msg(dhcpv6.MessageTypeConfirm, dhcpv6.OptClientID(clientID)), all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pd := newPool(t, "2001:db8:100::/40", 56)
			s := newServer(t, ServerConfig{Delegate: pd})
			_, res, err := send(t, s, tc.m, tc.dst)
			if !errors.Is(err, ErrDropped) || res.Reply != nil || pd.Used() != 0 {
				t.Fatalf("err %v, reply %v, pool used %d", err, res.Reply != nil, pd.Used())
			}
		})
	}
}

// TestServerAnswers: the answers RFC 8415 §18.3 gives to messages for
// bindings the server does not have, and to Information-request and
// Confirm.
func TestServerAnswers(t *testing.T) {
	s := newServer(t, ServerConfig{Delegate: newPool(t, "2001:db8:100::/40", 56), Link: link64, DNS: []netip.Addr{dns1}})
	status := func(m *dhcpv6.Message) iana.StatusCode {
		if pd := m.Options.OneIAPD(); pd != nil && pd.Options.Status() != nil {
			return pd.Options.Status().StatusCode
		}
		if st := m.Options.Status(); st != nil {
			return st.StatusCode
		}
		return iana.StatusSuccess
	}
	cid, sid := dhcpv6.OptClientID(clientID), dhcpv6.OptServerID(serverID)
	all := ipv6.AllDHCPRelayAgentsAndServers

	r, _, err := send(t, s, msg(dhcpv6.MessageTypeRenew, cid, sid, iaPD("2001:db8:100::/56")), all)
	if err != nil || r.Type() != dhcpv6.MessageTypeReply || status(r) != iana.StatusNoBinding {
		t.Fatalf("Renew for nothing: %v %v", err, r)
	}
	r, _, err = send(t, s, msg(dhcpv6.MessageTypeRelease, cid, sid, iaPD("2001:db8:100::/56")), all)
	if err != nil || status(r) != iana.StatusNoBinding {
		t.Fatalf("Release for nothing: %v %v", err, r)
	}
	// Rebind for a prefix outside our pool: returned with lifetimes zero.
	r, res, err := send(t, s, msg(dhcpv6.MessageTypeRebind, cid, iaPD("2001:db8:9999::/56")), all)
	if err != nil || r == nil || len(res.Bound) != 0 {
		t.Fatalf("Rebind for a foreign prefix: %v %v", err, r)
	}
	if p := r.Options.OneIAPD().Options.Prefixes(); len(p) != 1 || p[0].ValidLifetime != 0 || p[0].PreferredLifetime != 0 {
		t.Fatalf("foreign prefix answered %v", p)
	}
	// Information-request: DNS when asked for it.
	r, _, err = send(t, s, msg(dhcpv6.MessageTypeInformationRequest, cid, dhcpv6.OptRequestedOption(dhcpv6.OptionDNSRecursiveNameServer)), all)
	if err != nil || len(r.Options.DNS()) != 1 || !r.Options.DNS()[0].Equal(dns1.AsSlice()) {
		t.Fatalf("Information-request: %v %v", err, r)
	}
	r, _, err = send(t, s, msg(dhcpv6.MessageTypeInformationRequest, cid), all)
	if err != nil || len(r.Options.DNS()) != 0 {
		t.Fatalf("Information-request without ORO got DNS: %v %v", err, r)
	}
	// Confirm: on this link or not.
	confirm := func(a string) iana.StatusCode {
		ia := &dhcpv6.OptIANA{IaId: [4]byte{1}}
		ia.Options.Add(&dhcpv6.OptIAAddress{IPv6Addr: net.ParseIP(a)})
		r, _, err := send(t, s, msg(dhcpv6.MessageTypeConfirm, cid, ia), all)
		if err != nil {
			t.Fatal(err)
		}
		return status(r)
	}
	if confirm("2001:db8:1:2::77") != iana.StatusSuccess || confirm("2001:db8:5::1") != iana.StatusNotOnLink {
		t.Fatal("Confirm answered wrongly")
	}
	// A server with nothing to delegate says NoPrefixAvail.
	s2 := newServer(t, ServerConfig{})
	r, _, err = send(t, s2, msg(dhcpv6.MessageTypeSolicit, cid, iaPD("")), all)
	if err != nil || r.Type() != dhcpv6.MessageTypeAdvertise || status(r) != iana.StatusNoPrefixAvail {
		t.Fatalf("no pool: %v %v", err, r)
	}
}
