package config

import (
	"net/netip"
	"reflect"
	"slices"

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

// Profile is a /ppp profile item. LocalAddress and RemoteAddress hold an
// IPv4 address or the name of an /ip pool. OnlyOne "default" and
// ChangeTCPMSS "default" defer to the built-in default profile (for which
// "default" means no and yes respectively).
type Profile struct {
	meta
	Name          string     `ros:"name" json:"name"`
	LocalAddress  string     `ros:"local-address" ref:"pool" json:"local-address"`
	RemoteAddress string     `ros:"remote-address" ref:"pool" json:"remote-address"`
	DNSServer     DNSServers `ros:"dns-server" json:"dns-server"`
	OnlyOne       string     `ros:"only-one" enum:"yes,no,default" default:"default" json:"only-one"`
	ChangeTCPMSS  string     `ros:"change-tcp-mss" enum:"yes,no,default" default:"yes" json:"change-tcp-mss"`
	Comment       string     `ros:"comment" json:"comment"`
}

// Secret is a /ppp secret item: a local user.
type Secret struct {
	meta
	Name          string     `ros:"name" json:"name"`
	Password      string     `ros:"password" json:"password"`
	Profile       string     `ros:"profile" default:"default" ref:"profile" json:"profile"`
	Service       string     `ros:"service" enum:"any,async,l2tp,ovpn,pppoe,pptp,sstp" default:"any" json:"service"`
	LocalAddress  netip.Addr `ros:"local-address" json:"local-address"`
	RemoteAddress netip.Addr `ros:"remote-address" json:"remote-address"`
	Disabled      bool       `ros:"disabled" json:"disabled"`
	Comment       string     `ros:"comment" json:"comment"`
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

// Config is the whole configuration. Slices keep print order: an item's
// number is its index. Profiles[0] is the built-in "default" profile.
type Config struct {
	VLANs    []VLAN    `json:"interface-vlan"`
	Pools    []Pool    `json:"ip-pool"`
	Profiles []Profile `json:"ppp-profile"`
	Secrets  []Secret  `json:"ppp-secret"`
	Servers  []Server  `json:"interface-pppoe-server-server"`
	Clients  []Client  `json:"interface-pppoe-client"`
	Identity Identity  `json:"system-identity"`

	AAA            AAA            `json:"ppp-aaa"`
	Radius         []Radius       `json:"radius"`
	RadiusIncoming RadiusIncoming `json:"radius-incoming"`
}

// DefaultProfile is the name of the built-in profile.
const DefaultProfile = "default"

// New returns the configuration of a fresh install: the built-in default
// profile and the default identity.
func New() *Config {
	c := &Config{}
	p := reflect.New(reflect.TypeFor[Profile]()).Elem()
	setDefaults(p)
	prof := p.Interface().(Profile)
	prof.Name = DefaultProfile
	c.Profiles = []Profile{prof}
	id := reflect.ValueOf(&c.Identity).Elem()
	setDefaults(id)
	setDefaults(reflect.ValueOf(&c.AAA).Elem())
	setDefaults(reflect.ValueOf(&c.RadiusIncoming).Elem())
	return c
}

// Clone returns a copy of c that shares nothing mutable with it.
func (c *Config) Clone() *Config {
	return &Config{
		VLANs:    slices.Clone(c.VLANs),
		Pools:    slices.Clone(c.Pools),
		Profiles: slices.Clone(c.Profiles),
		Secrets:  slices.Clone(c.Secrets),
		Servers:  slices.Clone(c.Servers),
		Clients:  slices.Clone(c.Clients),
		Identity: c.Identity,

		AAA:            c.AAA,
		Radius:         slices.Clone(c.Radius),
		RadiusIncoming: c.RadiusIncoming,
	}
}

// menu describes one menu to the generic code.
type menu struct {
	path     string
	field    string // Config field
	single   bool   // one item, no add/remove (/system identity)
	autoName string // prefix of generated names; "" = name required or no name
	required []string
	columns  []string // print (non-detail) columns
}

// menus are in export order: referenced menus before the menus that refer
// to them.
var menus = []*menu{
	{path: "/interface vlan", field: "VLANs", autoName: "vlan", required: []string{"vlan-id", "interface"}, columns: []string{"name", "vlan-id", "interface", "use-service-tag"}},
	{path: "/ip pool", field: "Pools", autoName: "pool", required: []string{"ranges"}, columns: []string{"name", "ranges", "next-pool"}},
	{path: "/ppp profile", field: "Profiles", autoName: "profile", columns: []string{"name", "local-address", "remote-address", "only-one", "change-tcp-mss"}},
	{path: "/ppp secret", field: "Secrets", required: []string{"name"}, columns: []string{"name", "service", "profile", "remote-address"}},
	{path: "/interface pppoe-server server", field: "Servers", required: []string{"interface"}, columns: []string{"service-name", "interface", "max-mtu", "max-mru", "mrru", "authentication", "default-profile", "max-sessions"}},
	{path: "/interface pppoe-client", field: "Clients", autoName: "pppoe-out", required: []string{"interface"}, columns: []string{"name", "interface", "user", "service-name", "max-mtu", "max-mru"}},
	{path: "/system identity", field: "Identity", single: true, columns: []string{"name"}},
	{path: "/ppp aaa", field: "AAA", single: true},
	{path: "/radius", field: "Radius", required: []string{"address", "secret"}, columns: []string{"service", "address", "authentication-port", "accounting-port", "timeout"}},
	{path: "/radius incoming", field: "RadiusIncoming", single: true},
}

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

// items returns the addressable slice (or, for a single-item menu, the
// struct) of m in c.
func (m *menu) items(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByName(m.field)
}

func (m *menu) itemType() reflect.Type {
	t := reflect.TypeFor[Config]()
	f, _ := t.FieldByName(m.field)
	if m.single {
		return f.Type
	}
	return f.Type.Elem()
}

func (m *menu) hasProp(name string) bool {
	_, ok := propIndex(m.itemType(), name)
	return ok
}

// keyed is an item type with a key of its own (no name).
type keyed interface{ itemKey() string }

// key identifies an item across configurations, for Diff and duplicate
// checks: its name, or interface/service-name for servers.
func (m *menu) key(item reflect.Value) string {
	if k, ok := item.Addr().Interface().(keyed); ok {
		return k.itemKey()
	}
	if m.field == "Servers" {
		s := item.Interface().(Server)
		return s.Interface + "/" + s.ServiceName
	}
	if f := item.FieldByName("Name"); f.IsValid() && !m.single {
		return f.String()
	}
	return ""
}

// PoolSpecs returns the pools in the form pool.Set.Update takes.
func (c *Config) PoolSpecs() []pool.Spec {
	out := make([]pool.Spec, len(c.Pools))
	for i, p := range c.Pools {
		out[i] = pool.Spec{Name: p.Name, Ranges: slices.Clone([]pool.Range(p.Ranges)), NextPool: p.NextPool}
	}
	return out
}
