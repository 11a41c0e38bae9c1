/*
 * shim_io.c - data on xtcp connections: read/write/recv/send families,
 * sendfile, and the glibc _chk variants.
 *
 * Call order: hook -> sock_io_begin() (lock, this process's engine, the
 * socket live in it) -> sock_recvv()/sock_sendv()/sock_send_reserve() ...,
 * polling the stack once when nothing is there yet and sleeping in
 * shim_wait_locked() when the call blocks -> shim_engine_flush() (one TX
 * kick) -> sock_io_end() (unlock). SIGPIPE is raised after the lock is dropped.
 * Linux semantics: a blocking send returns when everything is queued (or a
 * signal/timeout after a partial write: the partial count); a blocking recv
 * returns what is there (MSG_WAITALL: everything asked, or EOF/error);
 * SO_RCVTIMEO/SO_SNDTIMEO expiry is EAGAIN; EOF is 0.
 * Memory: nothing is allocated except an iovec copy for MSG_WAITALL or
 * partial blocking writes over more than 64 elements.
 */
#include "shim.h"
#include "stack.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define IOV_LOCAL 64

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* dst = src with the first skip bytes removed; returns the element count. */
static int iov_skip(struct iovec *dst, const struct iovec *src, int n, size_t skip)
{
	int i, k = 0;

	for (i = 0; i < n; i++) {
		if (skip >= src[i].iov_len) {
			skip -= src[i].iov_len;
			continue;
		}
		dst[k].iov_base = (char *)src[i].iov_base + skip;
		dst[k].iov_len = src[i].iov_len - skip;
		skip = 0;
		k++;
	}
	return k;
}

/*
 * Next try of a partial recv/send: *cur becomes the iovec past the first done
 * bytes. The caller's iov is never written: the first call switches *cur to a
 * private copy (local[] or, past IOV_LOCAL elements, the heap; the caller
 * frees it). False when that allocation fails.
 */
static bool iov_advance(struct iovec **cur, struct iovec *local, const struct iovec *iov,
			int iovcnt, size_t done, int *cnt)
{
	if (*cur == iov) {
		struct iovec *copy =
			iovcnt <= IOV_LOCAL ? local : malloc(sizeof(*copy) * (size_t)iovcnt);

		if (!copy)
			return false;
		*cur = copy;
	}
	*cnt = iov_skip(*cur, iov, iovcnt, done);
	return true;
}

/* Lock and find the engine in which s lives; -EBADF if s is not usable in this process. */
static int sock_io_begin(struct shim_sock *s, struct shim_engine **engp)
{
	struct shim_engine *eng;

	shim_lock();
	eng = shim_engine_cur();
	*engp = eng;
	if (!shim_sock_live(s, eng)) {
		SHIM_STAT(fallback[SHIM_FB_FORKED])++;
		shim_unlock(eng);
		return -EBADF;
	}
	s->busy++; /* a blocked call: fork leaves s on xtcp (shim_repair_conn) */
	return 0;
}

static void sock_io_end(struct shim_sock *s, struct shim_engine *eng)
{
	s->busy--;
	shim_unlock(eng);
}

