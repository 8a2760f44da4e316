package config

import (
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/pool"
)

// Struct tags on the item types drive parsing, defaults, export and print:
//   ros:"name"          the RouterOS property name (also the JSON key)
//   default:"text"      the default, in the property's own text form
//   enum:"a,b,c"        the values a string property accepts
//   range:"lo..hi"      the values an integer property accepts
//   none:"word"         the word RouterOS prints for an empty string
//   ref:"kind"          names another item; print shows it unquoted
// Each item embeds meta, which remembers the line that last touched it so
// that validation errors point at the script.

type meta struct{ line int }

func (m *meta) setLine(l int) { m.line = l }
func (m *meta) srcLine() int  { return m.line }

type lined interface {
	setLine(int)
	srcLine() int
}

// Pool is an /ip pool item.
type Pool struct {
	meta
	Name     string `ros:"name" json:"name"`
	Ranges   Ranges `ros:"ranges" json:"ranges"`
	NextPool string `ros:"next-pool" none:"none" ref:"pool" json:"next-pool"`
	Comment  string `ros:"comment" json:"comment"`
}

// IPv6Pool is an /ipv6 pool item: Prefix split into prefixes of
// PrefixLength, handed out as a session's link /64 (a profile's
// remote-ipv6-prefix-pool) or delegated by DHCPv6-PD (dhcpv6-pd-pool).
type IPv6Pool struct {
	meta
	Name         string     `ros:"name" json:"name"`
	Prefix       IPv6Prefix `ros:"prefix" json:"prefix"`
	PrefixLength int        `ros:"prefix-length" range:"1..128" json:"prefix-length"`
	Comment      string     `ros:"comment" json:"comment"`
}

// MinDHCPv6LeaseTime is the shortest dhcpv6-lease-time: T1 (half of
// it) at least a second.
const MinDHCPv6LeaseTime = 2 * time.Second

// Profile is a /ppp profile item. LocalAddress and RemoteAddress hold an
// IPv4 address or the name of an /ip pool. OnlyOne "default" and
// ChangeTCPMSS "default" defer to the built-in default profile (for which
// "default" means no and yes respectively). RemoteIPv6PrefixPool (the
// session's link /64, announced for SLAAC) and DHCPv6PDPool (delegated
// prefixes) name /ipv6 pools.
type Profile struct {
	meta
	Name                 string     `ros:"name" json:"name"`
	LocalAddress         string     `ros:"local-address" ref:"pool" json:"local-address"`
	RemoteAddress        string     `ros:"remote-address" ref:"pool" json:"remote-address"`
	RemoteIPv6PrefixPool string     `ros:"remote-ipv6-prefix-pool" none:"none" ref:"ipv6-pool" json:"remote-ipv6-prefix-pool"`
	DHCPv6PDPool         string     `ros:"dhcpv6-pd-pool" none:"none" ref:"ipv6-pool" json:"dhcpv6-pd-pool"`
	DNS                  DNSServers `ros:"dns-server" json:"dns-server"`
	OnlyOne              string     `ros:"only-one" enum:"yes,no,default" default:"default" json:"only-one"`
	ChangeTCPMSS         string     `ros:"change-tcp-mss" enum:"yes,no,default" default:"yes" json:"change-tcp-mss"`
	RateLimit            RateLimit  `ros:"rate-limit" json:"rate-limit"`
	// QueueType picks how the download (tx) limit holds: default-small and
	// default police it; fq-codel-default and cake-default shape it (EDT
	// and fq on the access interface). README "Rate limits".
	QueueType string `ros:"queue-type" enum:"default-small,default,fq-codel-default,cake-default" default:"default-small" json:"queue-type"`
	Comment   string `ros:"comment" json:"comment"`
	// DHCPv6LeaseTime is RouterOS's /ipv6 dhcp-server lease-time for the
	// DHCPv6 server each session runs (RouterOS makes a dynamic one per
	// PPP interface): the valid and preferred lifetime of what it hands
	// out, T1 and T2 at 0.5 and 0.8 of it (RFC 8415 §21.4, §21.21).
	DHCPv6LeaseTime Seconds `ros:"dhcpv6-lease-time" default:"1d" json:"dhcpv6-lease-time"`

	// DNSServer is dns-server's IPv4 addresses, for IPCP (RFC 1877),
	// kept in step with DNS whenever the item changes (setLine).
	DNSServer []netip.Addr `json:"-"`
}

