/*
 * tcp_opt.c - TCP options: parse once on input, write on output.
 *
 * Parsing is as lenient as Linux's tcp_parse_options(): an option of length
 * 0 or 1, or one that runs past the header, ends the list (the options before
 * it count, the segment is still processed); a known option with the wrong
 * length is ignored. Writing follows Linux's layout so
 * that captures compare easily: SYN "mss, sackOK, TS, nop, wscale";
 * others "nop, nop, TS" then "nop, nop, SACK".
 */
#include "stack_priv.h"

/*
 * Returns 0, or -1 when the list ended at a malformed option ("silly
 * options", a partial option): parsing stops there, as in Linux, which
 * still answers such a SYN; the caller only counts it.
 */
int tcp_opt_parse(struct tcp_seg_in *seg, const uint8_t *opt, unsigned len)
{
	unsigned i = 0;

	while (i < len) {
		uint8_t kind = opt[i];

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -1;
		uint8_t olen = opt[i + 1];

		if (olen < 2 || i + olen > len)
			return -1;
		const uint8_t *v = opt + i + 2;

		switch (kind) {
		case TCPOPT_MSS:
			if (olen == 4) {
				seg->has_mss = 1;
				seg->mss = get_be16(v);
			}
			break;
		case TCPOPT_WS:
			if (olen == 3) {
				seg->has_ws = 1;
				seg->ws = v[0] > 14 ? 14 : v[0]; /* RFC 7323 2.3 */
			}
			break;
		case TCPOPT_SACK_PERM:
			if (olen == 2)
				seg->sack_ok = 1;
			break;
		case TCPOPT_FASTOPEN:
			/* RFC 7413 4.1.1: empty (a request) or a 4..16-byte cookie */
			if (olen == 2 || (olen >= 6 && olen <= 18 && !(olen & 1))) {
				seg->has_tfo = 1;
				seg->tfo_len = (uint8_t)(olen - 2);
				memcpy(seg->tfo_cookie, v, olen - 2u);
			}
			break;
		case TCPOPT_TS:
			if (olen == 10) {
				seg->has_ts = 1;
				seg->tsval = get_be32(v);
				seg->tsecr = get_be32(v + 4);
			}
			break;
		case TCPOPT_SACK:
			if (olen >= 10 && (olen - 2) % 8 == 0) {
				unsigned n = (olen - 2u) / 8;

				seg->nsack = (uint8_t)(n > 4 ? 4 : n);
				for (unsigned k = 0; k < seg->nsack; k++) {
					seg->sack[k].start = get_be32(v + 8 * k);
					seg->sack[k].end = get_be32(v + 8 * k + 4);
				}
			}
			break;
		default:
			break;
		}
		i += olen;
	}
	return 0;
}

static uint8_t *opt_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	p[0] = TCPOPT_TS;
	p[1] = 10;
	put_be32(p + 2, tsval);
	put_be32(p + 6, tsecr);
	return p + 10;
}

/* Options of a SYN or SYN-ACK; returns their length (a multiple of 4). */
unsigned tcp_opt_syn(uint8_t *p, uint16_t mss, int ts, uint32_t tsval, uint32_t tsecr, int sack,
		     int ws, uint8_t rcv_ws)
{
	uint8_t *s = p;

	p[0] = TCPOPT_MSS;
	p[1] = 4;
	put_be16(p + 2, mss);
	p += 4;
	if (ts) {
		if (sack) {
			p[0] = TCPOPT_SACK_PERM;
			p[1] = 2;
			p += 2;
		} else {
			p[0] = TCPOPT_NOP;
			p[1] = TCPOPT_NOP;
			p += 2;
		}
		p = opt_ts(p, tsval, tsecr);
	} else if (sack) {
		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_NOP;
		p[2] = TCPOPT_SACK_PERM;
		p[3] = 2;
		p += 4;
	}
	if (ws) {
		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_WS;
		p[2] = 3;
		p[3] = rcv_ws;
		p += 4;
	}
	return (unsigned)(p - s);
}

/* Length of the options of a non-SYN segment of t; *nsack gets the SACK block count. */
unsigned tcp_opt_len(const struct tcb *t, unsigned *nsack)
{
	unsigned len = 0, n = 0;

	if (t->flags & TF_TS)
		len += 12;
	if ((t->flags & TF_SACK) && (t->n_ooo || t->dsack_on)) {
		n = XT_MIN(t->n_ooo + t->dsack_on, (t->flags & TF_TS) ? 3u : 4u);
		len += 4 + 8 * n;
	}
	*nsack = n;
	return len;
}

unsigned tcp_opt_write(uint8_t *p, const struct tcb *t, uint32_t tsval, unsigned nsack)
{
	uint8_t *s = p;

	if (t->flags & TF_TS) {
		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_NOP;
		p = opt_ts(p + 2, tsval, t->ts_recent);
	}
	if (nsack) {
		p[0] = TCPOPT_NOP;
		p[1] = TCPOPT_NOP;
		p[2] = TCPOPT_SACK;
		p[3] = (uint8_t)(2 + 8 * nsack);
		p += 4;
		unsigned done = 0;

		/* RFC 2883 4: a D-SACK block comes first, followed by the usual blocks */
		if (t->dsack_on) {
			put_be32(p, t->dsack.start);
			put_be32(p + 4, t->dsack.end);
			p += 8;
			done++;
		}
		if (!t->n_ooo || done == nsack)
			return (unsigned)(p - s);
		/* RFC 2018 4: the first block holds the most recently received segment */
		unsigned k = t->ooo_last < t->n_ooo ? t->ooo_last : 0;

		put_be32(p, t->ooo[k].start);
		put_be32(p + 4, t->ooo[k].end);
		p += 8;
		done++;
		for (unsigned i = t->n_ooo; i-- > 0 && done < nsack;) {
			if (i == k)
				continue;
			put_be32(p, t->ooo[i].start);
			put_be32(p + 4, t->ooo[i].end);
			p += 8;
			done++;
		}
	}
	return (unsigned)(p - s);
}
