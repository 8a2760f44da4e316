/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs shared between the BPF programs and user space (maps/). Go types
 * are generated from these by bpf2go (-type), so every field is fixed-width,
 * padding is explicit and each size is asserted: a change here is a change
 * of the pinned-map ABI.
 *
 * Byte order: numbers (VLAN ids, TPIDs, session id, MTU, MSS) are host order,
 * so `bpftool map dump` prints them readably; addresses (IPv4, IPv6, MAC) are
 * network order bytes, exactly as on the wire.
 */
#ifndef PPPOE_XDP_TYPES_H
#define PPPOE_XDP_TYPES_H

#include <linux/types.h>

/* sessions map key: what identifies a PPPoE session on the Ethernet side,
 * as seen in a frame arriving from the peer. RFC 2516 §4 makes SESSION_ID
 * unique per (AC MAC, client MAC) pair only, so the peer's MAC is part of
 * the key: the subscriber's for a server session, the AC's for a client
 * session (the frame's source MAC either way). */
struct session_key {
	__u32 ifindex;       /* Ethernet interface the session runs on */
	__u16 outer_vlan;    /* outer VLAN id, 0 = untagged */
	__u16 inner_vlan;    /* inner VLAN id (QinQ), 0 = none */
	__u16 session_id;    /* PPPoE SESSION_ID, host order */
	__u8 peer_mac[6];    /* the other end's MAC */
};
_Static_assert(sizeof(struct session_key) == 16, "session_key size");

/* session_info flags */
enum session_flag {
	SESSION_F_ACTIVE = 1, /* entry is live; a removed index keeps stale bytes */
	SESSION_F_CLIENT = 2, /* we are the PPPoE client: decap into netdev_ifindex */
	SESSION_F_MP = 4,     /* multilink (RFC 1990, mrru) is up: see mp.h */
	SESSION_F_MP_SHORT = 8, /* ... and the peer sends 12-bit sequence numbers */
};

/* A session's attributes: the session_info value at its index, and the
 * value of its sessions entry (and subscribers_v4 entry, for a server
 * session) too, so that a fast-path packet finds everything it needs in the
 * one hash entry it looks up and touches no session_info line: with many
 * busy sessions each extra array is a cache and TLB miss per packet.
 * user space (maps/) writes the copies together. Server and client
 * sessions share it: "peer" is the other end, "local" is us. Fields the
 * fast paths read come first, so they share the entry's cache lines. */
struct session_attrs {
	__u32 index;             /* the session's session_info/session_stats index */
	__u16 flags;             /* enum session_flag */
	__u16 mss;               /* TCP MSS clamp, 0 = no clamp */
	__u8 ipv4[4];            /* server: subscriber address (anti-spoof, downstream
	                          * key), 0.0.0.0 while IPCP is not open (an
	                          * IPv6-only session); client: our address
	                          * (informational) */
	__u16 outer_tpid;        /* 0x8100 or 0x88a8; 0 = untagged */
	__u16 inner_tpid;        /* 0x8100; 0 = none */
	__u16 outer_vlan;        /* 0 = untagged */
	__u16 inner_vlan;        /* 0 = none */
	__u16 session_id;        /* host order */
	__u16 mtu;               /* largest IP packet sent to the peer */
	__u8 peer_mac[6];        /* subscriber (server) or AC (client) */
	__u8 local_mac[6];       /* our MAC on the Ethernet side */
	__u32 ifindex;           /* Ethernet interface (egress towards the peer) */
	__u32 netdev_ifindex;    /* client: the netdev decapsulated frames enter */
	__u8 netdev_mac[6];      /* client: its MAC (destination of those frames) */
	__u8 ipv6_prefix_len;    /* server: 64 when ipv6_prefix is set, else 0 */
	__u8 pd_len;             /* server: pd_prefix's length (1..64), 0 = none */
	__u8 ipv6_prefix[8];     /* server: the link /64 (SLAAC), for the upstream
	                          * anti-spoof check without an LPM lookup; the
	                          * session's prefixes are in subscribers_v6 */
	__u8 pd_prefix[8];       /* server: a prefix delegated to the session
	                          * (the first of length <= 64), masked: the
	                          * anti-spoof check's second compare */
	__u32 pd_all;            /* server: 1 when pd_prefix (or none, pd_len 0)
	                          * is every prefix delegated to the session, so
	                          * a source in neither prefix is spoofed without
	                          * a subscribers_v6 lookup; 0: look it up */
};
_Static_assert(sizeof(struct session_attrs) == 72, "session_attrs size");