static ssize_t do_recv(struct shim_sock *s, const struct iovec *iov, int iovcnt, int flags)
{
	struct iovec local[IOV_LOCAL], *cur = (struct iovec *)iov;
	struct shim_engine *eng;
	size_t want = iov_total(iov, iovcnt), got = 0;
	bool nonblock = s->nonblock || (flags & MSG_DONTWAIT), timed_out = false;
	uint64_t deadline;
	ssize_t n, err = 0;
	int cnt = iovcnt, w, sflags;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	err = sock_io_begin(s, &eng);
	if (err)
		return err;
	if (flags & MSG_ERRQUEUE) { /* Linux inet_recv_error(): never waits */
		struct msghdr m = {0};

		n = shim_zc_recv(s, &m);
		sock_io_end(s, eng);
		return n;
	}
	if (flags & MSG_OOB) {
		/* The urgent byte, never waited for (Linux: EAGAIN until it arrives). */
		n = sock_recvv(eng->stk, s->sd, iov, iovcnt,
			       flags & (MSG_OOB | MSG_PEEK | MSG_TRUNC));
		if (n == -EAGAIN) {
			shim_engine_poll(eng);
			n = sock_recvv(eng->stk, s->sd, iov, iovcnt,
				       flags & (MSG_OOB | MSG_PEEK | MSG_TRUNC));
		}
		sock_io_end(s, eng);
		return n;
	}
	deadline = shim_deadline(s->rcvtimeo_us);
	sflags = flags & (MSG_PEEK | MSG_TRUNC);
	for (;;) {
		n = sock_recvv(eng->stk, s->sd, cur, cnt, sflags);
		if (n == -EAGAIN) {
			shim_engine_poll_quiet(eng);
			n = sock_recvv(eng->stk, s->sd, cur, cnt, sflags);
		}
		if (n > 0) {
			got += (size_t)n;
			if (got >= want || !(flags & MSG_WAITALL) || (flags & MSG_PEEK))
				break;
			if (!iov_advance(&cur, local, iov, iovcnt, got, &cnt))
				break;
			continue;
		}
		if (n == 0 || want == 0)
			break;
		if (n != -EAGAIN || nonblock || timed_out) {
			err = n;
			break;
		}
		w = shim_wait_locked(eng, NULL, 0, deadline, NULL);
		if (w == -EINTR && shim_sig_restart(s->rcvtimeo_us))
			continue; /* SA_RESTART */
		if (w == -EINTR || w == -ENOMEM) {
			err = w;
			break;
		}
		timed_out = w == -ETIMEDOUT;
	}
	shim_engine_flush_soon(eng); /* a window update may be due */
	sock_io_end(s, eng);
	if (cur != iov && cur != local)
		free(cur);
	return got ? (ssize_t)got : err;
}

static ssize_t do_send(struct shim_sock *s, const struct iovec *iov, int iovcnt, int flags)
{
	struct iovec local[IOV_LOCAL], *cur = (struct iovec *)iov;
	struct shim_engine *eng;
	size_t want = iov_total(iov, iovcnt), sent = 0;
	bool nonblock = s->nonblock || (flags & MSG_DONTWAIT), timed_out = false;
	uint64_t deadline;
	ssize_t n, err;
	int cnt = iovcnt, w;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	err = sock_io_begin(s, &eng);
	if (err)
		return err;
	deadline = shim_deadline(s->sndtimeo_us);
	for (;;) {
		n = sock_sendv(eng->stk, s->sd, cur, cnt, flags & (MSG_MORE | MSG_OOB));
		if (n == -EAGAIN) {
			shim_engine_poll(eng); /* ACKs may have freed space */
			n = sock_sendv(eng->stk, s->sd, cur, cnt, flags & (MSG_MORE | MSG_OOB));
		}
		if (n > 0) {
			sent += (size_t)n;
			if (sent >= want || nonblock)
				break;
			if (!iov_advance(&cur, local, iov, iovcnt, sent, &cnt))
				break;
			shim_engine_flush(eng);
			continue;
		}
		if (n == 0 && want == 0)
			break;
		if ((n != -EAGAIN && n != 0) || nonblock || timed_out) {
			err = n ? n : -EAGAIN;
			break;
		}
		shim_engine_flush(eng);
		w = shim_wait_locked(eng, NULL, 0, deadline, NULL);
		if (w == -EINTR && !sent && shim_sig_restart(s->sndtimeo_us))
			continue; /* SA_RESTART (a partial write returns its count) */
		if (w == -EINTR || w == -ENOMEM) {
			err = w;
			break;
		}
		timed_out = w == -ETIMEDOUT;
	}
	shim_zc_sent(eng, s, flags, sent);
	shim_engine_flush_soon(eng);
	sock_io_end(s, eng);
	if (cur != iov && cur != local)
		free(cur);
	if (sent)
		return (ssize_t)sent;
	if (err == -EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE); /* as Linux: the calling thread gets it, errno stays EPIPE */
	return err;
}

static inline struct shim_sock *conn_of(int fd)
{
	struct shim_sock *s = shim_sock_of(fd);

	return (s && s->role == SHIM_CONN) ? s : NULL;
}

static ssize_t ret(ssize_t r)
{
	return r < 0 ? shim_errno((int)r) : r;
}

ssize_t shim_recv(int fd, void *buf, size_t len, int flags)
{
	struct shim_sock *s = conn_of(fd);
	struct iovec iov = {buf, len};

	if (!s)
		return REAL(recv)(fd, buf, len, flags);
	return ret(do_recv(s, &iov, 1, flags));
}

ssize_t shim_read(int fd, void *buf, size_t len)
{
	struct shim_sock *s = conn_of(fd);
	struct iovec iov = {buf, len};

	if (!s)
		return REAL(read)(fd, buf, len);
	return ret(do_recv(s, &iov, 1, 0));
}

