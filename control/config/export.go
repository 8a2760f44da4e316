package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Export prints c in RouterOS /export form: a menu line, then one add per
// item with the properties that differ from their defaults (name always),
// sorted by name as RouterOS sorts them. A changed built-in item is
// "set [find name=default] ..." (the profile) or "set [find
// interface=all] ..." (/ipv6 nd), a changed identity "set name=...".
// Load(Export(c)) yields a configuration Equal to c.
func Export(c *Config) string {
	var b strings.Builder
	for _, m := range menus {
		var lines []string
		if m.single() {
			if args := exportArgs(m, m.item(c), false); args != "" {
				lines = append(lines, "set "+args)
			}
		} else {
			for i, item := range m.list.all(c) {
				if m.builtin && i == 0 {
					if args := exportArgs(m, item, false); args != "" {
						k := m.keyProps[0]
						p, _ := propIndex(m.typ, k)
						lines = append(lines, "set [find "+k+"="+Quote(formatProp(item, p))+"] "+args)
					}
					continue
				}
				lines = append(lines, "add "+exportArgs(m, item, true))
			}
		}
		if len(lines) == 0 {
			continue
		}
		b.WriteString(m.path + "\n")
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func exportArgs(m *menu, item reflect.Value, withName bool) string {
	var parts []string
	for _, p := range props(item.Type()) {
		v := formatProp(item, p)
		if m.builtin && !withName && p.name == m.keyProps[0] {
			continue // a built-in item is selected by its key, not changed
		}
		always := withName && (p.name == "name" || slices.Contains(m.required, p.name))
		if v == defaultText(item, p) && !always {
			continue
		}
		parts = append(parts, p.name+"="+Quote(v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// Quote returns s as a script value: unchanged when it is a plain word,
// else in double quotes with RouterOS escapes (\" \\ \n \r \t \$ \? and
// \XX for other control and non-ASCII bytes), which the parser reads back
// to the same bytes.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:,/+@*%!^&|<>~'") == "" {
		return s
	}
	return `"` + escape(s) + `"`
}

// escape applies the RouterOS string escapes.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '$', '?':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c >= 0x7f {
				fmt.Fprintf(&b, `\%02X`, c)
				continue
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}
