/*
 * shim_zc.c - MSG_ZEROCOPY on xtcp connections, as Linux reports it.
 *
 * With SO_ZEROCOPY set, each send(MSG_ZEROCOPY) that queues data gets the
 * next 32-bit id (Linux sk_zckey); its completion is a sock_extended_err on
 * the socket's error queue (origin SO_EE_ORIGIN_ZEROCOPY, ee_info..ee_data =
 * the first..last id covered), read with recvmsg(MSG_ERRQUEUE), and the
 * socket reports EPOLLERR while one waits. Consecutive completions merge into
 * one range while unread, as Linux's skb_zerocopy_notify_extend(). xtcp
 * copies every byte into its send ring, so each completion carries
 * SO_EE_CODE_ZEROCOPY_COPIED (what Linux reports when it had to copy, e.g.
 * over loopback or veth) and is queued at once: the buffer is free to reuse
 * when send() returns (Linux: after the peer ACKed the data).
 *
 * Called from shim_socket.c (options), shim_io.c (send, recvmsg), with the
 * lock held. State lives in struct shim_sock (zc); nothing is allocated.
 */
#include "shim.h"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>

#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif
#ifndef SO_EE_CODE_ZEROCOPY_COPIED
#define SO_EE_CODE_ZEROCOPY_COPIED 1
#endif

int shim_zc_setopt(struct shim_sock *s, const void *val, socklen_t len)
{
	int v;

	if (!val)
		return -EFAULT;
	if (len < sizeof(int))
		return -EINVAL;
	memcpy(&v, val, sizeof(v));
	if (v < 0 || v > 1) /* Linux sock_setsockopt() */
		return -EINVAL;
	s->zc.on = v;
	return 0;
}

int shim_zc_getopt(const struct shim_sock *s, void *val, socklen_t *len)
{
	int v = s->zc.on;

	if (!val || !len)
		return -EFAULT;
	if (*len < sizeof(int))
		return -EINVAL;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

void shim_zc_sent(struct shim_engine *eng, struct shim_sock *s, int flags, size_t n)
{
	uint32_t id;

	if (!(flags & MSG_ZEROCOPY) || !s->zc.on || !n)
		return; /* Linux: MSG_ZEROCOPY without SO_ZEROCOPY is a plain send */
	id = s->zc.next++;
	if (s->zc.queued && s->zc.hi + 1 == id && id - s->zc.lo < UINT32_MAX) {
		s->zc.hi = id;
		return;
	}
	s->zc.lo = s->zc.hi = id;
	s->zc.queued = true;
	shim_engine_on_event(eng, s->sd); /* EPOLLERR now: epoll items queued, sleepers woken */
}

ssize_t shim_zc_recv(struct shim_sock *s, struct msghdr *msg)
{
	struct sock_extended_err ee;
	struct cmsghdr *cm;

	if (!s->zc.queued)
		return -EAGAIN; /* Linux ip_recv_error() on an empty queue */
	memset(&ee, 0, sizeof(ee));
	ee.ee_origin = SO_EE_ORIGIN_ZEROCOPY;
	ee.ee_code = SO_EE_CODE_ZEROCOPY_COPIED;
	ee.ee_info = s->zc.lo;
	ee.ee_data = s->zc.hi;
	s->zc.queued = false;
	msg->msg_flags = MSG_ERRQUEUE;
	if (!msg->msg_control || msg->msg_controllen < CMSG_LEN(sizeof(ee))) {
		msg->msg_flags |= MSG_CTRUNC; /* put_cmsg(): no room, the message is lost */
		msg->msg_controllen = 0;
		return 0;
	}
	cm = (struct cmsghdr *)msg->msg_control;
	cm->cmsg_level = SOL_IP;
	cm->cmsg_type = IP_RECVERR;
	cm->cmsg_len = CMSG_LEN(sizeof(ee));
	memcpy(CMSG_DATA(cm), &ee, sizeof(ee));
	msg->msg_controllen = CMSG_SPACE(sizeof(ee)) < msg->msg_controllen ? CMSG_SPACE(sizeof(ee))
									   : msg->msg_controllen;
	return 0;
}
