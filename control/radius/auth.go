package radius

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"
	"layeh.com/radius/rfc4679"
	"layeh.com/radius/rfc4818"
	"layeh.com/radius/rfc6911"
	"layeh.com/radius/vendors/microsoft"
	"layeh.com/radius/vendors/mikrotik"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/auth"
)

// Port is where a subscriber's session is, as Access-Request and
// Accounting-Request both describe it (RFC 2865 §5, RFC 2869 §5.17,
// RFC 4679 §4).
type Port struct {
	// AcctSessionID is the session's Acct-Session-Id (RFC 2866 §5.5),
	// unique on this NAS; it is what accounting and Disconnect-Request
	// name the session by.
	AcctSessionID string
	// NASPort is NAS-Port (RFC 2865 §5.5): a number for the port, such as
	// the PPPoE session id.
	NASPort uint32
	// NASPortID is NAS-Port-Id (RFC 2869 §5.17): the access interface and
	// its VLANs, e.g. "ether1:100:20".
	NASPortID string
	// CallingStationID is the client's MAC address (RFC 2865 §5.31), e.g.
	// "00:11:22:33:44:55" as RouterOS sends it.
	CallingStationID string
	// CalledStationID is the PPPoE service name (RFC 2865 §5.30).
	CalledStationID string
	// FramedMTU is the negotiated MRU (RFC 2865 §5.12); 0 leaves it out.
	FramedMTU int
	// CircuitID and RemoteID are the TR-101 Agent-Circuit-Id and
	// Agent-Remote-Id of the PADR's vendor tag, sent as
	// ADSL-Agent-Circuit-Id and ADSL-Agent-Remote-Id (RFC 4679 §4.1);
	// nil leaves them out.
	CircuitID, RemoteID []byte
}

// AcctSessionID is the Acct-Session-Id (RFC 2866 §5.5) of the session
// whose handle (/ppp active's .id) is h: the same number in upper-case hex,
// at least eight digits as RouterOS prints it, so *1A is "0000001A". The
// handles never repeat, across restarts too, which RFC 2866 asks of the
// attribute.
func AcctSessionID(h uint64) string {
	s := strconv.FormatUint(h, 16)
	if len(s) < 8 {
		s = "00000000"[len(s):] + s
	}
	return strings.ToUpper(s)
}

// NASPortID is the NAS-Port-Id (RFC 2869 §5.17) of a session on iface
// with the given VLAN ids, outermost first: "ether1", "ether1:100",
// "ether1:100:20" (S-VLAN 100, C-VLAN 20). A policy keyed on the access
// line sees the physical port and the tags together, whether the VLANs are
// the server's own /interface vlan or tags on the wire.
func NASPortID(iface string, vlans ...uint16) string {
	b := []byte(iface)
	for _, v := range vlans {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(v), 10)
	}
	return string(b)
}

// AuthRequest is a subscriber's credentials, as the PPP link received
// them, and where the subscriber is.
type AuthRequest struct {
	Method auth.Method
	User   string
	// Password is the PAP password (RFC 1334).
	Password string
	// CHAPID, Challenge and Response are a CHAP exchange (RFC 1994 §4.1):
	// the identifier and challenge value we sent and the Value of the
	// peer's Response as PPP carries it: 16 octets for CHAP-MD5, 49 for
	// MS-CHAPv1 (LM, NT, flags; RFC 2433 §2.2) and MS-CHAPv2
	// (peer challenge, reserved, NT, flags; RFC 2759 §4).
	CHAPID    uint8
	Challenge []byte
	Response  []byte
	Port      Port
}

// String names the request without its credentials.
func (r AuthRequest) String() string {
	return fmt.Sprintf("%v user=%q session=%s", r.Method, r.User, r.Port.AcctSessionID)
}

