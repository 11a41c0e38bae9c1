/*
 * fuzz_stack.c - libFuzzer target: arbitrary frames and sequences of frames
 * into one stack that holds listeners (port 80, IPv4 and IPv6) and an established
 * connection (peer port 39999), with app actions and clock steps between.
 *
 * Input: records [op][len hi][len lo][len bytes] (enum t_rec_op in t.h):
 *   T_REC_FRAME  the bytes as a raw Ethernet frame
 *   T_REC_FIXED  bytes from the TCP header on: wrapped in valid Ethernet/IPv4
 *                headers for the established flow (bit 0 of the first byte
 *                set) or the listener, seq/ack offset by the flow's ISNs and
 *                checksums fixed, so mutations reach the TCP state machine
 *   T_REC_TIME   advance the virtual clock by len ms (timers fire)
 *   T_REC_APP    an app call on the established socket, chosen by len
 * The packet-script tests write T_REC_FRAME/T_REC_TIME corpora
 * (XTCP_T_CORPUS=dir) that replay here as new connections.
 *
 * Oracles: ASan/UBSan; every frame the stack sends must parse (lengths,
 * checksums); the netdev contract (no frame kept across stack_poll, no tx
 * frame leaked); no leak at stack_destroy(). A harness failure aborts.
 */
#include "t.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FUZZ_FLOW 39999

static void drain(struct t *t)
{
	struct t_wire w;

	while (t_next(t, &w) == 0) /* t_next fails the run on a malformed frame */
		;
}

static void fixed_frame(struct t *t, const uint8_t *b, size_t len)
{
	uint8_t f[T_FRAME_MAX];
	uint8_t *ip = f + 14, *th;
	struct t_flow *est = t_flow(t, FUZZ_FLOW);
	int to_est = len > 0 && (b[0] & 1);
	uint32_t v;
	size_t n;

	/* A template frame gives correct MACs and addresses for the flow. */
	if (to_est)
		n = t_build(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1), f);
	else
		n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .ts = 0), f);
	(void)n;
	if (len > T_FRAME_MAX - 34)
		len = T_FRAME_MAX - 34;
	th = ip + 20;
	memcpy(th, b, len);
	if (len >= 12) {
		if (to_est) { /* ports of the flow, sequence numbers relative to its ISNs */
			th[0] = FUZZ_FLOW >> 8;
			th[1] = FUZZ_FLOW & 0xff;
			th[2] = 0;
			th[3] = T_LISTEN_PORT;
			memcpy(&v, th + 4, 4);
			v = htonl(ntohl(v) + est->peer_isn);
			memcpy(th + 4, &v, 4);
			memcpy(&v, th + 8, 4);
			v = htonl(ntohl(v) + est->stack_isn);
			memcpy(th + 8, &v, 4);
		} else if (len >= 4) {
			th[2] = 0;
			th[3] = T_LISTEN_PORT;
		}
	}
	ip[2] = (uint8_t)((20 + len) >> 8);
	ip[3] = (uint8_t)(20 + len);
	t_seg_fix_csum(f, 34 + len);
	t_in_raw(t, f, 34 + len);
}

static void app(struct t *t, unsigned what)
{
	struct t_flow *f = t_flow(t, FUZZ_FLOW);
	uint8_t buf[4096];
	int one = 1, sd;

	if (f->sd < 0)
		return;
	switch (what % 8) {
	case 0:
		memset(buf, 'x', sizeof(buf));
		sock_send(t->stk, f->sd, buf, 100 + what % 4000, (what & 8) ? MSG_OOB : 0);
		break;
	case 1: /* a normal read, or the urgent byte (MSG_OOB, maybe a peek) */
		sock_recv(t->stk, f->sd, buf, sizeof(buf),
			  ((what & 8) ? MSG_OOB : 0) | ((what & 16) ? MSG_PEEK : 0));
		break;
	case 2:
		sock_shutdown(t->stk, f->sd, SHUT_WR);
		break;
	case 3:
		sock_close(t->stk, f->sd);
		f->sd = -1;
		break;
	case 4:
		sd = sock_accept(t->stk, t->listen_sd, NULL);
		if (sd >= 0 && (what & 8))
			sock_close(t->stk, sd);
		break;
	case 5:
		if (what & 8)
			sock_setopt(t->stk, f->sd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
		else
			sock_setopt(t->stk, f->sd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one,
				    sizeof(one));
		break;
	case 6:
		sock_recv(t->stk, f->sd, buf, 10, MSG_PEEK);
		break;
	default:
		sock_events(t->stk, f->sd);
		sock_error(t->stk, f->sd);
		sock_atmark(t->stk, f->sd);
		break;
	}
	stack_flush(t->stk, t->now);
}

/* Apply the records of one input; a harness assertion longjmps out. */
static void run_input(struct t *t, const uint8_t *data, size_t size)
{
	size_t i = 0;

	t_flow(t, FUZZ_FLOW);
	t_start(t, TCP_ESTABLISHED);
	while (i + 3 <= size) {
		uint8_t op = data[i];
		size_t len = (size_t)data[i + 1] << 8 | data[i + 2];

		i += 3;
		switch (op & 3) {
		case T_REC_FRAME:
			if (len > size - i)
				len = size - i;
			t_in_raw(t, data + i, len < T_FRAME_MAX ? len : T_FRAME_MAX);
			i += len;
			break;
		case T_REC_FIXED:
			if (len > size - i)
				len = size - i;
			fixed_frame(t, data + i, len);
			i += len;
			break;
		case T_REC_TIME:
			t_wait(t, (uint64_t)(len % 120000) * 1000);
			break;
		default:
			app(t, (unsigned)len);
			break;
		}
		drain(t);
	}
	t_wait(t, 1000);
	drain(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct stack_config cfg = {
		.max_socks = 64, .max_syn_queue = 4, .sndbuf = 16384, .rcvbuf = 16384};
	static struct t *t; /* allocated once: t_init() resets it for every input */

	if (!t)
		t = malloc(sizeof(*t));
	if (!t || t_init(t, "fuzz", &cfg))
		abort();
	/* IPv6 too: a v6-only AF_INET6 listener beside the IPv4 one on port 80 */
	struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	int one = 1, l6 = sock_socket6(t->stk);

	if (l6 < 0 || sock_setopt(t->stk, l6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) ||
	    sock_bind6(t->stk, l6, &any6) || sock_listen(t->stk, l6, 16))
		abort();
	if (setjmp(t->jb)) /* a harness assertion: the stack broke a contract */
		abort();
	run_input(t, data, size);
	t_fini(t);
	return 0;
}
