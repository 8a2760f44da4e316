// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pppoe-xdp data plane: four programs sharing one set of maps.
 *
 *   xdp_access_in   XDP on access ifaces: upstream fast path (decap, anti-spoof,
 *                   MSS clamp, fib lookup, TTL, redirect); everything else PASS.
 *                   xdp_access_in_hwvlan is the same, for a device that hands
 *                   XDP a VLAN tag it stripped as receive metadata.
 *   tc_access_in    TC ingress on access ifaces: slow path, decap and inject
 *                   into pppoe0's ingress so the kernel routes it "from pppoe0".
 *   xdp_uplink_in   XDP on uplinks: downstream fast path (subscriber lookup,
 *                   MSS clamp, TTL, encap, redirect to the access iface).
 *   tc_pppoe0_out   TC ingress on pppoe0's veth peer: encap whatever the kernel
 *                   routes into pppoe0 to a subscriber and redirect it to the
 *                   access iface. The peer, not pppoe0's egress, so that the
 *                   kernel has already segmented GSO skbs (pppoe0 has
 *                   gso_max_segs 1) when we see them.
 *   tc_client_out   TC ingress on a client netdev's veth peer (same reason):
 *                   encap towards the AC, or count dial-on-demand while down.
 *
 * Client sessions (we are the PPPoE client) live in the same maps as server
 * sessions with SESSION_F_CLIENT set: xdp_access_in passes their frames, and
 * tc_access_in decaps them into the client netdev instead of pppoe0.
 *
 * Interfaces are identified by ifindex in the maps, so one loaded object
 * serves any number of access ifaces and uplinks (xdp_access_in_hwvlan, the
 * one exception, is loaded per device). The XDP programs redirect only to
 * devices in tx_ports, which can transmit XDP frames; for any other egress
 * device they pass the packet, untouched, to the kernel.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "types.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "clock.h"
#include "discovery.h"
#include "mp.h"
#include "ratelimit.h"
#include "ipv6.h"

