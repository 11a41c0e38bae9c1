/*
 * shim_repair.c - hand xtcp connections to the Linux kernel, which from then
 * on runs them with exactly Linux's semantics: before fork() (so parent and
 * child share the socket as on Linux) and at exit (so the kernel delivers
 * what the process left unacknowledged, and the FIN, as it does for its own
 * orphans).
 *
 * How (TCP_REPAIR, as CRIU restores sockets; Linux tcp.c do_tcp_setsockopt,
 * tcp_repair_options_est, tcp_repair_set_window, tcp_send_rcvq):
 *   socket -> TCP_REPAIR on -> TCP_QUEUE_SEQ of both queues (receive: the
 *   first unread byte; send: snd_una) -> bind + connect (repair: no SYN,
 *   straight to ESTABLISHED, address reuse forced) -> TCP_REPAIR_OPTIONS
 *   (MSS, window scales, SACK, timestamps) -> TCP_TIMESTAMP (the kernel's
 *   TSval continues xtcp's) -> the unacknowledged bytes into the send queue
 *   (they count as sent; the kernel's RTO resends them) -> the unread bytes
 *   into the receive queue -> TCP_REPAIR_WINDOW -> TCP_REPAIR off (the
 *   kernel sends a window probe: the peer's answer syncs it) -> the unsent
 *   bytes with a normal send (SO_SNDBUFFORCE first: it cannot block).
 *   A peer FIN that xtcp already took (CLOSE-WAIT, LAST-ACK) is replayed to
 *   the kernel socket through a raw socket (CRIU does the same): repair
 *   mode has no way to set it, and without it the app would never read EOF.
 *   A FIN of ours that the app queued (shutdown) is queued again with
 *   shutdown(SHUT_WR); if xtcp sent it already the peer sees it twice.
 * Then (shim_repair_conn) the kernel socket is dup'ed onto every fd that
 * named the connection, the app's epoll registrations of those fds move
 * to the real epoll sets, the shim forgets the fds and the stack forgets
 * the TCB (sock_forget: no FIN, no RST, in-flight segments swallowed).
 * The kernel takes and answers segments even in repair mode: one arriving
 * between connect and repair off would be acknowledged from a half-built
 * socket (no TS offset yet: the peer's PAWS check then drops all that the
 * socket sends). CRIU closes that window with a firewall rule; here the XDP
 * program holds the flow (xp_prog_flow_hold: its segments are dropped,
 * the peer retransmits them to the finished socket), and the TSval offset
 * is set before connect.
 * From then on the XDP program passes the flow's segments to the kernel:
 * its kernel-flow check finds the established socket
 * (bpf_skc_lookup_tcp). It skips that check for xtcp's local-port range,
 * so connections that xtcp opened from that range stay on xtcp.
 *
 * Needs CAP_NET_ADMIN (TCP_REPAIR, SO_*BUFFORCE; the FIN replay needs
 * CAP_NET_RAW). Without it: one line, and the old behaviour.
 * Locking: everything here runs with shim.lock held.
 */
#include "shim.h"
#include "stack.h"
#include "xp.h"

#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#ifndef TCP_REPAIR_OFF
#define TCP_REPAIR_OFF 0
#endif

static bool repair_denied; /* TCP_REPAIR refused once (no CAP_NET_ADMIN): do not try again */

/*
 * Called whenever a flow is handed to the kernel, before its kernel socket
 * is connected (from then on the XDP program must pass the flow's segments
 * to the kernel): the place for whatever the program must know about kernel
 * flows on a served port (a per-port count that enables its socket lookup).
 * A hand-over that fails after this call leaves the flow with xtcp.
 */
void shim_kernel_flow_added(const struct sockaddr_in *local, const struct sockaddr_in *peer)
{
	(void)peer;
	/* The port pays for the XDP program's kernel-flow lookup again, until a sweep. */
	if (shim.prog)
		xp_prog_kflow_added(shim.prog, ntohs(local->sin_port));
}

