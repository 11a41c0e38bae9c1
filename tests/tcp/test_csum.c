/*
 * test_csum.c - the TCP checksum forms a link may carry, in both modes.
 *
 * Receive: a local kernel's CHECKSUM_PARTIAL segment (the field holds only
 * the pseudo-header sum) is dropped and counted as "tcp_csum" on a link
 * that verifies, and accepted (counted as rx_csum_partial) on a link that
 * trusts local senders (netdev_info.rx_csum_trust_local); a corrupted
 * checksum is dropped on both. Transmit: with netdev_info.tx_csum_offload
 * the stack leaves the pseudo-header sum for the device, which the fake
 * link checks on every frame and finishes (t_link_csum()).
 */
#include "t.h"

#include <errno.h>

/* Verify mode: the partial form is a bad checksum like any other. */
static void partial_dropped_when_verifying(struct t *t)
{
	uint64_t d0;

	t_start(t, TCP_ESTABLISHED);
	d0 = t_drops(t, "tcp_csum");
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100, .partial_tcp_csum = 1));
	t_nothing(t, 0);
	t_eq(t, t_read(t, 1000), -EAGAIN);
	t_eq(t, t_drops(t, "tcp_csum"), d0 + 1);
	t_eq(t, t_stats(t).rx_csum_partial, 0);
	/* A SYN in that form opens nothing either. */
	t_flow(t, 43000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0, .partial_tcp_csum = 1));
	t_nothing(t, 0);
	t_eq(t, t_drops(t, "tcp_csum"), d0 + 2);
}

/* Trusted link: the whole connection in the partial form, data checked. */
static void partial_accepted_on_local_link(struct t *t)
{
	t_flow(t, 43001);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0, .partial_tcp_csum = 1));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .partial_tcp_csum = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 300, .partial_tcp_csum = 1));
	t_eq(t, t_read(t, 1000), 300);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 301));
	/* Full checksums are still taken on the same link. */
	t_in(t, SEG(.flags = T_ACK, .seq = 301, .ack = 1, .len = 200));
	t_eq(t, t_read(t, 1000), 200);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 501));
	t_eq(t, t_stats(t).rx_csum_partial, 3);
	t_eq(t, t_drops(t, "tcp_csum"), 0);
}

/* Trusted link: a checksum that is neither form is dropped and counted. */
static void corrupt_dropped_on_local_link(struct t *t)
{
	uint8_t f[T_FRAME_MAX];
	char buf[200];
	size_t n;

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100, .bad_tcp_csum = 1));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100, .partial_tcp_csum = 1,
		    .bad_tcp_csum = 1));
	/* A partial-form segment whose payload changed after the sum is not caught: the cost. */
	n = t_build(t, SEG(.flags = T_ACK, .seq = 1, .len = 100, .partial_tcp_csum = 1), f);
	f[n - 1] ^= 0x10;
	t_in_raw(t, f, n);
	t_eq(t, t_drops(t, "tcp_csum"), 2);
	t_eq(t, t_stats(t).rx_csum_partial, 1);
	t_eq(t, sock_recv(t->stk, t->f->sd, buf, sizeof(buf), 0), 100);
	t_check(t, (uint8_t)buf[99] == (uint8_t)(t_pat(99) ^ 0x10));
	t_drain_acks(t);
}

/* Offload: every segment the stack sends (SYN|ACK, data, FIN) leaves the device's part. */
static void tx_offload_pseudo_header_only(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 1000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 1000));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1001));
	t_write(t, 1); /* an odd length: the device's sum pads the last byte */
	t_out(t, SEG(.flags = T_ACK, .seq = 1001, .ack = 1, .len = 1));
	t_eq(t, sock_close(t->stk, t->f->sd), 0);
	t_out(t, SEG(.flags = T_FIN | T_ACK, .seq = 1002, .ack = 1));
}

int main(void)
{
	T_RUN(partial_dropped_when_verifying);
	t_link_csum(1, 0);
	T_RUN(partial_accepted_on_local_link);
	T_RUN(corrupt_dropped_on_local_link);
	t_link_csum(0, 1);
	T_RUN(tx_offload_pseudo_header_only);
	t_link_csum(1, 1);
	T_RUN(partial_accepted_on_local_link);
	t_link_csum(0, 0);
	return check_summary();
}
