/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * IPv6 (PPP protocol 0x0057, RFC 5072) in the data plane: the parser, the
 * session lookup by destination across a session's link /64 and its
 * delegated prefixes (subscribers_v6), the upstream anti-spoof check, the
 * MSS clamp, and the XDP fast paths both ways.
 *
 * What the fast paths leave to the kernel, as for IPv4: hop limit <= 1
 * (ICMPv6 Time Exceeded), larger than the session or egress MTU (ICMPv6
 * Packet Too Big, from the MTU of pppoe0 or of the prefix's route on it),
 * no neighbour yet, extension headers before TCP are forwarded unclamped.
 * Link-local and multicast traffic of a session (Router Solicitation,
 * DHCPv6 to ff02::1:2, Neighbor Discovery) is never forwarded: it stays a
 * PPPoE frame for the control plane's packet socket, which answers over
 * the session.
 */
#ifndef PPPOE_XDP_IPV6_H
#define PPPOE_XDP_IPV6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "types.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "clock.h"
#include "mp.h"
#include "ratelimit.h"

#ifndef AF_INET6
#define AF_INET6 10
#endif

/* The session encapsulation, shared with IPv4 (dataplane.c). */
static __always_inline __u32 encap_len(const struct session_hot *info);
static __always_inline int write_encap(void *data, void *end, const struct session_hot *info,
				       __u16 tot, __u16 ppp);

/* The fast paths' tails, shared with IPv4 (dataplane.c). */
static __always_inline int up_forward(struct xdp_md *ctx, struct bpf_fib_lookup *fib, void *ip,
				      __u32 hdr, __u32 tot, const int v6,
				      struct session_hot *info, struct session_counters *st);
static __always_inline int down_forward(struct xdp_md *ctx, void *ip, __u32 tot, const int v6,
					struct session_hot *info, struct session_counters *st);

/* The MSS clamps, global functions (dataplane.c). */
int mss_clamp_xdp(struct xdp_md *ctx, __u32 l3off, __u32 mss, __u32 v6);
int mss_clamp_skb(struct __sk_buff *skb, __u32 l3off, __u32 mss, __u32 v6);

/* RFC 8200 §3 fixed header. */
struct ip6_hdr_ {
	__be32 vtc_flow;     /* version 4 bits, traffic class 8, flow label 20 */
	__be16 payload_len;  /* bytes after this header */
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};
_Static_assert(sizeof(struct ip6_hdr_) == 40, "ip6_hdr_ size");

/* parse_ipv6 checks an IPv6 header against the room it has (the PPPoE
 * payload, or the rest of the frame): version 6, 40 + payload length <=
 * room. A jumbogram (payload length 0, RFC 2675) never fits a PPPoE
 * session and is refused. Returns 0 or PARSE_MALFORMED. */
static __always_inline int parse_ipv6(struct cursor *c, __u32 room, struct ip6_hdr_ **ip6p)
{
	struct ip6_hdr_ *ip6 = c->pos;
	__u32 tot;

	if ((void *)(ip6 + 1) > c->end)
		return PARSE_MALFORMED;
	if ((*(__u8 *)ip6 >> 4) != 6)
		return PARSE_MALFORMED;
	tot = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	if (tot > room)
		return PARSE_MALFORMED;
	*ip6p = ip6;
	c->pos = ip6 + 1;
	return 0;
}

/* v6_link_scope: fe80::/10 (RFC 4291 §2.5.6) or multicast ff00::/8. */
static __always_inline int v6_local_addr(const __u8 *a)
{
	return a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

/* v6_local: a packet for the session's link (link-local source or
 * destination, or multicast: RS, DHCPv6, ND, MLD), which a router never
 * forwards (RFC 4291 §2.5.6) and the control plane answers. */
static __always_inline int v6_local(const struct ip6_hdr_ *ip6)
{
	return v6_local_addr(ip6->daddr) || (ip6->saddr[0] == 0xfe && (ip6->saddr[1] & 0xc0) == 0x80);
}

static __always_inline int v6_slot_match(const struct v6_slot *s, const __u32 *m, __u32 len)
{
	const __u32 *a = (const __u32 *)s->addr;

	return s->prefixlen == len && a[0] == m[0] && a[1] == m[1] && a[2] == m[2] && a[3] == m[3];
}

/* v6_owner finds the session whose prefix (link /64 or a delegated prefix)
 * holds addr: the slot pair of addr masked to each prefix length in use,
 * then, if some prefix has no slot, the trie. Prefixes of different
 * sessions never overlap (maps/ipv6.go), so the first prefix found is the
 * owner's whatever the order. */
static __always_inline int v6_owner(const __u8 *addr, __u32 *index)
{
	const __u32 *a = (const __u32 *)addr;
	struct v6_lpm_key k = { .prefixlen = 128 };
	struct v6_lengths *lens;
	struct v6_slot *s;
	__u32 zero = 0, *idx, i;

	lens = bpf_map_lookup_elem(&v6_lens, &zero);
	if (!lens)
		return 0;
	for (int n = 0; n < V6_LENS_MAX; n++) {
		__u32 len, m[4];

		if (n >= lens->n)
			break;
		len = lens->len[n];
#pragma unroll
		for (int j = 0; j < 4; j++) {
			int bits = (int)len - 32 * j;

			m[j] = bits >= 32 ? a[j] : bits <= 0 ? 0 : a[j] & bpf_htonl(0xffffffffu << (32 - bits));
		}
		i = v6_slot_hash(m, len);
		s = bpf_map_lookup_elem(&subscriber6_slots, &i);
		if (s && v6_slot_match(s, m, len)) {
			*index = s->index;
			return 1;
		}
		i |= 1;
		s = bpf_map_lookup_elem(&subscriber6_slots, &i);
		if (s && v6_slot_match(s, m, len)) {
			*index = s->index;
			return 1;
		}
	}
	if (!lens->spill)
		return 0;
	__builtin_memcpy(k.addr, addr, 16);
	idx = bpf_map_lookup_elem(&subscribers_v6, &k);
	if (!idx)
		return 0;
	*index = *idx;
	return 1;
}

/* v6_src_ok is the upstream anti-spoof check: the source is in the
 * session's link /64 or in a prefix delegated to it. Both the /64 and
 * (most subscribers have one) the delegated prefix are in its session_info
 * entry, so the common cases are a compare each; only a session with more
 * delegated prefixes than that entry holds (pd_all 0) looks the source up
 * in subscribers_v6, a probe per prefix length in use. */
static __always_inline int v6_src_ok(const struct session_hot *info, const __u8 *saddr)
{
	struct session_attrs *a = bpf_map_lookup_elem(&session_info, &info->index);
	const __u32 *s = (const __u32 *)saddr;
	__u32 owner;

	if (a) {
		const __u32 *p = (const __u32 *)a->ipv6_prefix;
		const __u32 *d = (const __u32 *)a->pd_prefix;
		__u32 len = a->pd_len;

		if (a->ipv6_prefix_len == 64 && p[0] == s[0] && p[1] == s[1])
			return 1;
		if (len >= 1 && len <= 64) {
			__u32 m0 = len >= 32 ? 0xffffffffu : 0xffffffffu << (32 - len);
			__u32 m1 = len <= 32 ? 0 : 0xffffffffu << (64 - len);

			if ((s[0] & bpf_htonl(m0)) == d[0] && (s[1] & bpf_htonl(m1)) == d[1])
				return 1;
		}
		if (a->pd_all)
			return 0;
	}
	return v6_owner(saddr, &owner) && owner == info->index;
}

/* subscriber_v6 finds the active server session that owns IPv6 address
 * daddr, for the downstream paths. */
static __always_inline int subscriber_v6(const __u8 *daddr, struct session_hot **info,
					 struct session_counters **st)
{
	struct session_attrs *a;
	__u32 idx;

	if (!v6_owner(daddr, &idx))
		return 0;
	a = bpf_map_lookup_elem(&session_info, &idx);
	if (!a || (a->flags & (SESSION_F_ACTIVE | SESSION_F_CLIENT)) != SESSION_F_ACTIVE)
		return 0;
	/* The attrs' first fields are its hot part (types.h). */
	*info = (struct session_hot *)a;
	*st = stats_of(a->index);
	return *st != NULL;
}

/* mss6 is the IPv6 clamp: the session's (IPv4) clamp less the 20 bytes
 * more that IPv6's header takes, MTU - 60 when the IPv4 one is MTU - 40. */
static __always_inline __u16 mss6(const struct session_hot *info)
{
	return info->mss > 20 ? info->mss - 20 : 0;
}

/* The upstream IPv6 route cache. The kernel's IPv6 route lookup costs
 * about twice the rest of the upstream program (two fib6 tables, the path
 * selection, the route exceptions' MTU, then the neighbour), where IPv4's
 * is one trie walk. So a successful bpf_fib_lookup's result (egress
 * device, MACs, MTU) is kept per destination, and later packets to it
 * skip the lookup.
 *
 * A result stays right only while nothing it came from changes. The
 * control plane (control/fib6cache) hears every IPv6 route, rule, link,
 * address, netconf and neighbour change over rtnetlink and then bumps
 * fib6_ctl.gen: an entry filled under another generation is a miss. It
 * also bumps it once a second, which bounds what no event announces (a
 * route exception's path MTU), and it renews fib6_ctl.until_ns: a cache
 * whose control plane stopped (or never started: until_ns 0, as after
 * every load) is not used at all. Where the route depends on more than the
 * destination (ip -6 rules other than the default two, routes with a
 * source prefix, multipath routes) the control plane leaves it off.
 * Only successful lookups are kept; the MTU check against the kept MTU is
 * bpf_fib_lookup's own (tot_len > mtu: FRAG_NEEDED). Not pinned: it is a
 * cache, a new program starts with an empty one, and no layout ties a
 * pppoed upgrade to it. */
struct fib6_cache_ctl {
	__u64 gen;      /* bumped by the control plane on every change */
	__u64 until_ns; /* coarse_ns() (clock.h) before which the cache may be used; 0 = off */
};
_Static_assert(sizeof(struct fib6_cache_ctl) == 16, "fib6_cache_ctl size");

struct fib6_cache_entry {
	__u64 gen;      /* fib6_ctl.gen the lookup was made under; 0 = empty */
	__u8 addr[16];  /* destination */
	__u32 ifindex;  /* egress device */
	__u32 mtu;      /* the lookup's MTU (route, exception, device) */
	__u8 dmac[6];   /* next hop's */
	__u8 smac[6];   /* egress device's */
	__u32 pad;
};
_Static_assert(sizeof(struct fib6_cache_entry) == 48, "fib6_cache_entry size");

/* fib6_ctl[0]: the cache's generation and lease (struct fib6_cache_ctl). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fib6_cache_ctl);
	__uint(max_entries, 1);
} fib6_ctl SEC(".maps");

/* fib6_cache: results by destination, direct-mapped (a slot per hash of
 * the destination) and per CPU. A lookup is an array load the verifier
 * inlines and four compares, where a hash map's is a helper call; a miss
 * overwrites the slot, a store, where an LRU map's insert takes its locks;
 * per CPU, so no CPU ever reads a slot another is writing. Colliding
 * destinations evict each other: the cost is a lookup, as without it. */
#define FIB6_CACHE_SLOTS 8192
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct fib6_cache_entry);
	__uint(max_entries, FIB6_CACHE_SLOTS);
} fib6_cache SEC(".maps");

