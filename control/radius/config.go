package radius

import (
	"net/netip"
	"time"

	"github.com/pppoe-xdp/pppoe-xdp/control/config"
)

// ServersFromConfig returns the enabled /radius entries of service in
// their order, as the Client takes them.
func ServersFromConfig(rs []config.Radius, service string) []Server {
	var out []Server
	for _, r := range rs {
		if r.Disabled || !r.Service.Has(service) {
			continue
		}
		out = append(out, Server{
			Address:        r.Address.Addr,
			Secret:         Secret(r.Secret),
			AuthPort:       uint16(r.AuthenticationPort),
			AcctPort:       uint16(r.AccountingPort),
			Timeout:        time.Duration(r.Timeout),
			SrcAddress:     r.SrcAddress.Addr,
			AcceptUnsigned: !r.RequireMessageAuthenticator,
		})
	}
	return out
}

// DynAuthClientsFromConfig returns the clients /radius incoming accepts:
// every enabled /radius entry, whatever its service, with its secret,
// inside allowed (/radius incoming's address) when that is set.
func DynAuthClientsFromConfig(rs []config.Radius, allowed config.AddressList) []DynAuthClient {
	var out []DynAuthClient
	for _, r := range rs {
		if r.Disabled || !r.Address.IsValid() || !allowed.Allows(r.Address.Addr) {
			continue
		}
		out = append(out, DynAuthClient{Prefix: netip.PrefixFrom(r.Address.Addr, r.Address.BitLen()), Secret: Secret(r.Secret)})
	}
	return out
}