// setLine also derives DNSServer: every change to an item ends here.
func (p *Profile) setLine(l int) {
	p.meta.setLine(l)
	p.DNSServer = p.DNS.IPv4()
}

// IPv6DNS is dns-server's IPv6 addresses (for RDNSS, RFC 8106, and the
// DHCPv6 DNS option, RFC 3646).
func (p Profile) IPv6DNS() []netip.Addr { return p.DNS.IPv6() }

// Secret is a /ppp secret item: a local user.
type Secret struct {
	meta
	Name          string     `ros:"name" json:"name"`
	Password      string     `ros:"password" json:"password"`
	Profile       string     `ros:"profile" default:"default" ref:"profile" json:"profile"`
	Service       string     `ros:"service" enum:"any,async,l2tp,ovpn,pppoe,pptp,sstp" default:"any" json:"service"`
	LocalAddress  netip.Addr `ros:"local-address" json:"local-address"`
	RemoteAddress netip.Addr `ros:"remote-address" json:"remote-address"`
	// RemoteIPv6Prefix is a fixed link /64 for the user (RouterOS: the
	// prefix added to the ND prefix list for SLAAC on the link).
	RemoteIPv6Prefix IPv6LinkPrefix `ros:"remote-ipv6-prefix" json:"remote-ipv6-prefix"`
	RateLimit        RateLimit      `ros:"rate-limit" json:"rate-limit"`
	Disabled         bool           `ros:"disabled" json:"disabled"`
	Comment          string         `ros:"comment" json:"comment"`
}

// Server is an /interface pppoe-server server item: one access
// concentrator service on an interface (RFC 2516). As in RouterOS a new
// server is disabled until "disabled=no" or "enable".
type Server struct {
	meta
	ServiceName       string      `ros:"service-name" json:"service-name"`
	Interface         string      `ros:"interface" ref:"interface" json:"interface"`
	Authentication    AuthMethods `ros:"authentication" default:"mschap2,mschap1,chap,pap" json:"authentication"`
	DefaultProfile    string      `ros:"default-profile" default:"default" ref:"profile" json:"default-profile"`
	KeepaliveTimeout  Seconds     `ros:"keepalive-timeout" default:"10" json:"keepalive-timeout"`
	MaxMRU            MTU         `ros:"max-mru" default:"1480" json:"max-mru"`
	MaxMTU            MTU         `ros:"max-mtu" default:"1480" json:"max-mtu"`
	MaxSessions       int         `ros:"max-sessions" range:"0..65535" default:"0" json:"max-sessions"`
	MRRU              MRRU        `ros:"mrru" default:"disabled" json:"mrru"`
	OneSessionPerHost bool        `ros:"one-session-per-host" json:"one-session-per-host"`
	PADODelay         PADODelay   `ros:"pado-delay" default:"0" json:"pado-delay"`
	Disabled          bool        `ros:"disabled" default:"yes" json:"disabled"`
	Comment           string      `ros:"comment" json:"comment"`
}

// Client is an /interface pppoe-client item. As in RouterOS a new client
// is disabled until "disabled=no" or "enable", and is named pppoe-outN
// (the lowest free N) when no name is given.
type Client struct {
	meta
	Name                 string      `ros:"name" json:"name"`
	ACName               string      `ros:"ac-name" json:"ac-name"`
	AddDefaultRoute      bool        `ros:"add-default-route" json:"add-default-route"`
	Allow                AuthMethods `ros:"allow" default:"mschap2,mschap1,chap,pap" json:"allow"`
	DefaultRouteDistance int         `ros:"default-route-distance" range:"0..255" default:"1" json:"default-route-distance"`
	DialOnDemand         bool        `ros:"dial-on-demand" json:"dial-on-demand"`
	Interface            string      `ros:"interface" ref:"interface" json:"interface"`
	KeepaliveTimeout     Seconds     `ros:"keepalive-timeout" default:"60" json:"keepalive-timeout"`
	MaxMRU               MTU         `ros:"max-mru" default:"1460" json:"max-mru"`
	MaxMTU               MTU         `ros:"max-mtu" default:"1460" json:"max-mtu"`
	MRRU                 MRRU        `ros:"mrru" default:"disabled" json:"mrru"`
	Password             string      `ros:"password" json:"password"`
	Profile              string      `ros:"profile" default:"default" ref:"profile" json:"profile"`
	ServiceName          string      `ros:"service-name" json:"service-name"`
	UsePeerDNS           bool        `ros:"use-peer-dns" json:"use-peer-dns"`
	User                 string      `ros:"user" json:"user"`
	Disabled             bool        `ros:"disabled" default:"yes" json:"disabled"`
	Comment              string      `ros:"comment" json:"comment"`
}

