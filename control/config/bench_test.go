package config

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// secretsScript is a configuration with n secrets as an export writes
// it: a pool, a profile, one server, and n users, one in ten with a static
// address.
func secretsScript(n int) string {
	var b strings.Builder
	b.WriteString("/ip pool\nadd name=subs ranges=10.64.0.0/10\n")
	b.WriteString("/ppp profile\nadd local-address=10.0.0.1 name=for-pppoe remote-address=subs dns-server=10.0.0.1\n")
	b.WriteString("/ppp secret\n")
	for i := range n {
		fmt.Fprintf(&b, "add name=user%06d password=pw%d profile=for-pppoe service=pppoe", i, i)
		if i%10 == 0 {
			a := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)})
			fmt.Fprintf(&b, " remote-address=%s", a)
		}
		b.WriteByte('\n')
	}
	b.WriteString("/interface pppoe-server server\nadd default-profile=for-pppoe disabled=no interface=ether3 service-name=internet\n")
	return b.String()
}

var benchSizes = []int{1_000, 10_000, 100_000}

// BenchmarkLoad is a configuration file's load (parse, apply, validate)
// by its number of secrets: the cost per secret should not grow with n.
func BenchmarkLoad(b *testing.B) {
	for _, n := range benchSizes {
		script := secretsScript(n)
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Load(script); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/secret")
		})
	}
}

// BenchmarkChange is one CLI command against a configuration of n secrets
// as the daemon runs it: parse, apply to the running configuration,
// validate, and diff the result against the running one. Its cost should
// grow as log n.
func BenchmarkChange(b *testing.B) {
	for _, n := range benchSizes {
		cfg, err := Load(secretsScript(n))
		if err != nil {
			b.Fatal(err)
		}
		mid := fmt.Sprintf("user%06d", n/2)
		for _, cmd := range []struct{ name, script string }{
			{"add", "/ppp secret add name=newuser password=x profile=for-pppoe remote-address=100.127.0.1"},
			{"set", "/ppp secret set [find name=" + mid + "] password=changed"},
			{"remove", "/ppp secret remove " + mid},
			{"profile", "/ppp profile set for-pppoe dns-server=10.0.0.2"},
		} {
			b.Run(fmt.Sprintf("%s/secrets=%d", cmd.name, n), func(b *testing.B) {
				for b.Loop() {
					cmds, err := ParseIn("/", cmd.script)
					if err != nil {
						b.Fatal(err)
					}
					next, err := cfg.Apply(cmds)
					if err != nil {
						b.Fatal(err)
					}
					if d := Diff(cfg, next); len(d) != 1 {
						b.Fatalf("diff %v", d)
					}
				}
			})
		}
	}
}
