package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// activeProps are /ppp active's properties in print order, as RouterOS
// names them, plus the data plane's counters. .id is the session's handle,
// which the table shows only with show-ids, in place of the item number.
var activeProps = []struct {
	name string
	get  func(a *Active) string
}{
	{".id", func(a *Active) string { return a.ID }},
	{"name", func(a *Active) string { return a.Name }},
	{"service", func(a *Active) string { return a.Service }},
	{"caller-id", func(a *Active) string { return a.CallerID }},
	{"encoding", func(a *Active) string { return a.Encoding }},
	{"address", func(a *Active) string {
		if !a.Address.IsValid() {
			return ""
		}
		return a.Address.String()
	}},
	{"uptime", func(a *Active) string { return formatUptime(a.Uptime) }},
	{"session-id", func(a *Active) string { return fmt.Sprintf("0x%X", a.SessionID) }},
	{"bytes-in", func(a *Active) string { return strconv.FormatUint(a.BytesIn, 10) }},
	{"bytes-out", func(a *Active) string { return strconv.FormatUint(a.BytesOut, 10) }},
	{"packets-in", func(a *Active) string { return strconv.FormatUint(a.PacketsIn, 10) }},
	{"packets-out", func(a *Active) string { return strconv.FormatUint(a.PacketsOut, 10) }},
	// Multilink (RFC 1990), in detail and JSON only: the peer's MRRU
	// when MP is on (empty when off) and what reassembly dropped.
	{"mrru", func(a *Active) string {
		if a.MRRU == 0 {
			return ""
		}
		return strconv.Itoa(int(a.MRRU))
	}},
	{"mp-reassembly-drops", func(a *Active) string { return strconv.FormatUint(a.ReassemblyDrops, 10) }},
	// The same by reason (session.MPDrops): packets given up (lost: the
	// timeout; overflow: the window) or over the MRRU (oversize),
	// fragments duplicated or malformed, reassembled packets refused.
	{"mp-lost", func(a *Active) string { return strconv.FormatUint(a.MPDrops.Lost, 10) }},
	{"mp-overflow", func(a *Active) string { return strconv.FormatUint(a.MPDrops.Overflow, 10) }},
	{"mp-oversize", func(a *Active) string { return strconv.FormatUint(a.MPDrops.Oversize, 10) }},
	{"mp-duplicates", func(a *Active) string { return strconv.FormatUint(a.MPDrops.Duplicates, 10) }},
	{"mp-malformed", func(a *Active) string { return strconv.FormatUint(a.MPDrops.Malformed, 10) }},
	{"mp-refused", func(a *Active) string { return strconv.FormatUint(a.MPDrops.Refused, 10) }},
}

func activeProp(a *Active, name string) (string, bool) {
	for _, p := range activeProps {
		if p.name == name {
			return p.get(a), true
		}
	}
	return "", false
}

func (d *Daemon) sessions() []Active {
	if d.opts.Servers == nil {
		return nil
	}
	return d.opts.Servers.Sessions()
}

