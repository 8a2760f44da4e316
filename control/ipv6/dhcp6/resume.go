package dhcp6

import "errors"

// Resume puts a new client in the Bound state with l, a lease an earlier
// process of the same client held on the same session (a restarted
// pppoed adopting its session): nothing is sent now, and the lease is
// renewed at T1, rebound at T2 and dropped at its end as it would have
// been by the process that bound it.
func (c *Client) Resume(l Lease) error {
	if l.Server == nil || l.Obtained.IsZero() || (!l.Prefix.IsValid() && !l.Address.IsValid()) {
		return errors.New("dhcp6: resume: lease without server, time or binding")
	}
	c.lease, c.state, c.ex, c.best = &l, Bound, nil, nil
	return nil
}
