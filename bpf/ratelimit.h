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
 * One map, rates, indexed by session index, holds both what user space
 * configures (written with 64-bit atomic stores through mmap, so a live
 * change never shows a torn value and never touches a bucket word) and the
 * buckets only BPF writes (user space zeroes a fresh index's before the
 * session goes live). Each direction's configuration and bucket share one
 * cache line, struct rate_line, so a policed packet touches that line
 * alone, and its burst estimate (only with a burst) the next one: with many
 * busy sessions every line is a cache miss and every page a TLB miss, and
 * with configuration and buckets in two maps a packet paid 3 to 5 lines in
 * two regions. A bitmap of the directions limited, rates_on, small enough
 * to stay in the cache (32 kB at 131,072 sessions), keeps an unlimited
 * direction from touching the rates line at all.
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
 * leaves XDP for TC. Where the kernel has no fq, user space shapes with HTB
 * instead (RATE_F_CLASS, maps/htb.go): one class per shaped session on the
 * access interface's HTB qdisc, whose handle is RATE_HTB_MAJOR:0, the
 * class's minor in the upper half of flags. The TC path then only names the
 * class in skb->priority (htb_classify takes a priority naming one of its
 * classes; tc egress on pppoe0 runs before the access interface's qdisc
 * sees the redirected packet) and charges no bucket: HTB holds and sends.
 */
#ifndef PPPOE_XDP_RATELIMIT_H
#define PPPOE_XDP_RATELIMIT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "maps.h"
#include "clock.h"

enum rate_dir {
	RATE_RX = 0, /* from the peer */
	RATE_TX = 1, /* to the peer */
};

enum rate_flag {
	RATE_F_SHAPE = 1, /* shaping on the TC path instead of policing */
	RATE_F_CLASS = 2, /* with SHAPE: HTB shapes; the class minor is flags >> 16 */
};

/* The major number of the HTB qdisc user space installs on an access
 * interface (maps/htb.go): below the 0x8000 the kernel hands out itself. */
#define RATE_HTB_MAJOR 0x5050
#define RATE_CLASS_SHIFT 16

/* Rates are kept as nanoseconds per byte, fixed point. */
#define RATE_FP_SHIFT 16
#define RATE_WINDOWS 16

/* One direction's configuration (C: user space's words) and bucket (B:
 * BPF's words) in one cache line; no 64-bit word holds both, so user
 * space's atomic stores never overwrite what BPF wrote. */
struct rate_line {
	__u64 nspb;       /* C: ns per byte << RATE_FP_SHIFT at max-limit; 0 = no limit */
	__u64 burst_nspb; /* C: the same at burst-limit; 0 = no burst */
	__u64 depth_ns;   /* C: policer: bucket depth as time; shaper: horizon */
	__u64 window_ns;  /* C: burst-time / 16; 0 = no burst */
	__u32 unit_shift; /* C: the ring counts bytes >> unit_shift (so it fits 32 bits) */
	__u32 flags;      /* C: enum rate_flag; with RATE_F_CLASS, the class minor << 16 */
	__u64 tat_ns;     /* B: coarse_ns() (clock.h) when the bucket is full again */
	__u64 epoch;      /* B: number (now / window_ns) of the newest sub-window << 1,
	                   * | 1 when the last average reached burst-threshold (burst off) */
	__u64 dropped;    /* B: packets this direction's limit dropped (atomic add) */
};
_Static_assert(sizeof(struct rate_line) == 64, "rate_line size");

/* One direction's burst estimate, B: bytes >> unit_shift per sub-window,
 * a ring by sub-window number; touched only when the direction bursts. */
struct rate_ring {
	__u32 win[RATE_WINDOWS];
};
_Static_assert(sizeof(struct rate_ring) == 64, "rate_ring size");

struct rate_half {
	struct rate_line line;
	struct rate_ring ring;
};

/* rates value: each direction's line, then its ring; last what is read
 * only when a sub-window ends. 320 bytes, a whole number of lines: the map
 * is mmapable, so values start at a page and every line is aligned. */