#ifndef AF_INET
#define AF_INET 2
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Enums only reach BTF (and so bpf2go's -type) when something uses them. */
const enum reason *unused_reason __attribute__((unused));
const enum session_flag *unused_session_flag __attribute__((unused));
const enum client_flag *unused_client_flag __attribute__((unused));
const enum rate_dir *unused_rate_dir __attribute__((unused));
const enum rate_flag *unused_rate_flag __attribute__((unused));

/* What the upstream classifier (shared by XDP and TC access_in) found. */
enum up_class {
	UP_MALFORMED,
	UP_DISCOVERY,
	UP_OTHER,
	UP_CONTROL,
	UP_UNKNOWN,
	UP_SPOOFED,
	UP_IPV4,
	UP_IPV6,
	UP_MP,       /* MP fragment of a session that negotiated MP: user space */
	UP_V6_LOCAL, /* a session's link-local or multicast IPv6: control plane */
};

struct up {
	struct l2 l2;
	struct pppoe_hdr_ *ph;
	struct iphdr *iph;
	struct ip6_hdr_ *ip6;
	struct session_hot *info;
	struct session_counters *st;
	__u32 mp;     /* bytes of MP header + inner protocol unwrapped (mp.h), or 0 */
};

/* mac_eq compares two MACs as three 16-bit words (both are 2-aligned). */
static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	const __u16 *x = (const __u16 *)a, *y = (const __u16 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
}

/* stamp_seen records that the session's peer was just heard from (see
 * struct session_counters). */
static __always_inline void stamp_seen(struct session_counters *st)
{
	__u64 j = bpf_jiffies64();

	if (st->seen_jiffies != j) {
		st->seen_jiffies = j;
		st->last_seen_ns = coarse_ns_at(j);
	}
}

/* classify_up parses an access-side frame up to IPv4 or IPv6 and finds its
 * session. For a known session's valid IP packet it has checked the source
 * address and stamped last_seen. */
static __always_inline int classify_up(struct cursor *c, __u32 ifindex, struct up *u)
{
	struct session_key key = {};
	struct session_hot *info;
	struct session_counters *st;
	int proto, ppp;

	proto = parse_l2(c, &u->l2);
	if (proto < 0)
		return UP_MALFORMED;
	if (proto == bpf_htons(ETH_P_PPP_DISC_))
		return UP_DISCOVERY;
	if (proto != bpf_htons(ETH_P_PPP_SES_))
		return UP_OTHER;
	ppp = parse_pppoe_session(c, &u->ph);
	if (ppp < 0)
		return UP_MALFORMED;
	if (ppp != PPP_IP_ && ppp != PPP_IPV6_ && ppp != PPP_MP_)
		return UP_CONTROL;

	key.ifindex = ifindex;
	key.outer_vlan = u->l2.nvlan > 0 ? u->l2.vid[0] : 0;
	key.inner_vlan = u->l2.nvlan > 1 ? u->l2.vid[1] : 0;
	key.session_id = bpf_ntohs(u->ph->session_id);
	__builtin_memcpy(key.peer_mac, u->l2.eth->h_source, ETH_ALEN);
	info = session_lookup(&key);
	if (!info || !(info->flags & SESSION_F_ACTIVE))
		return UP_UNKNOWN;
	/* Addressed to another station (a promiscuous interface, or a veth,
	 * which filters nothing): not ours, as user space also decides. */
	if (!mac_eq(u->l2.eth->h_dest, info->local_mac))
		return UP_OTHER;
	st = stats_of(info->index);
	if (!st)
		return UP_UNKNOWN;
	/* VLAN ids are in the key; the TPIDs (and "tagged with id 0" versus
	 * untagged) must match too. */
	if ((u->l2.nvlan > 0 ? u->l2.tpid[0] : 0) != info->outer_tpid ||
	    (u->l2.nvlan > 1 ? u->l2.tpid[1] : 0) != info->inner_tpid)
		return UP_UNKNOWN;
	u->info = info;
	u->st = st;

	if (ppp == PPP_MP_) {
		/* Not negotiated: user space's to Protocol-Reject. */
		if (!(info->flags & SESSION_F_MP))
			return UP_CONTROL;
		u->mp = mp_unwrap(c, info, &ppp);
		if (!u->mp)
			return UP_MP;
		if (bpf_ntohs(u->ph->length) < 2 + u->mp)
			return UP_MALFORMED;
	}
	if (ppp == PPP_IPV6_) {
		if (parse_ipv6(c, bpf_ntohs(u->ph->length) - 2 - u->mp, &u->ip6) < 0)
			return UP_MALFORMED;
		/* A client's netdev takes the AC's IPv6 but what is addressed
		 * to the link (link-local or multicast: RAs, DHCPv6 Replies).
		 * That is the control plane's, which reads it from its packet
		 * socket; the netdev holds no link-local address, so a kernel
		 * forwarding IPv6 would send it back out to the AC. */
		if (info->flags & SESSION_F_CLIENT) {
			stamp_seen(st);
			return v6_local_addr(u->ip6->daddr) ? UP_V6_LOCAL : UP_IPV6;
		}
		if (v6_local(u->ip6)) {
			stamp_seen(st);
			return UP_V6_LOCAL;
		}
		if (!v6_src_ok(info, u->ip6->saddr)) {
			st->drops++;
			return UP_SPOOFED;
		}
		stamp_seen(st);
		return UP_IPV6;
	}
	if (parse_ipv4(c, bpf_ntohs(u->ph->length) - 2 - u->mp, &u->iph) < 0)
		return UP_MALFORMED;
	/* An AC may send us any source address: no anti-spoof for clients.
	 * A server session's source is its address or inside a prefix
	 * routed to it (Framed-Route). A server session without IPv4 (IPCP
	 * not open: IPv6 only) holds 0.0.0.0, a source no router forwards
	 * (RFC 1812 §5.3.7): refused with it, that session's IPv4 is all
	 * refused, whatever route covers 0.0.0.0. */
	if (!(info->flags & SESSION_F_CLIENT) &&
	    (!u->iph->saddr || u->iph->saddr != *(__be32 *)info->ipv4)) {
		__u32 owner;

		if (!u->iph->saddr || !route_owner_v4(u->iph->saddr, &owner) ||
		    owner != info->index) {
			st->drops++;
			return UP_SPOOFED;
		}
	}
	stamp_seen(st);
	return UP_IPV4;
}

/* syn_mss_at returns the MSS option value of TCP segment tcp if it is a
 * SYN whose MSS needs lowering to mss, or NULL. How tcp was found (after
 * an IPv4 header without options, not a fragment; after an IPv6 header
 * with no extension headers) is the caller's business. */
static __always_inline __be16 *syn_mss_at(struct tcphdr *tcp, void *end, __u16 mss)
{
	__be16 *field;
	int off;

	if (!mss || (void *)(tcp + 1) > end || !tcp->syn)
		return NULL;
	off = tcp_mss_offset(tcp, end);
	if (off < 0)
		return NULL;
	field = (void *)tcp + (off & 0x3f);
	if ((void *)(field + 1) > end)
		return NULL;
	if (bpf_ntohs(*field) <= mss)
		return NULL;
	return field;
}

/* clamp_mss_direct lowers a SYN's MSS in place (XDP: no checksum offload
 * state to respect). The TCP checksum covers no address here: IPv4 and
 * IPv6 alike take the 16-bit change. */
static __always_inline void clamp_mss_direct(struct tcphdr *tcp, void *end, __u16 mss)
{
	__be16 *field = syn_mss_at(tcp, end, mss);

	if (!field || (void *)(tcp + 1) > end)
		return;
	csum_replace2(&tcp->check, *field, bpf_htons(mss));
	*field = bpf_htons(mss);
	count(REASON_MSS_CLAMPED);
}

/* clamp_mss_skb lowers a SYN's MSS through the skb helpers, which keep
 * CHECKSUM_PARTIAL/COMPLETE skbs consistent. Packet pointers are invalid
 * afterwards. */
static __always_inline void clamp_mss_skb(struct __sk_buff *skb, struct tcphdr *tcp, void *end, __u16 mss)
{
	__be16 *field = syn_mss_at(tcp, end, mss);
	__u32 field_off, check_off;
	__be16 old, new = bpf_htons(mss);

	if (!field)
		return;
	old = *field;
	field_off = (void *)field - (void *)(long)skb->data;
	check_off = (void *)tcp - (void *)(long)skb->data + offsetof(struct tcphdr, check);
	if (bpf_l4_csum_replace(skb, check_off, old, new, sizeof(new)) ||
	    bpf_skb_store_bytes(skb, field_off, &new, sizeof(new), 0))
		return;
	count(REASON_MSS_CLAMPED);
}

/* tcp_after_ip returns the TCP header after the IP header at data + l3off
 * (l3off at most 64) when the clamps may look at it: IPv4 without options
 * and not a fragment, IPv6 without extension headers; NULL otherwise. */
static __always_inline struct tcphdr *tcp_after_ip(void *data, void *end, __u32 l3off, __u32 v6)
{
	struct ip6_hdr_ *ip6;
	struct iphdr *iph;

	if (l3off > 64)
		return NULL;
	if (v6) {
		ip6 = data + l3off;
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return NULL;
		return (void *)(ip6 + 1);
	}
	iph = data + l3off;
	if ((void *)(iph + 1) > end || iph->ihl != 5 || iph->protocol != IPPROTO_TCP ||
	    (iph->frag_off & bpf_htons(0x1fff)))
		return NULL;
	return (void *)(iph + 1);
}

/* The MSS clamps run as global functions: the verifier checks each once,
 * on its own, instead of walking the TCP options again inside every path
 * of every caller (xdp_access_in with multilink and IPv6 went past its
 * million instructions with the walks inlined). They take the context and
 * the offset of the IP header (l3off, at most 64) and find the headers
 * again; v6 says which IP version is there. mss_clamp_skb invalidates the
 * caller's packet pointers (it changes packet data), mss_clamp_xdp does
 * not. Both return 0. */
__attribute__((noinline)) int mss_clamp_xdp(struct xdp_md *ctx, __u32 l3off, __u32 mss, __u32 v6)
{
	void *end = (void *)(long)ctx->data_end;
	struct tcphdr *tcp = tcp_after_ip((void *)(long)ctx->data, end, l3off, v6);

	if (tcp)
		clamp_mss_direct(tcp, end, mss);
	return 0;
}

__attribute__((noinline)) int mss_clamp_skb(struct __sk_buff *skb, __u32 l3off, __u32 mss, __u32 v6)
{
	void *end = (void *)(long)skb->data_end;
	struct tcphdr *tcp = tcp_after_ip((void *)(long)skb->data, end, l3off, v6);

	if (tcp)
		clamp_mss_skb(skb, tcp, end, mss);
	return 0;
}

/* may_be_syn says whether the IP packet at ip may be a TCP SYN that
 * mss_clamp_xdp would look at: TCP right after the IP header (IPv4
 * without options, IPv6 without extension headers, as tcp_after_ip wants)
 * with SYN set. The fast paths ask it first: the clamp is a call, and a
 * call and its return cost every packet, where only a connection's first
 * two segments carry an MSS. */
static __always_inline int may_be_syn(void *ip, void *end, const int v6)
{
	struct tcphdr *tcp;

	if (v6) {
		struct ip6_hdr_ *ip6 = ip;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return 0;
		tcp = (void *)(ip6 + 1);
	} else {
		struct iphdr *iph = ip;

		if ((void *)(iph + 1) > end || iph->protocol != IPPROTO_TCP || iph->ihl != 5)
			return 0;
		tcp = (void *)(iph + 1);
	}
	return (void *)(tcp + 1) <= end && tcp->syn;
}

/* subscriber_v4 finds the active server session that owns IPv4 address
 * daddr (network order), for the downstream paths. */
static __always_inline int subscriber_v4(__be32 daddr, struct session_hot **info,
					 struct session_counters **st)
{
	struct session_hot *a = subscriber_lookup(daddr);
	__u32 idx;

	/* No session owns daddr: a prefix routed to one may hold it. The
	 * attrs' first fields are its hot part (types.h). */
	if (!a && route_owner_v4(daddr, &idx))
		a = bpf_map_lookup_elem(&session_info, &idx);
	if (!a || !(a->flags & SESSION_F_ACTIVE))
		return 0;
	*info = a;
	*st = stats_of(a->index);
	return *st != NULL;
}

static __always_inline __u32 encap_len(const struct session_hot *info)
{
	return sizeof(struct pppoe_hdr_) + 2 + (info->outer_tpid ? 4 : 0) +
	       (info->inner_tpid ? 4 : 0);
}

#define ENCAP_MAX (ETH_HLEN + 2 * 4 + sizeof(struct pppoe_hdr_) + 2)

/* write_encap writes Ethernet, the session's VLAN tags, the PPPoE session
 * header (RFC 2516 §5) and PPP protocol ppp in front of a packet of tot
 * bytes; data must have encap_len(info) + ETH_HLEN bytes of room. */
static __always_inline int write_encap(void *data, void *end, const struct session_hot *info,
				       __u16 tot, __u16 ppp)
{
	__u8 *p = data;
	__be16 *w = (void *)(p + 2 * ETH_ALEN);
	struct pppoe_hdr_ *ph;

	if ((void *)(p + ENCAP_MAX) > end)
		return -1;
	__builtin_memcpy(p, info->peer_mac, ETH_ALEN);
	__builtin_memcpy(p + ETH_ALEN, info->local_mac, ETH_ALEN);
	if (info->outer_tpid) {
		w[0] = bpf_htons(info->outer_tpid);
		w[1] = bpf_htons(info->outer_vlan);
		if (info->inner_tpid) {
			w[2] = bpf_htons(info->inner_tpid);
			w[3] = bpf_htons(info->inner_vlan);
			w[4] = bpf_htons(ETH_P_PPP_SES_);
			ph = (void *)(w + 5);
		} else {
			w[2] = bpf_htons(ETH_P_PPP_SES_);
			ph = (void *)(w + 3);
		}
	} else {
		w[0] = bpf_htons(ETH_P_PPP_SES_);
		ph = (void *)(w + 1);
	}
	ph->ver_type = PPPOE_VER_TYPE;
	ph->code = 0;
	ph->session_id = bpf_htons(info->session_id);
	ph->length = bpf_htons(tot + 2);
	*(__be16 *)(ph + 1) = bpf_htons(ppp);
	return 0;
}

/* hop_limit_of is the IPv4 TTL or IPv6 hop limit of the header at ip. */
static __always_inline __u8 hop_limit_of(void *ip, const int v6)
{
	return v6 ? ((struct ip6_hdr_ *)ip)->hop_limit : ((struct iphdr *)ip)->ttl;
}

/* hop_dec takes one off it (IPv6 has no header checksum to patch). */
static __always_inline void hop_dec(void *ip, const int v6)
{
	if (v6)
		((struct ip6_hdr_ *)ip)->hop_limit--;
	else
		ip_decrease_ttl(ip);
}

/* up_forward is the upstream fast path's tail, IPv4 (xdp_access_in) and
 * IPv6 (xdp_up6) alike, for a packet checked up to its hop limit: fib
 * holds its family and addresses; the route lookup as if it arrived on
 * pppoe0, the rate limit, MSS clamp, hop limit, counters, decap, and the
 * redirect. ip is the IP header, hdr the bytes in front of it (Ethernet,
 * tags in the frame, PPPoE, PPP), tot the IP packet's length. Everything it
 * cannot finish is XDP_PASS, to tc_access_in and the kernel. */
static __always_inline int up_forward(struct xdp_md *ctx, struct bpf_fib_lookup *fib, void *ip,
				      __u32 hdr, __u32 tot, const int v6,
				      struct session_hot *info, struct session_counters *st)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct dp_config *cfg;
	struct ethhdr *eth;
	__u32 zero = 0, frame;
	long rc;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->pppoe0_ifindex)
		goto slow;
	/* The subscriber's packet "arrives on pppoe0" for policy routing. */
	fib->ifindex = cfg->pppoe0_ifindex;
	rc = v6 ? fib6_lookup_cached(ctx, fib) : bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	/* Hairpin between subscribers: TC encaps it on pppoe0's egress. */
	if ((rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH) &&
	    fib->ifindex == cfg->pppoe0_ifindex)
		goto slow;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		count(REASON_NO_NEIGH);
		return XDP_PASS;
	}
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		count(REASON_MTU_EXCEEDED);
		return XDP_PASS;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		goto slow;
	/* Decided before the frame changes: a device that cannot transmit XDP
	 * frames gets the packet from the kernel (tc_access_in, pppoe0, IP
	 * forwarding) exactly as it arrived. */
	if (bpf_redirect_map(&tx_ports, fib->ifindex, XDP_PASS) != XDP_REDIRECT) {
		count(REASON_PASS_NO_XDP_XMIT);
		return XDP_PASS;
	}
	/* Charged here, where it is sure to be forwarded; what went to the
	 * kernel above is charged by tc_access_in instead. */
	if (rate_admit(info->index, RATE_RX, tot, NULL)) {
		count(REASON_RATE_RX_DROP);
		return XDP_DROP;
	}

	if (may_be_syn(ip, data_end, v6))
		mss_clamp_xdp(ctx, hdr, v6 ? mss6(info) : info->mss, v6);
	hop_dec(ip, v6);
	st->packets_up++;
	st->bytes_up += tot;

	frame = data_end - data;
	if (frame > hdr + tot && bpf_xdp_adjust_tail(ctx, -(int)(frame - hdr - tot)))
		goto err;
	if (bpf_xdp_adjust_head(ctx, (int)(hdr - ETH_HLEN)))
		goto err;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		goto err;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	eth->h_proto = v6 ? bpf_htons(ETH_P_IPV6) : bpf_htons(ETH_P_IP);
	count(REASON_FAST_UP);
	return XDP_REDIRECT; /* to tx_ports[fib->ifindex], chosen above */
