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
// A reload applies exactly these. Comparing a configuration with one
// derived from it costs about the size of the difference times log n:
// the lists share their unchanged parts (see List.Changes).
func Diff(old, new *Config) []Change {
	var out []Change
	for _, m := range menus {
		if m.single() {
			if ps := changedProps(m.item(old), m.item(new)); len(ps) > 0 {
				out = append(out, Change{Menu: m.path, Kind: Changed, Properties: ps})
			}
			continue
		}
		m.list.changes(old, new, func(o, n reflect.Value) {
			switch {
			case !n.IsValid():
				out = append(out, Change{Menu: m.path, Key: key(o), Kind: Removed})
			case !o.IsValid():
				out = append(out, Change{Menu: m.path, Key: key(n), Kind: Added})
			default:
				if ps := changedProps(o, n); len(ps) > 0 {
					out = append(out, Change{Menu: m.path, Key: key(n), Kind: Changed, Properties: ps})
				}
			}
		})
	}
	return out
}

func changedProps(a, b reflect.Value) []string {
	var out []string
	for _, p := range props(a.Type()) {
		if !sameValue(a.Field(p.index), b.Field(p.index)) && formatProp(a, p) != formatProp(b, p) {
			out = append(out, p.name)
		}
	}
	return out
}

// sameValue reports whether two property values are equal, without the
// allocations of printing them: a reload compares every item of the file
// with the running one.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() != reflect.Slice {
		return a.Equal(b)
	}
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		if !a.Index(i).Equal(b.Index(i)) {
			return false
		}
	}
	return true
}
