/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps: the contract between bpf/ and maps/. All are pinned by name
 * under the bpffs directory user space chooses. Session-sized maps are
 * declared with a placeholder max_entries that user space overrides at load
 * time (maps.Options.MaxSessions).
 */
#ifndef PPPOE_XDP_MAPS_H
#define PPPOE_XDP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"

#define MAX_SESSIONS_DEFAULT 262144

/* sessions: access-side identity of a session -> its attributes (a copy of
 * its session_info entry, which holds its index). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct session_key);
	__type(value, struct session_attrs);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sessions SEC(".maps");

/* session_slots: a direct-mapped front of `sessions`, read without a
 * helper call. A session's key hashes (slot_hash, mirrored in maps/) to a
 * pair of adjacent slots; user space puts the session in the first free
 * one of the pair, or only in `sessions` if both are taken. The fast path
 * compares the key in both slots and falls back to `sessions`, which
 * always holds every session, so a slot is only ever a shortcut: the
 * `sessions` lookup is a call into the kernel's hash table code (hash,
 * bucket, chain, three returns: about 25 ns a packet here), and with many
 * busy sessions its bucket and entry are two cache misses where a slot is
 * one. User space
 * sizes it (a power of two, twice max sessions) at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct session_slot);
	__uint(max_entries, 2 * MAX_SESSIONS_DEFAULT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} session_slots SEC(".maps");

/* subscriber_slots: the same front for subscribers_v4, by address: the
 * hot.ipv4 of a live slot is its key (key is unused, zero). Same size. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct session_slot);
	__uint(max_entries, 2 * MAX_SESSIONS_DEFAULT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} subscriber_slots SEC(".maps");

/* slot_mask: the slot maps' size - 1, set by user space at load time. */
const volatile __u32 slot_mask = 2 * MAX_SESSIONS_DEFAULT - 1;

/* slot_hash mixes a session key's four 32-bit words (native-order loads)
 * into the index of its pair's first slot; maps/slot.go computes the same. Multiply-xorshift: a
 * few cycles, and user space, not the peer, decides where a session goes,
 * so a peer choosing colliding keys only pushes sessions to `sessions`. */
static __always_inline __u32 slot_mix(__u32 h)
{
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h & slot_mask & ~1u;
}

static __always_inline __u32 slot_hash(const struct session_key *k)
{
	const __u32 *w = (const __u32 *)k;

	return slot_mix(w[0] * 0x9e3779b1u ^ w[1] * 0x85ebca77u ^ w[2] * 0xc2b2ae3du ^ w[3] * 0x27d4eb2fu);
}

/* addr_hash is slot_hash for an IPv4 address (as loaded from the packet). */
static __always_inline __u32 addr_hash(__u32 addr)
{
	return slot_mix(addr * 0x9e3779b1u);
}

