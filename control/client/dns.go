package client

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ResolvConf keeps a resolv.conf-format file (resolv.conf(5)) holding the
// peer DNS servers of every connected client with use-peer-dns, as pppd's
// usepeerdns writes /etc/ppp/resolv.conf: "nameserver" lines, the file
// removed when no client has any. It implements DNS and is safe for
// concurrent use by several clients.
type ResolvConf struct {
	path string

	mu      sync.Mutex
	servers map[string][]netip.Addr
}

// NewResolvConf returns a ResolvConf writing path (the daemon's
// --resolv-conf flag).
func NewResolvConf(path string) *ResolvConf {
	return &ResolvConf{path: path, servers: map[string][]netip.Addr{}}
}

// SetServers implements DNS: it records client's servers (nil removes
// them) and rewrites the file atomically.
func (r *ResolvConf) SetServers(client string, servers []netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(servers) == 0 {
		delete(r.servers, client)
	} else {
		r.servers[client] = slices.Clone(servers)
	}
	return r.write()
}

// Content returns what the file holds: clients in name order, each server
// once. resolv.conf(5) uses at most three nameservers; all are written so
// that nothing is hidden, in the order a resolver should try them.
func (r *ResolvConf) Content() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.content()
}

func (r *ResolvConf) content() string {
	names := make([]string, 0, len(r.servers))
	for n := range r.servers {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	seen := map[netip.Addr]bool{}
	for _, n := range names {
		for _, a := range r.servers[n] {
			if seen[a] {
				continue
			}
			seen[a] = true
			fmt.Fprintf(&b, "nameserver %s\n", a)
		}
	}
	return b.String()
}

func (r *ResolvConf) write() error {
	c := r.content()
	if c == "" {
		if err := os.Remove(r.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("client: resolv.conf: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.path), "."+filepath.Base(r.path)+".*")
	if err != nil {
		return fmt.Errorf("client: resolv.conf: %w", err)
	}
	_, werr := tmp.WriteString(c)
	cerr := tmp.Close()
	if err := firstErr(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("client: resolv.conf: %w", err)
	}
	if err := os.Rename(tmp.Name(), r.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("client: resolv.conf: %w", err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Keep implements DNSKeeper: client's servers, written by an earlier
// pppoed whose session this one adopted, are recorded without writing the
// file, which holds them already.
func (r *ResolvConf) Keep(client string, servers []netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(servers) == 0 {
		delete(r.servers, client)
		return
	}
	r.servers[client] = slices.Clone(servers)
}

// Settle implements DNSKeeper: the file is written only if it differs
// from what the clients have, so that adopting every session leaves it
// untouched while one not adopted loses its servers.
func (r *ResolvConf) Settle() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := os.ReadFile(r.path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("client: resolv.conf: %w", err)
	}
	if string(b) == r.content() {
		return nil
	}
	return r.write()
}