static const char *state_name(int st)
{
	static const char *const n[] = {"?",	      "ESTABLISHED", "SYN-SENT",  "SYN-RECV",
					"FIN-WAIT-1", "FIN-WAIT-2",  "TIME-WAIT", "CLOSED",
					"CLOSE-WAIT", "LAST-ACK",    "LISTEN",	  "CLOSING"};

	return st > 0 && st < (int)(sizeof(n) / sizeof(n[0])) ? n[st] : "?";
}

static int opt(int fd, int level, int name, int v)
{
	return REAL(setsockopt)(fd, level, name, &v, sizeof(v)) ? -errno : 0;
}

/* Write both spans whole (repair queues take them at once; the send buffer is forced). */
static int write_spans(int fd, const struct iovec v[2], uint32_t n)
{
	struct iovec cur[2] = {v[0], v[1]};
	struct msghdr mh = {.msg_iov = cur, .msg_iovlen = 2};
	uint32_t done = 0;

	while (done < n) {
		ssize_t r = REAL(sendmsg)(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (uint32_t)r;
		if (done < n) {
			/* partial: continue after what went (rare; small kernel chunks) */
			size_t skip = (size_t)r;

			for (int i = 0; i < 2; i++) {
				size_t k = skip < cur[i].iov_len ? skip : cur[i].iov_len;

				cur[i].iov_base = (char *)cur[i].iov_base + k;
				cur[i].iov_len -= k;
				skip -= k;
			}
		}
	}
	return 0;
}

static int set_queue(int fd, int queue, uint32_t seq, bool set_seq)
{
	int err = opt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue);

	if (!err && set_seq)
		err = opt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)seq);
	return err;
}

static int repair_options(int fd, const struct sock_export *e)
{
	struct tcp_repair_opt o[4];
	int n = 0;

	o[n++] = (struct tcp_repair_opt){TCPOPT_MAXSEG, e->mss_peer};
	if (e->ws)
		o[n++] = (struct tcp_repair_opt){TCPOPT_WINDOW,
						 (uint32_t)e->snd_ws | (uint32_t)e->rcv_ws << 16};
	if (e->sack)
		o[n++] = (struct tcp_repair_opt){TCPOPT_SACK_PERMITTED, 0};
	if (e->ts)
		o[n++] = (struct tcp_repair_opt){TCPOPT_TIMESTAMP, 0};
	if (REAL(setsockopt)(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, (socklen_t)(n * sizeof(o[0]))))
		return -errno;
	return 0;
}

/*
 * The kernel's TSval is its ms clock + an offset set from this value. Both
 * clocks are CLOCK_MONOTONIC ms; the low bit asks for usec timestamps, so
 * round up to even: never backwards. Set before connect (which keeps it in
 * repair mode): anything the socket sends carries xtcp's clock, or the
 * peer's PAWS check would drop all that follows.
 */
static int repair_tsval(int fd, const struct sock_export *e)
{
	uint32_t ts = (uint32_t)(shim_now_us() / 1000) + e->ts_off + 1;

	return e->ts ? opt(fd, IPPROTO_TCP, TCP_TIMESTAMP, (int)(ts & ~1u)) : 0;
}

