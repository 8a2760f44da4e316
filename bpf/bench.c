// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Programs for the data-plane benchmark (test/bench/dataplane), not part of
 * the data plane:
 *
 *   xdp_gen    run through BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES:
 *              writes the template frame over the (recycled) page on every
 *              run and redirects it out of gen_cfg.ifindex.
 *   xdp_bare   the ceiling: redirect to bare_target[ingress] with no parsing.
 *   xdp_sink   counts and drops what arrives at the far end.
 *   xdp_pass   XDP_PASS, so a veth accepts redirected frames for the kernel.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define GEN_LEN 128 /* every benchmark frame is this long */

struct gen_cfg {
	__u32 ifindex;
	__u32 pad;
	__u8 tmpl[GEN_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct gen_cfg);
	__uint(max_entries, 1);
} gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 16);
} bare_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} sink_count SEC(".maps");

const struct gen_cfg *unused_gen_cfg __attribute__((unused));

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_cfg *cfg = bpf_map_lookup_elem(&gen, &zero);

	if (!cfg || data + GEN_LEN > end)
		return XDP_ABORTED;
	__builtin_memcpy(data, cfg->tmpl, GEN_LEN);
	return bpf_redirect(cfg->ifindex, 0);
}

SEC("xdp")
int xdp_bare(struct xdp_md *ctx)
{
	__u32 in = ctx->ingress_ifindex;
	__u32 *out = bpf_map_lookup_elem(&bare_target, &in);

	if (!out)
		return XDP_PASS;
	return bpf_redirect(*out, 0);
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
