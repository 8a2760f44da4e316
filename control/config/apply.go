package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
)

// Load parses script and applies it to a fresh configuration.
func Load(script string) (*Config, error) {
	cmds, err := Parse(script)
	if err != nil {
		return nil, err
	}
	return New().Apply(cmds)
}

// Apply applies cmds in order to a copy of c and validates the result: the
// returned configuration has all of them or, on error, c is unchanged and
// nothing is returned. References (profiles, pools, next-pool, VLAN
// parents) are checked on the result, so a script may refer forward.
func (c *Config) Apply(cmds []Command) (*Config, error) {
	n := c.Clone()
	for _, cmd := range cmds {
		if err := n.apply(cmd); err != nil {
			return nil, err
		}
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return n, nil
}

func (c *Config) apply(cmd Command) error {
	if cmd.Verb == "" {
		if cmd.Menu != "/" && findMenu(cmd.Menu) == nil && !isMenuPrefix(cmd.Menu) {
			return errf(cmd.Line, "", "%s: %w", cmd.Menu, errNoMenu)
		}
		return nil
	}
	m := findMenu(cmd.Menu)
	if m == nil {
		return errf(cmd.Line, "", "%s: %w", cmd.Menu, errNoMenu)
	}
	switch cmd.Verb {
	case "add":
		return c.add(m, cmd)
	case "set", "enable", "disable", "unset", "remove":
		return c.modify(m, cmd)
	}
	return errf(cmd.Line, "", "%s %s: not a configuration command", cmd.Menu, cmd.Verb)
}

// isMenuPrefix reports whether p is a menu path that only leads to menus
// ("/interface", "/ppp"), so a line may move there.
func isMenuPrefix(p string) bool {
	for _, m := range menus {
		if len(m.path) > len(p) && m.path[:len(p)] == p && m.path[len(p)] == ' ' {
			return true
		}
	}
	return false
}

func (c *Config) add(m *menu, cmd Command) error {
	if m.single {
		return errf(cmd.Line, "", "%s: add: single-item menu, use set", m.path)
	}
	if cmd.Target != nil {
		return errf(cmd.Line, "", "%s add: unexpected item selector", m.path)
	}
	item := reflect.New(m.itemType()).Elem()
	setDefaults(item)
	given := map[string]bool{}
	for _, a := range cmd.Args {
		if err := setArg(m, item, a, cmd.Line); err != nil {
			return err
		}
		given[a.Name] = true
	}
	for _, r := range m.required {
		if p, _ := propIndex(item.Type(), r); !given[r] || formatProp(item, p) == "" {
			return errf(cmd.Line, r, "required")
		}
	}
	if m.autoName != "" && !given["name"] {
		item.FieldByName("Name").SetString(c.freeName(m))
	}
	if err := c.checkDuplicate(m, item, -1, cmd.Line); err != nil {
		return err
	}
	item.Addr().Interface().(lined).setLine(cmd.Line)
	s := m.items(c)
	s.Set(reflect.Append(s, item))
	return nil
}

func setArg(m *menu, item reflect.Value, a Arg, line int) error {
	p, ok := propIndex(item.Type(), a.Name)
	if !ok {
		return errf(line, a.Name, "%s: unknown property", m.path)
	}
	if !a.HasValue {
		return errf(line, a.Name, "missing =value")
	}
	if err := setProp(item, p, a.Value); err != nil {
		return &Error{Line: line, Property: a.Name, Err: err}
	}
	return nil
}

// freeName is the lowest-numbered unused prefixN name, as RouterOS picks
// pppoe-out1, pppoe-out2, ...
func (c *Config) freeName(m *menu) string {
	s := m.items(c)
	for n := 1; ; n++ {
		name := m.autoName + strconv.Itoa(n)
		if !slices.ContainsFunc(c.interfaceNames(m), func(x string) bool { return x == name }) &&
			indexByName(s, name) < 0 {
			return name
		}
	}
}

// interfaceNames are the names that share /interface's namespace with
// m's items, if m is an interface menu.
func (c *Config) interfaceNames(m *menu) []string {
	if m.field != "VLANs" && m.field != "Clients" {
		return nil
	}
	var out []string
	for _, v := range c.VLANs {
		out = append(out, v.Name)
	}
	for _, cl := range c.Clients {
		out = append(out, cl.Name)
	}
	return out
}

func indexByName(s reflect.Value, name string) int {
	for i := range s.Len() {
		if f := s.Index(i).FieldByName("Name"); f.IsValid() && f.String() == name {
			return i
		}
	}
	return -1
}

// checkDuplicate rejects an item whose key another item (other than the
// one at index self) already has.
func (c *Config) checkDuplicate(m *menu, item reflect.Value, self, line int) error {
	key := m.key(item)
	s := m.items(c)
	for i := range s.Len() {
		if i != self && m.key(s.Index(i)) == key {
			prop := "name"
			switch m.field {
			case "Servers":
				prop = "service-name"
			case "Radius":
				prop = "address"
			}
			return errf(line, prop, "%s: %q already exists", m.path, key)
		}
	}
	// VLANs and clients share /interface's name space.
	var others []string
	switch m.field {
	case "VLANs":
		for _, cl := range c.Clients {
			others = append(others, cl.Name)
		}
	case "Clients":
		for _, v := range c.VLANs {
			others = append(others, v.Name)
		}
	}
	if name := key; slices.Contains(others, name) {
		return errf(line, "name", "interface %q already exists", name)
	}
	return nil
}

// selected resolves a command's target to item indexes, in ascending order.
func (c *Config) selected(m *menu, cmd Command) ([]int, error) {
	t := cmd.Target
	if t == nil {
		return nil, errf(cmd.Line, "numbers", "%s %s: which item?", m.path, cmd.Verb)
	}
	s := m.items(c)
	var out []int
	switch {
	case t.Find:
		// Check the conditions even when there is no item to test them on.
		if _, err := matches(m, reflect.New(m.itemType()).Elem(), t.Where, cmd.Line); err != nil {
			return nil, err
		}
		for i := range s.Len() {
			ok, err := matches(m, s.Index(i), t.Where, cmd.Line)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, i)
			}
		}
	case t.Numbers != nil:
		for _, n := range t.Numbers {
			if n >= s.Len() {
				return nil, errf(cmd.Line, "numbers", "no such item %d", n)
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	default:
		i := indexByName(s, t.Name)
		if i < 0 {
			return nil, errf(cmd.Line, "numbers", "no such item %q", t.Name)
		}
		out = append(out, i)
	}
	sort.Ints(out)
	return out, nil
}

// matches evaluates [find] conditions: each property must print as the
// condition's value does once parsed ("1480" matches max-mtu=1480, a bare
// bool property matches when yes).
func matches(m *menu, item reflect.Value, where []Arg, line int) (bool, error) {
	for _, w := range where {
		p, ok := propIndex(item.Type(), w.Name)
		if !ok {
			return false, errf(line, w.Name, "%s: unknown property in [find]", m.path)
		}
		val := w.Value
		if !w.HasValue {
			if p.field.Type.Kind() != reflect.Bool {
				return false, errf(line, w.Name, "not a yes/no property; use %s=value", w.Name)
			}
			val = "yes"
		}
		scratch := reflect.New(item.Type()).Elem()
		if err := setProp(scratch, p, val); err != nil {
			return false, &Error{Line: line, Property: w.Name, Err: err}
		}
		if formatProp(scratch, p) != formatProp(item, p) {
			return false, nil
		}
	}
	return true, nil
}

func (c *Config) modify(m *menu, cmd Command) error {
	var idx []int
	items := m.items(c)
	if m.single {
		if cmd.Verb != "set" && cmd.Verb != "unset" {
			return errf(cmd.Line, "", "%s %s: not available", m.path, cmd.Verb)
		}
		if cmd.Target != nil {
			return errf(cmd.Line, "", "%s: single-item menu takes no item selector", m.path)
		}
	} else {
		var err error
		if idx, err = c.selected(m, cmd); err != nil {
			return err
		}
	}
	at := func(i int) reflect.Value {
		if m.single {
			return items
		}
		return items.Index(i)
	}
	if m.single {
		idx = []int{0}
	}
	isBuiltin := func(i int) bool { return m.field == "Profiles" && i == 0 }
	switch cmd.Verb {
	case "remove":
		for k := len(idx) - 1; k >= 0; k-- {
			if isBuiltin(idx[k]) {
				return errf(cmd.Line, "", "%s: cannot remove the built-in %q", m.path, DefaultProfile)
			}
			items.Set(reflect.AppendSlice(items.Slice(0, idx[k]), items.Slice(idx[k]+1, items.Len())))
		}
		return nil
	case "enable", "disable":
		if !m.hasProp("disabled") || len(cmd.Args) > 0 {
			return errf(cmd.Line, "", "%s %s: not available", m.path, cmd.Verb)
		}
		for _, i := range idx {
			at(i).FieldByName("Disabled").SetBool(cmd.Verb == "disable")
			at(i).Addr().Interface().(lined).setLine(cmd.Line)
		}
		return nil
	}
	for _, i := range idx {
		item := reflect.New(at(i).Type()).Elem()
		item.Set(at(i)) // change a copy; keep the original on error
		for _, a := range cmd.Args {
			if cmd.Verb == "unset" {
				name := a.Name
				if a.Name == "value-name" && a.HasValue {
					name = a.Value
				} else if a.HasValue {
					return errf(cmd.Line, a.Name, "unset takes property names")
				}
				p, ok := propIndex(item.Type(), name)
				if !ok {
					return errf(cmd.Line, name, "%s: unknown property", m.path)
				}
				if name == "name" || slices.Contains(m.required, name) {
					return errf(cmd.Line, name, "cannot be unset")
				}
				resetProp(item, p)
				continue
			}
			if a.Name == "name" && isBuiltin(i) {
				return errf(cmd.Line, "name", "cannot rename the built-in %q", DefaultProfile)
			}
			if err := setArg(m, item, a, cmd.Line); err != nil {
				return err
			}
		}
		for _, r := range m.required {
			if p, _ := propIndex(item.Type(), r); formatProp(item, p) == "" {
				return errf(cmd.Line, r, "required")
			}
		}
		if !m.single {
			if err := c.checkDuplicate(m, item, i, cmd.Line); err != nil {
				return err
			}
		}
		item.Addr().Interface().(lined).setLine(cmd.Line)
		at(i).Set(item)
	}
	return nil
}

// Validate checks the whole configuration: names unique, references
// resolve, pools do not overlap, next-pool chains end, VLANs stack at most
// two deep (the data plane parses two tags). Errors carry the line of the
// command that last touched the offending item.
func (c *Config) Validate() error {
	for _, m := range menus {
		if m.single {
			continue
		}
		s := m.items(c)
		for i := range s.Len() {
			if err := c.checkDuplicate(m, s.Index(i), i, line(s.Index(i))); err != nil {
				return err
			}
		}
	}
	if len(c.Profiles) == 0 || c.Profiles[0].Name != DefaultProfile {
		return errf(0, "", "/ppp profile: the built-in %q profile is missing", DefaultProfile)
	}
	pools := map[string]bool{}
	var specs []pool.Spec
	for _, p := range c.Pools {
		pools[p.Name] = true
		specs = append(specs, pool.Spec{Name: p.Name, Ranges: p.Ranges, NextPool: p.NextPool})
	}
	if err := pool.CheckChains(specs); err != nil {
		return &Error{Line: c.poolLine(err), Property: "next-pool", Err: err}
	}
	if err := c.checkPoolOverlap(); err != nil {
		return err
	}
	profiles := map[string]bool{}
	for _, p := range c.Profiles {
		profiles[p.Name] = true
		for _, f := range []struct{ prop, v string }{{"local-address", p.LocalAddress}, {"remote-address", p.RemoteAddress}} {
			if a, err := netip.ParseAddr(f.v); f.v == "" || err == nil && a.Is4() || pools[f.v] {
				continue
			}
			return errf(p.line, f.prop, "/ppp profile %s: %q is neither an IPv4 address nor a pool", p.Name, f.v)
		}
	}
	for _, s := range c.Secrets {
		if !profiles[s.Profile] {
			return errf(s.line, "profile", "/ppp secret %s: no such profile %q", s.Name, s.Profile)
		}
	}
	clients := map[string]bool{}
	for _, cl := range c.Clients {
		clients[cl.Name] = true
	}
	for _, s := range c.Servers {
		if !profiles[s.DefaultProfile] {
			return errf(s.line, "default-profile", "/interface pppoe-server server: no such profile %q", s.DefaultProfile)
		}
		if clients[s.Interface] {
			return errf(s.line, "interface", "/interface pppoe-server server: %q is a pppoe-client", s.Interface)
		}
	}
	for _, cl := range c.Clients {
		if !profiles[cl.Profile] {
			return errf(cl.line, "profile", "/interface pppoe-client %s: no such profile %q", cl.Name, cl.Profile)
		}
		if clients[cl.Interface] {
			return errf(cl.line, "interface", "/interface pppoe-client %s: %q is a pppoe-client", cl.Name, cl.Interface)
		}
	}
	if err := c.validateRADIUS(); err != nil {
		return err
	}
	return c.checkVLANs(clients)
}

func line(item reflect.Value) int {
	return item.Addr().Interface().(lined).srcLine()
}

// poolLine finds the line of the pool a pool.CheckChains error names
// ("pool NAME: ...").
func (c *Config) poolLine(err error) int {
	for _, p := range c.Pools {
		if strings.HasPrefix(err.Error(), "pool "+p.Name+":") {
			return p.line
		}
	}
	return 0
}

func (c *Config) checkPoolOverlap() error {
	type owned struct {
		r    pool.Range
		pool *Pool
	}
	var all []owned
	for i := range c.Pools {
		for _, r := range c.Pools[i].Ranges {
			all = append(all, owned{r, &c.Pools[i]})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].r.First.Less(all[j].r.First) })
	for i := 1; i < len(all); i++ {
		if all[i].r.First.Compare(all[i-1].r.Last) <= 0 {
			return errf(all[i].pool.line, "ranges", "/ip pool %s: %s overlaps %s of pool %s",
				all[i].pool.Name, all[i].r, all[i-1].r, all[i-1].pool.Name)
		}
	}
	return nil
}

