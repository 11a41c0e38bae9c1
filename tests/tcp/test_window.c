/*
 * test_window.c - packet scripts for flow control: the peer's window, scaled
 * (RFC 7323 2) or not, bounds what we send; our advertised window follows
 * the receive buffer down to zero and a window update follows reading
 * (RFC 9293 3.8.6.2.2).
 */
#include "t.h"

#include <errno.h>

/*
 * Peer offered wscale 7: a window field of 10 means 1280 bytes, less than
 * an MSS. Sender SWS avoidance (RFC 9293 3.8.6.2.1) may hold it until the
 * override timeout (Linux: the window-probe timer sends a window-sized
 * segment), but never sends past the window.
 */
static void send_respects_scaled_window(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .win = 10));
	t_write(t, 5000);
	t_out_by(t, 3000000, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 1280, .win = T_ANY));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1281, .win = 10));
	t_out_by(t, 3000000, SEG(.flags = T_ACK, .seq = 1281, .ack = 1, .len = 1280));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2561, .win = 1000));
	while (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = T_AUTO, .ack = 1, .len = T_ANY));
	t_check(t, t->f->stack_nxt == 5001);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 5001, .win = 1000));
	t_nothing(t, 0);
}

/* Without window scaling the field is taken as is. */
static void send_respects_unscaled_window(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .win = 1000));
	t_write(t, 3000);
	t_out_by(t, 3000000, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 1000));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1001, .win = 1000));
	t_out_by(t, 3000000, SEG(.flags = T_ACK, .seq = 1001, .ack = 1, .len = 1000));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2001, .win = 1000));
	t_out_by(t, 3000000, SEG(.flags = T_ACK, .seq = 2001, .ack = 1, .len = 1000));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 3001, .win = 1000));
	t_nothing(t, 0);
}

/*
 * A 16 KiB receive buffer the app does not read: the advertised window
 * (no scaling, so bytes) shrinks to 0; data past it is not taken; reading
 * opens it again with a window update.
 */
static void recv_window_closes_and_reopens(struct t *t)
{
	uint32_t seq = 1, win = 65535;
	int i;

	t_start_plain(t, TCP_ESTABLISHED);
	for (i = 0; i < 64 && win > 0; i++) {
		uint32_t n = win < 1000 ? win : 1000;

		t_in(t, SEG(.flags = T_ACK, .seq = seq, .ack = 1, .len = (int)n));
		seq += n;
		t_wait(t, 300000); /* let every delayed ACK go */
		while (t_pending(t)) {
			t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = T_ANY, .win = T_ANY));
			t_check(t, t->last.ack - t->f->peer_isn <= seq);
			win = t->last.win;
			/* the right edge never moves left (RFC 9293 3.8.6.2.2) */
		}
	}
	t_eq(t, win, 0);
	t_check(t, seq - 1 >= 16384 / 2); /* at least half the buffer was offered */
	/* Data into a zero window: not taken, ACKed with window 0. */
	t_in(t, SEG(.flags = T_ACK, .seq = seq, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = seq, .win = 0));
	/* The app reads everything: a window update opens the window. */
	t_eq(t, t_read(t, 100000), (int)(seq - 1));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = seq, .win = T_ANY));
	t_check(t, t->last.win >= 1460);
	t_in(t, SEG(.flags = T_ACK, .seq = seq, .ack = 1, .len = 100));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = seq + 100, .win = T_ANY));
	t_eq(t, t_read(t, 1000), 100);
}

int main(void)
{
	struct stack_config small = {.rcvbuf = 16384};

	T_RUN(send_respects_scaled_window);
	T_RUN(send_respects_unscaled_window);
	t_run("recv_window_closes_and_reopens", recv_window_closes_and_reopens, &small);
	return check_summary();
}