// AuthResult is what the server answered. Durations are zero and addresses
// invalid where the answer did not carry them.
type AuthResult struct {
	// Accepted is true for Access-Accept. An Access-Challenge (PPP has no
	// use for one) is a reject.
	Accepted bool
	// ReplyMessage is the Reply-Message attributes joined (RFC 2865
	// §5.18), for the peer's PAP Nak or CHAP Failure message.
	ReplyMessage string
	// FramedIP is Framed-IP-Address (RFC 2865 §5.8). 255.255.255.254 means
	// "the NAS picks one" and 255.255.255.255 "the user may choose".
	FramedIP      netip.Addr
	FramedNetmask netip.Addr
	FramedPool    string // Framed-Pool (RFC 2869 §5.18)
	FramedRoutes  []string
	// DNS1 and DNS2 are MS-Primary-DNS-Server and MS-Secondary-DNS-Server
	// (RFC 2548 §2.2.8).
	DNS1, DNS2      netip.Addr
	SessionTimeout  time.Duration // Session-Timeout (RFC 2865 §5.27)
	IdleTimeout     time.Duration // Idle-Timeout (RFC 2865 §5.28)
	InterimInterval time.Duration // Acct-Interim-Interval (RFC 2869 §5.16)
	// Class is every Class attribute (RFC 2865 §5.25), to be echoed
	// unchanged in the session's accounting.
	Class [][]byte
	// RateLimit is Mikrotik-Rate-Limit (vendor 14988, type 8) as sent,
	// e.g. "10M/20M"; stored for the shaper, not interpreted here.
	RateLimit string
	// FramedIPv6Prefix is Framed-IPv6-Prefix (RFC 3162 §2.3): the
	// link's prefix, a /64 for SLAAC. FramedIPv6Pool is Framed-IPv6-Pool
	// (RFC 3162 §2.6), a local /ipv6 pool to take the link /64 from.
	FramedIPv6Prefix netip.Prefix
	FramedIPv6Pool   string
	// DelegatedIPv6Prefix is Delegated-IPv6-Prefix (RFC 4818), delegated
	// by DHCPv6-PD; DelegatedIPv6Pool is Delegated-IPv6-Prefix-Pool
	// (RFC 6911 §3.4), a local /ipv6 pool to delegate from.
	DelegatedIPv6Prefix netip.Prefix
	DelegatedIPv6Pool   string
	// IPv6DNS are the DNS-Server-IPv6-Address attributes (RFC 6911 §3.2),
	// for RDNSS and DHCPv6.
	IPv6DNS []netip.Addr
	// MSCHAP2Success is the authenticator response "S=<40 hex>" of an
	// accepted MS-CHAPv2 (RFC 2548 §2.3.3, identifier octet removed): the
	// peer checks it, so it must reach the peer unchanged.
	MSCHAP2Success []byte
	// MSCHAPError is MS-CHAP-Error's text, e.g. "E=691 R=0 ..." (RFC 2548
	// §2.1.5), for the MS-CHAP Failure packet.
	MSCHAPError string
	// Server is the server that answered.
	Server netip.Addr
}

// Attributes an Access-Accept may carry that AuthResult reads or that are
// known to need nothing; any other is logged once at debug and ignored.
var knownReply = map[radius.Type]bool{
	rfc2865.ReplyMessage_Type: true, rfc2865.FramedIPAddress_Type: true,
	rfc2865.FramedIPNetmask_Type: true, rfc2869.FramedPool_Type: true,
	rfc2865.FramedRoute_Type: true, rfc2865.SessionTimeout_Type: true,
	rfc2865.IdleTimeout_Type: true, rfc2869.AcctInterimInterval_Type: true,
	rfc2865.Class_Type: true, rfc2869.MessageAuthenticator_Type: true,
	rfc2865.ServiceType_Type: true, rfc2865.FramedProtocol_Type: true,
	rfc2865.FramedMTU_Type: true, rfc2865.ProxyState_Type: true,
	rfc3162.FramedIPv6Prefix_Type: true, rfc3162.FramedIPv6Pool_Type: true,
	rfc4818.DelegatedIPv6Prefix_Type: true, rfc6911.DelegatedIPv6PrefixPool_Type: true,
	rfc6911.DNSServerIPv6Address_Type: true,
}

