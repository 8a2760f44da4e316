package pppoe0

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// confDir holds the IPv4 per-interface sysctls of the calling thread's
// network namespace.
const confDir = "/proc/sys/net/ipv4/conf"

// noRedirects stops the kernel sending ICMP Redirects (RFC 792) for
// packets it forwards out of dev. Traffic between two subscribers
// (hairpin) comes in on pppoe0 and leaves on it again; to the kernel that
// is a sender that could have reached the next hop directly on a shared
// link (RFC 1812 §5.2.7.2), and it says so. Behind pppoe0 there is no
// shared link: every subscriber has a point-to-point session of its own,
// as it would have a ppp interface of its own under pppd.
//
// The kernel sends them out of an interface when either
// net.ipv4.conf.all.send_redirects or the interface's own value is 1
// (IN_DEV_TX_REDIRECTS is an OR), and all is 1 unless someone changed it.
// dev's 0 only counts with all at 0, so all is set to 0 if it is not,
// with a warning: interfaces whose own value is 1 (the default, also for
// interfaces made later) keep sending redirects; those set to 0 by the
// operator, which all=1 overrode, stop, and the warning names them.
// Nothing is restored at exit: pppoe0 and its sessions' traffic outlive
// the process, and another pppoed in the namespace may rely on it.
func noRedirects(dev string, log *zap.Logger) error {
	if err := writeConf(dev, "send_redirects", "0"); err != nil {
		return err
	}
	all, err := readConf("all", "send_redirects")
	if err != nil || all == "0" {
		return err
	}
	ents, err := os.ReadDir(confDir)
	if err != nil {
		return fmt.Errorf("pppoe0: %w", err)
	}
	var silenced []string
	for _, e := range ents {
		if n := e.Name(); n != "all" && n != "default" && n != dev {
			if v, err := readConf(n, "send_redirects"); err == nil && v == "0" {
				silenced = append(silenced, n)
			}
		}
	}
	if err := writeConf("all", "send_redirects", "0"); err != nil {
		return err
	}
	log.Warn("set net.ipv4.conf.all.send_redirects=0 (was "+all+") so that pppoe0's 0 takes effect: the kernel sends "+
		"ICMP redirects out of an interface when all or the interface's own value is 1; interfaces with their own 1 "+
		"(the default) still send them, the ones listed stop",
		zap.String("iface", dev), zap.Strings("own_value_0", silenced))
	return nil
}

func readConf(dev, key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(confDir, dev, key))
	if err != nil {
		return "", fmt.Errorf("pppoe0: net.ipv4.conf.%s.%s: %w", dev, key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeConf(dev, key, val string) error {
	if err := os.WriteFile(filepath.Join(confDir, dev, key), []byte(val), 0o644); err != nil {
		return fmt.Errorf("pppoe0: net.ipv4.conf.%s.%s=%s: %w", dev, key, val, err)
	}
	return nil
}