// checkVLANs follows each VLAN's parent chain: a parent that is a VLAN must
// exist (any other name is a kernel interface), chains must not loop, at
// most two tags deep, and no two VLANs share parent, tag type and id.
func (c *Config) checkVLANs(clients map[string]bool) error {
	byName := map[string]*VLAN{}
	for i := range c.VLANs {
		byName[c.VLANs[i].Name] = &c.VLANs[i]
	}
	type slot struct {
		parent string
		stag   bool
		id     int
	}
	seen := map[slot]string{}
	for _, v := range c.VLANs {
		if clients[v.Interface] {
			return errf(v.line, "interface", "/interface vlan %s: %q is a pppoe-client", v.Name, v.Interface)
		}
		depth := 1
		for p := byName[v.Interface]; p != nil; p = byName[p.Interface] {
			depth++
			if p.Name == v.Name || depth > 2 {
				return errf(v.line, "interface", "/interface vlan %s: stacked more than two tags deep (or a loop)", v.Name)
			}
		}
		s := slot{v.Interface, v.UseServiceTag, v.VLANID}
		if other, dup := seen[s]; dup {
			return errf(v.line, "vlan-id", "/interface vlan %s: vlan-id %d on %s already used by %s", v.Name, v.VLANID, v.Interface, other)
		}
		seen[s] = v.Name
	}
	return nil
}

// Equal reports whether a and b hold the same items with the same
// properties in the same order (source lines aside).
func Equal(a, b *Config) bool {
	if len(Diff(a, b)) > 0 {
		return false
	}
	for _, m := range menus {
		if m.single {
			continue
		}
		x, y := m.items(a), m.items(b)
		for i := range x.Len() {
			if m.key(x.Index(i)) != m.key(y.Index(i)) {
				return false
			}
		}
	}
	return true
}

// String implements fmt.Stringer with the export form.
func (c *Config) String() string { return Export(c) }

var _ fmt.Stringer = (*Config)(nil)
