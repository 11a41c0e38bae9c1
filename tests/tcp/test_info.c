/*
 * test_info.c - packet scripts for getsockopt(TCP_INFO): the fields Linux's
 * tcp_get_info() fills, read through struct t_tcpinfo of <linux/tcp.h>, at
 * each point of a scripted connection (options, MSS, windows, counters of
 * bytes and segments, clocks, RTT of both directions, loss state, the
 * listener's queue, truncation to the caller's length).
 */
#include "t.h"

#include <string.h>

#include "t_tcpinfo.h"

#define TCPI_OPT_TIMESTAMPS 1 /* <linux/tcp.h> */
#define TCPI_OPT_SACK	    2
#define TCPI_OPT_WSCALE	    4

static struct t_tcpinfo info_of(struct t *t, int sd)
{
	uint8_t buf[512];
	socklen_t len = sizeof(buf);
	struct t_tcpinfo ti;

	memset(buf, 0xa5, sizeof(buf));
	t_eq(t, sock_getopt(t->stk, sd, IPPROTO_TCP, TCP_INFO, buf, &len), 0);
	t_eq(t, len, t_tcpinfo_size()); /* Linux copies min(len, its size) */
	t_tcpinfo_decode(buf, &ti);
	return ti;
}

/* After a handshake with Linux's options: state, options, scales, MSS, MTU. */
static void info_established(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	struct t_tcpinfo ti = info_of(t, t->f->sd);

	t_eq(t, ti.state, TCP_ESTABLISHED);
	t_eq(t, ti.ca_state, 0);
	t_eq(t, ti.options, TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE);
	t_eq(t, ti.snd_wscale, 7);
	t_eq(t, ti.rcv_wscale, t->f->stack_ws);
	t_eq(t, ti.snd_mss, 1448);
	t_eq(t, ti.advmss, 1448);
	t_eq(t, ti.rcv_mss, 536); /* Linux: TCP_MSS_DEFAULT until data shows more */
	t_eq(t, ti.pmtu, 1500);
	t_eq(t, ti.snd_cwnd, 10);
	t_eq(t, ti.snd_ssthresh, 0x7fffffff);
	t_eq(t, ti.reordering, 3);
	t_eq(t, ti.ato, 0); /* Linux: set by the first data received */
	t_check(t, ti.rto >= 200000 && ti.rto <= 1000000);
	t_check(t, ti.rtt > 0);
	t_eq(t, ti.rcv_space, 14480); /* 10 x advmss */
	t_eq(t, ti.unacked, 0);
	t_eq(t, ti.bytes_acked, 0);
	t_eq(t, ti.max_pacing_rate, ~0ull);
	t_eq(t, ti.min_rtt, ti.rtt);
	t_eq(t, ti.snd_wnd, 65535u << 7);
}

/* Bytes and segments both ways, the clocks of the last data, unacked segments. */
static void info_counters(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	struct t_tcpinfo ti0 = info_of(t, t->f->sd);

	t_write(t, 3000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 1448));
	t_out(t, SEG(.flags = T_ACK, .seq = 1449, .len = 1448));
	t_out(t, SEG(.flags = T_ACK, .seq = 2897, .len = 104));
	struct t_tcpinfo ti = info_of(t, t->f->sd);

	t_eq(t, ti.unacked, 3);
	t_eq(t, ti.data_segs_out - ti0.data_segs_out, 3);
	t_eq(t, ti.bytes_sent, 3000);
	t_eq(t, ti.notsent_bytes, 0);
	t_wait(t, 30000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 3001));
	t_wait(t, 20000);
	ti = info_of(t, t->f->sd);
	t_eq(t, ti.unacked, 0);
	t_eq(t, ti.bytes_acked, 3000);
	t_eq(t, ti.delivered, 3);
	t_eq(t, ti.last_data_sent, 50);
	t_eq(t, ti.last_ack_recv, 20);
	t_check(t, ti.rtt >= 3000 && ti.rtt <= 30000); /* one 30 ms sample mixed in */

	t_in(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 3001, .len = 1000));
	t_wait(t, 10000);
	ti = info_of(t, t->f->sd);
	t_eq(t, ti.bytes_received, 1000);
	t_eq(t, ti.data_segs_in - ti0.data_segs_in, 1);
	t_eq(t, ti.last_data_recv, 10);
	t_eq(t, ti.rcv_mss, 1000);
	t_eq(t, ti.ato, 40000);
	t_check(t, ti.segs_in - ti0.segs_in == 2);
	t_check(t, ti.segs_out - ti0.segs_out >= 3);
	t_read(t, 1000);
	t_drain_acks(t);
}