slow:
	count(REASON_PASS_SLOW);
	return XDP_PASS;
err:
	count(REASON_ERROR);
	return XDP_DROP;
}

/* down_forward is the downstream fast path's tail, IPv4 (xdp_uplink_in)
 * and IPv6 (xdp_down6) alike, for a valid packet of tot bytes to a server
 * session, its IP header at ETH_HLEN: MTU, hop limit, an MP session's
 * divert, the rate limit, MSS clamp, encap and the redirect. */
static __always_inline int down_forward(struct xdp_md *ctx, void *ip, __u32 tot, const int v6,
					struct session_hot *info, struct session_counters *st)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u16 ppp = v6 ? PPP_IPV6_ : PPP_IP_;
	__u32 frame, push;

	/* pppoe0's MTU (or the route's on it) makes the kernel fragment or
	 * send Fragmentation Needed / Packet Too Big (RFC 8201); an MP
	 * session's peer takes it in fragments (mp.h). */
	if (tot > info->mtu && !(info->flags & SESSION_F_MP)) {
		count(REASON_MTU_EXCEEDED);
		return XDP_PASS;
	}
	if (hop_limit_of(ip, v6) <= 1) {
		count(REASON_TTL_EXCEEDED);
		return XDP_PASS;
	}
	if (tot > info->mtu) {
		hop_dec(ip, v6);
		return mp_divert_xdp(ctx, info, st, tot, ppp);
	}
	/* As upstream: the kernel forwards to pppoe0 and tc_pppoe0_out
	 * encapsulates when the access device cannot transmit XDP frames. */
	if (bpf_redirect_map(&tx_ports, info->ifindex, XDP_PASS) != XDP_REDIRECT) {
		count(REASON_PASS_NO_XDP_XMIT);
		return XDP_PASS;
	}
	switch (rate_admit(info->index, RATE_TX, tot, NULL)) {
	case RATE_PASS:
		break;
	case RATE_TO_TC:
		count(REASON_PASS_SHAPE);
		return XDP_PASS;
	default:
		count(REASON_RATE_TX_DROP);
		return XDP_DROP;
	}
	if (may_be_syn(ip, data_end, v6))
		mss_clamp_xdp(ctx, ETH_HLEN, v6 ? mss6(info) : info->mss, v6);
	hop_dec(ip, v6);

	frame = data_end - data;
	if (frame > ETH_HLEN + tot && bpf_xdp_adjust_tail(ctx, -(int)(frame - ETH_HLEN - tot)))
		goto err;
	push = encap_len(info);
	if (bpf_xdp_adjust_head(ctx, -(int)push))
		goto err;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (write_encap(data, data_end, info, tot, ppp))
		goto err;
	st->packets_down++;
	st->bytes_down += tot;
	count(REASON_FAST_DOWN);
	return XDP_REDIRECT; /* to tx_ports[info->ifindex], chosen above */
