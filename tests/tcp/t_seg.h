/*
 * t_seg.h - build and parse Ethernet/IPv4/TCP and IPv6/TCP frames for the packet-script
 * tests and the fuzzer. Independent of the stack: only wire formats.
 *
 * struct t_wire is one parsed (or to-be-built) TCP segment with absolute
 * sequence numbers and every option the tests speak about. t_seg_build()
 * writes a frame with correct checksums (unless told to break them);
 * t_seg_parse() checks every length and both checksums and says why a frame
 * is not a valid TCP segment.
 */
#ifndef XTCP_T_SEG_H
#define XTCP_T_SEG_H

#include <stddef.h>
#include <stdint.h>

#define T_FIN 0x01
#define T_SYN 0x02
#define T_RST 0x04
#define T_PSH 0x08
#define T_ACK 0x10
#define T_URG 0x20
#define T_ECE 0x40
#define T_CWR 0x80

#define T_ECT0 2 /* IP ECN codepoints (RFC 3168 5) */
#define T_CE   3

#define T_MAX_SACK  4
#define T_FRAME_MAX 2048

struct t_wire {
	uint8_t src_mac[6], dst_mac[6];
	uint32_t src_ip, dst_ip; /* network order */
	int v6;			 /* an IPv6 frame: the addresses are src_ip6/dst_ip6 */
	uint8_t src_ip6[16], dst_ip6[16];
	uint32_t flow;	       /* IPv6 flow label */
	uint8_t tclass;	       /* IPv6 traffic class without the ECN bits */
	uint16_t sport, dport; /* host order */
	uint32_t seq, ack;     /* absolute */
	uint8_t flags;
	uint16_t win; /* raw 16-bit field */
	uint16_t urg;
	uint8_t ttl;
	uint16_t ip_id;
	int df;	     /* IP don't-fragment bit */
	uint8_t ecn; /* IP ECN field (RFC 3168): 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE */
	/* options: mss/ws/sackok/ts presence as below */
	int mss;    /* 0 = absent */
	int ws;	    /* -1 = absent */
	int sackok; /* 0/1 */
	int ts;	    /* 0/1 */
	uint32_t ts_val, ts_ecr;
	int nsack;
	uint32_t sack[T_MAX_SACK][2]; /* absolute left, right edges */
	const uint8_t *data;	      /* payload (parse: points into the frame) */
	uint16_t len;		      /* payload bytes */
	/* build only: ways to make the frame bad on purpose */
	const uint8_t *raw_opt; /* replaces the option bytes when set */
	uint8_t raw_optlen;
	int bad_tcp_csum, bad_ip_csum;
	/* the checksum field holds the pseudo-header sum only (CHECKSUM_PARTIAL) */
	int partial_tcp_csum;
	int doff_delta;	  /* added to the computed TCP data offset (words) */
	int ip_len_delta; /* added to the computed IP total length */
	int ihl_delta;	  /* added to the IP header length field (words) */
	int trunc;	  /* bytes cut from the end of the frame */
	/* IPv6 build only: raw extension headers between the IPv6 and TCP headers (their own
	 * next-header bytes must chain to 6); ext6_nh is the IPv6 header's next header */
	const uint8_t *ext6;
	uint8_t ext6_len, ext6_nh;
};

/* Write w as a frame into buf (T_FRAME_MAX); returns its length. */
size_t t_seg_build(const struct t_wire *w, uint8_t *buf);
/*
 * Parse a frame. Returns 0 with w filled, or a negative code; *why says
 * what is wrong (not IPv4/TCP, bad length, bad checksum, bad option).
 */
int t_seg_parse(const uint8_t *frame, size_t len, struct t_wire *w, const char **why);
/* Internet checksum helpers (RFC 1071), for tests that fix frames up. */
uint16_t t_csum(const void *data, size_t len, uint32_t sum);
/* Recompute the IPv4 and TCP checksums of a frame in place (if it parses that far). */
void t_seg_fix_csum(uint8_t *frame, size_t len);
/*
 * Do what a device does with a CHECKSUM_PARTIAL frame: 0 and the TCP checksum
 * finished in place when the field holds exactly the pseudo-header sum
 * (Linux's form), -1 (frame untouched) otherwise.
 */
int t_seg_finish_partial(uint8_t *frame, size_t len);
/* One-line description of w (flags, seq/ack, win, len, options) into buf. */
const char *t_seg_str(const struct t_wire *w, char *buf, size_t size);

#endif