/* session_hot: the first 40 bytes of struct session_attrs, everything the
 * IPv4 fast paths read (the rest is for client netdevs and IPv6). A slot holds
 * only these, so a slot with its key is one cache line. */
struct session_hot {
	__u32 index;
	__u16 flags;
	__u16 mss;
	__u8 ipv4[4];
	__u16 outer_tpid;
	__u16 inner_tpid;
	__u16 outer_vlan;
	__u16 inner_vlan;
	__u16 session_id;
	__u16 mtu;
	__u8 peer_mac[6];
	__u8 local_mac[6];
	__u32 ifindex;
};
_Static_assert(sizeof(struct session_hot) == 40, "session_hot size");
#define HOT_SAME(f) _Static_assert(__builtin_offsetof(struct session_hot, f) == \
				   __builtin_offsetof(struct session_attrs, f), "session_hot " #f)
HOT_SAME(index); HOT_SAME(flags); HOT_SAME(mss); HOT_SAME(ipv4);
HOT_SAME(outer_tpid); HOT_SAME(inner_tpid); HOT_SAME(outer_vlan);
HOT_SAME(inner_vlan); HOT_SAME(session_id); HOT_SAME(mtu);
HOT_SAME(peer_mac); HOT_SAME(local_mac); HOT_SAME(ifindex);
#undef HOT_SAME

/* session_slots/subscriber_slots value: a session's key and hot
 * attributes in one cache line. hot.flags 0 marks a free slot. */
struct session_slot {
	struct session_key key;
	struct session_hot hot;
	__u8 pad[8];
};
_Static_assert(sizeof(struct session_slot) == 64, "session_slot size");

/* session_stats value: one per (CPU, session index), at slot
 * cpu * max_sessions + index (see maps.h). "up" is from the
 * peer (subscriber, or AC for a client session), "down" towards it; bytes count the IP packet (the PPP
 * information field), as RADIUS Acct-Input/Output-Octets do.
 * last_seen_ns is bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC_COARSE, which
 * lags CLOCK_MONOTONIC by at most one tick, so it is comparable with
 * clock_gettime(CLOCK_MONOTONIC) in user space (never ahead of it, behind by
 * milliseconds at most: keepalive needs ~1 s). The coarse clock moves only
 * at a tick, so it is read only when the tick count (bpf_jiffies64, which
 * the verifier inlines to one load) has moved since this CPU last stamped
 * the session (seen_jiffies): a busy session writes its stamp once a
 * tick, not per packet, and the clock comes from the CPU's cache (clock.h).
 * A stamp taken between a tick's jiffies and clock updates may lag one
 * more tick. The newest over all CPUs wins. */
struct session_counters {
	__u64 packets_up;
	__u64 bytes_up;
	__u64 packets_down;
	__u64 bytes_down;
	__u64 drops;
	__u64 last_seen_ns;
	__u64 seen_jiffies;     /* jiffies of last_seen_ns; internal to the stamp */
	__u64 pad;              /* to a cache line: session_stats is mmapable, so
	                         * its values start at a page, and a packet's
	                         * counters (the first words and the stamp) are
	                         * one line, not two for 6 sessions in 8 */
};
_Static_assert(sizeof(struct session_counters) == 64, "session_counters size");

/* layout value: the layout of the pinned maps, written by user space when
 * it creates them (maps/layout.go). A daemon whose maps differ refuses to
 * reuse pins that carry another stamp instead of silently misreading them. */
struct layout_stamp {
	__u32 version;          /* maps.LayoutVersion */
	__u32 pad;
	__u8 fingerprint[32];   /* SHA-256 of every pinned map's shape */
};
_Static_assert(sizeof(struct layout_stamp) == 40, "layout_stamp size");