static __always_inline int slot_match(const struct session_slot *s, const struct session_key *k)
{
	const __u32 *a = (const __u32 *)&s->key, *b = (const __u32 *)k;

	return s->hot.flags && a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* session_lookup finds a session by key: its slot pair, else `sessions`. */
static __always_inline struct session_hot *session_lookup(const struct session_key *k)
{
	__u32 i = slot_hash(k);
	struct session_slot *s = bpf_map_lookup_elem(&session_slots, &i);

	if (s && slot_match(s, k))
		return &s->hot;
	i |= 1;
	s = bpf_map_lookup_elem(&session_slots, &i);
	if (s && slot_match(s, k))
		return &s->hot;
	/* The attrs' first fields are its hot part (types.h). */
	return bpf_map_lookup_elem(&sessions, k);
}

/* session_info: everything the data path needs about a session, by index:
 * the authoritative copy, read by the client paths and user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct session_attrs);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} session_info SEC(".maps");

/* session_stats: per-CPU traffic counters and last-seen time: CPU c's
 * counters of session index i are at slot c * max_sessions + i, so each
 * CPU has its own compact block (no two CPUs write one cache line but at a
 * block's edge). One flat array rather than a BPF_MAP_TYPE_PERCPU_ARRAY,
 * whose lookup loads a per-CPU pointer from one array and then the value
 * from per-CPU memory: with many busy sessions that is two cache (and TLB)
 * misses per packet, this is one. Memory-mappable, so user space reads a
 * session's counters without a syscall per CPU. User space sizes it
 * max_sessions * nr_cpus at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct session_counters);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} session_stats SEC(".maps");

/* max_sessions: the session index bound, the stride of session_stats; set
 * by user space at load time (maps.Options.MaxSessions). */
const volatile __u32 max_sessions = MAX_SESSIONS_DEFAULT;

/* stats_of returns this CPU's counters of session index. */
static __always_inline struct session_counters *stats_of(__u32 index)
{
	__u32 slot = bpf_get_smp_processor_id() * max_sessions + index;

	if (index >= max_sessions)
		return NULL;
	return bpf_map_lookup_elem(&session_stats, &slot);
}

/* subscribers_v4: subscriber IPv4 address (network order) -> the session's
 * attributes (a copy of its session_info entry); the downstream lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct session_attrs);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} subscribers_v4 SEC(".maps");

static __always_inline int addr_match(const struct session_slot *s, __u32 addr)
{
	return s->hot.flags && *(const __u32 *)s->hot.ipv4 == addr;
}

/* subscriber_lookup finds the session that owns IPv4 address addr: its
 * slot pair, else subscribers_v4. */
static __always_inline struct session_hot *subscriber_lookup(__u32 addr)
{
	__u32 i = addr_hash(addr);
	struct session_slot *s = bpf_map_lookup_elem(&subscriber_slots, &i);

	if (s && addr_match(s, addr))
		return &s->hot;
	i |= 1;
	s = bpf_map_lookup_elem(&subscriber_slots, &i);
	if (s && addr_match(s, addr))
		return &s->hot;
	return bpf_map_lookup_elem(&subscribers_v4, &addr);
}

/* routes_v4: IPv4 prefixes routed to a server session (RADIUS
 * Framed-Route, RFC 2865 §5.22: a customer's LAN behind it) -> the
 * session's index. The downstream lookup falls back to it (longest match)
 * when no session owns the destination, and the upstream anti-spoof check
 * accepts a source inside a prefix routed to the session. User space
 * sizes it as max sessions. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct v4_lpm_key);
	__type(value, __u32);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} routes_v4 SEC(".maps");

/* route_owner_v4 finds the session a prefix of routes_v4 routes addr
 * (network order) to. */
static __always_inline int route_owner_v4(__u32 addr, __u32 *index)
{
	struct v4_lpm_key k = { .prefixlen = 32 };
	__u32 *idx;

	__builtin_memcpy(k.addr, &addr, 4);
	idx = bpf_map_lookup_elem(&routes_v4, &k);
	if (!idx)
		return 0;
	*index = *idx;
	return 1;
}

/* subscribers_v6: IPv6 prefix -> session index: every server session's
 * link /64 and delegated prefixes, of any length; the downstream lookup
 * (longest match) and the upstream anti-spoof check for delegated prefixes
 * (ipv6.h). User space sizes it at twice max sessions (a /64 and a
 * delegated prefix each) and keeps prefixes disjoint between sessions. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct v6_lpm_key);
	__type(value, __u32);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} subscribers_v6 SEC(".maps");

/* subscriber6_slots: a direct-mapped front of subscribers_v6, as
 * subscriber_slots is of subscribers_v4: a prefix of length L hashes
 * (v6_slot_hash, mirrored in maps/) to a pair of slots; user space puts it
 * in the first free one, or counts it in v6_lens.spill. The kernel's trie
 * walks a node per branching bit, some 20 with 200,000 prefixes, hot or
 * not; a probe per prefix length in use is one cache line. User space
 * sizes it (a power of two, twice subscribers_v6) at load time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct v6_slot);
	__uint(max_entries, 4 * MAX_SESSIONS_DEFAULT);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} subscriber6_slots SEC(".maps");

/* slot6_mask: subscriber6_slots' size - 1, set by user space at load time. */
const volatile __u32 slot6_mask = 4 * MAX_SESSIONS_DEFAULT - 1;

/* v6_lens: one entry, struct v6_lengths, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct v6_lengths);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} v6_lens SEC(".maps");

/* v6_slot_hash mixes a masked prefix's four 32-bit words (native-order
 * loads) and its length into its pair's first slot; maps/ipv6slot.go
 * computes the same. */
static __always_inline __u32 v6_slot_hash(const __u32 *w, __u32 len)
{
	__u32 h = w[0] * 0x9e3779b1u ^ w[1] * 0x85ebca77u ^ w[2] * 0xc2b2ae3du ^
		  w[3] * 0x27d4eb2fu ^ len * 0x165667b1u;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h & slot6_mask & ~1u;
}

/* client_devs: client netdev (its veth peer's ifindex) -> struct
 * client_dev. Clients are few; a fixed size does. */
#define MAX_CLIENTS 4096
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct client_dev);
	__uint(max_entries, MAX_CLIENTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} client_devs SEC(".maps");