// Vendor attributes read or deliberately ignored (the MPPE keys: MPPE is
// not implemented, RFC 2548 §2.4).
const (
	vendorMicrosoft = 311
	vendorMikrotik  = 14988
)

var knownVendor = map[[2]uint32]bool{
	{vendorMikrotik, 8}:   true, // Mikrotik-Rate-Limit
	{vendorMicrosoft, 26}: true, // MS-CHAP2-Success
	{vendorMicrosoft, 2}:  true, // MS-CHAP-Error
	{vendorMicrosoft, 28}: true, // MS-Primary-DNS-Server
	{vendorMicrosoft, 29}: true, // MS-Secondary-DNS-Server
	{vendorMicrosoft, 16}: true, // MS-MPPE-Send-Key
	{vendorMicrosoft, 17}: true, // MS-MPPE-Recv-Key
	{vendorMicrosoft, 7}:  true, // MS-MPPE-Encryption-Policy
	{vendorMicrosoft, 8}:  true, // MS-MPPE-Encryption-Types
	{vendorMicrosoft, 12}: true, // MS-CHAP-MPPE-Keys
}

// Authenticate sends an Access-Request for req and returns the verdict. An
// error means no server gave a valid answer before ctx ended or every
// server was tried; a reject is not an error.
func (c *Client) Authenticate(ctx context.Context, req AuthRequest) (AuthResult, error) {
	if err := checkCredentials(req); err != nil {
		return AuthResult{}, err
	}
	resp, s, err := c.exchange(ctx, false, func(s *server) *radius.Packet {
		return c.accessRequest(s, req)
	})
	if err != nil {
		return AuthResult{}, fmt.Errorf("radius: authenticate %s: %w", req, err)
	}
	r := c.parseReply(resp)
	r.Server = s.Address
	return r, nil
}

// accessRequest is req's Access-Request to s. radius.New draws its
// Request Authenticator from crypto/rand (RFC 2865 §3: unpredictable).
func (c *Client) accessRequest(s *server, req AuthRequest) *radius.Packet {
	p := radius.New(radius.CodeAccessRequest, s.secret)
	// Room for every attribute addPort and addCredentials add, so that
	// adding them does not grow the list five times over.
	p.Attributes = make(radius.Attributes, 0, 20)
	c.addPort(p, req.User, req.Port)
	addCredentials(p, req)
	return p
}

func checkCredentials(req AuthRequest) error {
	want := map[auth.Method]int{auth.CHAP: 16, auth.MSCHAPv1: 49, auth.MSCHAPv2: 49}
	switch req.Method {
	case auth.PAP:
		if len(req.Password) > 128 {
			return fmt.Errorf("radius: %s: PAP password longer than 128 octets (RFC 2865 §5.2)", req)
		}
		return nil
	case auth.CHAP, auth.MSCHAPv1, auth.MSCHAPv2:
		if len(req.Response) != want[req.Method] {
			return fmt.Errorf("radius: %s: response of %d octets, want %d", req, len(req.Response), want[req.Method])
		}
		if len(req.Challenge) == 0 || len(req.Challenge) > 253 {
			return fmt.Errorf("radius: %s: challenge of %d octets", req, len(req.Challenge))
		}
		return nil
	}
	return fmt.Errorf("radius: %s: %w", req, auth.ErrUnknownMethod)
}

// addPort adds what every request about a session carries.
func (c *Client) addPort(p *radius.Packet, user string, port Port) {
	if user != "" {
		_ = rfc2865.UserName_SetString(p, user)
	}
	c.addNAS(p)
	_ = rfc2865.NASPort_Set(p, rfc2865.NASPort(port.NASPort))
	_ = rfc2865.NASPortType_Set(p, rfc2865.NASPortType_Value_Ethernet)
	if port.NASPortID != "" {
		_ = rfc2869.NASPortID_SetString(p, port.NASPortID)
	}
	if port.CallingStationID != "" {
		_ = rfc2865.CallingStationID_SetString(p, port.CallingStationID)
	}
	if port.CalledStationID != "" {
		_ = rfc2865.CalledStationID_SetString(p, port.CalledStationID)
	}
	_ = rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
	_ = rfc2865.FramedProtocol_Set(p, rfc2865.FramedProtocol_Value_PPP)
	if port.AcctSessionID != "" {
		_ = rfc2866.AcctSessionID_SetString(p, port.AcctSessionID)
	}
	if port.FramedMTU > 0 {
		_ = rfc2865.FramedMTU_Set(p, rfc2865.FramedMTU(port.FramedMTU))
	}
	if len(port.CircuitID) > 0 {
		_ = rfc4679.ADSLAgentCircuitID_Set(p, port.CircuitID)
	}
	if len(port.RemoteID) > 0 {
		_ = rfc4679.ADSLAgentRemoteID_Set(p, port.RemoteID)
	}
}

