/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Multilink PPP over a single link (RFC 1990), as RouterOS's mrru uses it:
 * packets larger than the link MTU cross it as MP fragments. The data plane
 * keeps what fits the MTU on the fast path and hands the rest to user space
 * (control/ppp/mp), which reassembles and fragments.
 *
 * Upstream, a peer doing MP (Windows, pppd, Linux) wraps every packet in an
 * MP header, whole packets with both B and E set. mp_unwrap skips that
 * header so a whole IPv4/IPv6 packet goes on as any other; a real fragment
 * (or anything unusual) is left to user space, where it arrives as a PPPoE
 * session frame of PPP protocol 0x003d on the access interface's packet
 * socket, as control frames do.
 *
 * Downstream, XDP cannot send one packet as two frames and TC cannot split
 * an skb, so a packet over the MTU of an MP session (SESSION_F_MP) goes to
 * user space through the mp_divert perf buffer instead of being answered
 * with ICMP Fragmentation Needed; user space fragments it within the peer's
 * MRRU and writes the fragments on the session's packet socket. Packets
 * larger than the peer's MRRU never get here: the kernel route towards
 * the session carries the MRRU as its MTU (user space sets it).
 */
#ifndef PPPOE_XDP_MP_H
#define PPPOE_XDP_MP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"
#include "parse.h"
#include "ratelimit.h"

#define PPP_MP_ 0x003d
#define MP_BE 0xc0 /* B and E: the first and last fragment, a whole packet */

/* mp_divert record: this header, then the packet as the program saw it,
 * from its Ethernet header (ETH_HLEN bytes, to skip) on; the IPv4 total
 * length or IPv6 payload length says where it ends (Ethernet padding may
 * follow). The TTL or hop limit is already decremented when it came from
 * the XDP fast path (forwarded = 1). */
struct mp_divert_hdr {
	__u32 session_index; /* the session's session_info index */
	__u16 protocol;      /* PPP protocol: 0x0021 or 0x0057 */
	__u8 forwarded;      /* 1: XDP already did the router's work (TTL) */
	__u8 pad;
};
_Static_assert(sizeof(struct mp_divert_hdr) == 8, "mp_divert_hdr size");

/* mp_divert: per-CPU perf buffers user space reads (maps.MPDivertReader).
 * max_entries 0 is "one per possible CPU" to the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mp_divert SEC(".maps");

const struct mp_divert_hdr *unused_mp_divert_hdr __attribute__((unused));

/* mp_unwrap is called with the cursor after the PPP protocol field of an
 * MP (0x003d) frame of a known session. A whole packet (B and E set,
 * reserved bits clear) of IPv4 or IPv6 with an uncompressed protocol
 * field is unwrapped: the cursor moves past the MP header and the inner
 * protocol, *ppp becomes the inner protocol and the skipped length (6 long,
 * 4 short) is returned. Everything else returns 0 and is user space's: a
 * fragment, a session that did not negotiate MP, a header the session's
 * format does not fit. */
static __always_inline __u32 mp_unwrap(struct cursor *c, const struct session_hot *info, int *ppp)
{
	__u8 *p = c->pos;
	int inner;

	if (!(info->flags & SESSION_F_MP))
		return 0;
	if (info->flags & SESSION_F_MP_SHORT) {
		/* B E 0 0 seq(12) | protocol(2) */
		if ((void *)(p + 4) > c->end || (p[0] & 0xf0) != MP_BE)
			return 0;
		inner = p[2] << 8 | p[3];
		if (inner != PPP_IP_ && inner != PPP_IPV6_)
			return 0;
		c->pos = p + 4;
		*ppp = inner;
		return 4;
	}
	/* B E 0 0 0 0 0 0 | seq(24) | protocol(2) */
	if ((void *)(p + 6) > c->end || p[0] != MP_BE)
		return 0;
	inner = p[4] << 8 | p[5];
	if (inner != PPP_IP_ && inner != PPP_IPV6_)
		return 0;
	c->pos = p + 6;
	*ppp = inner;
	return 6;
}

/* MP_MOVE(L, M): move the L bytes of Ethernet, tags and PPPoE header M
 * bytes forward through the stack (constant sizes for the verifier). */
#define MP_MOVE(L, M)                                                     \
	do {                                                              \
		__u8 buf_[L];                                             \
		if (data + (L) + (M) > end)                               \
			return -1;                                        \
		__builtin_memcpy(buf_, data, L);                          \
		__builtin_memcpy(data + (M), buf_, L);                    \
	} while (0)