ssize_t shim___read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen || !conn_of(fd))
		return REAL(__read_chk)(fd, buf, len, buflen); /* reports the overflow */
	return shim_read(fd, buf, len);
}

ssize_t shim___recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen || !conn_of(fd))
		return REAL(__recv_chk)(fd, buf, len, buflen, flags);
	return shim_recv(fd, buf, len, flags);
}

ssize_t shim_readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct shim_sock *s = conn_of(fd);

	if (!s)
		return REAL(readv)(fd, iov, iovcnt);
	return ret(do_recv(s, iov, iovcnt, 0));
}

ssize_t shim_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
		      socklen_t *alen)
{
	struct shim_sock *s = conn_of(fd);
	struct iovec iov = {buf, len};
	ssize_t r;

	if (!s)
		return REAL(recvfrom)(fd, buf, len, flags, addr, alen);
	r = do_recv(s, &iov, 1, flags);
	if (r >= 0 && addr && alen)
		*alen = 0; /* connected TCP: Linux reports no source address */
	return ret(r);
}

ssize_t shim___recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			    struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen || !conn_of(fd))
		return REAL(__recvfrom_chk)(fd, buf, len, buflen, flags, addr, alen);
	return shim_recvfrom(fd, buf, len, flags, addr, alen);
}

ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct shim_sock *s = conn_of(fd);
	ssize_t r;

	if (!s)
		return REAL(recvmsg)(fd, msg, flags);
	if (!msg)
		return shim_errno(-EFAULT);
	if (flags & MSG_ERRQUEUE) {
		struct shim_engine *eng;

		shim_lock();
		eng = shim_engine_cur();
		r = shim_sock_live(s, eng) ? shim_zc_recv(s, msg) : -EBADF;
		shim_unlock(eng);
		return ret(r);
	}
	r = do_recv(s, msg->msg_iov, (int)msg->msg_iovlen, flags);
	if (r >= 0) {
		msg->msg_namelen = 0;
		msg->msg_controllen = 0;
		msg->msg_flags = flags & MSG_OOB; /* as Linux: the byte came out of band */
	}
	return ret(r);
}

int shim_recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo)
{
	struct shim_sock *s = conn_of(fd);
	unsigned i;
	ssize_t r = 0;

	if (!s)
		return REAL(recvmmsg)(fd, vec, vlen, flags, tmo);
	for (i = 0; i < vlen; i++) {
		r = do_recv(s, vec[i].msg_hdr.msg_iov, (int)vec[i].msg_hdr.msg_iovlen,
			    i ? (flags | MSG_DONTWAIT) & ~MSG_WAITFORONE : flags & ~MSG_WAITFORONE);
		if (r < 0)
			break;
		vec[i].msg_len = (unsigned)r;
		vec[i].msg_hdr.msg_namelen = 0;
		vec[i].msg_hdr.msg_controllen = 0;
		vec[i].msg_hdr.msg_flags = 0;
		if (r == 0)
			break;
	}
	if (i == 0 && r < 0)
		return shim_errno((int)r);
	return (int)(i < vlen && r == 0 ? i + 1 : i);
}

ssize_t shim_send(int fd, const void *buf, size_t len, int flags)
{
	struct shim_sock *s = conn_of(fd);
	struct iovec iov = {(void *)buf, len};

	if (!s)
		return REAL(send)(fd, buf, len, flags);
	return ret(do_send(s, &iov, 1, flags));
}

ssize_t shim_write(int fd, const void *buf, size_t len)
{
	struct shim_sock *s = conn_of(fd);
	struct iovec iov = {(void *)buf, len};

	if (!s)
		return REAL(write)(fd, buf, len);
	return ret(do_send(s, &iov, 1, 0));
}

ssize_t shim_writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct shim_sock *s = conn_of(fd);

	if (!s)
		return REAL(writev)(fd, iov, iovcnt);
	return ret(do_send(s, iov, iovcnt, 0));
}

ssize_t shim_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		    socklen_t alen)
{
	struct shim_sock *s = conn_of(fd);
	struct iovec iov = {(void *)buf, len};

	if (!s)
		return REAL(sendto)(fd, buf, len, flags, addr, alen);
	return ret(do_send(s, &iov, 1, flags)); /* connected TCP ignores the address */
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct shim_sock *s = conn_of(fd);

	if (!s)
		return REAL(sendmsg)(fd, msg, flags);
	if (!msg)
		return shim_errno(-EFAULT);
	return ret(do_send(s, msg->msg_iov, (int)msg->msg_iovlen, flags));
}