func (c *Client) addNAS(p *radius.Packet) {
	if id := *c.nasID.Load(); id != "" {
		_ = rfc2865.NASIdentifier_SetString(p, id)
	}
	if a := c.opts.NASAddress.Unmap(); a.Is4() {
		_ = rfc2865.NASIPAddress_Set(p, net.IP(a.AsSlice()))
	} else if a.Is6() {
		_ = rfc3162.NASIPv6Address_Set(p, net.IP(a.AsSlice()))
	}
}

// addSourceNAS names the NAS by the address its request leaves from when
// no NASAddress is configured: NAS-IP-Address or NAS-IPv6-Address is what
// servers and their policies key on most (RFC 2865 §5.4), and the source
// address is the one they see (src-address, or the kernel's choice).
func addSourceNAS(p *radius.Packet, local netip.Addr) {
	if !local.IsValid() || local.IsUnspecified() {
		return
	}
	if local.Is4() {
		_ = rfc2865.NASIPAddress_Set(p, net.IP(local.AsSlice()))
	} else {
		_ = rfc3162.NASIPv6Address_Set(p, net.IP(local.AsSlice()))
	}
}

// addCredentials adds the method's attributes: User-Password (RFC 2865
// §5.2), CHAP-Password and CHAP-Challenge (RFC 2865 §5.3, §5.40),
// MS-CHAP-Challenge with MS-CHAP-Response or MS-CHAP2-Response (RFC 2548
// §2.3). PPP's MS-CHAP Response Value is reordered into RFC 2548's layout,
// which leads with the CHAP identifier and the flags.
func addCredentials(p *radius.Packet, req AuthRequest) {
	switch req.Method {
	case auth.PAP:
		_ = rfc2865.UserPassword_Set(p, []byte(req.Password))
	case auth.CHAP:
		_ = rfc2865.CHAPPassword_Set(p, append([]byte{req.CHAPID}, req.Response...))
		_ = rfc2865.CHAPChallenge_Set(p, req.Challenge)
	case auth.MSCHAPv1:
		// PPP: LM-Response(24) NT-Response(24) Flags(1) (RFC 2433 §2.2).
		// RADIUS: Ident Flags LM-Response NT-Response (RFC 2548 §2.3.2).
		r := req.Response
		v := append([]byte{req.CHAPID, r[48]}, r[:48]...)
		_ = microsoft.MSCHAPChallenge_Set(p, req.Challenge)
		_ = microsoft.MSCHAPResponse_Set(p, v)
	case auth.MSCHAPv2:
		// PPP: Peer-Challenge(16) Reserved(8) NT-Response(24) Flags(1)
		// (RFC 2759 §4). RADIUS: Ident Flags Peer-Challenge Reserved
		// NT-Response (RFC 2548 §2.3.2); Flags is reserved, zero.
		r := req.Response
		v := append([]byte{req.CHAPID, 0}, r[:48]...)
		_ = microsoft.MSCHAPChallenge_Set(p, req.Challenge)
		_ = microsoft.MSCHAP2Response_Set(p, v)
	}
}