err:
	count(REASON_ERROR);
	return XDP_DROP;
}

/* The VLAN tag a device took out of the frame (rx VLAN offload), from the
 * driver's receive metadata. Only a program bound to the device (loaded
 * with its ifindex and BPF_F_XDP_DEV_BOUND_ONLY) may call it. */
extern int bpf_xdp_metadata_rx_vlan_tag(const struct xdp_md *ctx, __be16 *vlan_proto,
					__u16 *vlan_tci) __ksym;

/* access_in is xdp_access_in; with hwvlan, the frame's outer VLAN tag may
 * be in the receive metadata instead of the frame (see
 * xdp_access_in_hwvlan). */
static __always_inline int access_in(struct xdp_md *ctx, const int hwvlan)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end, .start = data, .len = data_end - data };
	struct bpf_fib_lookup fib = {};
	struct up u = {};
	struct iphdr *iph;
	__u32 tot;
	int cls;

	if (hwvlan) {
		__be16 proto;
		__u16 tci;

		/* The stripped tag was the outermost: tags left in the frame
		 * follow it, as in tc_access_in with skb->vlan_*. A priority
		 * tag (VLAN id 0) places the frame in no VLAN (parse_l2). */
		if (!bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci) && (tci & 0x0fff)) {
			u.l2.tpid[0] = bpf_ntohs(proto);
			u.l2.vid[0] = tci & 0x0fff;
			u.l2.nvlan = 1;
		}
	}
	cls = classify_up(&c, ctx->ingress_ifindex, &u);
	switch (cls) {
	case UP_MALFORMED:
		count(REASON_MALFORMED);
		return XDP_DROP;
	case UP_DISCOVERY:
		if (!disc_admit(&c, ctx->ingress_ifindex, &u.l2))
			return XDP_DROP;
		count(REASON_PASS_DISCOVERY);
		return XDP_PASS;
	case UP_OTHER:
		count(REASON_PASS_OTHER);
		return XDP_PASS;
	case UP_CONTROL:
		count(REASON_PASS_CONTROL);
		return XDP_PASS;
	case UP_MP:
		count(REASON_MP_PASS);
		return XDP_PASS;
	case UP_UNKNOWN:
		count(REASON_UNKNOWN_SESSION);
		return XDP_PASS;
	case UP_SPOOFED:
		count(REASON_SPOOFED);
		return XDP_DROP;
	case UP_V6_LOCAL:
		/* Unwrapped as all XDP passes on (mp_normalize_xdp): the
		 * control plane takes RS and DHCPv6 as plain PPPoE frames. */
		if (u.mp) {
			void *ip;

			if (mp_normalize_xdp(ctx, u.l2.len, u.mp, &u.ph, &ip))
				goto err;
		}
		count(REASON_PASS_CONTROL);
		return XDP_PASS;
	case UP_IPV4:
	case UP_IPV6:
		break;
	default:
		count(REASON_ERROR);
		return XDP_DROP;
	}
	if (u.mp) {
		void *ip;

		/* The rewrite invalidates every packet pointer, u's included:
		 * the IP header is found again in the new frame, and which
		 * version it is comes from cls, not from the stale pointers. */
		if (mp_normalize_xdp(ctx, u.l2.len, u.mp, &u.ph, &ip))
			goto err;
		u.iph = NULL;
		u.ip6 = NULL;
		if (cls == UP_IPV6)
			u.ip6 = ip;
		else
			u.iph = ip;
		u.mp = 0;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
	}
	/* Client sessions end in a netdev: TC decaps them. */
	if (u.info->flags & SESSION_F_CLIENT)
		goto slow;
	if (cls == UP_IPV6)
		return xdp_up6(ctx, u.l2.len + sizeof(struct pppoe_hdr_) + 2, u.ip6, u.info, u.st);
	if (!u.iph)
		goto slow;

	iph = u.iph;
	if (!iph || (void *)(iph + 1) > data_end || iph->ihl != 5)
		goto slow;
	if (!ipv4_csum_ok(iph)) {
		u.st->drops++;
		count(REASON_MALFORMED);
		return XDP_DROP;
	}
	if (iph->ttl <= 1) {
		count(REASON_TTL_EXCEEDED);
		return XDP_PASS;
	}
	tot = bpf_ntohs(iph->tot_len);
	fib.family = AF_INET;
	fib.tos = iph->tos;
	fib.l4_protocol = iph->protocol;
	fib.tot_len = tot;
	fib.ipv4_src = iph->saddr;
	fib.ipv4_dst = iph->daddr;
	return up_forward(ctx, &fib, iph, (void *)iph - data, tot, 0, u.info, u.st);

