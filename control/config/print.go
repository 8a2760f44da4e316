package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// PrintOptions are print's arguments.
type PrintOptions struct {
	// Detail prints every property as name=value instead of a table.
	Detail bool
	// ShowSensitive prints sensitive properties (a /radius secret), which
	// are left out otherwise, as RouterOS leaves them out.
	ShowSensitive bool
	// Invalid, if set, reports whether the item with the given key is
	// configured but cannot run (RouterOS's I flag: a server whose
	// interface does not exist, say).
	Invalid func(key string) bool
}

// sensitive reports whether p is left out of print without show-sensitive.
func sensitive(p prop) bool { return p.field.Tag.Get("sensitive") == "yes" }

// Print renders a menu's items as RouterOS's print does: a Flags line, then
// one numbered row per item (X for disabled, I for invalid, * for a
// built-in item), a ";;; comment" line above commented items. Without
// detail it is a table of the menu's main columns; with detail every
// property as name=value, free-text strings quoted, wrapped at 80 columns.
// Control characters never reach the terminal raw (see Cell).
func Print(c *Config, menuPath string, detail bool) (string, error) {
	return PrintWith(c, menuPath, PrintOptions{Detail: detail})
}

// PrintWith is Print with every print argument.
func PrintWith(c *Config, menuPath string, opt PrintOptions) (string, error) {
	m := findMenu(menuPath)
	if m == nil {
		return "", fmt.Errorf("config: print %s: %w", menuPath, errNoMenu)
	}
	var b strings.Builder
	if m.single() {
		item := m.item(c)
		for _, p := range props(item.Type()) {
			if !sensitive(p) || opt.ShowSensitive {
				fmt.Fprintf(&b, "%*s: %s\n", 6, p.name, Cell(formatProp(item, p)))
			}
		}
		return b.String(), nil
	}
	var flags []string
	if m.builtin {
		flags = append(flags, "* - default")
	}
	if m.hasProp("disabled") {
		flags = append(flags, "X - disabled")
	}
	if opt.Invalid != nil {
		flags = append(flags, "I - invalid")
	}
	if len(flags) > 0 {
		b.WriteString("Flags: " + strings.Join(flags, ", ") + "\n")
	}
	flag := func(i int, item reflect.Value) string {
		f := ""
		if m.builtin && i == 0 {
			f += "*"
		}
		if m.hasProp("disabled") && item.FieldByName("Disabled").Bool() {
			f += "X"
		}
		if opt.Invalid != nil && opt.Invalid(key(item)) {
			f += "I"
		}
		return f
	}
	comment := func(item reflect.Value) string {
		if cm := item.FieldByName("Comment"); cm.IsValid() && cm.String() != "" {
			return ";;; " + Cell(cm.String())
		}
		return ""
	}
	if opt.Detail {
		for i, item := range m.list.all(c) {
			lead := fmt.Sprintf("%2d %-2s ", i, flag(i, item))
			if cm := comment(item); cm != "" {
				b.WriteString(lead + cm + "\n")
				lead = strings.Repeat(" ", len(lead))
			}
			var words []string
			for _, p := range props(item.Type()) {
				if p.name == "comment" || p.name == "disabled" || sensitive(p) && !opt.ShowSensitive {
					continue
				}
				words = append(words, p.name+"="+printValue(item, p))
			}
			wrap(&b, lead, words)
			b.WriteString("\n")
		}
		return b.String(), nil
	}
	type row struct {
		cells   []string
		comment string
	}
	rows := []row{{cells: append([]string{" # "}, upper(m.columns)...)}}
	for i, item := range m.list.all(c) {
		r := row{cells: []string{fmt.Sprintf("%2d %-1s", i, flag(i, item))}, comment: comment(item)}
		for _, col := range m.columns {
			p, _ := propIndex(item.Type(), col)
			v := formatProp(item, p)
			if sensitive(p) && !opt.ShowSensitive {
				v = ""
			}
			r.cells = append(r.cells, Cell(v))
		}
		rows = append(rows, r)
	}
	widths := make([]int, len(rows[0].cells))
	for _, r := range rows {
		for j, cell := range r.cells {
			widths[j] = max(widths[j], cellWidth(cell))
		}
	}
	for _, r := range rows {
		if r.comment != "" {
			fmt.Fprintf(&b, "%-*s %s\n", widths[0], r.cells[0], r.comment)
			r.cells[0] = strings.Repeat(" ", len(r.cells[0]))
		}
		var line strings.Builder
		for j, cell := range r.cells {
			line.WriteString(pad(cell, widths[j]) + " ")
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String(), nil
}

// Cell returns s as it may appear in a table or "name: value" line on the
// operator's terminal: unchanged when every rune of it prints, else quoted
// as Go quotes strings (strconv.Quote: "\x1b[2J", "a\tb"), so that what a
// subscriber typed as its user name, an AC-Name from the network or a
// comment can neither move the cursor, change colours nor break a table's
// lines and columns. A value that starts with a quote is quoted too, so a
// quoted cell always means an escaped one.
func Cell(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// cellWidth is the number of terminal columns s takes, counting one per
// rune.
func cellWidth(s string) int { return utf8.RuneCountInString(s) }

// pad left-aligns s in a column of n terminal columns.
func pad(s string, n int) string {
	if w := cellWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

func upper(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = strings.ToUpper(c)
	}
	return out
}

// printValue quotes free-text strings, as print detail does
// (name="PPPoE-Out", but profile=default and interface=ether2).
func printValue(item reflect.Value, p prop) string {
	v := formatProp(item, p)
	if p.field.Type.Kind() == reflect.String && p.field.Tag.Get("enum") == "" && p.field.Tag.Get("ref") == "" {
		return `"` + escape(v) + `"`
	}
	return Cell(v)
}

func wrap(b *strings.Builder, lead string, words []string) {
	const width = 80
	col := len(lead)
	b.WriteString(lead)
	indent := strings.Repeat(" ", len(lead))
	for i, w := range words {
		if i > 0 && col+1+len(w) > width {
			b.WriteString("\n" + indent)
			col = len(indent)
		} else if i > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
}

// PrintJSON renders a menu's items as a JSON array (an object for a
// single-item menu such as /system identity) with the RouterOS property
// names as keys.
func PrintJSON(c *Config, menuPath string) ([]byte, error) {
	return PrintJSONWith(c, menuPath, PrintOptions{})
}

// PrintJSONWith is PrintJSON honouring ShowSensitive (without it,
// sensitive properties are left out: their keys are omitempty) and
// Invalid (each item then also has "invalid": true or false).
func PrintJSONWith(c *Config, menuPath string, opt PrintOptions) ([]byte, error) {
	m := findMenu(menuPath)
	if m == nil {
		return nil, fmt.Errorf("config: print %s: %w", menuPath, errNoMenu)
	}
	var v any
	if m.single() {
		v = m.item(c).Interface()
	} else {
		items := []json.RawMessage{}
		for _, item := range m.list.all(c) {
			if !opt.ShowSensitive {
				for _, p := range props(item.Type()) {
					if sensitive(p) {
						item.Field(p.index).Set(reflect.Zero(p.field.Type)) // a copy
					}
				}
			}
			b, err := json.Marshal(item.Interface())
			if err != nil {
				return nil, fmt.Errorf("config: print %s: %w", menuPath, err)
			}
			if opt.Invalid != nil {
				b = append(b[:len(b)-1], fmt.Sprintf(`,"invalid":%t}`, opt.Invalid(key(item)))...)
			}
			items = append(items, b)
		}
		v = items
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("config: print %s: %w", menuPath, err)
	}
	return out, nil
}
