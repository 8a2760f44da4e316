package link

import (
	"errors"
	"fmt"

	"github.com/pppoe-xdp/pppoe-xdp/control/ppp"
	"github.com/pppoe-xdp/pppoe-xdp/control/ppp/fsm"
)

// Saved is what a new process needs to take over an opened link without
// a packet to the peer (restart, #13): what was negotiated, the options
// acked both ways by LCP and each NCP, and their last Identifiers. It
// holds no secret (no password, no challenge), so it may go to a state
// file.
type Saved struct {
	Info Info
	LCP  SavedProtocol
	// NCPs are the opened network protocols, IPCP first when it is
	// open: IPCP, IPv6CP or both (an IPv6-only session has IPv6CP
	// alone).
	NCPs []SavedProtocol
}

// SavedProtocol is one opened automaton: its protocol, the options acked
// both ways, its last Identifier.
type SavedProtocol struct {
	Protocol     ppp.Protocol
	Ours, Theirs []ppp.Option
	LastID       uint8
}

// ErrNotOpened is returned by Save for a link not in the Network phase
// with a network protocol (IPCP or IPv6CP) opened: only such a link can
// be taken over.
var ErrNotOpened = errors.New("link: not opened")

// Save returns what Restore needs to take the link over.
func (l *Link) Save() (Saved, error) {
	if l.dead || l.phase != PhaseNetwork || l.lcp.State() != fsm.Opened {
		return Saved{}, ErrNotOpened
	}
	s := Saved{Info: l.info, LCP: saved(ppp.ProtocolLCP, l.lcp)}
	for _, n := range l.ncps {
		if n.up {
			s.NCPs = append(s.NCPs, saved(n.proto, n.a))
		}
	}
	if len(s.NCPs) == 0 {
		return Saved{}, ErrNotOpened
	}
	return s, nil
}

func saved(p ppp.Protocol, a *fsm.Automaton) SavedProtocol {
	return SavedProtocol{Protocol: p, Ours: a.Ours(), Theirs: a.Theirs(), LastID: a.LastID()}
}

// Restore returns a link in the Network phase with LCP and the saved
// NCPs Opened, as Save found it, under cfg (the same Config the link was
// made with; Verifier is not asked again). No frame is sent and no event
// emitted: the owner installs from s.Info itself. The next Receive,
// Tick, EchoRequest or Close goes on from there. A network protocol not
// saved (not open yet, or the peer's to open later) is started when the
// peer sends it, as a live link answers it: IPCP if Addresses gives
// IPv4 addresses then, IPv6CP if cfg.IPv6 says so; otherwise it gets a
// Protocol-Reject.
func Restore(cfg Config, s Saved) (*Link, error) {
	l, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if s.LCP.Protocol != ppp.ProtocolLCP || len(s.NCPs) == 0 {
		return nil, fmt.Errorf("link: restore: %w", ErrNotOpened)
	}
	l.lcpNeg.magic = s.Info.LocalMagic
	l.lcpNeg.method = s.Info.Method
	fc := l.fsmConfig()
	fc.Extension = lcpExtension{magic: func() uint32 { return l.lcpNeg.magic }}
	l.lcp = fsm.Restore(l.lcpNeg, fc, s.LCP.Ours, s.LCP.Theirs, s.LCP.LastID)
	l.lcp.SetPeerMRU(int(s.Info.MTU))
	l.info = s.Info
	l.up, l.phase, l.restored = true, PhaseNetwork, true
	l.au = handshake{method: s.Info.Method, done: true}
	for _, sp := range s.NCPs {
		n := &ncp{proto: sp.Protocol, up: true}
		var neg fsm.Negotiator
		switch sp.Protocol {
		case ppp.ProtocolIPCP:
			if cfg.Role == Authenticator {
				neg = &ipcpServer{ip: s.Info.IP}
			} else {
				c := newIPCPClient(cfg.RequestDNS)
				c.addr = s.Info.IP.Local
				neg = c
			}
		case ppp.ProtocolIPv6CP:
			n.v6 = newIPv6CP(l.newInterfaceID)
			n.v6.id, n.v6.peer = s.Info.IPv6.Local, s.Info.IPv6.Remote
			neg = n.v6
		default:
			return nil, fmt.Errorf("link: restore: protocol %v is not a network protocol here", sp.Protocol)
		}
		n.a = fsm.Restore(neg, l.fsmConfig(), sp.Ours, sp.Theirs, sp.LastID)
		n.a.SetPeerMRU(int(s.Info.MTU))
		l.ncps = append(l.ncps, n)
	}
	return l, nil
}