/* An RTO: loss state, retransmits, lost and retransmitted segments, totals. */
static void info_loss(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 2896);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 1448));
	t_out(t, SEG(.flags = T_ACK, .seq = 1449, .len = 1448));
	t_out_by(t, 1100000, SEG(.flags = T_ACK, .seq = 1, .len = 1448));
	struct t_tcpinfo ti = info_of(t, t->f->sd);

	t_eq(t, ti.ca_state, 4);
	t_eq(t, ti.retransmits, 1);
	t_eq(t, ti.backoff, 1);
	t_eq(t, ti.lost, 2);
	t_eq(t, ti.retrans, 1);
	t_eq(t, ti.total_retrans, 1);
	t_eq(t, ti.bytes_retrans, 1448);
	t_eq(t, ti.snd_cwnd, 1);
	t_eq(t, ti.snd_ssthresh, 7); /* CUBIC: 0.7 x 10 */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2897));
	ti = info_of(t, t->f->sd);
	t_eq(t, ti.ca_state, 0);
	t_eq(t, ti.retransmits, 0);
	t_eq(t, ti.lost, 0);
	t_eq(t, ti.bytes_acked, 2896);
}

/* Receiver RTT from the echo of our timestamp in a full segment (Linux rcv_rtt_est). */
static void info_rcv_rtt(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	const struct t_wire *w = t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 100));
	uint32_t tsval = w->ts_val;

	t_wait(t, 25000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .len = 1448, .ts_ecr = tsval));
	struct t_tcpinfo ti = info_of(t, t->f->sd);

	t_eq(t, ti.rcv_rtt, 25000);
	t_read(t, 1448);
	t_drain_acks(t);
}

/* A listener reports its accept queue and backlog in unacked / sacked. */
static void info_listener(struct t *t)
{
	t_start(t, TCP_ESTABLISHED); /* accepted: the queue is empty again */
	t_flow(t, 41000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = T_ANY, .ws = T_ANY,
		     .sackok = T_ANY, .ts = T_ANY));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	struct t_tcpinfo ti = info_of(t, t->listen_sd);

	t_eq(t, ti.state, TCP_LISTEN);
	t_eq(t, ti.unacked, 1);
	t_eq(t, ti.sacked, 128);
	t_accept(t);
}

/* Shorter buffers get the start of the structure, and the length says how much. */
static void info_truncated(struct t *t)
{
	uint8_t buf[512];
	socklen_t len = 8;

	t_start(t, TCP_ESTABLISHED);
	memset(buf, 0xee, sizeof(buf));
	t_eq(t, sock_getopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_INFO, buf, &len), 0);
	t_eq(t, len, 8);
	t_eq(t, buf[0], TCP_ESTABLISHED);
	t_eq(t, buf[8], 0xee);
}

int main(void)
{
	T_RUN(info_established);
	/* no tail loss probes: these scripts time the RTO and the idle clocks */
	struct stack_config no_tlp = {.flags = STACK_F_NO_TLP};

	t_run("info_counters", info_counters, &no_tlp);
	t_run("info_loss", info_loss, &no_tlp);
	T_RUN(info_rcv_rtt);
	T_RUN(info_listener);
	T_RUN(info_truncated);
	return check_summary();
}