slow:
	count(REASON_PASS_SLOW);
	return XDP_PASS;
err:
	count(REASON_ERROR);
	return XDP_DROP;
}

SEC("xdp")
int xdp_access_in(struct xdp_md *ctx)
{
	return access_in(ctx, 0);
}

/* xdp_access_in_hwvlan is xdp_access_in for a device whose driver hands
 * XDP the VLAN tag it stripped (rx VLAN offload) as receive metadata:
 * without it such a device's VLAN and QinQ sessions would look untagged
 * here and miss the fast path. It is loaded once per such device, bound to
 * it (maps/hwvlan.go); everything else about it is xdp_access_in. */
SEC("xdp")
int xdp_access_in_hwvlan(struct xdp_md *ctx)
{
	return access_in(ctx, 1);
}

/* Receive spreading (--rx-spread). A NIC spreads frames over its receive
 * queues by a hash of their IP headers, which it cannot find behind PPPoE,
 * so all subscribers' upstream traffic arrives on one queue and one CPU.
 * xdp_access_spread runs there instead of xdp_access_in: it reads just
 * enough of a session data frame to hash its session and inner flow and
 * hands it to one of the rx_spread_cpus CPUs through the rx_cpus CPU map, whose
 * program there, xdp_access_cpu, is xdp_access_in. A flow always hashes to
 * the same CPU, and a CPU map queue is first in, first out, so no flow is
 * reordered. Everything else (discovery, PPP control, other protocols) is
 * handled where it arrived, as without spreading. */

/* spread_hash hashes a PPPoE session data frame's session (source MAC,
 * VLANs, session id) and, for IPv4, its flow (addresses, protocol, and
 * TCP/UDP ports unless the packet is a fragment: a fragment carries no
 * ports, so a fragmented datagram's pieces all hash alike); -1 for any
 * other frame. The frame's length fields are left to the full program. */