/* uplink_macs: each uplink's MAC, so xdp_uplink_in forwards only frames
 * addressed to it, as the kernel does (a promiscuous uplink also receives
 * other stations' frames). Indexed inline by ifindex % UPLINK_SLOTS; an
 * uplink whose slot another uplink holds (ifindexes UPLINK_SLOTS apart) is
 * not checked. */
#define UPLINK_SLOTS 1024
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct uplink_mac);
	__uint(max_entries, UPLINK_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} uplink_macs SEC(".maps");

/* tx_ports: the devices the XDP programs may redirect to, by ifindex (the
 * value is the ifindex too): those whose xdp-features say they transmit XDP
 * frames (NETDEV_XDP_ACT_NDO_XMIT), kept current by user space from the
 * netdev netlink family (maps/egress.go); in generic XDP mode, every
 * device. A redirect to any other device fails and the frame is lost (a
 * veth whose peer has no XDP program or GRO, a driver without
 * ndo_xdp_xmit, a VLAN device), so the fast paths look the egress device
 * up here before they change the frame and leave the packet to the kernel
 * on a miss. The kernel deletes a device's entry when the device goes. */
#define MAX_TX_PORTS 4096
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MAX_TX_PORTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tx_ports SEC(".maps");

/* config: one entry of global knobs (struct dp_config). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct dp_config);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

/* discovery_hosts: the hosts discovery heard (discovery.h), in pairs of
 * slots indexed by a keyed hash of the host: a lookup is two compares in
 * one cache line and no helper call, where a hash map's insert of a new
 * MAC costs a microsecond. A new host takes the slot of its pair heard
 * less recently, so a flood of F new MACs a second leaves a host heard t
 * seconds ago in the table with probability e^-x (1 + x), x = 2 F t /
 * DISC_SLOTS: at 20,000 a second, 99 % after 1 s, 92 % after 3 s. Eight
 * MB, not session-sized. */
#define DISC_SLOTS 262144
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct disc_host);
	__uint(max_entries, DISC_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} discovery_hosts SEC(".maps");

/* disc_seed keys the discovery_hosts hash, drawn by user space at load
 * time, so that nobody can pick MACs that evict a given host's slot. */
const volatile __u32 disc_seed = 0;

/* discovery_limits: one entry, struct disc_limits; all zero (no limits) until
 * user space sets them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct disc_limits);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} discovery_limits SEC(".maps");

/* discovery_global: one entry, struct disc_global, shared by every CPU (updated
 * with compare-and-swap). Apart from discovery_limits so that user space
 * writing the limits never overwrites the buckets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct disc_global);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} discovery_global SEC(".maps");

/* layout: one struct layout_stamp, the layout of the maps pinned beside it.
 * No program reads it; it lives as long as the pins do. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct layout_stamp);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} layout SEC(".maps");

/* rx_cpus: the CPUs xdp_access_spread hands frames to (--rx-spread), each
 * with xdp_access_cpu as its program; rx_spread_cpus (struct rx_spread) lists
 * the ones set. Keyed by CPU number; user space sizes it to the possible
 * CPUs. Not pinned: the queues belong to the loaded programs of one run. */
struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
	__uint(max_entries, RX_SPREAD_MAX);
} rx_cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct rx_spread);
	__uint(max_entries, 1);
} rx_spread_cpus SEC(".maps");

/* counters: global per-CPU packet counts by enum reason. Sized with room to
 * spare so that adding a reason keeps the pinned map compatible. */
#define COUNTERS_MAX 64
_Static_assert(REASON_MAX <= COUNTERS_MAX, "counters map too small");
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, COUNTERS_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

static __always_inline void count(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &reason);

	if (c)
		*c += 1;
}

#endif
