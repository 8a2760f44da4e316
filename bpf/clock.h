/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The data plane's clock: CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns),
 * which lags CLOCK_MONOTONIC by a tick at most, so user space compares it
 * with clock_gettime and the TC shaper's departure times are fq's clock.
 *
 * The coarse clock moves only at a tick, when jiffies does. bpf_jiffies64
 * is one load (the verifier inlines it); bpf_ktime_get_coarse_ns is a
 * helper call, a call and a return each paid through the CPU's
 * speculation mitigations, around a sequence-counted read: on the
 * policed fast path it was a third of the rate limit's cost (README, "Rate
 * limits", the cost). So each CPU reads it once a jiffy and keeps it here.
 */
#ifndef PPPOE_XDP_CLOCK_H
#define PPPOE_XDP_CLOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* clock_cache: per CPU, the coarse clock as read in jiffy `jiffies`. Not
 * pinned: a cache, which whatever program runs first in a jiffy fills. */
struct clock_cache {
	__u64 jiffies;
	__u64 ns;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct clock_cache);
	__uint(max_entries, 1);
} clock_cache SEC(".maps");

/* coarse_ns_at is bpf_ktime_get_coarse_ns() in jiffy j (the caller's
 * bpf_jiffies64()), from this CPU's cache when it read the clock in that
 * jiffy: so up to one more tick behind (the timekeeping update may follow
 * the jiffies update), and never behind a value it returned before on
 * this CPU. XDP and TC programs run with
 * bottom halves off, so one CPU's never interleave; were they to, a
 * half-written pair would give a time a tick old, no worse. */
static __always_inline __u64 coarse_ns_at(__u64 j)
{
	__u32 zero = 0;
	struct clock_cache *c = bpf_map_lookup_elem(&clock_cache, &zero);

	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != j) {
		c->ns = bpf_ktime_get_coarse_ns();
		c->jiffies = j;
	}
	return c->ns;
}

/* coarse_ns is coarse_ns_at the current jiffy. */
static __always_inline __u64 coarse_ns(void)
{
	return coarse_ns_at(bpf_jiffies64());
}

#endif
