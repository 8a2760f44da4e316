/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cursor-based header parsers (xdp-tutorial style), shared by the XDP and TC
 * programs: each bounds-checks against data_end, advances the cursor and
 * returns the next protocol, or a negative value for a malformed frame.
 */
#ifndef PPPOE_XDP_PARSE_H
#define PPPOE_XDP_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include "types.h"

#define ETH_P_PPP_DISC_ 0x8863
#define ETH_P_PPP_SES_ 0x8864
#define PPP_IP_ 0x0021
#define PPP_IPV6_ 0x0057
#define PPPOE_VER_TYPE 0x11 /* RFC 2516 §4: VER = 1, TYPE = 1 */
#define MAX_VLANS 2

#define PARSE_MALFORMED (-1)

/* pos..end is what may be read (XDP: the frame; TC: the linear part);
 * len is the whole packet's length from start (TC: skb->len, which may go
 * past end when the skb has fragments), for checking length fields. */
struct cursor {
	void *pos;
	void *end;
	void *start;
	__u32 len;
};

struct vlan_hdr_ {
	__be16 tci;
	__be16 proto; /* encapsulated ethertype */
};

/* RFC 2516 §4 session-stage header, followed by the 2-byte PPP protocol. */
struct pppoe_hdr_ {
	__u8 ver_type;
	__u8 code;
	__be16 session_id;
	__be16 length; /* PPPoE payload length: PPP protocol + information */
};

/* The access-side layer 2 of a frame: MACs and up to two VLAN tags. */
struct l2 {
	struct ethhdr *eth;
	__u16 tpid[MAX_VLANS]; /* host order, outermost first */
	__u16 vid[MAX_VLANS];
	__u32 nvlan;
	__u32 len; /* bytes up to (not including) the innermost ethertype's payload */
};

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* parse_l2 reads Ethernet and up to MAX_VLANS tags (0x8100, 0x88a8). A tag
 * with VLAN id 0 is a priority tag (IEEE 802.1Q §9.6: priority, no VLAN),
 * which places the frame in no VLAN: it is skipped, not recorded, as the
 * kernel and a bridge treat it (it still counts towards the limit on tags
 * in the frame, as in the control plane's codec). Tags already taken out of the frame (TC: skb->vlan_present)
 * are passed in l2 by the caller and count towards the limit. Returns the
 * inner ethertype (network order) or PARSE_MALFORMED (truncated, or too
 * many tags). */
static __always_inline int parse_l2(struct cursor *c, struct l2 *l2)
{
	struct ethhdr *eth = c->pos;
	__be16 proto;

	if ((void *)(eth + 1) > c->end)
		return PARSE_MALFORMED;
	l2->eth = eth;
	c->pos = eth + 1;
	proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < MAX_VLANS + 1; i++) {
		struct vlan_hdr_ *vh = c->pos;
		__u16 vid;

		if (!is_vlan(proto))
			break;
		if (i == MAX_VLANS)
			return PARSE_MALFORMED;
		if ((void *)(vh + 1) > c->end)
			return PARSE_MALFORMED;
		vid = bpf_ntohs(vh->tci) & 0x0fff;
		if (vid) {
			if (l2->nvlan >= MAX_VLANS)
				return PARSE_MALFORMED;
			l2->tpid[l2->nvlan & 1] = bpf_ntohs(proto);
			l2->vid[l2->nvlan & 1] = vid;
			l2->nvlan++;
		}
		proto = vh->proto;
		c->pos = vh + 1;
	}
	l2->len = c->pos - (void *)eth;
	return proto;
}

/* parse_pppoe_session reads the RFC 2516 §5 session header and the PPP
 * protocol. The PPPoE LENGTH may be shorter than the frame (Ethernet
 * padding) but never longer; VER/TYPE must be 1/1 and CODE 0.
 * Returns the PPP protocol (host order) or PARSE_MALFORMED. */
static __always_inline int parse_pppoe_session(struct cursor *c, struct pppoe_hdr_ **php)
{
	struct pppoe_hdr_ *ph = c->pos;
	__be16 *ppp;
	__u16 len;

	ppp = (void *)(ph + 1);
	/* Fixed-size check first: the compiler may drop it if it came after
	 * the variable one, and the verifier needs it. */
	if ((void *)(ppp + 1) > c->end)
		return PARSE_MALFORMED;
	if (ph->ver_type != PPPOE_VER_TYPE || ph->code != 0)
		return PARSE_MALFORMED;
	len = bpf_ntohs(ph->length);
	if (len < 2 || (__u32)((void *)(ph + 1) - c->start) + len > c->len)
		return PARSE_MALFORMED;
	*php = ph;
	c->pos = ppp + 1;
	return bpf_ntohs(*ppp);
}

/* parse_ipv4 checks an IPv4 header against the room it has (the PPPoE
 * payload, or the rest of the frame): version 4, IHL >= 5, IHL <= total
 * length <= room. Returns 0 or PARSE_MALFORMED. */
static __always_inline int parse_ipv4(struct cursor *c, __u32 room, struct iphdr **iphp)
{
	struct iphdr *iph = c->pos;
	__u32 hl, tot;

	if ((void *)(iph + 1) > c->end)
		return PARSE_MALFORMED;
	if (iph->version != 4)
		return PARSE_MALFORMED;
	hl = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if (hl < sizeof(*iph) || tot < hl || tot > room)
		return PARSE_MALFORMED;
	*iphp = iph;
	c->pos = (void *)iph + hl;
	return 0;
}

#endif
