package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Print renders a menu's items as RouterOS's print does: a Flags line, then
// one numbered row per item (X for disabled, * for the built-in profile),
// a ";;; comment" line above commented items. Without detail it is a table
// of the menu's main columns; with detail every property as name=value,
// free-text strings quoted, wrapped at 80 columns.
func Print(c *Config, menuPath string, detail bool) (string, error) {
	return PrintWith(c, menuPath, PrintOptions{Detail: detail})
}

// PrintOptions are print's arguments: detail, and show-sensitive, without
// which sensitive properties (a /radius secret) are left out, as RouterOS
// leaves them out.
type PrintOptions struct {
	Detail, ShowSensitive bool
}

// sensitive reports whether p is left out of print without show-sensitive.
func sensitive(p prop) bool { return p.field.Tag.Get("sensitive") == "yes" }

// PrintWith is Print with every print argument.
func PrintWith(c *Config, menuPath string, o PrintOptions) (string, error) {
	detail := o.Detail
	m := findMenu(menuPath)
	if m == nil {
		return "", fmt.Errorf("config: print %s: %w", menuPath, errNoMenu)
	}
	var b strings.Builder
	if m.single {
		item := m.items(c)
		for _, p := range props(item.Type()) {
			if !sensitive(p) || o.ShowSensitive {
				fmt.Fprintf(&b, "%*s: %s\n", 6, p.name, formatProp(item, p))
			}
		}
		return b.String(), nil
	}
	s := m.items(c)
	var flags []string
	if m.field == "Profiles" {
		flags = append(flags, "* - default")
	}
	if m.hasProp("disabled") {
		flags = append(flags, "X - disabled")
	}
	if len(flags) > 0 {
		b.WriteString("Flags: " + strings.Join(flags, ", ") + "\n")
	}
	flag := func(i int) string {
		switch {
		case m.field == "Profiles" && i == 0:
			return "*"
		case m.hasProp("disabled") && s.Index(i).FieldByName("Disabled").Bool():
			return "X"
		}
		return ""
	}
	if detail {
		for i := range s.Len() {
			item := s.Index(i)
			lead := fmt.Sprintf("%2d %-2s ", i, flag(i))
			if cm := item.FieldByName("Comment").String(); cm != "" {
				b.WriteString(lead + ";;; " + cm + "\n")
				lead = strings.Repeat(" ", len(lead))
			}
			var words []string
			for _, p := range props(item.Type()) {
				if p.name == "comment" || p.name == "disabled" || sensitive(p) && !o.ShowSensitive {
					continue
				}
				words = append(words, p.name+"="+printValue(item, p))
			}
			wrap(&b, lead, words)
			b.WriteString("\n")
		}
		return b.String(), nil
	}
	rows := [][]string{append([]string{"#"}, upper(m.columns)...)}
	rows[0][0] = " # "
	for i := range s.Len() {
		item := s.Index(i)
		row := []string{fmt.Sprintf("%2d %-1s", i, flag(i))}
		for _, col := range m.columns {
			p, _ := propIndex(item.Type(), col)
			v := formatProp(item, p)
			if sensitive(p) && !o.ShowSensitive {
				v = ""
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for j, cell := range r {
			widths[j] = max(widths[j], len(cell))
		}
	}
	for k, r := range rows {
		if k > 0 {
			if cm := s.Index(k - 1).FieldByName("Comment").String(); cm != "" {
				fmt.Fprintf(&b, "%-*s ;;; %s\n", widths[0], r[0], cm)
				r[0] = strings.Repeat(" ", len(r[0]))
			}
		}
		var line strings.Builder
		for j, cell := range r {
			fmt.Fprintf(&line, "%-*s ", widths[j], cell)
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String(), nil
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
	return v
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

// PrintJSON renders a menu's items as a JSON array (an object for
// /system identity) with the RouterOS property names as keys.
func PrintJSON(c *Config, menuPath string) ([]byte, error) {
	return PrintJSONWith(c, menuPath, PrintOptions{})
}

// PrintJSONWith is PrintJSON honouring ShowSensitive: without it,
// sensitive properties are left out (their keys are omitempty).
func PrintJSONWith(c *Config, menuPath string, o PrintOptions) ([]byte, error) {
	m := findMenu(menuPath)
	if m == nil {
		return nil, fmt.Errorf("config: print %s: %w", menuPath, errNoMenu)
	}
	v := m.items(c)
	if !m.single && v.Len() == 0 {
		v = reflect.MakeSlice(v.Type(), 0, 0)
	}
	if !o.ShowSensitive && !m.single {
		v = redacted(v)
	}
	out, err := json.MarshalIndent(v.Interface(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("config: print %s: %w", menuPath, err)
	}
	return out, nil
}

// redacted returns a copy of the item slice s with sensitive properties
// cleared.
func redacted(s reflect.Value) reflect.Value {
	out := reflect.MakeSlice(s.Type(), s.Len(), s.Len())
	reflect.Copy(out, s)
	for _, p := range props(s.Type().Elem()) {
		if sensitive(p) {
			for i := range out.Len() {
				out.Index(i).Field(p.index).Set(reflect.Zero(p.field.Type))
			}
		}
	}
	return out
}
