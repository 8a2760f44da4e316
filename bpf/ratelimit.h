/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-session rate limits with RouterOS's rate-limit semantics (README,
 * "Rate limits"): per direction a sustained rate (max-limit), and
 * optionally a burst rate allowed while the average over burst-time stays
 * below burst-threshold, the average taken every burst-time/16 over the
 * last 16 sub-windows, as RouterOS's queues do.
 *
 * Directions are the router's: RATE_RX is what arrives from the peer (a
 * subscriber's upload; for a client session, what the AC sends us),
 * RATE_TX what goes to the peer. Every path polices its direction once:
 * the XDP fast paths just before they redirect, the TC paths for what XDP
 * left to the kernel.
 *
 * Two maps indexed by session index: rate_limits, what user space
 * configures (written with 64-bit atomic stores through mmap, so a live
 * change never shows a torn value and never touches the buckets), and
 * rate_states, the buckets only BPF writes (user space zeroes a fresh
 * index's before the session goes live).
 *
 * The bucket is one 64-bit theoretical arrival time (GCRA, as discovery.h's
 * buckets), updated with compare-and-swap: CPUs serving one session at
 * once never lose or double-spend a byte, and only that session's cache
 * line bounces between them. Per-CPU buckets would avoid the bouncing but
 * split the rate between CPUs (each CPU would get rate/ncpu, or have to
 * borrow), which is wrong whenever a session's packets land on fewer CPUs
 * than there are.
 *
 * Policer (the default): a packet conforms while the bucket holds at least
 * nothing owed beyond depth_ns of the rate (RouterOS's bucket-size 0.1 is
 * 100 ms of max-limit), else it is dropped. Shaper (RATE_F_SHAPE, tx only):
 * the TC path gives the packet an earliest departure time (skb->tstamp) and
 * the fq qdisc on the access interface holds it until then, as Cilium's
 * bandwidth manager does; packets later than depth_ns (the horizon) are
 * dropped. The XDP fast path cannot delay a packet, so a shaped direction
 * leaves XDP for TC.
 */
#ifndef PPPOE_XDP_RATELIMIT_H
#define PPPOE_XDP_RATELIMIT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "maps.h"

enum rate_dir {
	RATE_RX = 0, /* from the peer */
	RATE_TX = 1, /* to the peer */
};

enum rate_flag {
	RATE_F_SHAPE = 1, /* EDT shaping on the TC path instead of policing */
};

/* Rates are kept as nanoseconds per byte, fixed point. */
#define RATE_FP_SHIFT 16
#define RATE_WINDOWS 16

/* One direction's configuration; written by user space only. */
struct rate_conf {
	__u64 nspb;       /* ns per byte << RATE_FP_SHIFT at max-limit; 0 = no limit */
	__u64 burst_nspb; /* the same at burst-limit; 0 = no burst */
	__u64 depth_ns;   /* policer: bucket depth as time; shaper: horizon */
	__u64 window_ns;  /* burst-time / 16; 0 = no burst */
	__u64 threshold;  /* burst-threshold x burst-time, in units of 1 << unit_shift bytes */
	__u32 unit_shift; /* window counters count bytes >> unit_shift (so they fit 32 bits) */
	__u32 flags;      /* enum rate_flag */
};
_Static_assert(sizeof(struct rate_conf) == 48, "rate_conf size");

/* rate_limits value. */
struct rate_limit {
	struct rate_conf dir[2]; /* enum rate_dir */
};
_Static_assert(sizeof(struct rate_limit) == 96, "rate_limit size");

/* One direction's bucket and burst estimate; written by BPF only. */
struct rate_bucket {
	__u64 tat_ns;    /* bpf_ktime_get_ns() when the bucket is full again */
	__u64 epoch;     /* number (now / window_ns) of the newest sub-window */
	__u64 dropped;   /* packets this direction's limit dropped */
	__u32 burst_off; /* 1: the last average reached burst-threshold */
	__u32 pad;
	__u32 win[RATE_WINDOWS]; /* bytes >> unit_shift per sub-window, ring by number */
};
_Static_assert(sizeof(struct rate_bucket) == 96, "rate_bucket size");

/* rate_states value. */
struct rate_state {
	struct rate_bucket dir[2];
};
_Static_assert(sizeof(struct rate_state) == 192, "rate_state size");

/* rate_limits: per session index, its limits; all zero = none. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct rate_limit);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rate_limits SEC(".maps");

/* rate_states: per session index, its buckets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct rate_state);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rate_states SEC(".maps");

/* What rate_admit decided. */
enum rate_verdict {
	RATE_PASS = 0,
	RATE_DROP,  /* over the policer's rate */
	RATE_LATE,  /* shaper: would leave later than the horizon */
	RATE_TO_TC, /* shaped direction met on XDP: leave it to TC */
};

/* rate_window moves the burst estimate to the sub-window of now and
 * returns its number: the first CPU to see a new sub-window recomputes the
 * average over the 16 before it (RouterOS: "every 1/16 part of the
 * burst-time, the average over the last burst-time") and clears the ring
 * slots it skipped. Bytes another CPU adds to a slot in the instant it is
 * cleared are lost to the estimate only. */
static __always_inline __u64 rate_window(const struct rate_conf *c, struct rate_bucket *b, __u64 now)
{
	__u64 e = *(volatile __u64 *)&b->epoch, n, sum = 0, w;
	int i;

	/* Within the current sub-window (nearly every packet): a multiply,
	 * not a 64-bit division. */
	if (now < (e + 1) * c->window_ns)
		return e;
	n = now / c->window_ns;
	if (n > e && __sync_val_compare_and_swap(&b->epoch, e, n) == e) {
		/* The ring holds sub-windows e-15..e; the average is over n-16..n-1. */
		for (i = 0; i < RATE_WINDOWS; i++) {
			w = e - i;
			if (i > e || w + RATE_WINDOWS < n)
				break;
			sum += b->win[w & (RATE_WINDOWS - 1)];
		}
		b->burst_off = sum >= c->threshold;
		for (i = 1; i <= RATE_WINDOWS; i++) {
			w = e + i;
			if (w > n)
				break;
			b->win[w & (RATE_WINDOWS - 1)] = 0;
		}
	}
	return n;
}

/* rate_early_drop: a policer drops with a probability that grows from 0,
 * when the bucket is half empty, to 1, when it is empty (as RED does with a
 * queue's length). A hard cliff drops every packet of a TCP window that
 * finds the bucket empty, retransmissions included, and TCP waits out a
 * retransmission timeout; losses spread over the second half of the bucket
 * reach TCP one at a time, which it answers by halving its window. */
static __always_inline int rate_early_drop(const struct rate_conf *c, __u64 owed)
{
	__u64 half = c->depth_ns >> 1;

	if (c->flags & RATE_F_SHAPE || owed <= half)
		return 0;
	return (((__u64)bpf_get_prandom_u32() * half) >> 32) < owed - half;
}

/* rate_admit charges a packet of len bytes to session index's direction
 * dir. tstamp is NULL on XDP; on TC a shaped direction writes the packet's
 * departure time there (0 = now). */
static __always_inline int rate_admit(__u32 index, const int dir, __u32 len, __u64 *tstamp)
{
	struct rate_limit *rl = bpf_map_lookup_elem(&rate_limits, &index);
	struct rate_conf *c;
	struct rate_state *rs;
	struct rate_bucket *b;
	__u64 nspb, now, cost, n = 0;
	int i;

	if (!rl)
		return RATE_PASS;
	c = &rl->dir[dir];
	nspb = *(volatile __u64 *)&c->nspb;
	if (!nspb)
		return RATE_PASS;
	if ((c->flags & RATE_F_SHAPE) && !tstamp)
		return RATE_TO_TC;
	rs = bpf_map_lookup_elem(&rate_states, &index);
	if (!rs)
		return RATE_PASS;
	b = &rs->dir[dir];
	/* The coarse clock (one tick behind at most) is a few loads where
	 * the fine one reads the clock source; against a bucket a second deep
	 * a tick is nothing. */
	now = bpf_ktime_get_coarse_ns();
	if (c->window_ns && c->burst_nspb) {
		n = rate_window(c, b, now);
		if (!b->burst_off)
			nspb = c->burst_nspb;
	}
	cost = ((__u64)len * nspb) >> RATE_FP_SHIFT;
#pragma unroll
	for (i = 0; i < 4; i++) {
		__u64 old = *(volatile __u64 *)&b->tat_ns;
		__u64 t = old > now ? old : now;

		if (t - now > c->depth_ns || rate_early_drop(c, t - now)) {
			__sync_fetch_and_add(&b->dropped, 1);
			return (c->flags & RATE_F_SHAPE) ? RATE_LATE : RATE_DROP;
		}
		if (__sync_val_compare_and_swap(&b->tat_ns, old, t + cost) == old) {
			/* The average is of what passed, as a queue's is. */
			if (c->window_ns && c->burst_nspb)
				__sync_fetch_and_add(&b->win[n & (RATE_WINDOWS - 1)],
						     (len + (1u << (c->unit_shift & 31)) - 1) >> (c->unit_shift & 31));
			if (tstamp && (c->flags & RATE_F_SHAPE))
				*tstamp = t > now ? t : 0;
			return RATE_PASS;
		}
	}
	/* Four CPUs in a row took this session's bucket first: let this packet
	 * through uncharged rather than spin; the others paid. */
	return RATE_PASS;
}

#endif
