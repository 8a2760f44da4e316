/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The discovery limiter of xdp_access_in: PADI and PADR floods dropped
 * before they reach the AF_PACKET socket and pppoed. control/pppoe's
 * Limiter is the same algorithm in Go; the limits are in discovery_limits.
 *
 * - Per MAC: the PADIs and PADRs of one host (interface, VLANs, source MAC:
 *   struct disc_host_key) share a bucket of mac_burst refilled at mac_rate
 *   per second. That bounds a PADR flood from one MAC, which a global limit
 *   could not tell from many hosts dialling.
 * - Global: PADIs of all hosts on all interfaces, padi_rate per second, as
 *   accel-ppp's padi-limit. A PADI from random MACs is the cheap flood: each
 *   frame is a new host, so only a global bound holds it. To keep such a
 *   flood from starving real hosts, hosts discovery_hosts remembers (heard
 *   before: a host retransmitting its PADI, RFC 2516 §5.1) draw from a
 *   second bucket of the same size. A flood of never-repeated MACs then
 *   spends only the first-contact bucket, and a subscriber whose first PADI
 *   it crowded out gets through with its retransmission. An attacker who
 *   repeats MACs competes with retransmissions as with a single global
 *   limit; at most 2 x padi_rate PADIs a second pass either way. A PADR
 *   from a host never heard (it skipped the PADI: forged) counts as a first
 *   contact; a known host's PADRs are bound by its per-MAC bucket only.
 *
 * Other discovery codes (PADO and PADS for our own client sessions, PADT)
 * are never limited.
 */
#ifndef PPPOE_XDP_DISCOVERY_H
#define PPPOE_XDP_DISCOVERY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "maps.h"
#include "parse.h"

#define PPPOE_CODE_PADI 0x09
#define PPPOE_CODE_PADR 0x19
#define NSEC_PER_SEC 1000000000ull

/* gcra takes one frame from a token bucket of burst frames refilled at
 * rate per second, kept as one number, the theoretical arrival time (the
 * Generic Cell Rate Algorithm, ITU-T I.371): a frame at now conforms if
 * *tat - now <= (burst - 1) / rate, and then *tat = max(*tat, now) + 1 / rate.
 * One 64-bit word, so CPUs update it with compare-and-swap and never lose
 * or double-spend a token; a CPU that loses the race three times running
 * (only while other CPUs take frames from the same bucket) drops the frame.
 * Returns 1 if the frame conforms. */
static __always_inline int gcra(__u64 *tat, __u64 now, __u32 rate, __u32 burst)
{
	__u64 interval = NSEC_PER_SEC / rate, tolerance;

	tolerance = burst > 1 ? (__u64)(burst - 1) * interval : 0;
#pragma unroll
	for (int i = 0; i < 3; i++) {
		__u64 old = *(volatile __u64 *)tat;
		__u64 t = old > now ? old : now;

		if (t - now > tolerance)
			return 0;
		if (__sync_val_compare_and_swap(tat, old, t + interval) == old)
			return 1;
	}
	return 0;
}

/* disc_pair returns the first of the two discovery_hosts slots of k. */
static __always_inline __u32 disc_pair(const struct disc_host_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = disc_seed ^ w[0] * 0x9e3779b1u ^ w[1] * 0x85ebca77u ^ w[2] * 0xc2b2ae3du ^ w[3] * 0x27d4eb2fu;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h & (DISC_SLOTS - 1) & ~1u;
}

static __always_inline int disc_key_eq(const struct disc_host_key *a, const struct disc_host_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* disc_admit decides whether a discovery frame (the cursor at its PPPoE
 * header, l2 parsed) may go to user space; it counts what it drops.
 * Two CPUs taking a new host into one slot at once may leave it torn: a
 * key that matches nobody, which costs the hosts involved their history
 * (they are new again), never a token twice. */
static __always_inline int disc_admit(struct cursor *c, __u32 ifindex, const struct l2 *l2)
{
	struct pppoe_hdr_ *ph = c->pos;
	struct disc_host_key key = {};
	struct disc_host *a, *b, *h;
	struct disc_limits *lim;
	struct disc_global *g;
	__u32 zero = 0, i, now_ms;
	__u64 now;
	int known;

	/* Too short for a header: user space counts it as malformed. */
	if ((void *)(ph + 1) > c->end)
		return 1;
	if (ph->code != PPPOE_CODE_PADI && ph->code != PPPOE_CODE_PADR)
		return 1;
	lim = bpf_map_lookup_elem(&discovery_limits, &zero);
	if (!lim || (!lim->mac_rate && !lim->padi_rate))
		return 1;

	key.ifindex = ifindex;
	key.outer_vlan = l2->nvlan > 0 ? l2->vid[0] : 0;
	key.inner_vlan = l2->nvlan > 1 ? l2->vid[1] : 0;
	__builtin_memcpy(key.mac, l2->eth->h_source, ETH_ALEN);
	now = bpf_ktime_get_ns();
	now_ms = now / 1000000;
	i = disc_pair(&key);
	a = bpf_map_lookup_elem(&discovery_hosts, &i);
	i |= 1;
	b = bpf_map_lookup_elem(&discovery_hosts, &i);
	if (!a || !b)
		return 1;
	h = disc_key_eq(&a->key, &key) ? a : disc_key_eq(&b->key, &key) ? b : NULL;
	known = h != NULL;
	if (!h) {
		/* The pair's slot heard from less recently (a free one: never),
		 * and the first frame takes the first token. */
		h = now_ms - a->seen_ms >= now_ms - b->seen_ms ? a : b;
		h->key = key;
		h->tat_ns = lim->mac_rate ? now + NSEC_PER_SEC / lim->mac_rate : 0;
		h->seen_ms = now_ms;
		h->dropped = 0;
	} else {
		/* Dropped frames count as heard too: a flooding MAC keeps its
		 * slot, and with it its empty bucket. */
		h->seen_ms = now_ms;
		if (lim->mac_rate && !gcra(&h->tat_ns, now, lim->mac_rate, lim->mac_burst)) {
			__sync_fetch_and_add(&h->dropped, 1);
			count(REASON_DISC_MAC_LIMIT);
			return 0;
		}
	}

	if (!lim->padi_rate || (known && ph->code == PPPOE_CODE_PADR))
		return 1;
	g = bpf_map_lookup_elem(&discovery_global, &zero);
	if (!g)
		return 1;
	if (gcra(known ? &g->known_tat_ns : &g->new_tat_ns, now, lim->padi_rate, lim->padi_burst))
		return 1;
	count(REASON_DISC_GLOBAL_LIMIT);
	return 0;
}

#endif
