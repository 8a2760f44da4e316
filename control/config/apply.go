package config

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
)

// Load parses script and applies it to a fresh configuration.
func Load(script string) (*Config, error) { return LoadContext(context.Background(), script) }

// LoadContext is Load that gives up with ctx's error when ctx ends.
func LoadContext(ctx context.Context, script string) (*Config, error) {
	cmds, err := ParseContext(ctx, script)
	if err != nil {
		return nil, err
	}
	return New().ApplyContext(ctx, cmds)
}

// Apply applies cmds in order to a copy of c and validates the result: the
// returned configuration has all of them or, on error, c is unchanged and
// nothing is returned. References (profiles, pools, next-pool, VLAN
// parents) are checked on the result, so a script may refer forward.
//
// A command costs O(log n) in the size of its menu, a [find] on other
// properties than the key O(n); validation does not grow with the number
// of secrets. c and the result share what the commands did not change.
func (c *Config) Apply(cmds []Command) (*Config, error) {
	return c.ApplyContext(context.Background(), cmds)
}

// ApplyContext is Apply that gives up with ctx's error when ctx ends.
func (c *Config) ApplyContext(ctx context.Context, cmds []Command) (*Config, error) {
	n := c.Clone()
	n.edit = newEdit()
	for i, cmd := range cmds {
		if i%checkEvery == checkEvery-1 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := n.apply(cmd); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.edit = 0 // from now on shared: nothing changes in place
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
	if m.single() {
		return errf(cmd.Line, "", "%s: add: single-item menu, use set", m.path)
	}
	if cmd.Target != nil {
		return errf(cmd.Line, "", "%s add: unexpected item selector", m.path)
	}
	item := reflect.New(m.typ).Elem()
	setDefaults(item)
	var given uint64 // by prop.pos: item types have fewer than 64 properties
	for _, a := range cmd.Args {
		if err := setArg(m, item, a, cmd.Line); err != nil {
			return err
		}
		p, _ := propIndex(m.typ, a.Name)
		given |= 1 << p.pos
	}
	isGiven := func(name string) bool {
		p, ok := propIndex(m.typ, name)
		return ok && given&(1<<p.pos) != 0
	}
	for _, r := range m.required {
		if p, _ := propIndex(m.typ, r); !isGiven(r) || formatProp(item, p) == "" {
			return errf(cmd.Line, r, "required")
		}
	}
	if m.autoName != "" && !isGiven("name") {
		item.FieldByName("Name").SetString(c.freeName(m))
	}
	if err := c.checkInterfaceName(m, item, cmd.Line); err != nil {
		return err
	}
	item.Addr().Interface().(lined).setLine(cmd.Line)
	if !m.list.add(c, item) {
		return duplicate(m, item, cmd.Line)
	}
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
	for n := 1; ; n++ {
		name := m.autoName + strconv.Itoa(n)
		if m.list.index(c, name) < 0 && !c.isInterface(m, name) {
			return name
		}
	}
}

// isInterface reports whether name is taken in /interface's name space,
// which VLANs and clients share, by an item of the other of the two menus
// than m. Other menus have name spaces of their own.
func (c *Config) isInterface(m *menu, name string) bool {
	switch m.path {
	case "/interface vlan":
		return c.Clients.Index(name) >= 0
	case "/interface pppoe-client":
		return c.VLANs.Index(name) >= 0
	}
	return false
}

// checkInterfaceName rejects a VLAN or client whose name a client or VLAN
// already has.
func (c *Config) checkInterfaceName(m *menu, item reflect.Value, line int) error {
	if name := key(item); c.isInterface(m, name) {
		return errf(line, "name", "interface %q already exists", name)
	}
	return nil
}

// duplicate is the error for an item whose key another item has.
func duplicate(m *menu, item reflect.Value, line int) error {
	return errf(line, m.keyProps[len(m.keyProps)-1], "%s: %q already exists", m.path, key(item))
}

// selected resolves a command's target to item positions, in ascending
// order. A [find] whose conditions name the key (name=x; interface=
// and service-name= for servers) looks the item up; any other [find]
// tests every item.
func (c *Config) selected(m *menu, cmd Command) ([]int, error) {
	t := cmd.Target
	if t == nil {
		return nil, errf(cmd.Line, "numbers", "%s %s: which item?", m.path, cmd.Verb)
	}
	n := m.list.length(c)
	var out []int
	switch {
	case t.Find && m.builtin && len(t.Where) == 1 && t.Where[0].Name == "default" && (!t.Where[0].HasValue || t.Where[0].Value == "yes"):
		// RouterOS's export selects a built-in item by its * flag:
		// "/ipv6 nd set [ find default=yes ] ...".
		out = append(out, 0)
	case t.Find:
		conds, err := conditions(m, t.Where, cmd.Line)
		if err != nil {
			return nil, err
		}
		test := func(i int) {
			if matches(m.list.at(c, i), conds) {
				out = append(out, i)
			}
		}
		if k, ok := keyOf(m, conds); ok {
			if i := m.list.index(c, k); i >= 0 {
				test(i)
			}
			return out, nil
		}
		for i := range n {
			test(i)
		}
	case t.Numbers != nil:
		for _, i := range t.Numbers {
			if i >= n {
				return nil, errf(cmd.Line, "numbers", "no such item %d", i)
			}
			if !slices.Contains(out, i) {
				out = append(out, i)
			}
		}
	default:
		i := -1
		if slices.Equal(m.keyProps, []string{"name"}) {
			i = m.list.index(c, t.Name)
		}
		if i < 0 {
			return nil, errf(cmd.Line, "numbers", "no such item %q", t.Name)
		}
		out = append(out, i)
	}
	sort.Ints(out)
	return out, nil
}

// condition is one [find] condition: a property and the text it must
// print as.
type condition struct {
	p    prop
	text string
}

// conditions parses [find] conditions once, for every item they are
// tested on: each value must print as the property does ("1480" matches
// max-mtu=1480, a bare bool property matches when yes).
func conditions(m *menu, where []Arg, line int) ([]condition, error) {
	var out []condition
	for _, w := range where {
		p, ok := propIndex(m.typ, w.Name)
		if !ok {
			return nil, errf(line, w.Name, "%s: unknown property in [find]", m.path)
		}
		val := w.Value
		if !w.HasValue {
			if p.field.Type.Kind() != reflect.Bool {
				return nil, errf(line, w.Name, "not a yes/no property; use %s=value", w.Name)
			}
			val = "yes"
		}
		scratch := reflect.New(m.typ).Elem()
		if err := setProp(scratch, p, val); err != nil {
			return nil, &Error{Line: line, Property: w.Name, Err: err}
		}
		out = append(out, condition{p, formatProp(scratch, p)})
	}
	return out, nil
}

// keyOf returns the key every item matching conds has, if conds pin it.
func keyOf(m *menu, conds []condition) (string, bool) {
	scratch := reflect.New(m.typ).Elem()
	for _, kp := range m.keyProps {
		found := false
		for _, c := range conds {
			if c.p.name == kp {
				if err := setProp(scratch, c.p, c.text); err != nil {
					return "", false
				}
				found = true
			}
		}
		if !found {
			return "", false
		}
	}
	return key(scratch), true
}

func matches(item reflect.Value, conds []condition) bool {
	for _, c := range conds {
		if formatProp(item, c.p) != c.text {
			return false
		}
	}
	return true
}

func (c *Config) modify(m *menu, cmd Command) error {
	if m.single() {
		if cmd.Verb != "set" && cmd.Verb != "unset" {
			return errf(cmd.Line, "", "%s %s: not available", m.path, cmd.Verb)
		}
		if cmd.Target != nil {
			return errf(cmd.Line, "", "%s: single-item menu takes no item selector", m.path)
		}
		item := reflect.New(m.typ).Elem()
		item.Set(m.item(c))
		if err := change(m, item, cmd, false); err != nil {
			return err
		}
		m.item(c).Set(item)
		return nil
	}
	idx, err := c.selected(m, cmd)
	if err != nil {
		return err
	}
	isBuiltin := func(i int) bool { return m.builtin && i == 0 }
	switch cmd.Verb {
	case "remove":
		for k := len(idx) - 1; k >= 0; k-- {
			if isBuiltin(idx[k]) {
				return errf(cmd.Line, "", "%s: cannot remove the built-in %q", m.path, key(m.list.at(c, 0)))
			}
			m.list.remove(c, idx[k])
		}
		return nil
	case "enable", "disable":
		if !m.hasProp("disabled") || len(cmd.Args) > 0 {
			return errf(cmd.Line, "", "%s %s: not available", m.path, cmd.Verb)
		}
		for _, i := range idx {
			item := m.list.at(c, i)
			item.FieldByName("Disabled").SetBool(cmd.Verb == "disable")
			item.Addr().Interface().(lined).setLine(cmd.Line)
			m.list.replace(c, i, item)
		}
		return nil
	}
	for _, i := range idx {
		item := m.list.at(c, i) // a copy: the original stays on error
		if err := change(m, item, cmd, isBuiltin(i)); err != nil {
			return err
		}
		if err := c.checkInterfaceName(m, item, cmd.Line); err != nil {
			return err
		}
		if !m.list.replace(c, i, item) {
			return duplicate(m, item, cmd.Line)
		}
	}
	return nil
}

// change applies a set or unset to item, a copy.
func change(m *menu, item reflect.Value, cmd Command, builtin bool) error {
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
		if builtin && a.Name == m.keyProps[0] {
			return errf(cmd.Line, a.Name, "cannot change %s of the built-in %q", a.Name, key(item))
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
	item.Addr().Interface().(lined).setLine(cmd.Line)
	return nil
}

// Validate checks the whole configuration: references resolve, pools do
// not overlap, next-pool chains end, VLANs stack at most two deep (the
// data plane parses two tags), and what goes on the wire or into the kernel
// fits there (see checkServe). Keys are unique by construction of the lists. Errors carry
// the line of the command that last touched the offending item.
//
// Its cost does not grow with the number of secrets: their references are
// counted per profile as the list changes, and checked per profile here.
func (c *Config) Validate() error {
	if c.Profiles.Len() == 0 || c.Profiles.At(0).Name != DefaultProfile {
		return errf(0, "", "/ppp profile: the built-in %q profile is missing", DefaultProfile)
	}
	if c.ND.Len() == 0 || c.ND.At(0).Interface != "all" {
		return errf(0, "", "/ipv6 nd: the built-in interface=all entry is missing")
	}
	var specs []pool.Spec
	for _, p := range c.Pools.All() {
		specs = append(specs, pool.Spec{Name: p.Name, Ranges: p.Ranges, NextPool: p.NextPool})
	}
	if err := pool.CheckChains(specs); err != nil {
		return &Error{Line: c.poolLine(err), Property: "next-pool", Err: err}
	}
	if err := c.checkPoolOverlap(); err != nil {
		return err
	}
	if err := c.checkIPv6Pools(); err != nil {
		return err
	}
	for _, p := range c.Profiles.All() {
		if p.DHCPv6LeaseTime < Seconds(MinDHCPv6LeaseTime) {
			// T1, half of it, is sent in whole seconds: under 1 s it
			// would read 0, "at the client's discretion" (RFC 8415 §21.4).
			return errf(p.line, "dhcpv6-lease-time", "/ppp profile %s: dhcpv6-lease-time %v under %v",
				p.Name, time.Duration(p.DHCPv6LeaseTime), MinDHCPv6LeaseTime)
		}
		for _, f := range []struct{ prop, v string }{{"remote-ipv6-prefix-pool", p.RemoteIPv6PrefixPool}, {"dhcpv6-pd-pool", p.DHCPv6PDPool}} {
			if f.v == "" {
				continue
			}
			ip6, ok := c.IPv6Pools.Get(f.v)
			if !ok {
				return errf(p.line, f.prop, "/ppp profile %s: no such /ipv6 pool %q", p.Name, f.v)
			}
			if f.prop == "remote-ipv6-prefix-pool" && ip6.PrefixLength != 64 {
				return errf(p.line, f.prop, "/ppp profile %s: /ipv6 pool %s hands out /%d prefixes; the link prefix for SLAAC is a /64 (RFC 4862 §5.5.3)",
					p.Name, f.v, ip6.PrefixLength)
			}
		}
		for _, f := range []struct{ prop, v string }{{"local-address", p.LocalAddress}, {"remote-address", p.RemoteAddress}} {
			if a, err := netip.ParseAddr(f.v); f.v == "" || err == nil && a.Is4() || c.Pools.Index(f.v) >= 0 {
				continue
			}
			return errf(p.line, f.prop, "/ppp profile %s: %q is neither an IPv4 address nor a pool", p.Name, f.v)
		}
	}
	for name := range c.Secrets.referenced() {
		if c.Profiles.Index(name) >= 0 {
			continue
		}
		for _, s := range c.Secrets.All() { // the error's line: only on failure
			if s.Profile == name {
				return errf(s.line, "profile", "/ppp secret %s: no such profile %q", s.Name, s.Profile)
			}
		}
	}
	isClient := func(name string) bool { return c.Clients.Index(name) >= 0 }
	for _, s := range c.Servers.All() {
		if c.Profiles.Index(s.DefaultProfile) < 0 {
			return errf(s.line, "default-profile", "/interface pppoe-server server: no such profile %q", s.DefaultProfile)
		}
		if isClient(s.Interface) {
			return errf(s.line, "interface", "/interface pppoe-server server: %q is a pppoe-client", s.Interface)
		}
	}
	for _, cl := range c.Clients.All() {
		if c.Profiles.Index(cl.Profile) < 0 {
			return errf(cl.line, "profile", "/interface pppoe-client %s: no such profile %q", cl.Name, cl.Profile)
		}
		if isClient(cl.Interface) {
			return errf(cl.line, "interface", "/interface pppoe-client %s: %q is a pppoe-client", cl.Name, cl.Interface)
		}
		if c.VLANs.Index(cl.Name) >= 0 {
			return errf(cl.line, "name", "interface %q already exists", cl.Name)
		}
	}
	if err := c.checkVLANs(isClient); err != nil {
		return err
	}
	if err := c.validateRADIUS(); err != nil {
		return err
	}
	if err := c.checkServe(); err != nil {
		return err
	}
	if err := c.checkDHCPv6Clients(); err != nil {
		return err
	}
	if err := c.checkND(); err != nil {
		return err
	}
	return c.checkClients()
}

func line(item reflect.Value) int {
	return item.Addr().Interface().(lined).srcLine()
}

// poolLine finds the line of the pool a pool.CheckChains error names
// ("pool NAME: ...").
func (c *Config) poolLine(err error) int {
	for _, p := range c.Pools.All() {
		if strings.HasPrefix(err.Error(), "pool "+p.Name+":") {
			return p.line
		}
	}
	return 0
}

func (c *Config) checkPoolOverlap() error {
	type owned struct {
		r    pool.Range
		pool Pool
	}
	var all []owned
	for _, p := range c.Pools.All() {
		for _, r := range p.Ranges {
			all = append(all, owned{r, p})
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

// checkIPv6Pools checks each /ipv6 pool's prefix and prefix-length, and
// that no two pools overlap: a prefix handed out twice would route one
// subscriber's traffic to another.
func (c *Config) checkIPv6Pools() error {
	var all []IPv6Pool
	for _, p := range c.IPv6Pools.All() {
		pr := netip.Prefix(p.Prefix)
		// The prefix alone first (any length is right for a pool of one),
		// so the error names the property that is wrong.
		if err := pool.CheckPrefixSpec(pr, pr.Bits()); err != nil {
			return errf(p.line, "prefix", "/ipv6 pool %s: %v", p.Name, err)
		}
		if err := pool.CheckPrefixSpec(pr, p.PrefixLength); err != nil {
			return errf(p.line, "prefix-length", "/ipv6 pool %s: %v", p.Name, err)
		}
		all = append(all, p)
	}
	sort.Slice(all, func(i, j int) bool {
		return netip.Prefix(all[i].Prefix).Addr().Less(netip.Prefix(all[j].Prefix).Addr())
	})
	for i := 1; i < len(all); i++ {
		// Sorted by first address: a pool overlaps an earlier one only if
		// the one just before it contains its first address, or an even
		// earlier one does, which then contains the one just before too.
		if prev := netip.Prefix(all[i-1].Prefix); prev.Contains(netip.Prefix(all[i].Prefix).Addr()) {
			return errf(all[i].line, "prefix", "/ipv6 pool %s: %v overlaps %v of pool %s",
				all[i].Name, netip.Prefix(all[i].Prefix), prev, all[i-1].Name)
		}
	}
	return nil
}

// checkVLANs follows each VLAN's parent chain: a parent that is a VLAN must
// exist (any other name is a kernel interface), chains must not loop, at
// most two tags deep, and no two VLANs share parent, tag type and id.
func (c *Config) checkVLANs(isClient func(string) bool) error {
	type slot struct {
		parent string
		stag   bool
		id     int
	}
	seen := map[slot]string{}
	for _, v := range c.VLANs.All() {
		if isClient(v.Interface) {
			return errf(v.line, "interface", "/interface vlan %s: %q is a pppoe-client", v.Name, v.Interface)
		}
		depth := 1
		for p, ok := c.VLANs.Get(v.Interface); ok; p, ok = c.VLANs.Get(p.Interface) {
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
		if m.single() {
			continue
		}
		if m.list.length(a) != m.list.length(b) {
			return false
		}
		keys := []string{}
		for _, it := range m.list.all(a) {
			keys = append(keys, key(it))
		}
		for i, it := range m.list.all(b) {
			if keys[i] != key(it) {
				return false
			}
		}
	}
	return true
}

// String implements fmt.Stringer with the export form.
func (c *Config) String() string { return Export(c) }

var _ fmt.Stringer = (*Config)(nil)