static __always_inline __s64 spread_hash(struct cursor *c, struct l2 *l2)
{
	struct pppoe_hdr_ *ph;
	struct iphdr *iph;
	const __u16 *mac;
	__u32 h;
	int proto, ppp;

	proto = parse_l2(c, l2);
	if (proto != bpf_htons(ETH_P_PPP_SES_))
		return -1;
	ppp = parse_pppoe_session(c, &ph);
	if (ppp != PPP_IP_ && ppp != PPP_IPV6_)
		return -1;
	mac = (const __u16 *)l2->eth->h_source;
	h = (mac[0] | (__u32)mac[1] << 16) * 0x9e3779b1u;
	h ^= (mac[2] | (__u32)ph->session_id << 16) * 0x85ebca77u;
	h ^= (l2->vid[0] | (__u32)l2->vid[1] << 16) * 0xc2b2ae3du;
	iph = c->pos;
	if (ppp == PPP_IP_ && (void *)(iph + 1) <= c->end && iph->ihl == 5) {
		h ^= iph->saddr * 0x27d4eb2fu;
		h ^= iph->daddr * 0x165667b1u;
		h ^= iph->protocol;
		if ((iph->protocol == IPPROTO_TCP || iph->protocol == IPPROTO_UDP) &&
		    !(iph->frag_off & bpf_htons(0x3fff))) {
			__u32 *ports = (void *)(iph + 1);

			if ((void *)(ports + 1) <= c->end)
				h ^= *ports * 0x9e3779b1u;
		}
	}
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

static __always_inline int access_spread(struct xdp_md *ctx, const int hwvlan)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end, .start = data, .len = data_end - data };
	struct l2 l2 = {};
	struct rx_spread *rs;
	__u32 zero = 0, cpu, k;
	__s64 h;

	if (hwvlan) {
		__be16 proto;
		__u16 tci;

		/* A tag the device took out of the frame travels with the
		 * frame only here, not through the CPU map: such frames are
		 * handled on this CPU. */
		if (!bpf_xdp_metadata_rx_vlan_tag(ctx, &proto, &tci) && (tci & 0x0fff))
			return access_in(ctx, 1);
	}
	rs = bpf_map_lookup_elem(&rx_spread_cpus, &zero);
	if (!rs || !rs->n || rs->n > RX_SPREAD_MAX)
		goto here;
	h = spread_hash(&c, &l2);
	if (h < 0)
		goto here;
	/* h * n / 2^32 picks one of n without a division. */
	k = ((__u64)(__u32)h * rs->n) >> 32;
	if (k >= RX_SPREAD_MAX)
		goto here;
	cpu = rs->cpu[k];
	/* A CPU user space has not (or no longer) set up: handled here. */
	if (bpf_redirect_map(&rx_cpus, cpu, XDP_PASS) == XDP_REDIRECT)
		return XDP_REDIRECT;
here:
	/* One call site: each inlined copy of access_in is verified again. */
	return access_in(ctx, hwvlan);
}

SEC("xdp")
int xdp_access_spread(struct xdp_md *ctx)
{
	return access_spread(ctx, 0);
}

/* xdp_access_spread_hwvlan is xdp_access_spread for a device that hands
 * XDP the VLAN tag it stripped (see xdp_access_in_hwvlan). */
SEC("xdp")
int xdp_access_spread_hwvlan(struct xdp_md *ctx)
{
	return access_spread(ctx, 1);
}

/* xdp_access_cpu is xdp_access_in on the CPU a frame was handed to. Its
 * XDP_PASS makes the skb there, which goes through tc_access_in as
 * without spreading. */
SEC("xdp/cpumap")
int xdp_access_cpu(struct xdp_md *ctx)
{
	return access_in(ctx, 0);
}

SEC("xdp")
int xdp_uplink_in(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = data_end, .start = data, .len = data_end - data };
	struct ethhdr *eth = data;
	struct session_hot *info;
	struct session_counters *st;
	struct uplink_mac *up;
	struct iphdr *iph;
	__u32 tot, slot;

	if ((void *)(eth + 1) > data_end ||
	    (eth->h_proto != bpf_htons(ETH_P_IP) && eth->h_proto != bpf_htons(ETH_P_IPV6)))
		return XDP_PASS;
	/* Link-layer broadcast or multicast is never forwarded (RFC 1812
	 * §5.3.4), nor a frame for another station; the kernel decides what
	 * they are. */
	if (eth->h_dest[0] & 1)
		return XDP_PASS;
	slot = ctx->ingress_ifindex % UPLINK_SLOTS;
	up = bpf_map_lookup_elem(&uplink_macs, &slot);
	if (up && up->ifindex == ctx->ingress_ifindex && !mac_eq(eth->h_dest, up->mac))
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return xdp_down6(ctx);
	c.pos = eth + 1;
	if (parse_ipv4(&c, data_end - c.pos, &iph) < 0)
		return XDP_PASS;
	/* Only subscribers' packets pay more than this one lookup. */
	if (!subscriber_v4(iph->daddr, &info, &st))
		return XDP_PASS;

	tot = bpf_ntohs(iph->tot_len);
	if (iph->ihl != 5) {
		count(REASON_PASS_SLOW);
		return XDP_PASS;
	}
	if (!ipv4_csum_ok(iph)) {
		st->drops++;
		count(REASON_MALFORMED);
		return XDP_DROP;
	}
	return down_forward(ctx, iph, tot, 0, info, st);
}

/* Room TC pulls into the linear area: tags, PPPoE, PPP, IPv4 with options,
 * TCP with options. */
#define TC_PULL_LEN (ETH_HLEN + 8 + 8 + 60 + 60)

/* tc_cursor pulls the headers into the linear area and returns a cursor
 * over it (len: the whole packet, which may go past end). */
static __always_inline struct cursor tc_cursor(struct __sk_buff *skb)
{
	__u32 len = skb->len < TC_PULL_LEN ? skb->len : TC_PULL_LEN;
	struct cursor c;

	bpf_skb_pull_data(skb, len);
	c.pos = c.start = (void *)(long)skb->data;
	c.end = (void *)(long)skb->data_end;
	c.len = skb->len;
	return c;
}

/* tc_strip_to_ip turns [Ethernet][tags][PPPoE][PPP][IP] into [Ethernet][IP]
 * with no VLAN tag left in the skb metadata either. bpf_skb_adjust_room
 * refuses non-IP skbs, so the 8 PPPoE+PPP bytes are rewritten as two VLAN
 * tags whose inner ethertype is the IP version, and the VLAN helpers remove
 * them: two pushes make the skb protocol a VLAN one (the second push moves
 * the first into the packet), then pops drain packet and metadata tags until
 * the protocol is IP. Tags the frame really carried are popped first. */
