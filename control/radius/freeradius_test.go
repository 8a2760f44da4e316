package radius

import (
	"testing"

	"github.com/pppoe-xdp/pppoe-xdp/test/freeradius"
)

// The tests run a real FreeRADIUS on the README's example configuration
// (test/freeradius), on 127.0.0.1 with ports the kernel said were free.

const testSecret = freeradius.Secret

type radiusd = freeradius.Server

// testUsers adds, to the README's alice and bob, a user whose
// Access-Accept carries attributes pppoe-xdp does not read.
const testUsers = `dave	Cleartext-Password := "dave-pw"
	Filter-Id = "unknown-to-the-client",
	Cisco-AVPair = "ignored=yes"
`

func startRadiusd(t testing.TB) *radiusd {
	return freeradius.Start(t, freeradius.Options{Users: testUsers})
}
