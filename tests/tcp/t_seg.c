/*
 * t_seg.c - Ethernet/IPv4/TCP and IPv6/TCP frame builder and strict parser for tests.
 *
 * Map:
 *   t_seg_build()    struct t_wire -> frame bytes (options laid out as Linux
 *                    does: MSS, SACK-permitted, timestamps, window scale,
 *                    SACK blocks), checksums computed, optional sabotage.
 *   t_seg_parse()    frame bytes -> struct t_wire, every length checked,
 *                    both checksums verified, options parsed strictly.
 *   t_seg_fix_csum() recompute checksums in place (the fuzzer uses it).
 *   t_seg_str()      human-readable one-liner for failure messages.
 * Memory: t_seg_parse() leaves w->data pointing into the caller's frame.
 */
#include "t_seg.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define ETH_HLEN 14
#define IP_HLEN	 20
#define TCP_HLEN 20

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint16_t t_csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the TCP pseudo header (RFC 9293 3.1; RFC 8200 8.1 for IPv6), not yet folded. */
static uint32_t pseudo_sum(const uint8_t *ip, uint16_t tcp_len)
{
	uint32_t sum = 0;
	int i;

	if ((ip[0] >> 4) == 6) {
		for (i = 8; i < 40; i += 2)
			sum += get16(ip + i);
		return sum + 6 + tcp_len;
	}
	for (i = 12; i < 20; i += 2)
		sum += get16(ip + i);
	return sum + 6 + tcp_len;
}

/*
 * Where the TCP segment of an IPv4 or IPv6 frame is: 0 with *tcp, *tcp_len,
 * or -1 (not IP, lengths wrong, not TCP directly after the IPv6 header: our
 * stack never sends extension headers).
 */
static int l4_find(const uint8_t *f, size_t len, const uint8_t **tcp, size_t *tcp_len)
{
	const uint8_t *ip = f + ETH_HLEN;

	if (len < ETH_HLEN + 40 || get16(f + 12) != 0x86dd || (ip[0] >> 4) != 6)
		return -1;
	size_t plen = get16(ip + 4);

	if (ip[6] != 6 || ETH_HLEN + 40 + plen > len)
		return -1;
	*tcp = ip + 40;
	*tcp_len = plen;
	return 0;
}

static size_t build_opts(const struct t_wire *w, uint8_t *o)
{
	size_t n = 0;
	int i;

	if (w->raw_opt) {
		memcpy(o, w->raw_opt, w->raw_optlen);
		return w->raw_optlen;
	}
	if (w->mss) {
		o[n++] = 2;
		o[n++] = 4;
		put16(o + n, (uint16_t)w->mss);
		n += 2;
	}
	if (w->sackok && w->ts) {
		o[n++] = 4;
		o[n++] = 2;
	} else if (w->sackok) {
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 4;
		o[n++] = 2;
	} else if (w->ts) {
		o[n++] = 1;
		o[n++] = 1;
	}
	if (w->ts) {
		o[n++] = 8;
		o[n++] = 10;
		put32(o + n, w->ts_val);
		put32(o + n + 4, w->ts_ecr);
		n += 8;
	}
	if (w->ws >= 0) {
		o[n++] = 1;
		o[n++] = 3;
		o[n++] = 3;
		o[n++] = (uint8_t)w->ws;
	}
	if (w->nsack > 0) {
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 5;
		o[n++] = (uint8_t)(2 + 8 * w->nsack);
		for (i = 0; i < w->nsack; i++) {
			put32(o + n, w->sack[i][0]);
			put32(o + n + 4, w->sack[i][1]);
			n += 8;
		}
	}
	while (n & 3)
		o[n++] = 0; /* EOL padding */
	return n;
}

/* The TCP header (options already at th + TCP_HLEN) and the payload; checksum 0. */
static void tcp_put(const struct t_wire *w, uint8_t *th, size_t optlen)
{
	put16(th, w->sport);
	put16(th + 2, w->dport);
	put32(th + 4, w->seq);
	put32(th + 8, w->ack);
	th[12] = (uint8_t)((((TCP_HLEN + optlen) / 4 + w->doff_delta) & 0xf) << 4);
	th[13] = w->flags;
	put16(th + 14, w->win);
	put16(th + 16, 0);
	put16(th + 18, w->urg);
	if (w->len)
		memcpy(th + TCP_HLEN + optlen, w->data, w->len);
}