int shim_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	struct shim_sock *s = conn_of(fd);
	unsigned i;
	ssize_t r = 0;

	if (!s)
		return REAL(sendmmsg)(fd, vec, vlen, flags);
	for (i = 0; i < vlen; i++) {
		r = do_send(s, vec[i].msg_hdr.msg_iov, (int)vec[i].msg_hdr.msg_iovlen, flags);
		if (r < 0)
			break;
		vec[i].msg_len = (unsigned)r;
	}
	if (i == 0 && r < 0)
		return shim_errno((int)r);
	return (int)i;
}

/*
 * sendfile: pread() straight into the send ring's free space
 * (sock_send_reserve/commit): the file's bytes are copied once, from the
 * page cache into the buffer TCP segments are cut from.
 */
static ssize_t do_sendfile(struct shim_sock *s, int in, off_t *off, size_t count)
{
	struct shim_engine *eng;
	struct iovec span[2];
	off_t pos = off ? *off : lseek(in, 0, SEEK_CUR);
	size_t done = 0;
	bool nonblock = s->nonblock, timed_out = false, eof = false;
	uint64_t deadline;
	ssize_t n, err = 0;
	int i, w;

	if (pos < 0)
		return errno == ESPIPE ? -EINVAL : -errno;
	err = sock_io_begin(s, &eng);
	if (err)
		return err;
	deadline = shim_deadline(s->sndtimeo_us);
	while (done < count && !eof) {
		n = sock_send_reserve(eng->stk, s->sd, span);
		if (n == 0) {
			shim_engine_poll(eng);
			n = sock_send_reserve(eng->stk, s->sd, span);
		}
		if (n < 0) {
			err = n;
			break;
		}
		if (n == 0) {
			if (nonblock || timed_out) {
				err = -EAGAIN;
				break;
			}
			shim_engine_flush(eng);
			w = shim_wait_locked(eng, NULL, 0, deadline, NULL);
			if (w == -EINTR && !done && shim_sig_restart(s->sndtimeo_us))
				continue; /* SA_RESTART */
			if (w == -EINTR || w == -ENOMEM) {
				err = w;
				break;
			}
			timed_out = w == -ETIMEDOUT;
			continue;
		}
		size_t fill = 0;

		for (i = 0; i < 2 && done + fill < count; i++) {
			size_t len = span[i].iov_len;
			ssize_t r;

			if (len > count - done - fill)
				len = count - done - fill;
			if (!len)
				break;
			r = pread(in, span[i].iov_base, len, pos + (off_t)(done + fill));
			if (r < 0) {
				err = errno == ESPIPE ? -EINVAL : -errno;
				eof = true;
				break;
			}
			fill += (size_t)r;
			if ((size_t)r < len) {
				eof = true; /* end of file */
				break;
			}
		}
		if (fill) {
			sock_send_commit(eng->stk, s->sd, fill, 0);
			done += fill;
			if (done < count && !eof)
				shim_engine_flush(eng); /* the last part: flush_soon below */
		}
	}
	shim_engine_flush_soon(eng);
	sock_io_end(s, eng);
	if (done) {
		if (off)
			*off = pos + (off_t)done;
		else
			lseek(in, pos + (off_t)done, SEEK_SET);
		return (ssize_t)done;
	}
	if (err == -EPIPE)
		raise(SIGPIPE);
	return err;
}

ssize_t shim_sendfile(int out, int in, off_t *off, size_t count)
{
	struct shim_sock *s = conn_of(out);

	if (!s)
		return REAL(sendfile)(out, in, off, count);
	return ret(do_sendfile(s, in, off, count));
}

ssize_t shim_sendfile64(int out, int in, off64_t *off, size_t count)
{
	struct shim_sock *s = conn_of(out);

	if (!s)
		return REAL(sendfile64)(out, in, off, count);
	return ret(do_sendfile(s, in, (off_t *)off, count));
}

ssize_t shim_splice(int in, off64_t *off_in, int out, off64_t *off_out, size_t len,
		    unsigned int flags)
{
	if (!conn_of(in) && !conn_of(out))
		return REAL(splice)(in, off_in, out, off_out, len, flags);
	/* No pipe pages from a userspace stack: callers fall back to read/write. */
	shim_debug("splice on an xtcp socket: EINVAL");
	return shim_errno(-EINVAL);
}