struct rate_session {
	struct rate_half dir[2]; /* enum rate_dir */
	__u64 threshold[2];      /* C: burst-threshold x burst-time, in ring units */
	__u64 pad[6];
};
_Static_assert(sizeof(struct rate_session) == 320, "rate_session size");

/* rates: per session index, its limits and buckets; configuration all zero
 * = none. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct rate_session);
	__uint(max_entries, MAX_SESSIONS_DEFAULT);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rates SEC(".maps");

/* rates_on: which directions have a limit, two bits a session: bit
 * (index % 32) * 2 + dir of word index / 32. User space sets a bit after
 * the direction's configuration and clears it before (atomic OR and AND
 * through mmap) and sizes the map to max sessions / 32 at load time. */
#define RATES_PER_WORD 32
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, MAX_SESSIONS_DEFAULT / RATES_PER_WORD);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rates_on SEC(".maps");

/* What rate_admit decided. */
enum rate_verdict {
	RATE_PASS = 0,
	RATE_DROP,  /* over the policer's rate */
	RATE_LATE,  /* shaper: would leave later than the horizon */
	RATE_TO_TC, /* shaped direction met on XDP: leave it to TC */
};

/* rate_window moves the burst estimate to the sub-window of now: the
 * first CPU to see a new sub-window recomputes the average over the 16
 * before it (RouterOS: "every 1/16 part of the burst-time, the average over
 * the last burst-time"), publishes the new number and the verdict in one
 * compare-and-swap of the epoch word, and clears the ring slots it
 * skipped. Bytes another CPU adds to a slot in the instant it is cleared
 * are lost to the estimate only. The caller reads the epoch word after it:
 * a value the verifier knows nothing about, as on every other path, so
 * the verdict's two values do not double the states it walks through the
 * rest of the program. */
static __always_inline void rate_window(struct rate_session *rs, const int dir, __u64 now)
{
	struct rate_line *l = &rs->dir[dir].line;
	struct rate_ring *r = &rs->dir[dir].ring;
	__u64 old = *(volatile __u64 *)&l->epoch, e = old >> 1, n, nw, sum = 0, w;
	int i;

	/* Within the current sub-window (nearly every packet): a multiply,
	 * not a 64-bit division. */
	if (now < (e + 1) * l->window_ns)
		return;
	n = now / l->window_ns;
	if (n <= e)
		return;
	/* The ring holds sub-windows e-15..e; the average is over n-16..n-1. */
	for (i = 0; i < RATE_WINDOWS; i++) {
		w = e - i;
		if (i > e || w + RATE_WINDOWS < n)
			break;
		sum += r->win[w & (RATE_WINDOWS - 1)];
	}
	/* sum >= threshold without a branch (both are far below 2^63): a
	 * branch would give the verifier two states to walk on. */
	nw = n << 1 | (rs->threshold[dir] - 1 - sum) >> 63;
	if (__sync_val_compare_and_swap(&l->epoch, old, nw) != old)
		return; /* another CPU's turn */
	for (i = 1; i <= RATE_WINDOWS; i++) {
		w = e + i;
		if (w > n)
			break;
		r->win[w & (RATE_WINDOWS - 1)] = 0;
	}
}

/* rate_early_drop: a policer drops with a probability that grows from 0,
 * when the bucket is half empty, to 1, when it is empty (as RED does with a
 * queue's length). A hard cliff drops every packet of a TCP window that
 * finds the bucket empty, retransmissions included, and TCP waits out a
 * retransmission timeout; losses spread over the second half of the bucket
 * reach TCP one at a time, which it answers by halving its window. */
static __always_inline int rate_early_drop(const struct rate_line *l, __u64 owed)
{
	__u64 half = l->depth_ns >> 1;

	if (l->flags & RATE_F_SHAPE || owed <= half)
		return 0;
	return (((__u64)bpf_get_prandom_u32() * half) >> 32) < owed - half;
}

