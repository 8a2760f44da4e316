// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Programs for the data-plane benchmark (test/bench/dataplane), not part of
 * the data plane:
 *
 *   xdp_gen    run through BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES:
 *              writes the template frame over the (recycled) page on every
 *              run, rotates it over n sessions (struct gen_cfg) and
 *              redirects it out of gen_cfg.ifindex.
 *   xdp_bare   the ceiling: redirect to bare_target[ingress] with no parsing.
 *   xdp_sink   counts and drops what arrives (at the far end, or on the
 *              first hop for the generator-only case).
 *   xdp_pass   XDP_PASS, so a veth accepts redirected frames for the kernel.
 *   xdp_router (c) what an operator would run instead of us to route plain
 *              IPv4 in XDP: the kernel's samples/bpf/xdp_fwd shape, with the
 *              checks a router must make (RFC 1812 §5.2.2 checksum, TTL),
 *              bpf_fib_lookup and a redirect through a device map.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "csum.h"

#ifndef AF_INET
#define AF_INET 2
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define GEN_LEN 128 /* every benchmark frame is this long */

/* Every generated frame gets the same rewrite, in every case, so that the
 * generator's own cost is the same everywhere: frame number i (rotating
 * over n, visited with a stride so consecutive frames land far apart in the
 * maps) becomes
 *   tmpl[mac_off..+3] = i (24 bits, big endian: the low half of a MAC)
 *   tmpl[sid_off..+2] = i % 65535 + 1 (a PPPoE session id, or a UDP port)
 *   tmpl[ip_off..+4]  = ip_base + i (an IPv4 address)
 * and the IPv4 header at hdr_off gets its checksum recomputed (hdr_off 0:
 * none, an IPv6 frame, whose header has no checksum; ip_off then points
 * into an IPv6 address). n = 1 gives the same frame every time. */
struct gen_cfg {
	__u32 ifindex;
	__u32 n;
	__u32 stride;
	__u32 ip_base; /* host order */
	__u16 mac_off;
	__u16 sid_off;
	__u16 ip_off;
	__u16 hdr_off;
	__u8 tmpl[GEN_LEN]; /* 8-byte aligned: copied as __u64 */
};
_Static_assert(__builtin_offsetof(struct gen_cfg, tmpl) % 8 == 0, "tmpl alignment");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_cfg);
	__uint(max_entries, 1);
} gen SEC(".maps");

/* gen_pos: the rotation position (the generator runs on one CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} gen_pos SEC(".maps");

/* bare_target: ingress ifindex -> egress ifindex, for both directions.
 * An array (its lookup is inlined) rather than a hash, so the ceiling pays
 * no helper call at all. */
struct bare_pair {
	__u32 from[2];
	__u32 to[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct bare_pair);
	__uint(max_entries, 1);
} bare_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} sink_count SEC(".maps");

/* router_ports: the egress devices xdp_router may redirect to, keyed by
 * ifindex (xdp_fwd's xdp_tx_ports). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
} router_ports SEC(".maps");

const struct gen_cfg *unused_gen_cfg __attribute__((unused));
const struct bare_pair *unused_bare_pair __attribute__((unused));

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0, i, sid, ip, off, sum = 0;
	struct gen_cfg *cfg = bpf_map_lookup_elem(&gen, &zero);
	__u32 *pos = bpf_map_lookup_elem(&gen_pos, &zero);
	__u8 *p = data;
	__u16 *w;

	if (data + GEN_LEN > end || !cfg || !pos || !cfg->n)
		return XDP_ABORTED;
	/* Eight bytes at a time: a u8 array's memcpy is byte by byte. */
#pragma unroll
	for (int k = 0; k < GEN_LEN / 8; k++)
		((__u64 *)data)[k] = ((__u64 *)cfg->tmpl)[k];
	i = *pos;
	*pos = (i + cfg->stride) % cfg->n;

	/* Masked so the verifier sees a small offset, and checked against
	 * end after the add: a variable offset resets the packet range. */
	off = cfg->mac_off & (GEN_LEN - 1);
	if ((void *)(p + off + 3) > end)
		return XDP_ABORTED;
	p[off] = i >> 16;
	p[off + 1] = i >> 8;
	p[off + 2] = i;

	sid = i % 65535 + 1;
	off = cfg->sid_off & (GEN_LEN - 1);
	if ((void *)(p + off + 2) > end)
		return XDP_ABORTED;
	p[off] = sid >> 8;
	p[off + 1] = sid;

	ip = cfg->ip_base + i;
	off = cfg->ip_off & (GEN_LEN - 1);
	if ((void *)(p + off + 4) > end)
		return XDP_ABORTED;
	p[off] = ip >> 24;
	p[off + 1] = ip >> 16;
	p[off + 2] = ip >> 8;
	p[off + 3] = ip;

	if (!cfg->hdr_off)
		return bpf_redirect(cfg->ifindex, 0);
	/* RFC 791 §3.1 header checksum over the 20-byte header. */
	w = (void *)(p + (cfg->hdr_off & (GEN_LEN - 1)));
	if ((void *)(w + 10) > end)
		return XDP_ABORTED;
	w[5] = 0;
#pragma unroll
	for (int k = 0; k < 10; k++)
		sum += w[k];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	w[5] = ~sum;
	return bpf_redirect(cfg->ifindex, 0);
}

SEC("xdp")
int xdp_bare(struct xdp_md *ctx)
{
	__u32 zero = 0, in = ctx->ingress_ifindex;
	struct bare_pair *b = bpf_map_lookup_elem(&bare_target, &zero);

	if (!b)
		return XDP_PASS;
	if (in == b->from[0])
		return bpf_redirect(b->to[0], 0);
	if (in == b->from[1])
		return bpf_redirect(b->to[1], 0);
	return XDP_PASS;
}

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&sink_count, &zero);

	if (c)
		*c += 1;
	return XDP_DROP;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_router(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct bpf_fib_lookup fib = {};
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || iph->ihl != 5)
		return XDP_PASS;
	if (!ipv4_csum_ok(iph))
		return XDP_DROP;
	if (iph->ttl <= 1)
		return XDP_PASS;
	fib.family = AF_INET;
	fib.tos = iph->tos;
	fib.l4_protocol = iph->protocol;
	fib.tot_len = bpf_ntohs(iph->tot_len);
	fib.ipv4_src = iph->saddr;
	fib.ipv4_dst = iph->daddr;
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;
	ip_decrease_ttl(iph);
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect_map(&router_ports, fib.ifindex, XDP_PASS);
}
