/*
 * icmp.c - ICMP errors about our TCP connections (RFC 1122 4.2.3.9,
 * RFC 1191, RFC 5927), as Linux's icmp_unreach() + tcp_v4_err().
 *
 * In: eth_input() passes every ICMP datagram addressed to us; the XDP
 * program steers only errors whose quote is a flow of this stack. Out:
 * pmtu.c for "fragmentation needed", tcb fields (soft_err, or tcb_done()
 * for a connection still in its handshake), tcp_req_free() for a
 * mini-socket. Nothing is sent from here.
 *
 * Validation: ICMP checksum; an error type; a quote that is IPv4, TCP, from
 * our address, at least 8 bytes of TCP (ports and sequence, RFC 792); a
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

/* What the error quotes: the connection's 4-tuple and the sequence. */
struct icmp_quote {
	uint8_t type, code;
	uint16_t mtu;		      /* next-hop MTU of a "fragmentation needed" */
	struct in6_addr laddr, raddr; /* v4-mapped (addr.h) */
	uint16_t lport, rport;
	uint32_t seq;
};

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
	q->type = ih->type;
	q->code = ih->code;
	q->mtu = be16(ih->mtu);
	switch (q->type) {
	case ICMP_DEST_UNREACH:
		if (q->code > 15)
			return -1;
		break;
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAMETERPROB:
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
	q->lport = get_be16(th);
	q->rport = get_be16(th + 2);
	q->seq = get_be32(th + 4);
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
	if (q->type == ICMP_TIME_EXCEEDED || q->type == ICMP_PARAMETERPROB ||
	    (q->type == ICMP_DEST_UNREACH && q->code <= 1)) {
		tcp_req_free(stk, r);
		stk->st.icmp_acted++;
	}
}

/* "Fragmentation needed": lower the path MTU, and this connection's MSS at once. */
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

void icmp_input(struct stack *stk, const struct ip4_hdr *ip, const uint8_t *p, uint32_t len)
{
	struct icmp_quote q;
	int err;

	(void)ip;
	if (icmp_parse(stk, p, len, &q) != 0) {
		stack_drop(stk, DROP_ICMP);
		return;
	}
	stk->st.icmp_errors++;
	struct tcp_hent *h = tcb_lookup(stk, &q.laddr, q.lport, &q.raddr, q.rport);

	if (!h) {
		icmp_reject(stk);
		return;
	}
	if (h->is_req) {
		icmp_req_err(stk, (struct tcp_req *)h, &q);
		return;
	}
	struct tcb *t = (struct tcb *)h;

	/* TIME-WAIT needs nothing more from the peer; a forgotten one is another stack's */
	if (t->state == TCPS_TIME_WAIT || t->state == TCPS_CLOSED || (t->flags & TF_FORGOTTEN))
		return;
	if (!seq_between(q.seq, t->snd_una, t->snd_max)) {
		icmp_reject(
			stk); /* RFC 5927 4.1: not a segment in flight (Linux OUTOFWINDOWICMPS) */
		return;
	}
	if (q.type == ICMP_DEST_UNREACH && q.code == ICMP_FRAG_NEEDED) {
		icmp_frag_needed(stk, t, &q);
		return;
	}
	err = q.type == ICMP_DEST_UNREACH    ? unreach_errno[q.code]
	      : q.type == ICMP_TIME_EXCEEDED ? EHOSTUNREACH
					     : EPROTO;
	stk->st.icmp_acted++;
	switch (t->state) {
	case TCPS_SYN_SENT:
	case TCPS_SYN_RECEIVED:
		/* Linux tcp_v4_err(): in the handshake every error is hard */
		stk->st.attempt_fails++;
		tcb_done(stk, t, err);
		break;
	default:
		/*
		 * RFC 1122 4.2.3.9 and Linux: a connected socket keeps trying; the
		 * error shows (SO_ERROR, a failed read) only if it then times out.
		 */
		t->soft_err = err;
		break;
	}
}