// VLAN is an /interface vlan item: an IEEE 802.1Q tag (802.1ad S-tag,
// ethertype 0x88a8, with use-service-tag) on a parent interface, which may
// itself be a VLAN for QinQ. pppoe-xdp never creates a kernel VLAN device:
// the data plane pushes and pops the tags.
type VLAN struct {
	meta
	Name          string `ros:"name" json:"name"`
	VLANID        int    `ros:"vlan-id" range:"1..4094" json:"vlan-id"`
	Interface     string `ros:"interface" ref:"interface" json:"interface"`
	UseServiceTag bool   `ros:"use-service-tag" json:"use-service-tag"`
	Disabled      bool   `ros:"disabled" json:"disabled"`
	Comment       string `ros:"comment" json:"comment"`
}

// Identity is /system identity. Its name is the PPPoE AC-Name (RFC 2516
// AC-Name tag). The default is "pppoe-xdp" rather than RouterOS's
// "MikroTik", so that a fresh install does not impersonate one.
type Identity struct {
	meta
	Name string `ros:"name" default:"pppoe-xdp" json:"name"`
}

// Key implements Item: the pool's name.
func (p Pool) Key() string { return p.Name }

// Key implements Item: the pool's name.
func (p IPv6Pool) Key() string { return p.Name }

// Key implements Item: the profile's name.
func (p Profile) Key() string { return p.Name }

// Key implements Item: the user's name.
func (s Secret) Key() string { return s.Name }

// ref is what a secret refers to: its profile.
func (s Secret) ref() string { return s.Profile }

// Key implements Item: interface/service-name, which no two servers share.
func (s Server) Key() string { return s.Interface + "/" + s.ServiceName }

// Key implements Item: the client's name.
func (c Client) Key() string { return c.Name }

// Key implements Item: the VLAN's name.
func (v VLAN) Key() string { return v.Name }

// Config is the whole configuration. Lists keep print order: an item's
// number is its position. Profiles.At(0) is the built-in "default" profile.
//
// A Config is a value: configurations share their lists' unchanged parts,
// nothing in a Config is ever changed in place, and Apply returns a new one.
type Config struct {
	VLANs     List[VLAN]     `json:"interface-vlan"`
	Pools     List[Pool]     `json:"ip-pool"`
	IPv6Pools List[IPv6Pool] `json:"ipv6-pool"`
	Profiles  List[Profile]  `json:"ppp-profile"`
	Secrets   List[Secret]   `json:"ppp-secret"`
	Servers   List[Server]   `json:"interface-pppoe-server-server"`
	Clients   List[Client]   `json:"interface-pppoe-client"`

	DHCPv6Clients List[DHCPv6Client] `json:"ipv6-dhcp-client"`
	ND            List[ND]           `json:"ipv6-nd"`
	NDPrefix      NDPrefixDefault    `json:"ipv6-nd-prefix-default"`
	Identity      Identity           `json:"system-identity"`

	AAA            AAA            `json:"ppp-aaa"`
	Radius         List[Radius]   `json:"radius"`
	RadiusIncoming RadiusIncoming `json:"radius-incoming"`

	edit uint64 // while Apply changes this Config: its edit (see node)
}

// DefaultProfile is the name of the built-in profile.
const DefaultProfile = "default"

// New returns the configuration of a fresh install: the built-in default
// profile, the built-in /ipv6 nd entry (interface=all) and the default
// identity.
func New() *Config {
	c := &Config{}
	prof := defaults[Profile]()
	prof.Name = DefaultProfile
	c.Profiles.add(0, prof)
	c.ND.add(0, newND())
	c.NDPrefix = defaults[NDPrefixDefault]()
	c.Identity = defaults[Identity]()
	c.AAA = defaults[AAA]()
	c.RadiusIncoming = defaults[RadiusIncoming]()
	return c
}