static uint16_t csum_fold32(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

/* The TCP part of the replayed FIN (zeroed memory, thl bytes; checksum left 0). */
static void fin_segment(const struct sock_export *e, struct tcphdr *th, unsigned thl)
{
	th->source = e->peer.sin_port;
	th->dest = e->local.sin_port;
	th->seq = htonl(e->rcv_data_end);
	th->ack_seq = htonl(e->snd_una);
	th->doff = (uint16_t)(thl / 4);
	th->fin = 1;
	th->ack = 1;
	th->window = htons(
		(uint16_t)((e->snd_wnd >> e->snd_ws) > 65535 ? 65535 : e->snd_wnd >> e->snd_ws));
	if (e->ts) {
		uint8_t *o = (uint8_t *)th + 20;
		uint32_t v = htonl(e->ts_recent);

		o[0] = 1;
		o[1] = 1;
		o[2] = 8;
		o[3] = 10;
		memcpy(o + 4, &v, 4); /* TSecr 0: no RTT sample from it */
	}
}

/*
 * The peer's FIN that xtcp took, replayed to the kernel socket: a raw IPv4
 * packet from the peer's address to ours goes through the local route to
 * tcp_v4_rcv. seq = the FIN's sequence, ACK of nothing new.
 */
static int replay_fin(const struct sock_export *e)
{
	uint8_t pkt[20 + 32] = {0};
	struct iphdr *ip = (struct iphdr *)pkt;
	struct tcphdr *th = (struct tcphdr *)(pkt + 20);
	unsigned thl = e->ts ? 32 : 20;
	struct sockaddr_in dst = e->local;
	uint32_t sum;
	int fd, r;

	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(20 + thl));
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = e->peer.sin_addr.s_addr;
	ip->daddr = e->local.sin_addr.s_addr;
	fin_segment(e, th, thl);
	sum = csum_add(0, &ip->saddr, 8) + IPPROTO_TCP + thl;
	sum = csum_add(sum, th, thl);
	th->check = htons(csum_fold32(sum));
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return -errno;
	r = (int)REAL(sendto)(fd, pkt, 20 + thl, 0, (struct sockaddr *)&dst, sizeof(dst));
	r = r < 0 ? -errno : 0;
	REAL(close)(fd);
	return r;
}

/*
 * The same for an IPv6 peer: a raw IPv6 packet whose header is ours
 * (IPPROTO_RAW implies IPV6_HDRINCL), from the peer's address to ours,
 * through the local route to tcp_v6_rcv. No extension headers.
 */
static int replay_fin6(const struct sock_export *e)
{
	uint8_t pkt[40 + 32] = {0};
	struct tcphdr *th = (struct tcphdr *)(pkt + 40);
	unsigned thl = e->ts ? 32 : 20;
	struct sockaddr_in6 dst = e->local6;
	uint32_t sum;
	int fd, r;

	pkt[0] = 0x60;
	pkt[5] = (uint8_t)thl; /* payload length, < 256 */
	pkt[6] = IPPROTO_TCP;
	pkt[7] = 64;
	memcpy(pkt + 8, &e->peer6.sin6_addr, 16);
	memcpy(pkt + 24, &e->local6.sin6_addr, 16);
	fin_segment(e, th, thl);
	sum = csum_add(0, pkt + 8, 32) + IPPROTO_TCP + thl; /* RFC 8200 8.1 */
	sum = csum_add(sum, th, thl);
	th->check = htons(csum_fold32(sum));
	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return -errno;
	dst.sin6_port = 0; /* a raw socket takes no port */
	r = (int)REAL(sendto)(fd, pkt, 40 + thl, 0, (struct sockaddr *)&dst, sizeof(dst));
	r = r < 0 ? -errno : 0;
	REAL(close)(fd);
	return r;
}