static __always_inline __u32 fib6_slot(const __u32 *a)
{
	/* Fibonacci hashing of the folded address. */
	return ((a[0] ^ a[1] ^ a[2] ^ a[3]) * 0x9e3779b1u) >> (32 - 13);
}
_Static_assert(FIB6_CACHE_SLOTS == 1 << 13, "fib6_slot's shift");

/* fib6_lookup_cached is bpf_fib_lookup (flags 0) for up_forward's IPv6
 * lookup, answered from fib6_cache when it holds the destination under
 * the current generation. It fills what up_forward reads (ifindex, dmac,
 * smac; mtu_result) and returns the same codes. */
static __always_inline long fib6_lookup_cached(struct xdp_md *ctx, struct bpf_fib_lookup *fib)
{
	const __u32 *d = (const __u32 *)fib->ipv6_dst;
	struct fib6_cache_ctl *ctl;
	struct fib6_cache_entry *e;
	__u32 zero = 0, slot, a0, a1, a2, a3;
	__u64 gen;
	long rc;

	ctl = bpf_map_lookup_elem(&fib6_ctl, &zero);
	if (!ctl)
		return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	/* Read before the lookup: a change the lookup missed bumps gen after
	 * this read, so what is filled below is already stale (race-free
	 * without a lock). */
	gen = *(volatile __u64 *)&ctl->gen;
	if (!ctl->until_ns || coarse_ns() >= ctl->until_ns)
		return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	/* The destination, before the lookup writes the gateway over it. */
	a0 = d[0];
	a1 = d[1];
	a2 = d[2];
	a3 = d[3];
	slot = fib6_slot(d);
	e = bpf_map_lookup_elem(&fib6_cache, &slot);
	if (!e)
		return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	if (e->gen == gen && gen) {
		const __u32 *k = (const __u32 *)e->addr;

		if (k[0] == a0 && k[1] == a1 && k[2] == a2 && k[3] == a3) {
			__u32 tot = fib->tot_len; /* a union with mtu_result */

			fib->ifindex = e->ifindex;
			fib->mtu_result = e->mtu;
			if (tot > e->mtu)
				return BPF_FIB_LKUP_RET_FRAG_NEEDED;
			__builtin_memcpy(fib->dmac, e->dmac, ETH_ALEN);
			__builtin_memcpy(fib->smac, e->smac, ETH_ALEN);
			return BPF_FIB_LKUP_RET_SUCCESS;
		}
	}
	rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc;
	{
		__u32 *k = (__u32 *)e->addr;

		e->gen = gen;
		k[0] = a0;
		k[1] = a1;
		k[2] = a2;
		k[3] = a3;
		e->ifindex = fib->ifindex;
		e->mtu = fib->mtu_result;
		__builtin_memcpy(e->dmac, fib->dmac, ETH_ALEN);
		__builtin_memcpy(e->smac, fib->smac, ETH_ALEN);
	}
	return rc;
}