/* The TCP checksum over tcp_len bytes with the pseudo-header's sum, spoilt as w asks. */
static void tcp_csum_put(const struct t_wire *w, uint8_t *th, size_t tcp_len, uint32_t pseudo)
{
	uint16_t c = t_csum(th, tcp_len, pseudo);

	if (w->partial_tcp_csum) /* the sum's fold, not inverted: ~t_csum() of nothing */
		c = (uint16_t)~t_csum(th, 0, pseudo);
	put16(th + 16, w->bad_tcp_csum ? (uint16_t)(c ^ 0x0101) : c);
}

static size_t build6(const struct t_wire *w, uint8_t *buf)
{
	uint8_t *ip = buf + ETH_HLEN, *th = ip + 40 + w->ext6_len;
	size_t optlen = build_opts(w, th + TCP_HLEN);
	size_t tcp_len = TCP_HLEN + optlen + w->len;
	size_t frame_len = ETH_HLEN + 40 + w->ext6_len + tcp_len;
	uint32_t sum = 0;
	int i;

	memcpy(buf, w->dst_mac, 6);
	memcpy(buf + 6, w->src_mac, 6);
	put16(buf + 12, 0x86dd);
	put32(ip,
	      6u << 28 | (uint32_t)((w->tclass & ~3) | (w->ecn & 3)) << 20 | (w->flow & 0xfffff));
	put16(ip + 4, (uint16_t)(w->ext6_len + tcp_len + w->ip_len_delta));
	ip[6] = w->ext6_len ? w->ext6_nh : 6;
	ip[7] = w->ttl ? w->ttl : 64;
	memcpy(ip + 8, w->src_ip6, 16);
	memcpy(ip + 24, w->dst_ip6, 16);
	if (w->ext6_len)
		memcpy(ip + 40, w->ext6, w->ext6_len);

	tcp_put(w, th, optlen);
	for (i = 8; i < 40; i += 2)
		sum += get16(ip + i);
	sum += 6 + (uint32_t)tcp_len;
	tcp_csum_put(w, th, tcp_len, sum);
	return frame_len > (size_t)w->trunc ? frame_len - (size_t)w->trunc : 0;
}

size_t t_seg_build(const struct t_wire *w, uint8_t *buf)
{
	if (w->v6)
		return build6(w, buf);
	uint8_t *ip = buf + ETH_HLEN, *th = ip + IP_HLEN;
	size_t optlen = build_opts(w, th + TCP_HLEN);
	size_t tcp_len = TCP_HLEN + optlen + w->len;
	size_t frame_len = ETH_HLEN + IP_HLEN + tcp_len;
	uint16_t c;

	memcpy(buf, w->dst_mac, 6);
	memcpy(buf + 6, w->src_mac, 6);
	put16(buf + 12, 0x0800);

	ip[0] = (uint8_t)(0x40 | ((5 + w->ihl_delta) & 0xf));
	ip[1] = w->ecn & 3;
	put16(ip + 2, (uint16_t)(IP_HLEN + tcp_len + w->ip_len_delta));
	put16(ip + 4, w->ip_id);
	put16(ip + 6, w->df ? 0x4000 : 0);
	ip[8] = w->ttl ? w->ttl : 64;
	ip[9] = 6;
	put16(ip + 10, 0);
	memcpy(ip + 12, &w->src_ip, 4);
	memcpy(ip + 16, &w->dst_ip, 4);
	c = t_csum(ip, IP_HLEN, 0);
	put16(ip + 10, w->bad_ip_csum ? (uint16_t)(c ^ 0x5a5a) : c);

	tcp_put(w, th, optlen);
	tcp_csum_put(w, th, tcp_len, pseudo_sum(ip, (uint16_t)tcp_len));
	return frame_len > (size_t)w->trunc ? frame_len - (size_t)w->trunc : 0;
}