static __always_inline int tc_strip_to_ip(struct __sk_buff *skb, __be16 ethertype)
{
	__u8 fake[10] = { 0x81, 0x00, 0, 0, 0x81, 0x00, 0, 0 };
	int i;

	for (i = 0; i < MAX_VLANS + 1; i++) {
		if (!skb->vlan_present && !is_vlan(skb->protocol))
			break;
		if (bpf_skb_vlan_pop(skb))
			return -1;
	}
	if (skb->vlan_present || is_vlan(skb->protocol))
		return -1;
	__builtin_memcpy(&fake[8], &ethertype, 2);
	if (bpf_skb_store_bytes(skb, 2 * ETH_ALEN, fake, sizeof(fake), BPF_F_RECOMPUTE_CSUM))
		return -1;
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 0) ||
	    bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 0))
		return -1;
	for (i = 0; i < 4; i++) {
		if (!skb->vlan_present && !is_vlan(skb->protocol))
			break;
		if (bpf_skb_vlan_pop(skb))
			return -1;
	}
	if (skb->vlan_present || skb->protocol != ethertype)
		return -1;
	return 0;
}

SEC("tc")
int tc_access_in(struct __sk_buff *skb)
{
	struct cursor c;
	struct dp_config *cfg;
	struct up u = {};
	__be16 ethertype;
	__u32 zero = 0, len, target, reason;
	__u8 *target_mac;

	c = tc_cursor(skb);
	/* The kernel moved the outer tag into the skb before TC ingress; a
	 * priority tag (VLAN id 0) places the frame in no VLAN (parse_l2). */
	if (skb->vlan_present && (skb->vlan_tci & 0x0fff)) {
		u.l2.tpid[0] = bpf_ntohs(skb->vlan_proto);
		u.l2.vid[0] = skb->vlan_tci & 0x0fff;
		u.l2.nvlan = 1;
	}
	switch (classify_up(&c, skb->ifindex, &u)) {
	case UP_MALFORMED:
		count(REASON_MALFORMED);
		return TC_ACT_SHOT;
	case UP_SPOOFED:
		count(REASON_SPOOFED);
		return TC_ACT_SHOT;
	case UP_IPV4:
		ethertype = bpf_htons(ETH_P_IP);
		break;
	case UP_IPV6:
		ethertype = bpf_htons(ETH_P_IPV6);
		break;
	default:
		/* Discovery, control, unknown sessions, other protocols: user
		 * space's (packet sockets) or the kernel's, never forwarded. */
		return TC_ACT_OK;
	}
	if (u.info->flags & SESSION_F_CLIENT) {
		/* Into the client netdev, as pppd's ppp unit would receive it. */
		struct session_attrs *a = bpf_map_lookup_elem(&session_info, &u.info->index);

		if (!a)
			goto err;
		target = a->netdev_ifindex;
		target_mac = a->netdev_mac;
		reason = REASON_CLIENT_IN;
	} else {
		cfg = bpf_map_lookup_elem(&config, &zero);
		if (!cfg || !cfg->pppoe0_ifindex) {
			count(REASON_ERROR);
			return TC_ACT_SHOT;
		}
		target = cfg->pppoe0_ifindex;
		target_mac = cfg->pppoe0_mac;
		reason = REASON_SLOW_UP;
	}
	if (!target)
		goto err;
	if (u.iph) {
		if ((void *)(u.iph + 1) > c.end)
			return TC_ACT_SHOT;
		len = bpf_ntohs(u.iph->tot_len);
		mss_clamp_skb(skb, (void *)u.iph - c.start, u.info->mss, 0);
	} else if (u.ip6) {
		if ((void *)(u.ip6 + 1) > c.end)
			return TC_ACT_SHOT;
		len = bpf_ntohs(u.ip6->payload_len) + sizeof(struct ip6_hdr_);
		mss_clamp_skb(skb, (void *)u.ip6 - c.start, mss6(u.info), 1);
	} else {
		len = bpf_ntohs(u.ph->length) - 2 - u.mp;
	}
	if (rate_admit(u.info->index, RATE_RX, len, NULL)) {
		count(REASON_RATE_RX_DROP);
		return TC_ACT_SHOT;
	}
	/* Ethernet padding after the PPPoE payload must not reach IP. */
	if (skb->len > u.l2.len + sizeof(struct pppoe_hdr_) + 2 + u.mp + len &&
	    bpf_skb_change_tail(skb, u.l2.len + sizeof(struct pppoe_hdr_) + 2 + u.mp + len, 0))
		goto err;
	u.st->packets_up++;
	u.st->bytes_up += len;
	if (tc_strip_to_ip(skb, ethertype))
		goto err;
	/* An unwrapped MP header and inner protocol sit between Ethernet and
	 * IP now; the skb is IP, so adjust_room may take them out. */
	if (u.mp && bpf_skb_adjust_room(skb, -(__s32)u.mp, BPF_ADJ_ROOM_MAC, 0))
		goto err;
	/* The device takes it as addressed to itself (PACKET_HOST). */
	if (bpf_skb_store_bytes(skb, 0, target_mac, ETH_ALEN, 0))
		goto err;
	count(reason);
	return bpf_redirect(target, BPF_F_INGRESS);
err:
	count(REASON_ERROR);
	return TC_ACT_SHOT;
}

/* encap_out puts a packet of tot bytes (IPv4 at iph, or IPv6 when iph is
 * NULL) into a session and sends it to the Ethernet interface.
 * A GSO skb cannot be encapsulated (each segment would need its own PPPoE
 * LENGTH) and must not occur: the programs run after the veth's xmit path
 * segmented it (gso_max_segs 1). Larger than the session MTU cannot occur
 * either when the route to the peer carries that MTU (maps.AddHostRoute):
 * the kernel fragments or sends ICMP Fragmentation Needed before this.
 * Both are counted and dropped rather than sent malformed; an MP session
 * (whose route carries the peer's MRRU) has a larger one fragmented by
 * user space instead (mp.h). */