/* xdp_up6 is the upstream IPv6 fast path for a server session's packet
 * that classify_up accepted (parsed, not link-local, source checked): hop
 * limit, then up_forward as for IPv4. hdr is the bytes in front of the
 * IPv6 header (Ethernet, tags in the frame, PPPoE, PPP). */
static __always_inline int xdp_up6(struct xdp_md *ctx, __u32 hdr, struct ip6_hdr_ *ip6,
				   struct session_hot *info, struct session_counters *st)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	__u32 tot;

	if ((void *)(ip6 + 1) > data_end) {
		count(REASON_PASS_SLOW);
		return XDP_PASS;
	}
	if (ip6->hop_limit <= 1) {
		count(REASON_TTL_EXCEEDED);
		return XDP_PASS;
	}
	tot = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	fib.family = AF_INET6;
	fib.flowinfo = ip6->vtc_flow & bpf_htonl(0x0fffffff);
	fib.l4_protocol = ip6->nexthdr;
	fib.tot_len = tot;
	__builtin_memcpy(fib.ipv6_src, ip6->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, ip6->daddr, 16);
	return up_forward(ctx, &fib, ip6, hdr, tot, 1, info, st);
}

/* xdp_down6 is the downstream IPv6 fast path for a unicast frame to an
 * uplink's MAC (xdp_uplink_in checked both): the session by destination
 * prefix, then down_forward as for IPv4. What is not a subscriber's is the
 * kernel's. */
static __always_inline int xdp_down6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data + ETH_HLEN, .end = data_end, .start = data, .len = data_end - data };
	struct session_hot *info;
	struct session_counters *st;
	struct ip6_hdr_ *ip6;

	if (data + ETH_HLEN > data_end || parse_ipv6(&c, data_end - c.pos, &ip6) < 0)
		return XDP_PASS;
	if (v6_local_addr(ip6->daddr))
		return XDP_PASS;
	/* Only subscribers' packets pay more than this one lookup. */
	if (!subscriber_v6(ip6->daddr, &info, &st))
		return XDP_PASS;
	return down_forward(ctx, ip6, bpf_ntohs(ip6->payload_len) + sizeof(*ip6), 1, info, st);
}

#endif