static int parse_opts(const uint8_t *o, size_t n, struct t_wire *w, const char **why)
{
	size_t i = 0;
	int k;

	while (i < n) {
		uint8_t kind = o[i], len;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || (len = o[i + 1]) < 2 || i + len > n) {
			*why = "option length";
			return -1;
		}
		switch (kind) {
		case 2:
			if (len != 4)
				goto bad;
			w->mss = get16(o + i + 2);
			break;
		case 3:
			if (len != 3)
				goto bad;
			w->ws = o[i + 2];
			break;
		case 4:
			if (len != 2)
				goto bad;
			w->sackok = 1;
			break;
		case 5:
			if (len < 10 || (len - 2) % 8 || (len - 2) / 8 > T_MAX_SACK)
				goto bad;
			w->nsack = (len - 2) / 8;
			for (k = 0; k < w->nsack; k++) {
				w->sack[k][0] = get32(o + i + 2 + 8 * k);
				w->sack[k][1] = get32(o + i + 6 + 8 * k);
			}
			break;
		case 8:
			if (len != 10)
				goto bad;
			w->ts = 1;
			w->ts_val = get32(o + i + 2);
			w->ts_ecr = get32(o + i + 6);
			break;
		default:
			break;
		}
		i += len;
	}
	return 0;
bad:
	*why = "option size for its kind";
	return -1;
}

int t_seg_parse(const uint8_t *f, size_t len, struct t_wire *w, const char **why)
{
	const uint8_t *ip = f + ETH_HLEN, *th;
	size_t ihl, tot, doff;
	const char *dummy;

	if (!why)
		why = &dummy;
	memset(w, 0, sizeof(*w));
	w->ws = -1;
	if (len >= ETH_HLEN && get16(f + 12) == 0x86dd) {
		size_t tl;

		if (l4_find(f, len, &th, &tl) != 0) {
			*why = "IPv6 header, length or next header";
			return -1;
		}
		memcpy(w->dst_mac, f, 6);
		memcpy(w->src_mac, f + 6, 6);
		w->v6 = 1;
		w->ttl = ip[7];
		w->ecn = (uint8_t)((get32(ip) >> 20) & 3);
		w->tclass = (uint8_t)((get32(ip) >> 20) & 0xfc);
		w->flow = get32(ip) & 0xfffff;
		memcpy(w->src_ip6, ip + 8, 16);
		memcpy(w->dst_ip6, ip + 24, 16);
		ihl = 0;
		tot = tl;
		goto tcp;
	}
	if (len < ETH_HLEN || get16(f + 12) != 0x0800) {
		*why = "not IPv4";
		return -1;
	}
	memcpy(w->dst_mac, f, 6);
	memcpy(w->src_mac, f + 6, 6);
	if (len < ETH_HLEN + IP_HLEN || (ip[0] >> 4) != 4) {
		*why = "short or not IPv4 header";
		return -1;
	}
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = get16(ip + 2);
	if (ihl < IP_HLEN || tot < ihl || ETH_HLEN + tot > len) {
		*why = "IP header or total length";
		return -1;
	}
	if (t_csum(ip, ihl, 0) != 0) {
		*why = "IP checksum";
		return -1;
	}
	if (ip[9] != 6) {
		*why = "not TCP";
		return -1;
	}
	w->ttl = ip[8];
	w->ecn = ip[1] & 3;
	w->ip_id = get16(ip + 4);
	w->df = !!(get16(ip + 6) & 0x4000);
	memcpy(&w->src_ip, ip + 12, 4);
	memcpy(&w->dst_ip, ip + 16, 4);
	th = ip + ihl;
tcp:
	if (tot - ihl < TCP_HLEN) {
		*why = "short TCP header";
		return -1;
	}
	doff = (size_t)(th[12] >> 4) * 4;
	if (doff < TCP_HLEN || doff > tot - ihl) {
		*why = "TCP data offset";
		return -1;
	}
	if (t_csum(th, tot - ihl, pseudo_sum(ip, (uint16_t)(tot - ihl))) != 0) {
		*why = "TCP checksum";
		return -1;
	}
	w->sport = get16(th);
	w->dport = get16(th + 2);
	w->seq = get32(th + 4);
	w->ack = get32(th + 8);
	w->flags = th[13];
	w->win = get16(th + 14);
	w->urg = get16(th + 18);
	if (parse_opts(th + TCP_HLEN, doff - TCP_HLEN, w, why))
		return -1;
	w->data = th + doff;
	w->len = (uint16_t)(tot - ihl - doff);
	return 0;
}

