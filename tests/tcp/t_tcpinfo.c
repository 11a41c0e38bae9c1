/*
 * t_tcpinfo.c - decodes Linux's struct tcp_info into struct t_tcpinfo (see
 * t_tcpinfo.h for why this file includes <linux/tcp.h> alone).
 */
#include <linux/tcp.h>
#include <string.h>

#include "t_tcpinfo.h"

size_t t_tcpinfo_size(void)
{
	return sizeof(struct tcp_info);
}

void t_tcpinfo_decode(const void *buf, struct t_tcpinfo *o)
{
	struct tcp_info i;

	memcpy(&i, buf, sizeof(i));
	o->state = i.tcpi_state;
	o->ca_state = i.tcpi_ca_state;
	o->retransmits = i.tcpi_retransmits;
	o->probes = i.tcpi_probes;
	o->backoff = i.tcpi_backoff;
	o->options = i.tcpi_options;
	o->snd_wscale = i.tcpi_snd_wscale;
	o->rcv_wscale = i.tcpi_rcv_wscale;
	o->rto = i.tcpi_rto;
	o->ato = i.tcpi_ato;
	o->snd_mss = i.tcpi_snd_mss;
	o->rcv_mss = i.tcpi_rcv_mss;
	o->unacked = i.tcpi_unacked;
	o->sacked = i.tcpi_sacked;
	o->lost = i.tcpi_lost;
	o->retrans = i.tcpi_retrans;
	o->last_data_sent = i.tcpi_last_data_sent;
	o->last_data_recv = i.tcpi_last_data_recv;
	o->last_ack_recv = i.tcpi_last_ack_recv;
	o->pmtu = i.tcpi_pmtu;
	o->rcv_ssthresh = i.tcpi_rcv_ssthresh;
	o->rtt = i.tcpi_rtt;
	o->rttvar = i.tcpi_rttvar;
	o->snd_ssthresh = i.tcpi_snd_ssthresh;
	o->snd_cwnd = i.tcpi_snd_cwnd;
	o->advmss = i.tcpi_advmss;
	o->reordering = i.tcpi_reordering;
	o->rcv_rtt = i.tcpi_rcv_rtt;
	o->rcv_space = i.tcpi_rcv_space;
	o->total_retrans = i.tcpi_total_retrans;
	o->pacing_rate = i.tcpi_pacing_rate;
	o->max_pacing_rate = i.tcpi_max_pacing_rate;
	o->bytes_acked = i.tcpi_bytes_acked;
	o->bytes_received = i.tcpi_bytes_received;
	o->segs_out = i.tcpi_segs_out;
	o->segs_in = i.tcpi_segs_in;
	o->notsent_bytes = i.tcpi_notsent_bytes;
	o->min_rtt = i.tcpi_min_rtt;
	o->data_segs_in = i.tcpi_data_segs_in;
	o->data_segs_out = i.tcpi_data_segs_out;
	o->delivery_rate = i.tcpi_delivery_rate;
	o->delivered = i.tcpi_delivered;
	o->bytes_sent = i.tcpi_bytes_sent;
	o->bytes_retrans = i.tcpi_bytes_retrans;
	o->dsack_dups = i.tcpi_dsack_dups;
	o->rcv_ooopack = i.tcpi_rcv_ooopack;
	o->snd_wnd = i.tcpi_snd_wnd;
}
