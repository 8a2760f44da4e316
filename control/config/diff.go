package config

import (
	"fmt"
	"reflect"
	"strings"
)

// ChangeKind says how an item changed between two configurations.
type ChangeKind uint8

// Kinds of change.
const (
	Added ChangeKind = iota + 1
	Removed
	Changed
)

// String implements fmt.Stringer.
func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Changed:
		return "changed"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one item added, removed or changed in a menu. Key is the
// item's name (interface/service-name for servers, "" for /system
// identity); Properties lists the changed properties.
type Change struct {
	Menu       string
	Key        string
	Kind       ChangeKind
	Properties []string
}

// String implements fmt.Stringer: menu, kind, key and changed properties.
func (c Change) String() string {
	s := fmt.Sprintf("%s %s %q", c.Menu, c.Kind, c.Key)
	if len(c.Properties) > 0 {
		s += " (" + strings.Join(c.Properties, ",") + ")"
	}
	return s
}

// Diff lists what changed from old to new, menu by menu in export order:
// removed items (old order), added items and changed items (new order).
// A reload applies exactly these.
func Diff(old, new *Config) []Change {
	var out []Change
	for _, m := range menus {
		if m.single {
			if ps := changedProps(m.items(old), m.items(new)); len(ps) > 0 {
				out = append(out, Change{Menu: m.path, Kind: Changed, Properties: ps})
			}
			continue
		}
		o, n := m.items(old), m.items(new)
		inNew := map[string]reflect.Value{}
		for i := range n.Len() {
			inNew[m.key(n.Index(i))] = n.Index(i)
		}
		inOld := map[string]reflect.Value{}
		for i := range o.Len() {
			k := m.key(o.Index(i))
			inOld[k] = o.Index(i)
			if _, ok := inNew[k]; !ok {
				out = append(out, Change{Menu: m.path, Key: k, Kind: Removed})
			}
		}
		for i := range n.Len() {
			k := m.key(n.Index(i))
			ov, ok := inOld[k]
			if !ok {
				out = append(out, Change{Menu: m.path, Key: k, Kind: Added})
				continue
			}
			if ps := changedProps(ov, n.Index(i)); len(ps) > 0 {
				out = append(out, Change{Menu: m.path, Key: k, Kind: Changed, Properties: ps})
			}
		}
	}
	return out
}

func changedProps(a, b reflect.Value) []string {
	var out []string
	for _, p := range props(a.Type()) {
		if formatProp(a, p) != formatProp(b, p) {
			out = append(out, p.name)
		}
	}
	return out
}