static __always_inline int encap_out(struct __sk_buff *skb, struct iphdr *iph, void *end,
				     struct session_hot *info, struct session_counters *st,
				     __u32 tot, __u16 ppp, __u32 reason)
{
	__u64 edt = 0;
	__u32 cls;

	if (skb->gso_segs > 1) {
		st->drops++;
		count(REASON_GSO);
		return TC_ACT_SHOT;
	}
	if (tot > info->mtu) {
		if (info->flags & SESSION_F_MP)
			return mp_divert_skb(skb, info, st, tot, ppp);
		st->drops++;
		count(REASON_MTU_EXCEEDED);
		return TC_ACT_SHOT;
	}
	/* A session HTB shapes: its class on the access interface holds the
	 * packet, and its queue's drops are the class's. */
	cls = rate_class(info->index, RATE_TX);
	if (cls)
		skb->priority = cls;
	else
		switch (rate_admit(info->index, RATE_TX, tot, &edt)) {
		case RATE_PASS:
			break;
		case RATE_LATE:
			count(REASON_RATE_SHAPE_DROP);
			return TC_ACT_SHOT;
		default:
			count(REASON_RATE_TX_DROP);
			return TC_ACT_SHOT;
		}
	/* The fq qdisc on the access interface holds it until then. */
	if (edt)
		bpf_skb_set_tstamp(skb, edt, BPF_SKB_TSTAMP_DELIVERY_MONO);
	if (iph)
		mss_clamp_skb(skb, ETH_HLEN, info->mss, 0);
	if (bpf_skb_adjust_room(skb, encap_len(info), BPF_ADJ_ROOM_MAC, 0))
		goto err;
	if (write_encap((void *)(long)skb->data, (void *)(long)skb->data_end, info, tot, ppp))
		goto err;
	st->packets_down++;
	st->bytes_down += tot;
	count(reason);
	return bpf_redirect(info->ifindex, 0);
err:
	count(REASON_ERROR);
	return TC_ACT_SHOT;
}

SEC("tc")
int tc_pppoe0_out(struct __sk_buff *skb)
{
	struct cursor c;
	struct ethhdr *eth;
	struct session_hot *info;
	struct session_counters *st;
	struct iphdr *iph;
	struct ip6_hdr_ *ip6;
	__u32 tot;

	c = tc_cursor(skb);
	eth = c.pos;
	if ((void *)(eth + 1) > c.end)
		goto malformed;
	c.pos = eth + 1;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		if (parse_ipv6(&c, c.len - ETH_HLEN, &ip6) < 0)
			goto malformed;
		if (!subscriber_v6(ip6->daddr, &info, &st))
			goto unknown;
		tot = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		if (tot <= info->mtu && skb->gso_segs <= 1)
			mss_clamp_skb(skb, ETH_HLEN, mss6(info), 1);
		return encap_out(skb, NULL, NULL, info, st, tot, PPP_IPV6_, REASON_SLOW_DOWN);
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		goto unknown;
	if (parse_ipv4(&c, c.len - ETH_HLEN, &iph) < 0)
		goto malformed;
	if (!subscriber_v4(iph->daddr, &info, &st))
		goto unknown;
	tot = bpf_ntohs(iph->tot_len);
	return encap_out(skb, iph, c.end, info, st, tot, PPP_IP_, REASON_SLOW_DOWN);
malformed:
	count(REASON_MALFORMED);
	return TC_ACT_SHOT;
unknown:
	count(REASON_UNKNOWN_DEST);
	return TC_ACT_SHOT;
}

/* demand counts a packet routed into a client netdev that is down, unless
 * it is the kernel's own link-local chatter (IPv6 router solicitation, MLD,
 * DAD to ff00::/8 or fe80::/10), which must not dial. */
static __always_inline int demand(struct client_dev *dev, __u8 *dst6)
{
	if (dst6 && (dst6[0] == 0xff || (dst6[0] == 0xfe && (dst6[1] & 0xc0) == 0x80)))
		return TC_ACT_SHOT;
	__sync_fetch_and_add(&dev->demand, 1);
	count(REASON_CLIENT_DEMAND);
	return TC_ACT_SHOT;
}

SEC("tc")
int tc_client_out(struct __sk_buff *skb)
{
	struct cursor c;
	struct ethhdr *eth;
	struct client_dev *dev;
	struct session_attrs *info;
	struct session_counters *st;
	struct iphdr *iph = NULL;
	struct ipv6hdr_ {
		__be32 vtc_flow;
		__be16 payload_len;
		__u8 nexthdr, hop_limit;
		__u8 saddr[16], daddr[16];
	} *ip6 = NULL;
	__u32 ifindex = skb->ifindex, tot;
	__u16 ppp;

	dev = bpf_map_lookup_elem(&client_devs, &ifindex);
	if (!dev) {
		count(REASON_UNKNOWN_DEST);
		return TC_ACT_SHOT;
	}
	c = tc_cursor(skb);
	eth = c.pos;
	if ((void *)(eth + 1) > c.end)
		goto malformed;
	c.pos = eth + 1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		if (parse_ipv4(&c, c.len - ETH_HLEN, &iph) < 0)
			goto malformed;
		tot = bpf_ntohs(iph->tot_len);
		ppp = PPP_IP_;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = c.pos;
		if ((void *)(ip6 + 1) > c.end)
			goto malformed;
		tot = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		ppp = PPP_IPV6_;
	} else {
		/* ARP and the like never leave a NOARP netdev meaningfully. */
		count(REASON_UNKNOWN_DEST);
		return TC_ACT_SHOT;
	}
	if (tot + ETH_HLEN > skb->len)
		goto malformed;
	if (!(dev->flags & CLIENT_F_UP))
		return demand(dev, ip6 ? ip6->daddr : NULL);
	info = bpf_map_lookup_elem(&session_info, &dev->session_index);
	st = stats_of(dev->session_index);
	if (!info || !st || (info->flags & (SESSION_F_ACTIVE | SESSION_F_CLIENT)) !=
				     (SESSION_F_ACTIVE | SESSION_F_CLIENT))
		return demand(dev, ip6 ? ip6->daddr : NULL);
	/* The attrs' first fields are its hot part (types.h). */
	return encap_out(skb, iph, c.end, (struct session_hot *)info, st, tot, ppp, REASON_CLIENT_OUT);
malformed:
	count(REASON_MALFORMED);
	return TC_ACT_SHOT;
}