/* The repair-mode part: a kernel socket in ESTABLISHED holding e's queues, still in repair. */
static int repair_build(int fd, const struct sock_export *e, uint32_t rcv_nxt)
{
	struct tcp_repair_window w;
	uint32_t tx = e->n_unacked + e->n_unsent;
	int err;

	if ((err = set_queue(fd, TCP_RECV_QUEUE, rcv_nxt - e->n_unread, true)) ||
	    (err = set_queue(fd, TCP_SEND_QUEUE, e->snd_una, true)) || (err = repair_tsval(fd, e)))
		return err;
	/* an AF_INET6 socket takes IPv4 peers v4-mapped, as the app's socket had them */
	if (e->inet6
		    ? REAL(bind)(fd, (const struct sockaddr *)&e->local6, sizeof(e->local6)) ||
			      REAL(connect)(fd, (const struct sockaddr *)&e->peer6,
					    sizeof(e->peer6))
		    : REAL(bind)(fd, (const struct sockaddr *)&e->local, sizeof(e->local)) ||
			      REAL(connect)(fd, (const struct sockaddr *)&e->peer, sizeof(e->peer)))
		return -errno;
	if ((err = repair_options(fd, e)))
		return err;
	/* Room for everything at once (the kernel doubles it and charges skb overhead). */
	if (tx && (err = opt(fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)(tx + (256u << 10)))))
		return err;
	if (e->n_unread &&
	    (err = opt(fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)(e->n_unread + (256u << 10)))))
		return err;
	if (e->n_unacked && ((err = set_queue(fd, TCP_SEND_QUEUE, 0, false)) ||
			     (err = write_spans(fd, e->unacked, e->n_unacked))))
		return err;
	if (e->n_unread && ((err = set_queue(fd, TCP_RECV_QUEUE, 0, false)) ||
			    (err = write_spans(fd, e->unread, e->n_unread))))
		return err;
	w = (struct tcp_repair_window){
		.snd_wl1 = e->snd_wl1,
		.snd_wnd = e->snd_wnd,
		.max_window = e->max_snd_wnd,
		.rcv_wnd = e->rcv_wnd,
		.rcv_wup = rcv_nxt,
	};
	if (REAL(setsockopt)(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)))
		return -errno;
	return set_queue(fd, TCP_NO_QUEUE, 0, false);
}

/* Repair off: the kernel sends a window probe, whose answer syncs the peer. */
static int repair_finish(int fd)
{
	int err = opt(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF);

	if (err)
		return err;
	/*
	 * Leaving repair mode also drops the forced address reuse: as an
	 * accepted socket inherits its listener's SO_REUSEADDR, allow it, or
	 * this connection would keep a restarted server from binding its port.
	 */
	return opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
}

/*
 * Hold the flow's segments back from the kernel socket while repair mode
 * builds it (xp_prog_flow_hold): true if held. Without a hold (one line),
 * a segment arriving then may be answered from a half-built socket.
 */
static bool hold(const struct sock_export *e, bool on)
{
	static bool warned;
	int err;

	if (!shim.prog)
		err = -ENODEV;
	else if (e->local.sin_addr.s_addr) /* IPv4, also v4-mapped on an AF_INET6 socket */
		err = xp_prog_flow_hold(shim.prog, &e->local, &e->peer, on);
	else
		err = xp_prog_flow_hold6(shim.prog, &e->local6, &e->peer6, on);

	if (err && !warned) {
		warned = true;
		shim_warn("cannot hold a flow's segments while it moves to the kernel: %s",
			  strerror(-err));
	}
	return !err;
}

/*
 * A kernel socket carrying connection e: returned fd (close-on-exec) or
 * -errno. live: the app keeps using it (unread bytes and the peer's FIN go
 * to it); else an orphan that the caller closes at once.
 */
static int repair_socket(const struct sock_export *e, bool live)
{
	bool fin = live && e->fin_rcvd, held;
	uint32_t rcv_nxt = fin ? e->rcv_data_end : e->rcv_nxt;
	int fd, err;

	fd = socket(e->inet6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = opt(fd, IPPROTO_TCP, TCP_REPAIR, 1);
	if (err) {
		REAL(close)(fd);
		return err;
	}
	shim_kernel_flow_added(&e->local, &e->peer);
	held = hold(e, true);
	err = repair_build(fd, e, rcv_nxt);
	if (held) /* whole now: what arrives from here on is answered rightly (the probe's reply) */
		hold(e, false);
	if (!err)
		err = repair_finish(fd);
	if (!err && e->n_unsent)
		err = write_spans(fd, e->unsent, e->n_unsent);
	if (!err && e->nodelay)
		err = opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (!err && e->uc_ttl >= 0)
		err = opt(fd, IPPROTO_IP, IP_TTL, e->uc_ttl);
	if (!err && e->inet6 && e->uc_hops6 >= 0)
		err = opt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, e->uc_hops6);
	if (!err && e->keepalive)
		err = opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1) ||
		      opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, (int)e->keepidle_s) ||
		      opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, (int)e->keepintvl_s) ||
		      opt(fd, IPPROTO_TCP, TCP_KEEPCNT, (int)e->keepcnt);
	if (!err && fin)
		err = e->inet6 && !IN6_IS_ADDR_V4MAPPED(&e->peer6.sin6_addr) ? replay_fin6(e)
									     : replay_fin(e);
	if (!err && live && e->fin_queued && REAL(shutdown)(fd, SHUT_WR))
		err = -errno;
	if (err) {
		/* Not connected yet, or a repair socket: closing it sends nothing. */
		opt(fd, IPPROTO_TCP, TCP_REPAIR, 1);
		REAL(close)(fd);
		return err < 0 ? err : -EIO;
	}
	return fd;
}

