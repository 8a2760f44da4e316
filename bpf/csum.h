/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Incremental Internet checksum updates (RFC 1624) and the TCP option walk
 * that finds the MSS option (RFC 9293 §3.2, §3.7.1).
 */
#ifndef PPPOE_XDP_CSUM_H
#define PPPOE_XDP_CSUM_H

#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>

static __always_inline __u16 csum_fold32(__u32 c)
{
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)c;
}

/* csum_replace2 updates a checksum for one 16-bit word changing from old to
 * new: HC' = ~(~HC + ~m + m') (RFC 1624 eqn. 3). All three values are in
 * the same (network) byte order, which one's complement sums don't mind. */
static __always_inline void csum_replace2(__sum16 *sum, __be16 old, __be16 new)
{
	__u32 c = (__u16)~*sum;

	c += (__u16)~old;
	c += new;
	*sum = ~csum_fold32(c);
}

/* ipv4_csum_ok verifies the checksum of a 20-byte IPv4 header (RFC 791
 * §3.1), which a router MUST do before forwarding (RFC 1812 §5.2.2): the
 * ones' complement sum of a correct header, checksum included, is 0xffff.
 * Summing 32-bit words and folding gives the same as 16-bit words, in
 * either byte order. */
static __always_inline int ipv4_csum_ok(const struct iphdr *iph)
{
	const __u32 *w = (const __u32 *)iph;
	__u64 s = (__u64)w[0] + w[1] + w[2] + w[3] + w[4];

	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

/* ip_decrease_ttl decrements the TTL and patches the header checksum, as the
 * kernel's ip_decrease_ttl() does (TTL is the high byte of its word). */
static __always_inline void ip_decrease_ttl(struct iphdr *iph)
{
	__u32 check = iph->check;

	check += bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xffff));
	iph->ttl--;
}

#define TCPOPT_EOL_ 0
#define TCPOPT_NOP_ 1
#define TCPOPT_MSS_ 2
#define TCPOLEN_MSS_ 4
#define TCP_MAX_OPTLEN 40

/* tcp_mss_offset returns the offset from the TCP header of the MSS option's
 * 16-bit value, or -1 if the SYN carries none (or the options are broken).
 * The walk is a while loop over the offset alone, with no iteration counter:
 * the verifier can then prune states whose offset range it has seen, and
 * checks this in a few thousand instructions; a counter makes every
 * iteration a new state (842k instructions in an earlier attempt). */
static __always_inline int tcp_mss_offset(struct tcphdr *tcp, void *end)
{
	__u8 *opts = (__u8 *)(tcp + 1);
	__u32 optlen = tcp->doff * 4;
	__u32 off = 0;

	if (optlen <= sizeof(*tcp))
		return -1;
	optlen -= sizeof(*tcp);

	while (off < optlen && off < TCP_MAX_OPTLEN) {
		__u8 *p = opts + off;
		__u8 kind, len;

		if ((void *)(p + 1) > end)
			return -1;
		kind = p[0];
		if (kind == TCPOPT_EOL_)
			return -1;
		if (kind == TCPOPT_NOP_) {
			off++;
			continue;
		}
		if ((void *)(p + 2) > end)
			return -1;
		len = p[1];
		if (len < 2)
			return -1;
		if (kind == TCPOPT_MSS_) {
			if (len != TCPOLEN_MSS_ || off + TCPOLEN_MSS_ > optlen ||
			    (void *)(p + TCPOLEN_MSS_) > end)
				return -1;
			return sizeof(*tcp) + off + 2;
		}
		off += len;
	}
	return -1;
}

#endif
