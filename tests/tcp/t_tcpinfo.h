/*
 * t_tcpinfo.h - struct tcp_info of <linux/tcp.h> (Linux's full layout), for
 * tests that also include <netinet/tcp.h>, whose shorter struct of the same
 * name cannot live in the same file: t_tcpinfo.c includes only the Linux
 * header and copies each field here.
 */
#ifndef XTCP_T_TCPINFO_H
#define XTCP_T_TCPINFO_H

#include <stddef.h>
#include <stdint.h>

struct t_tcpinfo {
	uint64_t state, ca_state, retransmits, probes, backoff, options, snd_wscale, rcv_wscale;
	uint64_t rto, ato, snd_mss, rcv_mss, unacked, sacked, lost, retrans;
	uint64_t last_data_sent, last_data_recv, last_ack_recv;
	uint64_t pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss, reordering;
	uint64_t rcv_rtt, rcv_space, total_retrans, pacing_rate, max_pacing_rate;
	uint64_t bytes_acked, bytes_received, segs_out, segs_in, notsent_bytes, min_rtt;
	uint64_t data_segs_in, data_segs_out, delivery_rate, delivered, bytes_sent;
	uint64_t bytes_retrans, dsack_dups, rcv_ooopack, snd_wnd;
};

/* sizeof(struct tcp_info) of <linux/tcp.h> */
size_t t_tcpinfo_size(void);
/* Decode a buffer getsockopt(TCP_INFO) filled (at least t_tcpinfo_size() bytes). */
void t_tcpinfo_decode(const void *buf, struct t_tcpinfo *out);

#endif