/* One line the first time the kernel refuses repair mode. */
static bool privileged(int err)
{
	if (err != -EPERM)
		return true;
	if (!repair_denied)
		shim_warn("connections stay on xtcp at fork and exit: handing them to the kernel "
			  "(TCP_REPAIR) needs CAP_NET_ADMIN");
	repair_denied = true;
	return false;
}

/* Could the kernel take this connection: state, and a port the XDP program checks. */
static const char *why_not(const struct sock_export *e, bool live)
{
	uint16_t lport = ntohs(e->local.sin_port);

	if (e->fin_acked)
		return "our FIN was acknowledged already (FIN-WAIT-2)";
	if (shim.cfg.n_connect_ports && lport >= shim.cfg.lport_min && lport <= shim.cfg.lport_max)
		return "a local port of XTCP_LOCAL_PORTS (the XDP program steers it to xtcp)";
	if (!live && !e->n_unacked && !e->n_unsent && !e->fin_queued)
		return "nothing left to send";
	return NULL;
}

/* The fds naming s move to kernel socket kfd (dup3 keeps each fd's close-on-exec). */
static int move_fds(struct shim_sock *s, int kfd)
{
	int fd, fl;

	if (s->nonblock && REAL(fcntl)(kfd, F_SETFL, O_NONBLOCK | O_RDWR))
		return -errno;
	for (fd = shim_fd_next(0); fd >= 0; fd = shim_fd_next(fd + 1)) {
		if (shim_sock_of(fd) != s)
			continue;
		fl = REAL(fcntl)(fd, F_GETFD);
		if (REAL(dup3)(kfd, fd, fl >= 0 && (fl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
			return -errno;
		shim_ep_export(s, fd);
		shim_fd_clear(fd);
	}
	return 0;
}

static void timeo_copy(int kfd, int name, uint64_t us)
{
	struct timeval tv = {.tv_sec = (time_t)(us / 1000000),
			     .tv_usec = (suseconds_t)(us % 1000000)};

	if (us)
		REAL(setsockopt)(kfd, SOL_SOCKET, name, &tv, sizeof(tv));
}

int shim_repair_conn(struct shim_engine *eng, struct shim_sock *s, const char *when)
{
	struct sock_export e;
	const char *why;
	int kfd, err;

	if (repair_denied)
		return -EPERM;
	err = sock_export(eng->stk, s->sd, &e);
	why = err ? "still in its handshake" : why_not(&e, true);
	/* A thread asleep in a call on it would keep waiting on xtcp for what goes to the kernel.
	 */
	if (!why && s->busy)
		why = "another thread is blocked in a call on it";
	if (why) {
		SHIM_STAT(kernel_left)++;
		shim_warn("fd %d (%s, port %u) stays on xtcp %s: %s", s->fd, state_name(e.state),
			  ntohs(e.local.sin_port), when, why);
		return -EINVAL;
	}
	kfd = repair_socket(&e, true);
	if (kfd < 0) {
		if (privileged(kfd)) {
			SHIM_STAT(kernel_failed)++;
			shim_warn("fd %d (port %u) stays on xtcp %s: the kernel refused it: %s",
				  s->fd, ntohs(e.local.sin_port), when, strerror(-kfd));
		} else {
			SHIM_STAT(kernel_left)++;
		}
		return kfd;
	}
	timeo_copy(kfd, SO_RCVTIMEO, s->rcvtimeo_us);
	timeo_copy(kfd, SO_SNDTIMEO, s->sndtimeo_us);
	err = move_fds(s, kfd);
	REAL(close)(kfd);
	if (err) /* the fds already moved are the kernel's; the rest are lost anyway */
		shim_warn("fd %d: moving to the kernel socket failed: %s", s->fd, strerror(-err));
	shim_ep_sock_gone(s);
	sock_set_user(eng->stk, s->sd, NULL);
	sock_forget(eng->stk, s->sd);
	SHIM_STAT(conns)--;
	shim_sock_free(s);
	return 0;
}

/* Fork: every live connection of this process becomes a kernel socket first (lock held). */
void shim_repair_fork(void)
{
	struct shim_engine *eng = shim_engine_cur();
	int fd;

	if (!eng || shim.cfg.fork_parent)
		return;
	shim_engine_flush(eng); /* what the app wrote reaches the wire from xtcp first */
	for (fd = shim_fd_next(0); fd >= 0; fd = shim_fd_next(fd + 1)) {
		struct shim_sock *s = shim_sock_of(fd);

		if (!s || s->role != SHIM_CONN || !shim_sock_live(s, eng))
			continue;
		if (repair_denied) /* said once (privileged()); each one still counts */
			SHIM_STAT(kernel_left)++;
		else if (!shim_repair_conn(eng, s, "in the parent at fork"))
			SHIM_STAT(kernel_at_fork)++;
	}
}

/*
 * Exit: the app's open connections close as the kernel closes a dying
 * process's fds (RST with unread data, else FIN after the data); then every
 * connection with data or a FIN still to deliver goes to the kernel as an
 * orphan. Returns the number left for the linger (lock held).
 */
unsigned shim_repair_exit(struct shim_engine *eng)
{
	struct sock_export e;
	unsigned left = 0, moved = 0;
	int sd, kfd;

	if (repair_denied)
		return stack_orphans_unsettled(eng->stk);
	for (sd = sock_next(eng->stk, 0); sd >= 0; sd = sock_next(eng->stk, sd + 1)) {
		struct shim_sock *s = sock_get_user(eng->stk, sd);

		if (s && s->role == SHIM_CONN) {
			/* Another thread still calling in finds it closed (EBADF). */
			shim_ep_sock_gone(s);
			s->sd = -1;
			sock_set_user(eng->stk, sd, NULL);
			sock_close(eng->stk, sd);
			SHIM_STAT(conns)--;
		}
	}
	shim_engine_flush(eng); /* the RSTs of those closes */
	for (sd = sock_next(eng->stk, 0); sd >= 0; sd = sock_next(eng->stk, sd + 1)) {
		if (sock_get_user(eng->stk, sd) || sock_export(eng->stk, sd, &e) ||
		    why_not(&e, false))
			continue;
		kfd = repair_socket(&e, false);
		if (kfd < 0) {
			if (!privileged(kfd))
				break;
			SHIM_STAT(kernel_failed)++;
			left++;
			continue;
		}
		REAL(close)(kfd); /* the kernel's orphan now: data, FIN, retransmissions */
		sock_forget(eng->stk, sd);
		moved++;
	}
	SHIM_STAT(kernel_at_exit) += moved;
	if (moved)
		shim_info("%u connections handed to the kernel at exit (it delivers their data and "
			  "FIN)",
			  moved);
	if (left)
		shim_warn("%u closed connections stay on xtcp at exit (the kernel refused them): "
			  "their last data may not arrive",
			  left);
	return stack_orphans_unsettled(eng->stk);
}