/* rate_limited: whether direction dir of session index has a limit, from
 * the bitmap (a line that stays cached), before any rates line is read. */
static __always_inline int rate_limited(__u32 index, const int dir)
{
	__u32 w = index / RATES_PER_WORD;
	__u64 *on = bpf_map_lookup_elem(&rates_on, &w);

	return on && ((*(volatile __u64 *)on >> ((index % RATES_PER_WORD) * 2 + dir)) & 1);
}

/* rate_class is the HTB class (major:minor, for skb->priority) that shapes
 * session index's direction dir, or 0 when it is not shaped by HTB: then
 * rate_admit decides. */
static __always_inline __u32 rate_class(__u32 index, const int dir)
{
	struct rate_session *rs;
	__u32 f;

	if (!rate_limited(index, dir))
		return 0;
	rs = bpf_map_lookup_elem(&rates, &index);
	if (!rs || !*(volatile __u64 *)&rs->dir[dir].line.nspb)
		return 0;
	f = *(volatile __u32 *)&rs->dir[dir].line.flags;
	if ((f & (RATE_F_SHAPE | RATE_F_CLASS)) != (RATE_F_SHAPE | RATE_F_CLASS) || !(f >> RATE_CLASS_SHIFT))
		return 0;
	return (__u32)RATE_HTB_MAJOR << 16 | f >> RATE_CLASS_SHIFT;
}

/* rate_admit charges a packet of len bytes to session index's direction
 * dir. tstamp is NULL on XDP; on TC a shaped direction writes the packet's
 * departure time there (0 = now). */
static __always_inline int rate_admit(__u32 index, const int dir, __u32 len, __u64 *tstamp)
{
	struct rate_session *rs;
	struct rate_line *l;
	__u64 nspb, now, cost, e;
	__u32 slot = 0;
	int i;

	if (!rate_limited(index, dir))
		return RATE_PASS;
	rs = bpf_map_lookup_elem(&rates, &index);
	if (!rs)
		return RATE_PASS;
	l = &rs->dir[dir].line;
	nspb = *(volatile __u64 *)&l->nspb;
	if (!nspb)
		return RATE_PASS;
	if ((l->flags & RATE_F_SHAPE) && !tstamp)
		return RATE_TO_TC;
	/* The coarse clock (clock.h: a tick or two behind at most) is a
	 * load or two where the fine one reads the clock source; against a
	 * bucket half a second deep a tick or two is little. */
	now = coarse_ns();
	if (l->window_ns && l->burst_nspb) {
		rate_window(rs, dir, now);
		e = *(volatile __u64 *)&l->epoch;
		/* The ring slot first: e is dead after the branch, so both
		 * ways of it are one state to the verifier. */
		slot = (e >> 1) & (RATE_WINDOWS - 1);
		if (!(e & 1))
			nspb = l->burst_nspb;
	}
	cost = ((__u64)len * nspb) >> RATE_FP_SHIFT;
#pragma unroll
	for (i = 0; i < 4; i++) {
		__u64 old = *(volatile __u64 *)&l->tat_ns;
		__u64 t = old > now ? old : now;

		if (t - now > l->depth_ns || rate_early_drop(l, t - now)) {
			__sync_fetch_and_add(&l->dropped, 1);
			return (l->flags & RATE_F_SHAPE) ? RATE_LATE : RATE_DROP;
		}
		if (__sync_val_compare_and_swap(&l->tat_ns, old, t + cost) == old) {
			/* The average is of what passed, as a queue's is. */
			if (l->window_ns && l->burst_nspb)
				__sync_fetch_and_add(&rs->dir[dir].ring.win[slot],
						     (len + (1u << (l->unit_shift & 31)) - 1) >> (l->unit_shift & 31));
			if (tstamp && (l->flags & RATE_F_SHAPE))
				*tstamp = t > now ? t : 0;
			return RATE_PASS;
		}
	}
	/* Four CPUs in a row took this session's bucket first: let this packet
	 * through uncharged rather than spin; the others paid. */
	return RATE_PASS;
}

#endif
