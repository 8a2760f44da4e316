// Package dataplane holds the data plane's end-to-end test: three network
// namespaces (subscriber, AC, core) over veth, the real XDP/TC attachments
// of package maps on both ends, sessions installed by hand (no control
// plane), and real kernel traffic. The subscriber is the project's own
// client data path: client netdevs pppoe-out0..2 (untagged, one VLAN tag,
// QinQ) whose packets BPF encapsulates, so ICMP, UDP and TCP come from the
// kernel's own sockets.
//
// Wire bytes are checked with tshark on the subscriber's end of the access
// link and on the core's end of the uplink: the AC's own access veth is the
// wrong place, because frames its XDP programs redirect never pass the
// packet taps there. The test needs root (and tshark); it skips without
// them unless CI is set.
package dataplane