// Clone returns a copy of c. It costs O(1): the lists are immutable and
// shared.
func (c *Config) Clone() *Config {
	n := *c
	n.edit = 0
	return &n
}

// menu describes one menu to the generic code.
type menu struct {
	path     string
	list     lister              // nil for a single-item menu
	one      func(c *Config) any // a single-item menu's item, a pointer into c
	autoName string              // prefix of generated names; "" = name required or no name
	required []string
	columns  []string // print (non-detail) columns
	typ      reflect.Type
	// keyProps are the properties that make up an item's key; the last
	// is the one a duplicate's error names.
	keyProps []string
	// builtin: the list's first item is built in (RouterOS's * flag): it
	// cannot be removed, nor its key changed, and export sets it.
	builtin bool
}

// menus are in export order: referenced menus before the menus that refer
// to them.
var menus = []*menu{
	{path: "/interface vlan", list: listOf[VLAN](func(c *Config) *List[VLAN] { return &c.VLANs }), autoName: "vlan", required: []string{"vlan-id", "interface"}, columns: []string{"name", "vlan-id", "interface", "use-service-tag"}},
	{path: "/ip pool", list: listOf[Pool](func(c *Config) *List[Pool] { return &c.Pools }), autoName: "pool", required: []string{"ranges"}, columns: []string{"name", "ranges", "next-pool"}},
	{path: "/ipv6 pool", list: listOf[IPv6Pool](func(c *Config) *List[IPv6Pool] { return &c.IPv6Pools }), required: []string{"name", "prefix", "prefix-length"}, columns: []string{"name", "prefix", "prefix-length"}},
	{path: "/ppp profile", list: listOf[Profile](func(c *Config) *List[Profile] { return &c.Profiles }), autoName: "profile", builtin: true, columns: []string{"name", "local-address", "remote-address", "only-one", "change-tcp-mss"}},
	{path: "/ppp secret", list: listOf[Secret](func(c *Config) *List[Secret] { return &c.Secrets }), required: []string{"name"}, columns: []string{"name", "service", "profile", "remote-address"}},
	{path: "/interface pppoe-server server", list: listOf[Server](func(c *Config) *List[Server] { return &c.Servers }), required: []string{"interface"}, columns: []string{"service-name", "interface", "max-mtu", "max-mru", "mrru", "authentication", "default-profile", "max-sessions"}, keyProps: []string{"interface", "service-name"}},
	{path: "/interface pppoe-client", list: listOf[Client](func(c *Config) *List[Client] { return &c.Clients }), autoName: "pppoe-out", required: []string{"interface"}, columns: []string{"name", "interface", "user", "service-name", "max-mtu", "max-mru"}},
	{path: "/ipv6 dhcp-client", list: listOf[DHCPv6Client](func(c *Config) *List[DHCPv6Client] { return &c.DHCPv6Clients }), required: []string{"interface", "request"}, columns: []string{"interface", "request", "pool-name", "pool-prefix-length", "add-default-route", "use-peer-dns"}, keyProps: []string{"interface"}},
	{path: "/ipv6 nd", list: listOf[ND](func(c *Config) *List[ND] { return &c.ND }), builtin: true, required: []string{"interface"}, columns: []string{"interface", "ra-interval", "ra-delay", "mtu", "ra-lifetime", "hop-limit", "advertise-dns"}, keyProps: []string{"interface"}},
	{path: "/ipv6 nd prefix default", one: func(c *Config) any { return &c.NDPrefix }},
	{path: "/system identity", one: func(c *Config) any { return &c.Identity }, columns: []string{"name"}},
	{path: "/ppp aaa", one: func(c *Config) any { return &c.AAA }},
	{path: "/radius", list: listOf[Radius](func(c *Config) *List[Radius] { return &c.Radius }), required: []string{"address", "secret"}, columns: []string{"service", "address", "authentication-port", "accounting-port", "timeout"}, keyProps: []string{"service", "authentication-port", "address"}},
	{path: "/radius incoming", one: func(c *Config) any { return &c.RadiusIncoming }},
}

