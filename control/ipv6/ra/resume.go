package ra

import "time"

// Resume starts an advertiser taken over from a previous process
// (pppoed's restart, #13): the host saw the initial Router
// Advertisements already (RFC 4861 §6.2.4), so none are repeated; the
// first unsolicited one goes at a random point within
// MaxInitialRtrAdvertInterval, which refreshes the host's router and
// prefix lifetimes soon however long no process ran, without a burst
// when many sessions are taken over at once.
func (a *Advertiser) Resume(now time.Time) {
	a.running = true
	a.sent = MaxInitialRtrAdvertisements
	a.pending = nil
	a.nextPeriodic = now.Add(time.Duration(a.cfg.Rand.Int64N(int64(MaxInitialRtrAdvertInterval) + 1)))
}
