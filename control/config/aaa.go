package config

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/aaa"
	"github.com/pppoe-xdp/pppoe-xdp/control/ratelimit"
)

// ClientRateLimit is the rate-limit of a pppoe-client's profile (the
// default profile's when its own has none), as a server session takes its
// profile's. Its directions are the client router's: rx is what it
// receives from the AC (the download), tx what it sends.
func (c *Config) ClientRateLimit(cl Client) ratelimit.Limit {
	def, _ := c.Profiles.Get(DefaultProfile)
	p, _ := c.Profiles.Get(cl.Profile)
	return cmp.Or(p.RateLimit, def.RateLimit).Limit()
}

// LocalAAA returns what the local AAA backend serves of c: the secrets (the
// persistent list itself, not a copy), the profiles with RouterOS's
// "default" values resolved, and the pools.
func (c *Config) LocalAAA() aaa.Settings {
	def, _ := c.Profiles.Get(DefaultProfile)
	profiles := make([]aaa.Profile, 0, c.Profiles.Len())
	for _, p := range c.Profiles.All() {
		profiles = append(profiles, resolveProfile(p, def))
	}
	return aaa.Settings{Secrets: secretList{c.Secrets}, Profiles: profiles, Pools: c.PoolSpecs(), PrefixPools: c.IPv6PoolSpecs()}
}

// secretList is the configuration's secrets as aaa.Secrets.
type secretList struct{ l List[Secret] }

func (s secretList) Get(name string) (aaa.Secret, bool) {
	v, ok := s.l.Get(name)
	if !ok {
		return aaa.Secret{}, false
	}
	return aaa.Secret{
		Name: v.Name, Password: v.Password, Profile: v.Profile, Service: v.Service,
		LocalAddress: v.LocalAddress, RemoteAddress: v.RemoteAddress, Disabled: v.Disabled,
		RateLimit: v.RateLimit.Limit(), RemoteIPv6Prefix: netip.Prefix(v.RemoteIPv6Prefix),
	}, true
}

// resolveProfile folds RouterOS's "default" values of p into booleans:
// only-one and change-tcp-mss "default" take the built-in default
// profile's value, and for that profile "default" means no and yes
// respectively.
func resolveProfile(p, def Profile) aaa.Profile {
	yes := func(v, dv string, fallback bool) bool {
		switch v {
		case "yes":
			return true
		case "no":
			return false
		}
		switch dv {
		case "yes":
			return true
		case "no":
			return false
		}
		return fallback
	}
	return aaa.Profile{
		Name:          p.Name,
		LocalAddress:  p.LocalAddress,
		RemoteAddress: p.RemoteAddress,
		DNS:           slices.Clone(p.DNSServer),
		IPv6DNS:       p.IPv6DNS(),
		// Like the IPv4 addresses, a profile's own; not the default's.
		RemoteIPv6PrefixPool: p.RemoteIPv6PrefixPool,
		DHCPv6PDPool:         p.DHCPv6PDPool,
		DHCPv6LeaseTime:      time.Duration(p.DHCPv6LeaseTime),
		OnlyOne:              yes(p.OnlyOne, def.OnlyOne, false),
		ChangeTCPMSS:         yes(p.ChangeTCPMSS, def.ChangeTCPMSS, true),
		RateLimit:            cmp.Or(p.RateLimit, def.RateLimit).Limit(),
		ShapeTx:              p.QueueType == "fq-codel-default" || p.QueueType == "cake-default",
	}
}