func init() {
	for _, m := range menus {
		if m.list != nil {
			m.typ = m.list.itemType()
			if m.keyProps == nil {
				m.keyProps = []string{"name"}
			}
			continue
		}
		m.typ = reflect.TypeOf(m.one(&Config{})).Elem()
	}
}

func (m *menu) single() bool { return m.list == nil }

func findMenu(path string) *menu {
	for _, m := range menus {
		if m.path == path {
			return m
		}
	}
	return nil
}

// Menus lists the menu paths pppoe-xdp implements, in export order.
func Menus() []string {
	out := make([]string, len(menus))
	for i, m := range menus {
		out[i] = m.path
	}
	return out
}

// item returns the addressable item of a single-item menu in c.
func (m *menu) item(c *Config) reflect.Value { return reflect.ValueOf(m.one(c)).Elem() }

func (m *menu) hasProp(name string) bool {
	_, ok := propIndex(m.typ, name)
	return ok
}

// key is an item's key (see Item).
func key(item reflect.Value) string { return item.Addr().Interface().(Item).Key() }

// lister is a List of some item type, seen through reflection by the
// generic menu code: positions, keys and items as reflect.Values.
type lister interface {
	itemType() reflect.Type
	length(c *Config) int
	// at returns an addressable copy of the item at position i.
	at(c *Config, i int) reflect.Value
	index(c *Config, key string) int
	add(c *Config, item reflect.Value) bool
	replace(c *Config, i int, item reflect.Value) bool
	remove(c *Config, i int)
	// changes calls f for each item that differs between old and new
	// (see List.Changes).
	changes(old, new *Config, f func(o, n reflect.Value))
	all(c *Config) func(yield func(int, reflect.Value) bool)
}

type listOf[T Item] func(c *Config) *List[T]

func (l listOf[T]) itemType() reflect.Type        { return reflect.TypeFor[T]() }
func (l listOf[T]) length(c *Config) int          { return l(c).Len() }
func (l listOf[T]) index(c *Config, k string) int { return l(c).Index(k) }
func (l listOf[T]) remove(c *Config, i int)       { l(c).remove(c.edit, i) }

func (l listOf[T]) at(c *Config, i int) reflect.Value {
	v := l(c).At(i)
	return reflect.ValueOf(&v).Elem()
}

func (l listOf[T]) add(c *Config, item reflect.Value) bool {
	return l(c).add(c.edit, item.Interface().(T))
}

func (l listOf[T]) replace(c *Config, i int, item reflect.Value) bool {
	return l(c).replace(c.edit, i, item.Interface().(T))
}

func (l listOf[T]) changes(old, new *Config, f func(o, n reflect.Value)) {
	val := func(p *T) reflect.Value {
		if p == nil {
			return reflect.Value{}
		}
		return reflect.ValueOf(p).Elem()
	}
	for o, n := range l(new).Changes(*l(old)) {
		f(val(o), val(n))
	}
}

func (l listOf[T]) all(c *Config) func(yield func(int, reflect.Value) bool) {
	return func(yield func(int, reflect.Value) bool) {
		for i, v := range l(c).All() {
			if !yield(i, reflect.ValueOf(&v).Elem()) {
				return
			}
		}
	}
}

// IPv6PoolSpecs returns the /ipv6 pools in the form pool.NewPrefixPool
// takes.
func (c *Config) IPv6PoolSpecs() []pool.PrefixSpec {
	out := make([]pool.PrefixSpec, 0, c.IPv6Pools.Len())
	for _, p := range c.IPv6Pools.All() {
		out = append(out, pool.PrefixSpec{Name: p.Name, Prefix: netip.Prefix(p.Prefix), PrefixLength: p.PrefixLength})
	}
	return out
}

// PoolSpecs returns the pools in the form pool.Set.Update takes.
func (c *Config) PoolSpecs() []pool.Spec {
	out := make([]pool.Spec, 0, c.Pools.Len())
	for _, p := range c.Pools.All() {
		out = append(out, pool.Spec{Name: p.Name, Ranges: slices.Clone([]pool.Range(p.Ranges)), NextPool: p.NextPool})
	}
	return out
}
