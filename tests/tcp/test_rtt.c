/*
 * test_rtt.c - packet scripts for the sender's RTT estimate (RFC 6298,
 * RFC 7323 4): which ACKs give a sample, Karn's algorithm with and without
 * timestamps, an ACK echoing the TSval of an earlier transmission than the
 * one it acknowledges, a window probe answered late, the RTO's bounds
 * (Linux: 200 ms to 120 s), and the same figures through TCP_INFO.
 */
#include "t.h"

#include <string.h>

#include "t_tcpinfo.h"

static struct sock_info rtt_of(struct t *t)
{
	struct sock_info si;

	memset(&si, 0, sizeof(si));
	t_eq(t, sock_info(t->stk, t->f->sd, &si), 0);
	return si;
}

static struct t_tcpinfo tcpinfo_of(struct t *t)
{
	struct t_tcpinfo ti;

	t_tcpinfo_get(t, t->f->sd, &ti);
	return ti;
}

/* One exchange with a 10 ms RTT: 100 bytes out, their ACK 10 ms later. Returns SRTT. */
static uint32_t rtt_10ms(struct t *t)
{
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 100));
	t_wait(t, 10000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	return rtt_of(t).srtt_us;
}

/* Drop everything the stack sent while the peer was silent; returns how many. */
static unsigned drain(struct t *t)
{
	struct t_wire w;
	unsigned n = 0;

	while (t_next(t, &w) == 0)
		n++;
	return n;
}

/*
 * The segment is retransmitted (probe, then RTOs) for 15 s; the ACK that
 * finally comes echoes the TSval of the first transmission, as a Linux peer
 * in TIME-WAIT does (it updates TS.Recent only from in-window bare ACKs) or
 * one whose ACKs of the original were lost. The echo does not date the
 * transmission that was ACKed: no sample (RFC 7323 4.1 with Karn, RFC 6298
 * 3). Taken, it made SRTT about 2 s here, and 15 s as the first sample.
 */
static void stale_echo_after_rto(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	uint32_t srtt0 = rtt_10ms(t);

	t_check(t, srtt0 > 1000 && srtt0 < 20000);
	t_write(t, 1000);
	const struct t_wire *w = t_out(t, SEG(.flags = T_ACK, .seq = 101, .len = 1000));
	uint32_t ts_first = w->ts_val;

	t_wait(t, 15000000);
	t_check(t, drain(t) >= 5); /* the probe and RTO retransmissions */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1101, .ts_ecr = ts_first));
	struct sock_info si = rtt_of(t);

	t_eq(t, si.srtt_us, srtt0);
	t_check(t, si.rto_us >= 200000 && si.rto_us < 1000000); /* backoff gone, not 15 s */
	struct t_tcpinfo ti = tcpinfo_of(t);

	t_eq(t, ti.rtt, si.srtt_us);
	t_eq(t, ti.rttvar, si.rttvar_us);
	t_eq(t, ti.rto, si.rto_us);
	/* the tail loss probe follows the sane SRTT: one segment out (cwnd
	 * is one after the RTOs), so 2 x SRTT + 200 ms, not seconds */
	t_write(t, 1448);
	t_out(t, SEG(.flags = T_ACK, .seq = 1101, .len = 1448));
	t_nothing(t, 200000);
	t_out_by(t, 10000, SEG(.flags = T_ACK, .seq = 1101, .len = 1448));
	t_eq(t, t_stats(t).tlp_probes, 2);
}

/* The echo of the retransmission itself dates it: 30 ms is a valid sample. */
static void echo_of_retransmission_sampled(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	uint32_t srtt0 = rtt_10ms(t);

	t_write(t, 1000);
	t_out(t, SEG(.flags = T_ACK, .seq = 101, .len = 1000));
	/* the tail loss probe resends it (~220 ms) */
	const struct t_wire *w = t_out_by(t, 300000, SEG(.flags = T_ACK, .seq = 101, .len = 1000));
	uint32_t ts_rxt = w->ts_val;

	t_wait(t, 30000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1101, .ts_ecr = ts_rxt));
	uint32_t srtt = rtt_of(t).srtt_us;

	/* 7/8 x SRTT + 1/8 x 30 ms */
	t_check(t, srtt > srtt0 + 1000 && srtt < srtt0 + 4000);
}

/* Without timestamps, Karn: no sample from an ACK of retransmitted data. */
static void karn_without_timestamps(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED);
	uint32_t srtt0 = rtt_10ms(t);

	t_write(t, 1000);
	t_out(t, SEG(.flags = T_ACK, .seq = 101, .len = 1000));
	t_wait(t, 15000000);
	t_check(t, drain(t) >= 4);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1101));
	t_eq(t, rtt_of(t).srtt_us, srtt0);
	/* the next segment, sent once, is timed again */
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 1101, .len = 100));
	t_wait(t, 20000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1201));
	t_check(t, rtt_of(t).srtt_us > srtt0);
}

/*
 * A zero window for 20 s: the window probes (SND.UNA - 1, no data) are
 * answered at once but advance nothing; the peer's echo of the last probe
 * is 20 s after our data before them, and the data then sent is timed on
 * its own.
 */
static void window_probe_answered_late(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	rtt_10ms(t);
	t_write(t, 2000);
	t_out(t, SEG(.flags = T_ACK, .seq = 101, .len = 1448));
	t_out(t, SEG(.flags = T_ACK, .seq = 1549, .len = 552));
	t_wait(t, 5000); /* within the probe timeout (10 ms) */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2101, .win = 0));
	uint32_t srtt1 = rtt_of(t).srtt_us;

	t_write(t, 1000);
	t_wait(t, 20000000);
	t_check(t, drain(t) >= 3);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2101, .win = 100));
	t_eq(t, rtt_of(t).srtt_us, srtt1);
	t_out(t, SEG(.flags = T_ACK, .seq = 2101, .len = 1000));
	t_wait(t, 10000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 3101));
	uint32_t srtt = rtt_of(t).srtt_us, want = srtt1 - srtt1 / 8 + 10000 / 8;

	t_check(t, srtt + 10 >= want && srtt <= want + 10); /* one 10 ms sample */
}

/*
 * RFC 6298 2.4 with Linux's floor and ceiling: a 0.5 ms path still has an
 * RTO of 200 ms or more; backing off stops at 120 s and a connection that
 * never hears back keeps retrying at 120 s.
 */
static void rto_bounds(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 100));
	t_wait(t, 500);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	struct sock_info si = rtt_of(t);

	t_check(t, si.srtt_us < 2000);
	t_check(t, si.rto_us >= 200000 && si.rto_us <= 210000);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 101, .len = 100));
	t_wait(t, 400000000); /* 400 s: probe, then RTOs 0.2, 0.4 ... 102.4, 120, 120 */
	drain(t);
	si = rtt_of(t);
	t_eq(t, si.rto_us, 120000000);
	t_eq(t, tcpinfo_of(t).rto, 120000000);
}

int main(void)
{
	T_RUN(stale_echo_after_rto);
	T_RUN(echo_of_retransmission_sampled);
	T_RUN(karn_without_timestamps);
	T_RUN(window_probe_answered_late);
	T_RUN(rto_bounds);
	return check_summary();
}