// printActive prints /ppp active: a table, "detail" (every property as
// name=value) or a JSON array; "show-ids" puts each session's .id where the
// item number goes, as RouterOS does.
func (d *Daemon) printActive(out io.Writer, cmd config.Command, asJSON bool) error {
	flags, err := printFlags(cmd, "detail", "show-ids")
	if err != nil {
		return err
	}
	detail, showIDs := flags["detail"], flags["show-ids"]
	ss := d.sessions()
	number := func(i int) string {
		if showIDs {
			return ss[i].ID
		}
		return strconv.Itoa(i)
	}
	if asJSON {
		rows := make([]map[string]string, 0, len(ss))
		for i := range ss {
			row := map[string]string{}
			for _, p := range activeProps {
				row[p.name] = p.get(&ss[i])
			}
			rows = append(rows, row)
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	var b strings.Builder
	if detail {
		for i := range ss {
			var words []string
			for _, p := range activeProps {
				v := p.get(&ss[i])
				if p.name == "name" || p.name == "caller-id" || p.name == "encoding" {
					v = strconv.Quote(v)
				} else {
					v = config.Cell(v)
				}
				words = append(words, p.name+"="+v)
			}
			fmt.Fprintf(&b, "%2s   %s\n\n", number(i), wrap(words, 5, 80))
		}
	} else {
		t := table{head: []string{"#", "NAME", "SERVICE", "CALLER-ID", "ENCODING", "ADDRESS", "UPTIME",
			"SESSION-ID", "BYTES-IN", "BYTES-OUT", "PACKETS-IN", "PACKETS-OUT"}}
		for i := range ss {
			row := []string{number(i)}
			for _, p := range activeProps[1:len(t.head)] {
				// The name is what the peer sent, before any check:
				// escape it and every other cell (config.Cell).
				row = append(row, config.Cell(p.get(&ss[i])))
			}
			t.add(row...)
		}
		b.WriteString(t.String())
	}
	_, err = io.WriteString(out, b.String())
	return err
}

// removeActive disconnects the selected sessions.
func (d *Daemon) removeActive(cmd config.Command) error {
	if d.opts.Servers == nil {
		return fmt.Errorf("pppoe-server: %w", errNotAvailable)
	}
	if len(cmd.Args) > 0 {
		return fmt.Errorf("remove: unexpected argument %s", cmd.Args[0])
	}
	ss := d.sessions()
	idx, err := selectItems(cmd.Target, len(ss), func(i int, prop string) (string, bool) {
		return activeProp(&ss[i], prop)
	})
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	for _, i := range idx {
		if err := d.opts.Servers.Remove(ss[i].ID); err != nil {
			return fmt.Errorf("remove %s (%s, session-id 0x%X): %w", ss[i].ID, ss[i].Name, ss[i].SessionID, err)
		}
	}
	return nil
}

// selectItems resolves a RouterOS item selector against n items: numbers as
// print shows them, .ids ("*1A", a list with numbers: "0,*1A"), a name, or
// [find prop=value ...] (all must match; an empty find selects
// everything). get returns an item's property.
func selectItems(t *config.Target, n int, get func(i int, prop string) (string, bool)) ([]int, error) {
	if t == nil {
		return nil, fmt.Errorf("no item given (numbers, a name or [find ...])")
	}
	var out []int
	switch {
	case t.Find:
		for _, w := range t.Where {
			if !w.HasValue {
				return nil, fmt.Errorf("find: %s: only prop=value is supported", w.Name)
			}
			if n == 0 {
				break
			}
			if _, ok := get(0, w.Name); !ok {
				return nil, fmt.Errorf("find: %s: unknown property", w.Name)
			}
		}
	items:
		for i := range n {
			for _, w := range t.Where {
				if v, _ := get(i, w.Name); v != w.Value {
					continue items
				}
			}
			out = append(out, i)
		}
		return out, nil
	case strings.HasPrefix(t.Name, "*") || strings.Contains(t.Name, ",*"):
		return selectIDs(t.Name, n, get)
	case t.Name != "":
		for i := range n {
			if v, _ := get(i, "name"); v == t.Name {
				out = append(out, i)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no such item (%s)", t.Name)
		}
		return out, nil
	}
	for _, i := range t.Numbers {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("no such item (%d)", i)
		}
		out = append(out, i)
	}
	return out, nil
}

// selectIDs resolves a list of .ids and item numbers ("*1A", "0,*1A,*1B").
// An .id is the item's for good: unlike a number it cannot come to mean
// another item when items come and go between print and remove.
func selectIDs(list string, n int, get func(i int, prop string) (string, bool)) ([]int, error) {
	var out []int
	for _, w := range strings.Split(list, ",") {
		if num, err := strconv.Atoi(w); err == nil {
			if num < 0 || num >= n {
				return nil, fmt.Errorf("no such item (%d)", num)
			}
			out = append(out, num)
			continue
		}
		found := false
		for i := range n {
			if v, ok := get(i, ".id"); ok && strings.EqualFold(v, w) {
				out = append(out, i)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no such item (%s)", w)
		}
	}
	return out, nil
}

// formatUptime prints a duration as RouterOS does: 1w2d3h4m5s, zero parts
// left out.
func formatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	if s <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		unit string
	}{{7 * 86400, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if s >= u.n {
			fmt.Fprintf(&b, "%d%s", s/u.n, u.unit)
			s %= u.n
		}
	}
	return b.String()
}

// table is a RouterOS print table: upper-case headers, columns padded to
// their widest cell.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	w := make([]int, len(t.head))
	for i, h := range t.head {
		w[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		var parts []string
		for i, c := range cells {
			if i == 0 {
				parts = append(parts, fmt.Sprintf("%2s", c))
				continue
			}
			parts = append(parts, c+strings.Repeat(" ", w[i]-utf8.RuneCountInString(c)))
		}
		b.WriteString(strings.TrimRight(strings.Join(parts, " "), " ") + "\n")
	}
	line(t.head)
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

// wrap joins words into lines of at most width columns, continuation lines
// indented by indent spaces.
func wrap(words []string, indent, width int) string {
	var b strings.Builder
	col := indent
	for i, w := range words {
		if i > 0 {
			if col+1+len(w) > width {
				b.WriteString("\n" + strings.Repeat(" ", indent))
				col = indent
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}