/* mp_normalize_xdp turns a frame mp_unwrap accepted into the plain PPPoE
 * frame of its inner packet: [L2][PPPoE][0x003d][MP header][protocol][IP]
 * becomes [L2][PPPoE][protocol][IP], PPPoE LENGTH lowered to match. XDP
 * runs before anything else sees the frame (the packet sockets' taps, TC),
 * so whatever the frame does next (the fast path, or XDP_PASS to the slow
 * path) it does as a frame of a session without MP, and an MP frame that
 * reaches user space is always one user space must handle.
 * l2len + 6 is what moves (Ethernet and up to two tags: 14, 18 or 22
 * bytes, plus the PPPoE header), mp the bytes removed (6 long, 4 short).
 * On success *ph and *ip point into the new frame, at the PPPoE header
 * and at the IP header (not yet checked against the frame's end). Returns 0 or -1 (frame unchanged, or a helper failed). */
static __always_inline int mp_normalize_xdp(struct xdp_md *ctx, __u32 l2len, __u32 mp,
					    struct pppoe_hdr_ **ph, void **ip)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 n = l2len + sizeof(struct pppoe_hdr_), off;
	struct pppoe_hdr_ *p;

	if (mp == 6) {
		if (n == 20)
			MP_MOVE(20, 6);
		else if (n == 24)
			MP_MOVE(24, 6);
		else if (n == 28)
			MP_MOVE(28, 6);
		else
			return -1;
	} else if (mp == 4) {
		if (n == 20)
			MP_MOVE(20, 4);
		else if (n == 24)
			MP_MOVE(24, 4);
		else if (n == 28)
			MP_MOVE(28, 4);
		else
			return -1;
	} else {
		return -1;
	}
	off = n == 20 ? 14 : n == 24 ? 18 : 22;
	if (bpf_xdp_adjust_head(ctx, (int)mp))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	p = data + off;
	if ((void *)(p + 1) + 2 > end)
		return -1;
	p->length = bpf_htons(bpf_ntohs(p->length) - mp);
	*ph = p;
	*ip = (void *)(p + 1) + 2;
	return 0;
}

/* mp_charge charges a packet about to be diverted to its session's
 * download limit, once, as the path it leaves would have: user space sends
 * its fragments without asking the limit again. A shaped direction is
 * charged as the shaper charges (later packets wait for it), but the
 * fragments leave when user space writes them: there is no skb to hold.
 * Returns 0 to divert, -1 when the limit drops the packet (counted). */
static __always_inline int mp_charge(struct session_hot *info, __u32 tot)
{
	__u64 edt = 0;

	switch (rate_admit(info->index, RATE_TX, tot, &edt)) {
	case RATE_PASS:
		return 0;
	case RATE_LATE:
		count(REASON_RATE_SHAPE_DROP);
		return -1;
	default:
		count(REASON_RATE_TX_DROP);
		return -1;
	}
}

/* mp_divert_skb hands a TC packet over its session's MTU to user space to
 * be fragmented, and consumes it. Counted as sent down: it is the
 * session's traffic and user space sends it (a failure there is counted
 * there). */
static __always_inline int mp_divert_skb(struct __sk_buff *skb, struct session_hot *info,
					 struct session_counters *st, __u32 tot, __u16 ppp)
{
	struct mp_divert_hdr h = { .session_index = info->index, .protocol = ppp };

	if (mp_charge(info, tot))
		return TC_ACT_SHOT;
	if (bpf_perf_event_output(skb, &mp_divert, BPF_F_CURRENT_CPU | ((__u64)skb->len << 32),
				  &h, sizeof(h))) {
		st->drops++;
		count(REASON_ERROR);
		return TC_ACT_SHOT;
	}
	st->packets_down++;
	st->bytes_down += tot;
	count(REASON_MP_DIVERT);
	return TC_ACT_SHOT;
}

/* mp_divert_xdp is mp_divert_skb for the XDP fast path, after the TTL or
 * hop limit was decremented. */
static __always_inline int mp_divert_xdp(struct xdp_md *ctx, struct session_hot *info,
					 struct session_counters *st, __u32 tot, __u16 ppp)
{
	struct mp_divert_hdr h = { .session_index = info->index, .protocol = ppp, .forwarded = 1 };
	__u64 len = ctx->data_end - ctx->data;

	if (mp_charge(info, tot))
		return XDP_DROP;
	if (bpf_perf_event_output(ctx, &mp_divert, BPF_F_CURRENT_CPU | (len << 32), &h, sizeof(h))) {
		st->drops++;
		count(REASON_ERROR);
		return XDP_DROP;
	}
	st->packets_down++;
	st->bytes_down += tot;
	count(REASON_MP_DIVERT);
	return XDP_DROP;
}

#endif