void t_seg_fix_csum(uint8_t *f, size_t len)
{
	uint8_t *ip = f + ETH_HLEN, *th;
	size_t ihl, tot;
	const uint8_t *t6;

	if (l4_find(f, len, &t6, &tot) == 0) {
		if (tot < TCP_HLEN)
			return;
		th = (uint8_t *)(uintptr_t)t6;
		put16(th + 16, 0);
		put16(th + 16, t_csum(th, tot, pseudo_sum(ip, (uint16_t)tot)));
		return;
	}
	if (len < ETH_HLEN + IP_HLEN || get16(f + 12) != 0x0800)
		return;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = get16(ip + 2);
	if (ihl < IP_HLEN || tot < ihl || ETH_HLEN + tot > len)
		return;
	put16(ip + 10, 0);
	put16(ip + 10, t_csum(ip, ihl, 0));
	if (ip[9] != 6 || tot - ihl < TCP_HLEN)
		return;
	th = ip + ihl;
	put16(th + 16, 0);
	put16(th + 16, t_csum(th, tot - ihl, pseudo_sum(ip, (uint16_t)(tot - ihl))));
}

int t_seg_finish_partial(uint8_t *f, size_t len)
{
	uint8_t *ip = f + ETH_HLEN, *th;
	size_t ihl, tot;
	const uint8_t *t6;

	if (l4_find(f, len, &t6, &tot) == 0) {
		if (tot < TCP_HLEN)
			return -1;
		th = (uint8_t *)(uintptr_t)t6;
		uint16_t ph6 = (uint16_t)~t_csum(th, 0, pseudo_sum(ip, (uint16_t)tot));

		if (get16(th + 16) != ph6)
			return -1;
		put16(th + 16, t_csum(th, tot, 0));
		return 0;
	}
	if (len < ETH_HLEN + IP_HLEN || get16(f + 12) != 0x0800)
		return -1;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = get16(ip + 2);
	if (ihl < IP_HLEN || tot < ihl + TCP_HLEN || ETH_HLEN + tot > len || ip[9] != 6)
		return -1;
	th = ip + ihl;
	uint16_t ph = (uint16_t)~t_csum(th, 0, pseudo_sum(ip, (uint16_t)(tot - ihl)));

	if (get16(th + 16) != ph)
		return -1;
	/* A device sums from the TCP header on, the field included: the same result. */
	put16(th + 16, t_csum(th, tot - ihl, 0));
	return 0;
}

const char *t_seg_str(const struct t_wire *w, char *buf, size_t size)
{
	static const char names[] = "FSRPAUEW";
	static const char *const ecn[] = {"", " ECT(1)", " ECT(0)", " CE"};
	char fl[10], *p = fl;
	size_t n;
	int i;

	for (i = 0; i < 8; i++)
		if (w->flags & (1 << i))
			*p++ = names[i];
	*p = 0;
	n = (size_t)snprintf(buf, size, "%u>%u [%s] seq %u ack %u win %u len %u", w->sport,
			     w->dport, fl[0] ? fl : ".", w->seq, w->ack, w->win, w->len);
	if (n < size && w->mss)
		n += (size_t)snprintf(buf + n, size - n, " mss %d", w->mss);
	if (n < size && w->ws >= 0)
		n += (size_t)snprintf(buf + n, size - n, " ws %d", w->ws);
	if (n < size && w->sackok)
		n += (size_t)snprintf(buf + n, size - n, " sackOK");
	if (n < size && w->ts)
		n += (size_t)snprintf(buf + n, size - n, " TS %u/%u", w->ts_val, w->ts_ecr);
	for (i = 0; i < w->nsack && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, " sack %u-%u", w->sack[i][0],
				      w->sack[i][1]);
	if (n < size && (w->flags & T_URG))
		n += (size_t)snprintf(buf + n, size - n, " urg %u", w->urg);
	if (n < size)
		snprintf(buf + n, size - n, "%s", ecn[w->ecn & 3]);
	return buf;
}
