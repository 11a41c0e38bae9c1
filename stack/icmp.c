/*
 * icmp.c - ICMP and ICMPv6 errors about our TCP connections (RFC 1122
 * 4.2.3.9, RFC 1191, RFC 4443, RFC 8201, RFC 5927), as Linux's
 * icmp_unreach() + tcp_v4_err() and icmpv6_rcv() + tcp_v6_err().
 *
 * In: eth_input() passes every ICMP datagram addressed to us (icmp_input()),
 * ip6_input() every ICMPv6 one (icmp6_input()); the XDP program steers only
 * errors whose quote is a flow of this stack. Each family's parser fills a
 * struct icmp_quote (tuple, sequence, errno, MTU); icmp_act() does the rest
 * for both. Out:
 * pmtu.c for "fragmentation needed", tcb fields (soft_err, or tcb_done()
 * for a connection still in its handshake), tcp_req_free() for a
 * mini-socket. Nothing is sent from here.
 *
 * Validation: ICMP checksum (ICMPv6: with the pseudo-header, RFC 4443 2.3);
 * an error type; a quote that is IPv4 (IPv6 with TCP right after the fixed
 * header: we send no extension headers), TCP, from our address, at least 8
 * bytes of TCP (ports and sequence, RFC 792, RFC 4443 2.4 (c)); a
 * connection with that 4-tuple; the quoted sequence within SND.UNA..SND.NXT
 * (SND.MAX here: Linux never rewinds snd_nxt) or, for a mini-socket, its
 * ISN. A forged error has to guess the sequence in flight (RFC 5927 4.1).
 * Frame memory stays the netdev's; nothing is kept.
 */
#include "stack_priv.h"

/* Linux icmp_err_convert[]: errno of each "destination unreachable" code. */
static const uint8_t unreach_errno[16] = {
	ENETUNREACH,  /* 0 network unreachable */
	EHOSTUNREACH, /* 1 host unreachable */
	ENOPROTOOPT,  /* 2 protocol unreachable */
	ECONNREFUSED, /* 3 port unreachable */
	EMSGSIZE,     /* 4 fragmentation needed (handled apart) */
	EOPNOTSUPP,   /* 5 source route failed */
	ENETUNREACH,  /* 6 network unknown */
	EHOSTDOWN,    /* 7 host unknown */
	ENONET,	      /* 8 host isolated */
	ENETUNREACH,  /* 9 network administratively prohibited */
	EHOSTUNREACH, /* 10 host administratively prohibited */
	ENETUNREACH,  /* 11 network unreachable for TOS */
	EHOSTUNREACH, /* 12 host unreachable for TOS */
	EHOSTUNREACH, /* 13 communication administratively prohibited */
	EHOSTUNREACH, /* 14 host precedence violation */
	EHOSTUNREACH, /* 15 precedence cutoff */
};

/*
 * Linux icmpv6_err_convert() tab_unreach[]: errno of each "destination
 * unreachable" code, and whether it drops a half-open connection ("fatal").
 */
static const struct {
	uint8_t err, fatal;
} unreach6[7] = {
	{ENETUNREACH, 0},  /* 0 no route to destination */
	{EACCES, 1},	   /* 1 administratively prohibited */
	{EHOSTUNREACH, 0}, /* 2 beyond scope of source address */
	{EHOSTUNREACH, 0}, /* 3 address unreachable */
	{ECONNREFUSED, 1}, /* 4 port unreachable */
	{EACCES, 1},	   /* 5 source address failed ingress/egress policy */
	{EACCES, 1},	   /* 6 reject route to destination */
};

/* What the error quotes, and what it means for the connection, in either family. */
struct icmp_quote {
	uint8_t too_big;	      /* a path MTU report: "fragmentation needed", PTB */
	uint8_t req_fatal;	      /* drops a half-open connection (Linux tcp_req_err()) */
	int err;		      /* errno for the socket (positive) */
	uint32_t mtu;		      /* the reported MTU when too_big */
	struct in6_addr laddr, raddr; /* v4-mapped for IPv4 (addr.h) */
	uint16_t lport, rport;
	uint32_t seq;
};

/* The quoted TCP header's first 8 bytes: ports and sequence. */
static void icmp_quote_tcp(struct icmp_quote *q, const uint8_t *th)
{
	q->lport = get_be16(th);
	q->rport = get_be16(th + 2);
	q->seq = get_be32(th + 4);
}

