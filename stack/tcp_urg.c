/*
 * tcp_urg.c - urgent data, with Linux's semantics (RFC 6093: one urgent
 * byte; the BSD pointer convention, Linux tcp_stdurg = 0).
 *
 * Receive: tcp_urg_input() is step 6 of SEGMENT ARRIVES (called by
 * tcp_input_synced() between the ACK and the text): a new urgent pointer
 * marks the byte at rcv_up as pending (URG_NOTYET), and the segment that
 * carries that byte makes it readable out of band (URG_VALID | byte), as
 * Linux's tcp_check_urg()/tcp_urg(). The byte stays in the receive ring;
 * sock.c asks tcp_urg_read_span() where a normal read must stop (at the
 * mark) or skip (the urgent byte, unless SO_OOBINLINE), and
 * tcp_urg_read_oob() for recv(MSG_OOB).
 *
 * Send: send(MSG_OOB) sets snd_up after the last byte written (TF_SND_URG);
 * tcp_urg_output() puts URG and the pointer on every segment below snd_up
 * until the peer ACKs it (Linux tcp_transmit_skb()).
 *
 * No memory of its own: everything lives in the TCB.
 */
#include "stack_priv.h"

void tcp_urg_input(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg, uint32_t seq0)
{
	if (seg->flags & TH_URG) {
		uint32_t ptr = seq0 + seg->urp - (seg->urp ? 1 : 0); /* the urgent byte */

		/* Linux tcp_check_urg(): not already read, not a replay, not older */
		if (!seq_gt(t->rcv_user, ptr) && !seq_lt(ptr, t->rcv_nxt) &&
		    !(t->urg_data && !seq_gt(ptr, t->rcv_up))) {
			/* the reader sits on the previous urgent byte: step over it */
			if (t->urg_data && t->rcv_up == t->rcv_user && !(t->flags & TF_OOBINLINE) &&
			    t->rcv_user != t->rcv_nxt)
				t->rcv_user++;
			t->urg_data = URG_NOTYET;
			t->rcv_up = ptr;
			stk->st.urgent_marks++;
		}
	}
	if (t->urg_data != URG_NOTYET || !seg->len)
		return;
	uint32_t off = t->rcv_up - seg->seq;

	if (off < seg->len) { /* the urgent byte is in this segment */
		t->urg_data = (uint16_t)(URG_VALID | seg->data[off]);
		tcb_notify(stk, t); /* EPOLLPRI */
	}
}

/*
 * A normal read of at most *avail bytes from *from (Linux
 * tcp_recvmsg_locked()): it stops before the urgent byte, and a read that
 * starts on it steps over it unless SO_OOBINLINE (*from, *avail adjusted).
 */
void tcp_urg_read_span(const struct tcb *t, uint32_t *from, uint32_t *avail)
{
	if (!t->urg_data || !*avail)
		return;
	uint32_t off = t->rcv_up - *from;

	if (off == 0 && !(t->flags & TF_OOBINLINE)) {
		(*from)++;
		(*avail)--;
	} else if (off && off < *avail) {
		*avail = off;
	}
}

/* After a read moved rcv_user: past the urgent byte, the mark is gone (Linux). */
void tcp_urg_read_done(struct tcb *t)
{
	if (t->urg_data && seq_gt(t->rcv_user, t->rcv_up))
		t->urg_data = 0;
}

/* recv(MSG_OOB), Linux tcp_recv_urg(): 1 and the byte, or 0 / -errno. */
int tcp_urg_read_oob(struct tcb *t, uint8_t *byte, int peek)
{
	if ((t->flags & TF_OOBINLINE) || !t->urg_data || t->urg_data == URG_READ)
		return -EINVAL; /* Linux: nothing to read out of band */
	if (t->state == TCPS_CLOSED && !(t->flags & TF_SOCK_DONE))
		return -ENOTCONN;
	if (t->urg_data & URG_VALID) {
		*byte = (uint8_t)t->urg_data;
		if (!peek)
			t->urg_data = URG_READ;
		return 1;
	}
	if (t->state == TCPS_CLOSED || (t->shut & SHUT_RCV))
		return 0;
	return -EAGAIN; /* the byte has not arrived: never blocks (BSD, Linux) */
}

/* Bytes of a normal read that the urgent byte hides at the reader (poll). */
uint32_t tcp_urg_hidden(const struct tcb *t)
{
	return t->urg_data && t->rcv_up == t->rcv_user && !(t->flags & TF_OOBINLINE);
}

/* URG and the pointer for a segment at seq (Linux tcp_transmit_skb()). */
uint8_t tcp_urg_output(const struct tcb *t, uint32_t seq, uint16_t *urp)
{
	if (!(t->flags & TF_SND_URG) || !seq_lt(seq, t->snd_up))
		return 0;
	if (seq_lt(t->snd_up, seq + 0x10000)) {
		*urp = (uint16_t)(t->snd_up - seq);
		return TH_URG;
	}
	if (seq_gt(seq + 0xffff, t->snd_max)) {
		*urp = 0xffff; /* the pointer lies beyond what 16 bits reach */
		return TH_URG;
	}
	return 0;
}