// parseReply reads an Access-Accept or Access-Reject. Nothing in it is
// fatal: an attribute that does not parse is left out, unknown ones are
// noted once at debug level.
func (c *Client) parseReply(p *radius.Packet) AuthResult {
	r := AuthResult{Accepted: p.Code == radius.CodeAccessAccept}
	msgs, _ := rfc2865.ReplyMessage_GetStrings(p)
	for _, m := range msgs {
		if r.ReplyMessage != "" {
			r.ReplyMessage += "\n"
		}
		r.ReplyMessage += m
	}
	if v, err := microsoft.MSCHAPError_Lookup(p); err == nil && len(v) > 1 {
		r.MSCHAPError = string(v[1:])
	}
	c.noteUnknown(p)
	if !r.Accepted {
		return r
	}
	r.FramedIP = ip4(rfc2865.FramedIPAddress_Lookup(p))
	r.FramedNetmask = ip4(rfc2865.FramedIPNetmask_Lookup(p))
	r.FramedPool, _ = rfc2869.FramedPool_LookupString(p)
	r.FramedRoutes, _ = rfc2865.FramedRoute_GetStrings(p)
	r.DNS1 = ip4(microsoft.MSPrimaryDNSServer_Lookup(p))
	r.DNS2 = ip4(microsoft.MSSecondaryDNSServer_Lookup(p))
	if v, err := rfc2865.SessionTimeout_Lookup(p); err == nil {
		r.SessionTimeout = time.Duration(v) * time.Second
	}
	if v, err := rfc2865.IdleTimeout_Lookup(p); err == nil {
		r.IdleTimeout = time.Duration(v) * time.Second
	}
	if v, err := rfc2869.AcctInterimInterval_Lookup(p); err == nil {
		r.InterimInterval = time.Duration(v) * time.Second
	}
	r.FramedIPv6Prefix = prefix6(rfc3162.FramedIPv6Prefix_Lookup(p))
	r.FramedIPv6Pool, _ = rfc3162.FramedIPv6Pool_LookupString(p)
	r.DelegatedIPv6Prefix = prefix6(rfc4818.DelegatedIPv6Prefix_Lookup(p))
	r.DelegatedIPv6Pool, _ = rfc6911.DelegatedIPv6PrefixPool_LookupString(p)
	dns6, _ := rfc6911.DNSServerIPv6Address_Gets(p)
	for _, ip := range dns6 {
		if a, ok := netip.AddrFromSlice(ip); ok && a.Is6() && !a.Is4In6() && !a.IsUnspecified() {
			r.IPv6DNS = append(r.IPv6DNS, a)
		}
	}
	r.Class, _ = rfc2865.Class_Gets(p)
	r.RateLimit, _ = mikrotik.MikrotikRateLimit_LookupString(p)
	if v, err := microsoft.MSCHAP2Success_Lookup(p); err == nil && len(v) > 1 {
		r.MSCHAP2Success = append([]byte(nil), v[1:]...)
	}
	return r
}

func ip4(ip net.IP, err error) netip.Addr {
	if err != nil {
		return netip.Addr{}
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// prefix6 is an IPv6 prefix attribute (RFC 3162 §2.3's layout), masked;
// the zero Prefix when absent or not IPv6.
func prefix6(n *net.IPNet, err error) netip.Prefix {
	if err != nil || n == nil {
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(n.IP)
	bits, size := n.Mask.Size()
	if !ok || !a.Is6() || a.Is4In6() || size != 128 {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// noteUnknown logs, once per attribute for the client, an attribute
// parseReply does not read.
func (c *Client) noteUnknown(p *radius.Packet) {
	for _, a := range p.Attributes {
		key := [2]uint32{0, uint32(a.Type)}
		if a.Type == rfc2865.VendorSpecific_Type {
			id, v, err := radius.VendorSpecific(a.Attribute)
			if err != nil || len(v) < 1 {
				continue
			}
			key = [2]uint32{id, uint32(v[0])}
			if knownVendor[key] {
				continue
			}
		} else if knownReply[a.Type] {
			continue
		}
		if _, seen := c.unknownSeen.LoadOrStore(key, true); !seen {
			c.log.Debug("radius attribute ignored", zap.Uint32("vendor", key[0]), zap.Uint32("type", key[1]))
		}
	}
}
