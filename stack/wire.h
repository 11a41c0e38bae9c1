/*
 * wire.h - on-the-wire layouts of Ethernet, IPv4 and TCP, and byte order.
 *
 * Headers are read and written through these packed structs over frame
 * memory; fields are in network byte order. No allocation, no state.
 */
#ifndef XTCP_WIRE_H
#define XTCP_WIRE_H

#include <stdint.h>
#include <string.h>

#define ETH_HLEN       14
#define ETH_P_IPV4     0x0800
#define IP4_HLEN       20
#define TCP_HLEN       20
#define HDRS_LEN       (ETH_HLEN + IP4_HLEN + TCP_HLEN)
#define IPPROTO_TCP_NR 6
#define IP4_DF	       0x4000
#define IP4_MF	       0x2000
#define IP4_OFFMASK    0x1fff
#define IP4_TTL	       64
#define ETH_P_IPV6     0x86dd
#define IP6_HLEN       40
#define IP6_HOPLIMIT   64 /* Linux ip6_default_hop_limit (hop_limit sysctl) */

/* TCP header flags */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20
#define TH_ECE 0x40
#define TH_CWR 0x80

/* The ECN field, the low two bits of the IPv4 TOS byte (RFC 3168 5) */
#define IP_ECN_MASK 3
#define IP_ECN_ECT0 2
#define IP_ECN_CE   3

/* TCP option kinds (RFC 9293, 7323, 2018) */
#define TCPOPT_EOL	 0
#define TCPOPT_NOP	 1
#define TCPOPT_MSS	 2
#define TCPOPT_WS	 3
#define TCPOPT_SACK_PERM 4
#define TCPOPT_SACK	 5
#define TCPOPT_TS	 8
#define TCPOPT_FASTOPEN	 34 /* RFC 7413 */

struct eth_hdr {
	uint8_t dst[6];
	uint8_t src[6];
	uint16_t type;
} __attribute__((packed));

struct ip4_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off;
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t saddr;
	uint32_t daddr;
} __attribute__((packed));

struct ipv6_hdr {
	uint32_t ver_tc_flow; /* version 4 bits, traffic class 8, flow label 20 */
	uint16_t plen;	      /* payload length, extension headers included */
	uint8_t nexthdr;
	uint8_t hlim;
	uint8_t saddr[16];
	uint8_t daddr[16];
} __attribute__((packed));

struct tcp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t doff_res; /* data offset in the high nibble */
	uint8_t flags;
	uint16_t wnd;
	uint16_t csum;
	uint16_t urp;
} __attribute__((packed));

/* ICMP (RFC 792): the errors the stack takes, and the header before the quote */
#define IPPROTO_ICMP_NR	   1
#define ICMP_DEST_UNREACH  3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_FRAG_NEEDED   4 /* code of ICMP_DEST_UNREACH; next-hop MTU in mtu (RFC 1191) */
#define ICMP_HLEN	   8

/* ICMPv6 (RFC 4443): the errors the stack takes; the header before the quote is 8 bytes too */
#define IPPROTO_ICMPV6_NR   58
#define ICMP6_DEST_UNREACH  1
#define ICMP6_PKT_TOOBIG    2 /* the 32-bit MTU follows type, code, checksum (RFC 4443 3.2) */
#define ICMP6_TIME_EXCEEDED 3
#define ICMP6_PARAMPROB	    4
#define IP6_MIN_MTU	    1280 /* RFC 8200 5: every link carries this much */

struct icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t csum;
	uint16_t unused;
	uint16_t mtu; /* next-hop MTU of a "fragmentation needed" (RFC 1191 4) */
} __attribute__((packed));

static inline uint16_t wire_bswap16(uint16_t v)
{
	return (uint16_t)((v >> 8) | (v << 8));
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be16(v) wire_bswap16((uint16_t)(v))
#define be32(v) __builtin_bswap32((uint32_t)(v))
#else
#define be16(v) ((uint16_t)(v))
#define be32(v) ((uint32_t)(v))
#endif

static inline uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32(v);
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = be32(v);
	memcpy(p, &v, 4);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

#endif
