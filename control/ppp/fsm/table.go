package fsm

// Cell is one entry of the RFC 1661 §4.1 state transition table: the actions
// in order, the next state, and the table's footnotes.
type Cell struct {
	Actions []Action
	Next    State
	// Passive marks [p]: with the passive option, TO- omits tlf and waits
	// in Stopped for the peer (RFC 1661 §4.2, Stopped).
	Passive bool
	// Restart marks [r]: with the restart option, an Open here renegotiates
	// by a Down and an Up (RFC 1661 §4.3, Open).
	Restart bool
	// Crossed marks [x]: a crossed connection (RFC 1661 §4.3, RCA).
	Crossed bool
}

func c(next State, as ...Action) *Cell { return &Cell{Actions: as, Next: next} }
func p(next State, as ...Action) *Cell { return &Cell{Actions: as, Next: next, Passive: true} }
func r(next State, as ...Action) *Cell { return &Cell{Actions: as, Next: next, Restart: true} }
func x(next State, as ...Action) *Cell { return &Cell{Actions: as, Next: next, Crossed: true} }

// table is RFC 1661 §4.1; nil is "-", an event that cannot happen there.
var table = [numEvents][numStates]*Cell{
	Up: {Initial: c(Closed), Starting: c(ReqSent, IRC, SCR)},
	Down: {
		Closed: c(Initial), Stopped: c(Starting, TLS), Closing: c(Initial), Stopping: c(Starting),
		ReqSent: c(Starting), AckRcvd: c(Starting), AckSent: c(Starting), Opened: c(Starting, TLD),
	},
	Open: {
		Initial: c(Starting, TLS), Starting: c(Starting), Closed: c(ReqSent, IRC, SCR), Stopped: r(Stopped),
		Closing: r(Stopping), Stopping: r(Stopping), ReqSent: c(ReqSent), AckRcvd: c(AckRcvd),
		AckSent: c(AckSent), Opened: r(Opened),
	},
	Close: {
		Initial: c(Initial), Starting: c(Initial, TLF), Closed: c(Closed), Stopped: c(Closed),
		Closing: c(Closing), Stopping: c(Closing), ReqSent: c(Closing, IRC, STR),
		AckRcvd: c(Closing, IRC, STR), AckSent: c(Closing, IRC, STR), Opened: c(Closing, TLD, IRC, STR),
	},
	TOPlus: {
		Closing: c(Closing, STR), Stopping: c(Stopping, STR),
		ReqSent: c(ReqSent, SCR), AckRcvd: c(ReqSent, SCR), AckSent: c(AckSent, SCR),
	},
	TOMinus: {
		Closing: c(Closed, TLF), Stopping: c(Stopped, TLF),
		ReqSent: p(Stopped, TLF), AckRcvd: p(Stopped, TLF), AckSent: p(Stopped, TLF),
	},
	RCRPlus: {
		Closed: c(Closed, STA), Stopped: c(AckSent, IRC, SCR, SCA), Closing: c(Closing), Stopping: c(Stopping),
		ReqSent: c(AckSent, SCA), AckRcvd: c(Opened, SCA, TLU), AckSent: c(AckSent, SCA),
		Opened: c(AckSent, TLD, SCR, SCA),
	},
	RCRMinus: {
		Closed: c(Closed, STA), Stopped: c(ReqSent, IRC, SCR, SCN), Closing: c(Closing), Stopping: c(Stopping),
		ReqSent: c(ReqSent, SCN), AckRcvd: c(AckRcvd, SCN), AckSent: c(ReqSent, SCN),
		Opened: c(ReqSent, TLD, SCR, SCN),
	},
	RCA: {
		Closed: c(Closed, STA), Stopped: c(Stopped, STA), Closing: c(Closing), Stopping: c(Stopping),
		ReqSent: c(AckRcvd, IRC), AckRcvd: x(ReqSent, SCR), AckSent: c(Opened, IRC, TLU),
		Opened: x(ReqSent, TLD, SCR),
	},
	RCN: {
		Closed: c(Closed, STA), Stopped: c(Stopped, STA), Closing: c(Closing), Stopping: c(Stopping),
		ReqSent: c(ReqSent, IRC, SCR), AckRcvd: x(ReqSent, SCR), AckSent: c(AckSent, IRC, SCR),
		Opened: x(ReqSent, TLD, SCR),
	},
	RTR: {
		Closed: c(Closed, STA), Stopped: c(Stopped, STA), Closing: c(Closing, STA), Stopping: c(Stopping, STA),
		ReqSent: c(ReqSent, STA), AckRcvd: c(ReqSent, STA), AckSent: c(ReqSent, STA),
		Opened: c(Stopping, TLD, ZRC, STA),
	},
	RTA: {
		Closed: c(Closed), Stopped: c(Stopped), Closing: c(Closed, TLF), Stopping: c(Stopped, TLF),
		ReqSent: c(ReqSent), AckRcvd: c(ReqSent), AckSent: c(AckSent), Opened: c(ReqSent, TLD, SCR),
	},
	RUC: {
		Closed: c(Closed, SCJ), Stopped: c(Stopped, SCJ), Closing: c(Closing, SCJ), Stopping: c(Stopping, SCJ),
		ReqSent: c(ReqSent, SCJ), AckRcvd: c(AckRcvd, SCJ), AckSent: c(AckSent, SCJ), Opened: c(Opened, SCJ),
	},
	RXJPlus: {
		Closed: c(Closed), Stopped: c(Stopped), Closing: c(Closing), Stopping: c(Stopping),
		ReqSent: c(ReqSent), AckRcvd: c(ReqSent), AckSent: c(AckSent), Opened: c(Opened),
	},
	RXJMinus: {
		Closed: c(Closed, TLF), Stopped: c(Stopped, TLF), Closing: c(Closed, TLF), Stopping: c(Stopped, TLF),
		ReqSent: c(Stopped, TLF), AckRcvd: c(Stopped, TLF), AckSent: c(Stopped, TLF),
		Opened: c(Stopping, TLD, IRC, STR),
	},
	RXR: {
		Closed: c(Closed), Stopped: c(Stopped), Closing: c(Closing), Stopping: c(Stopping),
		ReqSent: c(ReqSent), AckRcvd: c(AckRcvd), AckSent: c(AckSent), Opened: c(Opened, SER),
	},
}

// Transition returns the RFC 1661 §4.1 cell for event e in state s; ok is
// false where the table has "-" (the event cannot happen in s).
func Transition(s State, e Event) (cell Cell, ok bool) {
	if int(s) >= numStates || int(e) >= numEvents || table[e][s] == nil {
		return Cell{}, false
	}
	return *table[e][s], true
}
