// Package fsm is the RFC 1661 §4 option-negotiation automaton, written once
// and shared by LCP, IPCP and IPv6CP.
//
// It is pure: no goroutines, no timers, no locks. The owner (the session
// loop) feeds it events (Up, Down, Open, Close, Timeout and received
// packets) and carries out the Output it returns: packets to send, the
// restart timer to start or stop, and This-Layer-Up/Down/Started/Finished.
// What an option means is the business of a Negotiator that the protocol
// plugs in; LCP adds its extra codes (Protocol-Reject, Echo, Discard)
// through an Extension.
//
// Names follow the RFC (states, events irc/scr/... actions) so the code can
// be held against the state transition table of RFC 1661 §4.1.
package fsm

import "fmt"

// State is an automaton state (RFC 1661 §4.2).
type State uint8

// States, numbered as in the RFC 1661 §4.1 table.
const (
	Initial  State = iota // 0: lower layer down, not opened
	Starting              // 1: lower layer down, opened
	Closed                // 2: lower layer up, closed
	Stopped               // 3: lower layer up, finished or waiting for the peer
	Closing               // 4: Terminate-Request sent, then Closed
	Stopping              // 5: Terminate-Request sent, then Stopped
	ReqSent               // 6: Req-Sent: Configure-Request sent
	AckRcvd               // 7: Ack-Rcvd: our request acked, peer's not yet
	AckSent               // 8: Ack-Sent: peer's request acked, ours not yet
	Opened                // 9: both acked

	numStates = iota
)

var stateNames = [numStates]string{
	"Initial", "Starting", "Closed", "Stopped", "Closing", "Stopping",
	"Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened",
}

// String returns the RFC 1661 name of s.
func (s State) String() string {
	if int(s) < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// timed reports whether the restart timer runs in s (RFC 1661 §4.2: it runs
// in Closing, Stopping, Req-Sent, Ack-Rcvd and Ack-Sent only).
func (s State) timed() bool {
	return s >= Closing && s <= AckSent
}

// negotiating reports whether s is one of the configuration states.
func (s State) negotiating() bool {
	return s >= ReqSent && s <= AckSent
}

// Event is an automaton event (RFC 1661 §4.3).
type Event uint8

// Events, in the order of the RFC 1661 §4.1 table.
const (
	Up       Event = iota // lower layer is Up
	Down                  // lower layer is Down
	Open                  // administrative Open
	Close                 // administrative Close
	TOPlus                // TO+: Timeout with counter > 0
	TOMinus               // TO-: Timeout with counter expired
	RCRPlus               // RCR+: Receive-Configure-Request (Good)
	RCRMinus              // RCR-: Receive-Configure-Request (Bad)
	RCA                   // Receive-Configure-Ack
	RCN                   // Receive-Configure-Nak/Rej
	RTR                   // Receive-Terminate-Request
	RTA                   // Receive-Terminate-Ack
	RUC                   // Receive-Unknown-Code
	RXJPlus               // RXJ+: Receive-Code-Reject (permitted) or Receive-Protocol-Reject
	RXJMinus              // RXJ-: Receive-Code-Reject (catastrophic) or Receive-Protocol-Reject
	RXR                   // Receive-Echo-Request, Receive-Echo-Reply or Receive-Discard-Request

	numEvents = iota
)

var eventNames = [numEvents]string{
	"Up", "Down", "Open", "Close", "TO+", "TO-", "RCR+", "RCR-",
	"RCA", "RCN", "RTR", "RTA", "RUC", "RXJ+", "RXJ-", "RXR",
}

// String returns the RFC 1661 abbreviation of e.
func (e Event) String() string {
	if int(e) < numEvents {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", uint8(e))
}

// Action is an automaton action (RFC 1661 §4.4).
type Action uint8

// Actions.
const (
	TLU Action = iota + 1 // This-Layer-Up: tell the upper layer we are Opened
	TLD                   // This-Layer-Down: tell the upper layer we leave Opened
	TLS                   // This-Layer-Started: the lower layer is needed
	TLF                   // This-Layer-Finished: the lower layer is no longer needed
	IRC                   // Initialize-Restart-Count
	ZRC                   // Zero-Restart-Count
	SCR                   // Send-Configure-Request
	SCA                   // Send-Configure-Ack
	SCN                   // Send-Configure-Nak/Rej
	STR                   // Send-Terminate-Request
	STA                   // Send-Terminate-Ack
	SCJ                   // Send-Code-Reject
	SER                   // Send-Echo-Reply
)

var actionNames = [...]string{
	TLU: "tlu", TLD: "tld", TLS: "tls", TLF: "tlf", IRC: "irc", ZRC: "zrc",
	SCR: "scr", SCA: "sca", SCN: "scn", STR: "str", STA: "sta", SCJ: "scj", SER: "ser",
}

// String returns the RFC 1661 abbreviation of a.
func (a Action) String() string {
	if a >= TLU && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}