static void icmp_reject(struct stack *stk)
{
	stk->st.icmp_rejected++;
	stack_drop(stk, DROP_ICMP);
}

/* Parse the ICMP header and the quote; -1 means malformed or not an error we take. */
static int icmp_parse(const struct stack *stk, const uint8_t *p, uint32_t len, struct icmp_quote *q)
{
	const struct icmp_hdr *ih = (const struct icmp_hdr *)p;

	if (len < ICMP_HLEN || csum_fold(csum_partial(p, len, 0)) != 0xffff)
		return -1;
	switch (ih->type) {
	case ICMP_DEST_UNREACH:
		if (ih->code > 15)
			return -1;
		q->err = unreach_errno[ih->code];
		q->too_big = ih->code == ICMP_FRAG_NEEDED;
		q->mtu = be16(ih->mtu);
		/* Linux tcp_v4_err() -> tcp_req_err(): net and host unreachable */
		q->req_fatal = ih->code <= 1;
		break;
	case ICMP_TIME_EXCEEDED:
		q->err = EHOSTUNREACH;
		q->req_fatal = 1;
		break;
	case ICMP_PARAMETERPROB:
		q->err = EPROTO;
		q->req_fatal = 1;
		break;
	default:
		return -1; /* echo, redirect, source quench...: not ours to act on */
	}
	const struct ip4_hdr *qip = (const struct ip4_hdr *)(p + ICMP_HLEN);
	uint32_t qlen = len - ICMP_HLEN, ihl;

	if (qlen < IP4_HLEN || (qip->ver_ihl >> 4) != 4)
		return -1;
	ihl = (qip->ver_ihl & 0xfu) * 4u;
	/* RFC 792: the header plus 64 bits of data, enough for ports and sequence */
	if (ihl < IP4_HLEN || qlen < ihl + 8 || qip->proto != IPPROTO_TCP_NR ||
	    (be16(qip->frag_off) & IP4_OFFMASK) || qip->saddr != stk->ip4)
		return -1;
	const uint8_t *th = (const uint8_t *)qip + ihl;

	addr_set_v4(&q->laddr, qip->saddr);
	addr_set_v4(&q->raddr, qip->daddr);
	icmp_quote_tcp(q, th);
	return 0;
}

/*
 * The same for ICMPv6 (RFC 4443), from src to our address dst. Packet too
 * big carries a 32-bit MTU (RFC 8201); the errnos are Linux
 * icmpv6_err_convert()'s. The quote must be an IPv6 header whose next header
 * is TCP: xtcp sends no extension headers, so a quote with any is not of a
 * segment of ours.
 */
static int icmp6_parse(const struct in6_addr *src, const struct in6_addr *dst, const uint8_t *p,
		       uint32_t len, struct icmp_quote *q)
{
	/* RFC 4443 2.3, RFC 8200 8.1: the pseudo-header, next header 58 */
	uint64_t ph =
		addr_csum(src) + addr_csum(dst) + be16(IPPROTO_ICMPV6_NR) + be16((uint16_t)len);

	if (len < ICMP_HLEN || len > 0xffff || csum_fold(csum_partial(p, len, ph)) != 0xffff)
		return -1;
	switch (p[0]) {
	case ICMP6_DEST_UNREACH:
		q->err = p[1] < 7 ? unreach6[p[1]].err : EPROTO;
		q->req_fatal = p[1] < 7 ? unreach6[p[1]].fatal : 1;
		break;
	case ICMP6_PKT_TOOBIG:
		q->err = EMSGSIZE;
		q->too_big = 1;
		q->mtu = get_be32(p + 4);
		break;
	case ICMP6_TIME_EXCEEDED:
		q->err = EHOSTUNREACH;
		break;
	case ICMP6_PARAMPROB:
		q->err = EPROTO;
		q->req_fatal = 1;
		break;
	default:
		return -1; /* neighbour discovery, echo, MLD: not ours to act on */
	}
	const struct ipv6_hdr *qip = (const struct ipv6_hdr *)(p + ICMP_HLEN);
	uint32_t qlen = len - ICMP_HLEN;

	if (qlen < IP6_HLEN + 8 || (be32(qip->ver_tc_flow) >> 28) != 6 ||
	    qip->nexthdr != IPPROTO_TCP_NR || memcmp(qip->saddr, dst->s6_addr, 16) != 0)
		return -1;
	memcpy(&q->laddr, qip->saddr, 16);
	memcpy(&q->raddr, qip->daddr, 16);
	icmp_quote_tcp(q, (const uint8_t *)qip + IP6_HLEN);
	return 0;
}