/* client_devs flags */
enum client_flag {
	CLIENT_F_UP = 1, /* session_index is a live client session */
};

/* client_devs value, keyed by the ifindex of the client netdev's veth peer
 * (where tc_client_out runs). While the client is down, packets the kernel
 * routes into the netdev are dropped and counted in demand: the
 * dial-on-demand signal user space polls. */
struct client_dev {
	__u32 session_index; /* session_info/session_stats index when up */
	__u32 flags;         /* enum client_flag */
	__u64 demand;        /* packets seen while down (atomic add) */
};
_Static_assert(sizeof(struct client_dev) == 16, "client_dev size");

/* subscribers_v6 key (LPM trie: prefixlen first, as the kernel requires). */
struct v6_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};
_Static_assert(sizeof(struct v6_lpm_key) == 20, "v6_lpm_key size");

/* routes_v4 key (LPM trie: prefixlen first). */
struct v4_lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};
_Static_assert(sizeof(struct v4_lpm_key) == 8, "v4_lpm_key size");

/* subscriber6_slots value: one subscribers_v6 prefix (masked, wire
 * order) and its session. prefixlen 0 marks a free slot. Two slots share a
 * cache line. */
struct v6_slot {
	__u8 addr[16];
	__u32 prefixlen;
	__u32 index;
	__u64 pad;
};
_Static_assert(sizeof(struct v6_slot) == 32, "v6_slot size");

/* v6_lens[0], struct v6_lengths: the prefix lengths subscribers_v6 holds, which the programs
 * probe subscriber6_slots with, and whether any prefix is missing from the
 * slots (then a probe miss falls back to the trie). */
#define V6_LENS_MAX 8
struct v6_lengths {
	__u8 len[V6_LENS_MAX]; /* n of them, longest first */
	__u32 n;
	__u32 spill;           /* prefixes only in subscribers_v6: nonzero = fall back */
};
_Static_assert(sizeof(struct v6_lengths) == 16, "v6_lengths size");

/* uplink_macs value: an uplink's MAC, at slot ifindex % UPLINK_SLOTS. */
struct uplink_mac {
	__u32 ifindex;  /* 0 = free slot */
	__u8 mac[6];
	__u16 pad;
};
_Static_assert(sizeof(struct uplink_mac) == 12, "uplink_mac size");

/* config[0]: global knobs written by user space. */
struct dp_config {
	__u32 pppoe0_ifindex;   /* slow-path device; 0 = slow path disabled */
	__u8 pppoe0_mac[6];     /* destination MAC of frames injected into it */
	__u16 flags;            /* reserved, 0 */
};
_Static_assert(sizeof(struct dp_config) == 12, "dp_config size");

/* A host as discovery sees it (RFC 2516 §5): the access interface, the
 * VLANs and the source MAC. The same MAC on two VLANs is two hosts, as it
 * is two circuits to the control plane. All zero marks a free slot (no
 * interface has index 0). */
struct disc_host_key {
	__u32 ifindex;
	__u16 outer_vlan;    /* 0 = untagged */
	__u16 inner_vlan;    /* 0 = none */
	__u8 mac[6];
	__u16 pad;
};
_Static_assert(sizeof(struct disc_host_key) == 16, "disc_host_key size");

/* discovery_hosts slot: a host, its per-MAC bucket as a GCRA theoretical
 * arrival time (discovery.h), when it was last heard (which of a pair of
 * slots a new host takes) and how many of its frames the per-MAC limit
 * dropped, so `bpftool map dump` names a flooding MAC. Two slots share a
 * cache line. */
struct disc_host {
	struct disc_host_key key;
	__u64 tat_ns;        /* bpf_ktime_get_ns() when the bucket is full again */
	__u32 seen_ms;       /* bpf_ktime_get_ns() / 1e6 of its last frame, wrapping */
	__u32 dropped;       /* frames dropped by the per-MAC limit (atomic add) */
};
_Static_assert(sizeof(struct disc_host) == 32, "disc_host size");

/* discovery_limits[0]: the discovery limits, written by user space. A rate of 0
 * disables that limit; a burst below 1 counts as 1. */
