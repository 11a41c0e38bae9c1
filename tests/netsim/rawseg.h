/*
 * rawseg.h - craft TCP/IPv4 frames and inject them through a pipe end, to
 * play peers that are not stacks (spoofed SYN floods, stray segments).
 */
#ifndef XTCP_TEST_RAWSEG_H
#define XTCP_TEST_RAWSEG_H

#include <stdint.h>
#include <string.h>

#include "netdev.h"

static inline uint32_t raw_sum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

static inline uint16_t raw_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline void raw_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void raw_put32(uint8_t *p, uint32_t v)
{
	raw_put16(p, (uint16_t)(v >> 16));
	raw_put16(p + 2, (uint16_t)v);
}

/*
 * Send one TCP segment from dev (which owns the source MAC) to dst_mac:
 * saddr/daddr in network order, SYN segments get MSS 1460, SACK-permitted,
 * timestamps and window scale 7 like a Linux client.
 */
static inline int raw_send(struct netdev *dev, const uint8_t dst_mac[6], uint32_t saddr,
			   uint32_t daddr, uint16_t sport, uint16_t dport, uint32_t seq,
			   uint32_t ack, uint8_t flags, uint16_t wnd)
{
	struct pkt pkt;
	uint8_t opt[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
	unsigned optlen = (flags & 0x02) ? 20 : 0;
	unsigned tcplen = 20 + optlen, len = 14 + 20 + tcplen;

	if (dev->ops->tx_alloc(dev, &pkt, len))
		return -1;
	uint8_t *f = pkt.data, *ip = f + 14, *th = ip + 20;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, dev->info.mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	raw_put16(ip + 2, (uint16_t)(20 + tcplen));
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &saddr, 4);
	memcpy(ip + 16, &daddr, 4);
	raw_put16(ip + 10, raw_fold(raw_sum(ip, 20, 0)));
	memset(th, 0, tcplen);
	raw_put16(th, sport);
	raw_put16(th + 2, dport);
	raw_put32(th + 4, seq);
	raw_put32(th + 8, ack);
	th[12] = (uint8_t)((tcplen / 4) << 4);
	th[13] = flags;
	raw_put16(th + 14, wnd);
	memcpy(th + 20, opt, optlen);
	uint32_t s = raw_sum(ip + 12, 8, 0) + 6 + tcplen;

	raw_put16(th + 16, raw_fold(raw_sum(th, tcplen, s)));
	pkt.len = len;
	dev->ops->tx_queue(dev, &pkt, 1);
	return 0;
}

#endif
