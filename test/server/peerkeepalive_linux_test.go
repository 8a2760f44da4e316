package server_test

import (
	"testing"
	"time"
)

// TestPeerKeepalive: the load client's own keepalive (peer.Config.Keepalive,
// with which the fleet lab's subscribers leave a dead AC): an idle session
// whose AC answers its Echo-Requests stays up; once the AC is silent (its
// access link down: no PADT can reach the subscriber) the client gives up
// after twice the keepalive, as a CPE does before it rediscovers.
func TestPeerKeepalive(t *testing.T) {
	r := newRig(t, quickServer)
	const keepalive = 300 * time.Millisecond
	cfg := r.peerConfig()
	cfg.Keepalive = keepalive
	c := r.dial(cfg)
	select {
	case <-c.Done():
		t.Fatalf("the AC answers, yet the client gave up: %q", c.LinkDown())
	case <-time.After(10 * keepalive): // idle, probing all along
	}
	r.ac.Run(t, "ip", "link", "set", "acc0", "down")
	silent := time.Now()
	select {
	case <-c.Done():
	case <-time.After(20 * keepalive):
		t.Fatalf("the AC is silent, and the client still up after %v", 20*keepalive)
	}
	took := time.Since(silent)
	t.Logf("client gave up %v after the AC went silent (keepalive %v)", took.Round(time.Millisecond), keepalive)
	if got := c.LinkDown(); got != "keepalive-timeout" || c.GotPADT() {
		t.Errorf("client ended with %q, PADT %v; want keepalive-timeout without PADT", got, c.GotPADT())
	}
	if took < keepalive {
		t.Errorf("client gave up %v after the AC went silent, before its keepalive %v", took, keepalive)
	}
}
