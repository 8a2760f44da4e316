package fsm

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// rfc1661Table is the state transition table of RFC 1661 §4.1, copied as
// printed (both halves). The test parses it and holds Transition against
// every cell, so the code is checked against the RFC text itself.
const rfc1661Table = `
      | State
      |    0         1         2         3         4         5
Events| Initial   Starting  Closed    Stopped   Closing   Stopping
------+-----------------------------------------------------------
 Up   |    2     irc,scr/6     -         -         -         -
 Down |    -         -         0       tls/1       0         1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r
 Close|    0       tlf/0       2         2         4         4
      |
  TO+ |    -         -         -         -       str/4     str/5
  TO- |    -         -         -         -       tlf/2     tlf/3
      |
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
 RCA  |    -         -       sta/2     sta/3       4         5
 RCN  |    -         -       sta/2     sta/3       4         5
      |
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3
      |
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
 RXJ+ |    -         -         2         3         4         5
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
      |
 RXR  |    -         -         2         3         4         5

      | State
      |    6         7         8           9
Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
------+-----------------------------------------
 Up   |    -         -         -           -
 Down |    1         1         1         tld/1
 Open |    6         7         8           9r
 Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
      |
  TO+ |  scr/6     scr/6     scr/8         -
  TO- |  tlf/3p    tlf/3p    tlf/3p        -
      |
 RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
      |
 RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    6         6         8       tld,scr/6
      |
 RUC  |  scj/6     scj/7     scj/8       scj/9
 RXJ+ |    6         6         8           9
 RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
      |
 RXR  |    6         7         8         ser/9
`

// parseRFCTable returns the table's cells keyed by event and state; a
// missing key is "-".
func parseRFCTable(t *testing.T) map[Event]map[State]Cell {
	t.Helper()
	events := map[string]Event{}
	for e := range Event(numEvents) {
		events[e.String()] = e
	}
	actions := map[string]Action{}
	for a := TLU; a <= SER; a++ {
		actions[a.String()] = a
	}
	out := map[Event]map[State]Cell{}
	first := State(0)
	for _, line := range strings.Split(rfc1661Table, "\n") {
		label, rest, ok := strings.Cut(line, "|")
		label = strings.TrimSpace(label)
		switch {
		case !ok || label == "" || strings.HasPrefix(label, "-"):
			continue
		case label == "Events":
			if strings.Contains(rest, "Req-Sent") {
				first = ReqSent
			}
			continue
		}
		e, ok := events[label]
		if !ok {
			t.Fatalf("unknown event %q", label)
		}
		if out[e] == nil {
			out[e] = map[State]Cell{}
		}
		for i, f := range strings.Fields(rest) {
			s := first + State(i)
			if f == "-" {
				continue
			}
			var cell Cell
			acts, st, found := strings.Cut(f, "/")
			if !found {
				acts, st = "", f
			}
			for _, name := range strings.Split(acts, ",") {
				if name == "" {
					continue
				}
				a, ok := actions[name]
				if !ok {
					t.Fatalf("%v/%v: unknown action %q", e, s, name)
				}
				cell.Actions = append(cell.Actions, a)
			}
			n, err := strconv.Atoi(st[:1])
			if err != nil {
				t.Fatalf("%v/%v: cell %q: %v", e, s, f, err)
			}
			cell.Next = State(n)
			switch st[1:] {
			case "":
			case "p":
				cell.Passive = true
			case "r":
				cell.Restart = true
			case "x":
				cell.Crossed = true
			default:
				t.Fatalf("%v/%v: cell %q: unknown footnote", e, s, f)
			}
			out[e][s] = cell
		}
	}
	return out
}

func TestTransitionTableIsRFC1661(t *testing.T) {
	rfc := parseRFCTable(t)
	cells := 0
	for e := range Event(numEvents) {
		for s := range State(numStates) {
			want, wantOK := rfc[e][s]
			got, ok := Transition(s, e)
			if ok != wantOK {
				t.Errorf("%v in %v: defined=%v, RFC defined=%v", e, s, ok, wantOK)
				continue
			}
			if !ok {
				continue
			}
			cells++
			if !slices.Equal(got.Actions, want.Actions) || got.Next != want.Next ||
				got.Passive != want.Passive || got.Restart != want.Restart || got.Crossed != want.Crossed {
				t.Errorf("%v in %v: got %v/%v p=%v r=%v x=%v, RFC %v/%v p=%v r=%v x=%v", e, s,
					got.Actions, got.Next, got.Passive, got.Restart, got.Crossed,
					want.Actions, want.Next, want.Passive, want.Restart, want.Crossed)
			}
		}
	}
	// 16 events × 10 states, less the 40 "-" cells of the RFC.
	if cells != 120 {
		t.Errorf("compared %d defined cells, want 120", cells)
	}
	if _, ok := Transition(State(numStates), Up); ok {
		t.Error("Transition accepts an out-of-range state")
	}
	if _, ok := Transition(Initial, Event(numEvents)); ok {
		t.Error("Transition accepts an out-of-range event")
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Initial.String(), "Initial"},
		{ReqSent.String(), "Req-Sent"},
		{AckRcvd.String(), "Ack-Rcvd"},
		{AckSent.String(), "Ack-Sent"},
		{Opened.String(), "Opened"},
		{State(10).String(), "State(10)"},
		{TOPlus.String(), "TO+"},
		{RXJMinus.String(), "RXJ-"},
		{RXR.String(), "RXR"},
		{Event(16).String(), "Event(16)"},
		{TLU.String(), "tlu"},
		{SER.String(), "ser"},
		{Action(0).String(), "Action(0)"},
		{Action(14).String(), "Action(14)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