struct disc_limits {
	__u32 mac_rate;      /* PADI+PADR per second from one host */
	__u32 mac_burst;
	__u32 padi_rate;     /* PADIs a second from all hosts, per class (discovery.h) */
	__u32 padi_burst;
};
_Static_assert(sizeof(struct disc_limits) == 16, "disc_limits size");

/* discovery_global[0]: the global buckets, written by the program only. */
struct disc_global {
	__u64 new_tat_ns;    /* hosts discovery_hosts does not hold: first contact */
	__u64 known_tat_ns;  /* hosts it holds: retransmissions */
};
_Static_assert(sizeof(struct disc_global) == 16, "disc_global size");

/* rx_spread_cpus[0]: the CPUs xdp_access_spread hands session data frames to
 * (rx_cpus entries user space has set up), and how many. n = 0: none, every
 * frame is handled where it arrived. */
#define RX_SPREAD_MAX 64
struct rx_spread {
	__u32 n;
	__u32 cpu[RX_SPREAD_MAX];
};
_Static_assert(sizeof(struct rx_spread) == 260, "rx_spread size");

/* Index of the global per-CPU counters array. Append only: the numbers are
 * the pinned map's keys. */
enum reason {
	REASON_PASS_DISCOVERY = 0, /* PPPoE discovery (0x8863) to user space */
	REASON_PASS_CONTROL,       /* PPP control protocol (LCP, auth, NCP) to user space */
	REASON_PASS_OTHER,         /* neither PPPoE nor a subscriber: not ours */
	REASON_FAST_UP,            /* XDP decap + fib + redirect to the uplink */
	REASON_FAST_DOWN,          /* XDP encap + redirect to the access iface */
	REASON_PASS_SLOW,          /* XDP left a session data frame to TC */
	REASON_SLOW_UP,            /* TC decap + inject into pppoe0 */
	REASON_SLOW_DOWN,          /* TC encap of a pppoe0 packet to the access iface */
	REASON_SPOOFED,            /* source address is not the session's: dropped */
	REASON_UNKNOWN_SESSION,    /* session frame of no known session: to user space */
	REASON_MALFORMED,          /* truncated or invalid headers: dropped */
	REASON_MTU_EXCEEDED,       /* larger than the session/egress MTU: to the kernel */
	REASON_TTL_EXCEEDED,       /* TTL <= 1: to the kernel (ICMP time exceeded) */
	REASON_NO_NEIGH,           /* fib lookup has no neighbour yet: to the kernel */
	REASON_MSS_CLAMPED,        /* a SYN's MSS option was lowered */
	REASON_UNKNOWN_DEST,       /* pppoe0 packet to no subscriber: dropped */
	REASON_ERROR,              /* a helper failed: dropped */
	REASON_CLIENT_IN,          /* TC decap of a client session frame into its netdev */
	REASON_CLIENT_OUT,         /* TC encap of a client netdev packet to the AC */
	REASON_CLIENT_DEMAND,      /* packet into a client netdev that is down: dropped */
	REASON_GSO,                /* GSO skb on an encap path: dropped (see README) */
	REASON_DISC_MAC_LIMIT,     /* PADI/PADR over its host's limit: dropped (discovery.h) */
	REASON_DISC_GLOBAL_LIMIT,  /* PADI over the global limit: dropped (discovery.h) */
	REASON_PASS_NO_XDP_XMIT,   /* egress device not in tx_ports: to the kernel, untouched */
	REASON_MP_PASS,            /* MP packet for user space: a fragment, a control protocol inside (mp.h) */
	REASON_MP_DIVERT,          /* over the MTU of an MP session: to user space to fragment (mp.h) */
	REASON_RATE_RX_DROP,       /* over the session's rx (upload) rate: dropped (ratelimit.h) */
	REASON_RATE_TX_DROP,       /* over the session's tx (download) rate: dropped */
	REASON_RATE_SHAPE_DROP,    /* shaped tx later than the horizon: dropped */
	REASON_PASS_SHAPE,         /* XDP left a shaped session's tx packet to TC */
	REASON_MAX,
};

#endif