/*
 * A half-open connection (Linux tcp_req_err()): only an error quoting our
 * SYN-ACK (its ISN) counts, and only those that say the peer cannot be
 * reached drop the mini-socket; the rest wait for its retransmissions.
 */
static void icmp_req_err(struct stack *stk, struct tcp_req *r, const struct icmp_quote *q)
{
	if (q->seq != r->iss) {
		icmp_reject(stk);
		return;
	}
	if (q->req_fatal) {
		tcp_req_free(stk, r);
		stk->st.icmp_acted++;
	}
}

/*
 * "Fragmentation needed" or "packet too big": lower the path MTU, and this
 * connection's MSS at once (Linux tcp_v4_mtu_reduced(), tcp_v6_mtu_reduced()).
 */
static void icmp_frag_needed(struct stack *stk, struct tcb *t, const struct icmp_quote *q)
{
	uint16_t before = pmtu_get(stk, &t->h.raddr);
	uint16_t now = pmtu_update(stk, &t->h.raddr, q->mtu);

	if (now < before)
		stk->st.pmtu_lowered++;
	if (now >= t->pmtu)
		return; /* no smaller than what t already sends: ignored (RFC 1191 6.3) */
	/* Linux tcp_v4_mtu_reduced(): a soft error should the connection still fail */
	t->soft_err = EMSGSIZE;
	pmtu_reduced(stk, t);
	stk->st.icmp_acted++;
}

/* A parsed error about one of our connections: the same steps for both families. */
static void icmp_act(struct stack *stk, const struct icmp_quote *q)
{
	stk->st.icmp_errors++;
	struct tcp_hent *h = tcb_lookup(stk, &q->laddr, q->lport, &q->raddr, q->rport);

	if (!h) {
		icmp_reject(stk);
		return;
	}
	if (h->is_req) {
		icmp_req_err(stk, (struct tcp_req *)h, q);
		return;
	}
	struct tcb *t = (struct tcb *)h;

	/* TIME-WAIT needs nothing more from the peer; a forgotten one is another stack's */
	if (t->state == TCPS_TIME_WAIT || t->state == TCPS_CLOSED || (t->flags & TF_FORGOTTEN))
		return;
	if (!seq_between(q->seq, t->snd_una, t->snd_max)) {
		/* RFC 5927 4.1: not a segment in flight (Linux OUTOFWINDOWICMPS) */
		icmp_reject(stk);
		return;
	}
	if (q->too_big) {
		icmp_frag_needed(stk, t, q);
		return;
	}
	stk->st.icmp_acted++;
	switch (t->state) {
	case TCPS_SYN_SENT:
	case TCPS_SYN_RECEIVED:
		/* Linux tcp_v4_err(), tcp_v6_err(): in the handshake every error is hard */
		stk->st.attempt_fails++;
		tcb_done(stk, t, q->err);
		break;
	default:
		/*
		 * RFC 1122 4.2.3.9 and Linux: a connected socket keeps trying; the
		 * error shows (SO_ERROR, a failed read) only if it then times out.
		 */
		t->soft_err = q->err;
		break;
	}
}

void icmp_input(struct stack *stk, const struct ip4_hdr *ip, const uint8_t *p, uint32_t len)
{
	struct icmp_quote q = {0};

	(void)ip;
	if (icmp_parse(stk, p, len, &q) != 0) {
		stack_drop(stk, DROP_ICMP);
		return;
	}
	icmp_act(stk, &q);
}

void icmp6_input(struct stack *stk, const struct in6_addr *src, const struct in6_addr *dst,
		 const uint8_t *p, uint32_t len)
{
	struct icmp_quote q = {0};

	if (icmp6_parse(src, dst, p, len, &q) != 0) {
		stack_drop(stk, DROP_ICMP);
		return;
	}
	icmp_act(stk, &q);
}
