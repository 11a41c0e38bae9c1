/*
 * shim_socket.c - socket life cycle on xtcp: bind, listen, accept, connect,
 * close, shutdown, options, names, dup, fcntl, ioctl.
 *
 * Call order: socket() is never intercepted: every socket is a kernel
 * socket first. bind() of an AF_INET or AF_INET6 stream socket to a served port binds
 * the kernel socket and records a SHIM_BOUND object under its fd; listen()
 * makes the kernel socket listen too (loopback, other interfaces, fallback)
 * and steers the port to AF_XDP (shim_engine.c). Each process instantiates
 * the listener in its own stack when its engine starts. accept() hands out
 * xtcp connections first, then the kernel's; an xtcp connection's fd is a
 * dup of a template kernel socket (the placeholder; a closed connection's
 * kept number when there is one, shim_fdpool.c), so fd numbers never
 * collide. connect() to a port of XTCP_CONNECT_PORTS moves the socket to
 * xtcp and keeps the kernel socket as its placeholder.
 * AF_INET6 sockets are served as Linux serves them (shim_bind6()): [::]
 * takes IPv4 peers too (as ::ffff:a.b.c.d) unless IPV6_V6ONLY, a v4-mapped
 * address is IPv4; names and peers are struct sockaddr_in6 as the kernel's.
 *
 * Memory: struct shim_sock objects come from a free list and are never
 * returned to malloc (lock-free fd table readers may still hold one).
 * Errors: sock_*() return -errno; hooks set errno and return -1 (Linux's
 * values for the same situation).
 */
#include "shim.h"
#include "stack.h"
#include "xp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/close_range.h>
#include <linux/sockios.h>

static struct shim_sock *free_socks;

struct shim_sock *shim_sock_alloc(void)
{
	struct shim_sock *s = free_socks;

	if (s)
		free_socks = s->next_free;
	else
		s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->obj.kind = SHIM_FD_SOCK;
	s->sd = -1;
	s->refs = 1;
	return s;
}

void shim_sock_free(struct shim_sock *s)
{
	s->obj.kind = 0;
	s->sd = -1;
	s->next_free = free_socks;
	free_socks = s;
}

static bool is_tcp(int fd, int family)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) || v != family)
		return false;
	len = sizeof(v);
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &v, &len) || v != SOCK_STREAM)
		return false;
	len = sizeof(v);
	return !REAL(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) && v == IPPROTO_TCP;
}

bool shim_is_tcp4(int fd)
{
	return is_tcp(fd, AF_INET);
}

bool shim_is_tcp6(int fd)
{
	return is_tcp(fd, AF_INET6);
}

static void map_fd(int fd, struct shim_sock *s)
{
	struct shim_fd_obj *old = shim_fd_clear(fd);

	/* A stale entry means the fd was closed behind our back (close_range): drop it. */
	if (old && old->kind == SHIM_FD_SOCK && --((struct shim_sock *)old)->refs <= 0)
		shim_sock_free((struct shim_sock *)old);
	shim_fd_set(fd, &s->obj);
}

/* Int-valued options set on listeners: replayed in each process's stack, inherited by accept. */
static void remember_opt(struct shim_sock *s, int level, int name, const void *val, socklen_t len)
{
	unsigned i;

	if (len != sizeof(int) || !val)
		return;
	for (i = 0; i < s->n_opts; i++) {
		if (s->opts[i].level == level && s->opts[i].name == name) {
			s->opts[i].val = *(const int *)val;
			return;
		}
	}
	if (s->n_opts < SHIM_MAX_OPTS)
		s->opts[s->n_opts++] = (struct shim_opt){level, name, *(const int *)val};
}

/*
 * SO_RCVBUF/SO_SNDBUF set on the kernel socket before it moved to xtcp: a
 * fresh TCP socket holds tcp_rmem[1]/tcp_wmem[1], so another value was set
 * (a request that doubles to exactly the default is missed). The stack gets
 * half the kernel's value, which it doubles back.
 */
static void kernel_bufs(int fd, void (*put)(void *ctx, int level, int name, int v), void *ctx)
{
	static const char *const sysctl[2] = {"/proc/sys/net/ipv4/tcp_rmem",
					      "/proc/sys/net/ipv4/tcp_wmem"};
	static const int names[2] = {SO_RCVBUF, SO_SNDBUF};
	static long dflt[2] = {-1, -1};
	unsigned long s[3];
	int v = 0;
	socklen_t vl;

	for (unsigned i = 0; i < 2; i++) {
		if (dflt[i] < 0)
			dflt[i] = shim_sysctl_read(sysctl[i], s) == 3 ? (long)s[1] : 0;
		vl = sizeof(v);
		if (!dflt[i] || REAL(getsockopt)(fd, SOL_SOCKET, names[i], &v, &vl) || v == dflt[i])
			continue;
		put(ctx, SOL_SOCKET, names[i], v / 2);
	}
}

/*
 * IP_TTL and IPV6_UNICAST_HOPS set on the kernel socket before it moved to
 * xtcp: unset, an unconnected socket reports net.ipv4.ip_default_ttl and
 * net.ipv6.conf.all.hop_limit, so another value was set (setting exactly
 * the default is missed: the stack then uses the route's, as for unset).
 */
static void kernel_hops(int fd, void (*put)(void *ctx, int level, int name, int v), void *ctx)
{
	static long dflt[2] = {-1, -1};
	static const char *const sysctl[2] = {"/proc/sys/net/ipv4/ip_default_ttl",
					      "/proc/sys/net/ipv6/conf/all/hop_limit"};
	static const int level[2] = {IPPROTO_IP, IPPROTO_IPV6};
	static const int names[2] = {IP_TTL, IPV6_UNICAST_HOPS};
	unsigned long s[3];
	int v = 0;
	socklen_t vl;

	for (unsigned i = 0; i < 2; i++) {
		if (dflt[i] < 0)
			dflt[i] = shim_sysctl_read(sysctl[i], s) >= 1 ? (long)s[0] : 0;
		vl = sizeof(v);
		if (!dflt[i] || REAL(getsockopt)(fd, level[i], names[i], &v, &vl) || v == dflt[i])
			continue;
		put(ctx, level[i], names[i], v);
	}
}

/*
 * TCP options the app set on the kernel socket before it moved to xtcp (before
 * bind() or connect()), as the stack should see them. The kernel reports
 * TCP_MAXSEG as its default 536 until the app sets one: 536 itself is
 * indistinguishable and left out (the link's MSS is larger anyway).
 */
static void kernel_opts(int fd, void (*put)(void *ctx, int level, int name, int v), void *ctx)
{
	static const int names[] = {TCP_MAXSEG, TCP_NOTSENT_LOWAT, TCP_FASTOPEN};
	int v = 0;
	socklen_t vl;

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		vl = sizeof(v);
		if (REAL(getsockopt)(fd, IPPROTO_TCP, names[i], &v, &vl) || !v ||
		    (names[i] == TCP_MAXSEG && v == 536))
			continue;
		put(ctx, IPPROTO_TCP, names[i], v);
	}
	kernel_bufs(fd, put, ctx);
	kernel_hops(fd, put, ctx);
}

static void kernel_opt_remember(void *ctx, int level, int name, int v)
{
	remember_opt(ctx, level, name, &v, sizeof(v));
}

struct kernel_opt_ctx {
	struct shim_engine *eng;
	int sd;
};

static void kernel_opt_apply(void *ctx, int level, int name, int v)
{
	const struct kernel_opt_ctx *c = ctx;

	sock_setopt(c->eng->stk, c->sd, level, name, &v, sizeof(v));
}

/*
 * A kernel socket just bound to a served port becomes a SHIM_BOUND entry,
 * with the options set on it before bind() (so before we knew it) to be
 * carried to the stack. fl: its file status flags. Under the shim lock;
 * NULL when the table is full (the socket then stays the kernel's).
 */
static struct shim_sock *bound_track(int fd, int fl)
{
	struct shim_sock *s = shim_sock_alloc();
	int v = 0;
	socklen_t vl = sizeof(v);

	if (!s)
		return NULL;
	s->role = SHIM_BOUND;
	s->fd = fd;
	s->nonblock = fl >= 0 && (fl & O_NONBLOCK);
	if (!REAL(getsockopt)(fd, SOL_SOCKET, SO_REUSEPORT, &v, &vl) && v)
		remember_opt(s, SOL_SOCKET, SO_REUSEPORT, &v, sizeof(v));
	kernel_opts(fd, kernel_opt_remember, s);
	map_fd(fd, s);
	return s;
}

/*
 * An AF_INET6 bind to a served port: served unless the address is one xtcp
 * cannot see (loopback, or link-local of another interface: the kernel
 * keeps those, one line says so). The kernel socket is bound first, so its
 * errors and its IPV6_V6ONLY (net.ipv6.bindv6only, or set before bind) are
 * Linux's own.
 */
static int shim_bind6(int fd, const struct sockaddr_in6 *sin6, socklen_t len)
{
	struct shim_sock *s;
	int r, fl, v6only = 0;
	socklen_t vl = sizeof(v6only);

	if (len < sizeof(*sin6) || !sin6->sin6_port ||
	    !shim_port_in(shim.cfg.ports, ntohs(sin6->sin6_port)) || !shim_is_tcp6(fd))
		return REAL(bind)(fd, (const struct sockaddr *)sin6, len);
	r = REAL(bind)(fd, (const struct sockaddr *)sin6, len);
	if (r)
		return r;
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
	    (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) &&
	     sin6->sin6_scope_id != (uint32_t)if_nametoindex(shim.cfg.iface))) {
		SHIM_STAT(fallback[SHIM_FB_NOT_INET])++;
		shim_warn("fd %d (port %u) stays on the kernel: its IPv6 address is not on %s", fd,
			  ntohs(sin6->sin6_port), shim.cfg.iface);
		return 0;
	}
	REAL(getsockopt)(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &vl);
	fl = REAL(fcntl)(fd, F_GETFL, 0);
	shim_lock();
	s = bound_track(fd, fl);
	if (s) {
		s->inet6 = true;
		s->v6only = v6only != 0;
		s->local6 = *sin6;
		s->local.sin_family = AF_INET;
		s->local.sin_port = sin6->sin6_port; /* for messages */
	}
	shim_unlock(NULL);
	return 0;
}

int shim_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
	struct shim_sock *s;
	int r, fl;

	if (!shim.cfg.n_ports || !addr || len < sizeof(*sin) || shim_fd_get(fd))
		return REAL(bind)(fd, addr, len);
	if (addr->sa_family == AF_INET6)
		return shim_bind6(fd, (const struct sockaddr_in6 *)addr, len);
	if (addr->sa_family != AF_INET)
		return REAL(bind)(fd, addr, len);
	if (!sin->sin_port || !shim_port_in(shim.cfg.ports, ntohs(sin->sin_port)) ||
	    !shim_is_tcp4(fd))
		return REAL(bind)(fd, addr, len);
	r = REAL(bind)(fd, addr, len);
	if (r)
		return r;
	fl = REAL(fcntl)(fd, F_GETFL, 0);
	shim_lock();
	s = bound_track(fd, fl);
	if (s)
		s->local = *sin;
	shim_unlock(NULL);
	return 0;
}

int shim_listen(int fd, int backlog)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	int r;

	if (!s)
		return REAL(listen)(fd, backlog);
	if (s->role == SHIM_CONN)
		return shim_errno(-EINVAL);
	r = REAL(listen)(fd, backlog);
	if (r)
		return r;
	shim_lock();
	s->backlog = backlog <= 0 ? 1 : (backlog > 65535 ? 65535 : backlog);
	if (s->role == SHIM_BOUND) {
		if (s->inet6 ? shim_prog_serve6(&s->local6, s->v6only)
			     : shim_prog_serve(&s->local)) {
			/* Stays a plain kernel listener. */
			shim_fd_clear(fd);
			shim_sock_free(s);
			shim_unlock(NULL);
			return 0;
		}
		s->role = SHIM_LISTENER;
		shim_debug("fd %d: port %u served by xtcp", fd, ntohs(s->local.sin_port));
	}
	eng = shim_engine_cur();
	if (eng && !shim_sock_live(s, eng))
		shim_listener_instantiate(eng, s);
	shim_unlock(eng);
	return 0;
}

/*
 * A kernel socket of the connection's family: fstat, SO_DOMAIN on it answer
 * as Linux. A closed connection's, if one is kept (shim_fdpool.c).
 */
static int placeholder_fd(bool cloexec, bool inet6)
{
	int *t = inet6 ? &shim.template6_fd : &shim.template_fd;
	int fd;

	if (*t < 0)
		*t = socket(inet6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*t < 0)
		return -errno;
	fd = shim_fdpool_take(*t, inet6, cloexec);
	if (fd >= 0)
		return fd;
	return REAL(fcntl)(*t, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
}

/* A new xtcp connection sd: give it an fd. Returns the fd or -errno (sd then closed). */
static int conn_new(struct shim_engine *eng, int sd, int flags, const struct shim_sock *parent)
{
	struct shim_sock *s;
	int fd = placeholder_fd(flags & SOCK_CLOEXEC, parent && parent->inet6);

	if (fd < 0 || !(s = shim_sock_alloc())) {
		int err = fd < 0 ? -errno : -ENOMEM;

		if (fd >= 0)
			REAL(close)(fd);
		sock_close(eng->stk, sd);
		return err ? err : -EMFILE;
	}
	s->role = SHIM_CONN;
	s->fd = fd;
	s->fd_poolable = true;
	s->fd_cloexec = flags & SOCK_CLOEXEC;
	s->sd = sd;
	s->gen = eng->gen;
	s->nonblock = flags & SOCK_NONBLOCK;
	s->inet6 = parent && parent->inet6;
	if (parent) {
		s->rcvtimeo_us = parent->rcvtimeo_us;
		s->sndtimeo_us = parent->sndtimeo_us;
		for (unsigned i = 0; i < parent->n_opts;
		     i++) /* Linux: SOCK_ZEROCOPY is inherited */
			if (parent->opts[i].level == SOL_SOCKET &&
			    parent->opts[i].name == SO_ZEROCOPY)
				s->zc.on = parent->opts[i].val != 0;
	}
	sock_set_user(eng->stk, sd, s);
	map_fd(fd, s);
	SHIM_STAT(conns)++;
	return fd;
}

/* Linux's truncation: copy what fits, report the full size. */
static void copy_sa(struct sockaddr *addr, socklen_t *alen, const void *sa, socklen_t size)
{
	socklen_t n;

	if (!addr || !alen)
		return;
	n = *alen < size ? *alen : size;
	memcpy(addr, sa, n);
	*alen = size;
}

static void copy_addr(struct sockaddr *addr, socklen_t *alen, const struct sockaddr_in *sin)
{
	copy_sa(addr, alen, sin, sizeof(*sin));
}

/*
 * A connection the kernel's half of a listener accepted from the served
 * interface: its SYN found no AF_XDP socket on its queue (this process had
 * not served the listener yet, its queue was draining or taken), so it runs
 * on the kernel. Loopback and other interfaces are the kernel's by design.
 * Counted, and one line per second at most (with how many since the last).
 */
static void kernel_accept_note(int cfd)
{
	static uint64_t last_us;
	static unsigned since;
	struct sockaddr_in l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);
	char peer[INET_ADDRSTRLEN];
	uint32_t nh;
	int ifindex, err;
	uint64_t now;

	if (!shim.prog || REAL(getsockname)(cfd, (struct sockaddr *)&l, &ll) ||
	    REAL(getpeername)(cfd, (struct sockaddr *)&r, &rl) || l.sin_family != AF_INET ||
	    (ntohl(l.sin_addr.s_addr) >> 24) == 127)
		return;
	err = xp_nl_route(r.sin_addr.s_addr, &nh, &ifindex);
	if (err || ifindex != xp_prog_ifindex(shim.prog))
		return;
	SHIM_STAT(fallback[SHIM_FB_KERNEL_SYN])++;
	since++;
	now = shim_now_us();
	if (last_us && now - last_us < 1000000)
		return;
	shim_warn("fd %d (port %u, from %s): accepted by the kernel: its SYN came while no AF_XDP "
		  "socket of this process served the queue (%u such since the last line)",
		  cfd, ntohs(l.sin_port), inet_ntop(AF_INET, &r.sin_addr, peer, sizeof(peer)),
		  since);
	last_us = now;
	since = 0;
}

/* Kernel side of an xtcp listener (loopback, other interfaces): never blocks. */
static int kernel_accept(int fd, struct shim_sock *s, struct sockaddr *addr, socklen_t *alen,
			 int flags)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int r;

	if (!s->nonblock && REAL(poll)(&p, 1, 0) <= 0)
		return -EAGAIN;
	r = REAL(accept4)(fd, addr, alen, flags);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	SHIM_STAT(accepted_kernel)++;
	kernel_accept_note(r);
	return r;
}

int shim_accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	struct sockaddr_in peer;
	struct sockaddr_in6 peer6;
	uint64_t deadline;
	bool timed_out = false;
	int r, sd, w;

	if (!s || s->role == SHIM_BOUND)
		return REAL(accept4)(fd, addr, alen, flags);
	if (s->role == SHIM_CONN || (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)))
		return shim_errno(-EINVAL);
	shim_lock();
	eng = shim_listener_use(s);
	if (!shim_sock_live(s, eng)) {
		shim_unlock(eng);
		return REAL(accept4)(fd, addr, alen, flags);
	}
	deadline = shim_deadline(s->rcvtimeo_us);
	for (;;) {
		sd = s->inet6 ? sock_accept6(eng->stk, s->sd, &peer6)
			      : sock_accept(eng->stk, s->sd, &peer);
		if (sd == -EAGAIN) {
			shim_engine_poll_quiet(eng);
			sd = s->inet6 ? sock_accept6(eng->stk, s->sd, &peer6)
				      : sock_accept(eng->stk, s->sd, &peer);
		}
		if (sd >= 0) {
			r = conn_new(eng, sd, flags, s);
			if (r < 0) {
				r = shim_errno(r);
				break;
			}
			SHIM_STAT(accepted_xtcp)++;
			if (s->inet6)
				copy_sa(addr, alen, &peer6, sizeof(peer6));
			else
				copy_addr(addr, alen, &peer);
			break;
		}
		if (sd != -EAGAIN) {
			r = shim_errno(sd);
			break;
		}
		r = kernel_accept(fd, s, addr, alen, flags);
		if (r != -EAGAIN) {
			if (r < 0)
				r = shim_errno(r);
			break;
		}
		if (s->nonblock || timed_out) {
			r = shim_errno(-EAGAIN);
			break;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		w = shim_wait_locked(eng, &p, 1, deadline, NULL);
		if (w == -EINTR && shim_sig_restart(s->rcvtimeo_us))
			continue; /* SA_RESTART */
		if (w == -EINTR || w == -ENOMEM) {
			r = shim_errno(w);
			break;
		}
		timed_out = w == -ETIMEDOUT;
	}
	shim_unlock(eng);
	return r;
}

int shim_accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return shim_accept4(fd, addr, alen, 0);
}

/* Should connect(dst) run on xtcp: a connect port, reached through XTCP_IFACE. */
static bool connect_on_xtcp(int fd, const struct sockaddr_in *dst)
{
	uint32_t nh;
	int ifindex;
	struct sockaddr_in me;
	socklen_t len = sizeof(me);

	if (!shim_port_in(shim.cfg.connect_ports, ntohs(dst->sin_port)))
		return false;
	if ((ntohl(dst->sin_addr.s_addr) >> 24) == 127 || !shim_is_tcp4(fd))
		return false;
	/* A socket already bound to a local port keeps it: the kernel owns that port. */
	if (!REAL(getsockname)(fd, (struct sockaddr *)&me, &len) && me.sin_port)
		return false;
	if (shim_prog_client())
		return false;
	return !xp_nl_route(dst->sin_addr.s_addr, &nh, &ifindex) &&
	       ifindex == xp_prog_ifindex(shim.prog);
}

/*
 * Has XTCP_IFACE an IPv6 address of the scope dst needs (link-local for a
 * link-local dst)? Asked at connect time only; without one the connection
 * stays on the kernel, said once.
 */
static bool iface_has_ip6_for(const struct in6_addr *dst)
{
	static bool said;
	struct xp_link l;
	bool want_ll = IN6_IS_ADDR_LINKLOCAL(dst);

	if (xp_nl_link(shim.cfg.iface, &l) == 0)
		for (unsigned i = 0; i < l.n_addrs6; i++)
			if (IN6_IS_ADDR_LINKLOCAL(&l.addr6[i]) == want_ll)
				return true;
	if (!said)
		shim_warn("IPv6 connect()s stay on the kernel: %s has no usable %s IPv6 address",
			  shim.cfg.iface, want_ll ? "link-local" : "global");
	said = true;
	return false;
}

/* connect_on_xtcp() for AF_INET6: a v4-mapped destination is routed as IPv4 (Linux does). */
static bool connect6_on_xtcp(int fd, const struct sockaddr_in6 *dst)
{
	const struct in6_addr *a = &dst->sin6_addr;
	struct sockaddr_in6 me;
	socklen_t len = sizeof(me);
	struct in6_addr nh6;
	uint32_t nh, ip4;
	int ifindex, oif;

	if (!shim_port_in(shim.cfg.connect_ports, ntohs(dst->sin6_port)))
		return false;
	if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_MULTICAST(a) ||
	    !shim_is_tcp6(fd))
		return false;
	memcpy(&ip4, a->s6_addr + 12, 4);
	if (IN6_IS_ADDR_V4MAPPED(a) && (ntohl(ip4) >> 24) == 127)
		return false;
	if (!REAL(getsockname)(fd, (struct sockaddr *)&me, &len) && me.sin6_port)
		return false;
	if (shim_prog_client())
		return false;
	oif = xp_prog_ifindex(shim.prog);
	if (IN6_IS_ADDR_V4MAPPED(a))
		return !xp_nl_route(ip4, &nh, &ifindex) && ifindex == oif;
	/* a link-local destination names its interface */
	if (IN6_IS_ADDR_LINKLOCAL(a) && dst->sin6_scope_id != (uint32_t)oif)
		return false;
	return !xp_nl_route6(a, oif, &nh6, &ifindex) && ifindex == oif && iface_has_ip6_for(a);
}

/* A connect in progress has ended (EPOLLOUT, EPOLLERR or EPOLLHUP): its result. */
static int connect_done(struct shim_engine *eng, struct shim_sock *s)
{
	int err;

	s->connecting = false;
	err = sock_error(eng->stk, s->sd);
	if (err)
		return err < 0 ? err : -err;
	s->connected = true;
	return 0;
}

static int wait_connected(struct shim_engine *eng, struct shim_sock *s)
{
	uint64_t deadline = shim_deadline(s->sndtimeo_us);
	int w;

	for (;;) {
		uint32_t ev = sock_events(eng->stk, s->sd);

		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			break;
		w = shim_wait_locked(eng, NULL, 0, deadline, NULL);
		if (w == -ETIMEDOUT)
			return -EINPROGRESS;
		if (w)
			return w;
	}
	return connect_done(eng, s);
}

static int connect_again(struct shim_engine *eng, struct shim_sock *s)
{
	uint32_t ev;

	if (!shim_sock_live(s, eng))
		return -EBADF;
	if (s->connected)
		return -EISCONN;
	if (!s->connecting)
		return -EISCONN;
	if (!s->nonblock)
		return wait_connected(eng, s);
	shim_engine_poll(eng);
	ev = sock_events(eng->stk, s->sd);
	if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return -EALREADY;
	return connect_done(eng, s);
}

int shim_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	bool inet6;
	int r, sd, fl, v;
	socklen_t vl;

	if (s && s->role == SHIM_CONN) {
		shim_lock();
		eng = shim_engine_cur();
		r = connect_again(eng, s);
		shim_unlock(eng);
		return r ? shim_errno(r) : 0;
	}
	if (s || !shim.cfg.n_connect_ports || !addr || len < sizeof(*sin) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) ||
	    (addr->sa_family == AF_INET6 && len < sizeof(*sin6)))
		return REAL(connect)(fd, addr, len);
	inet6 = addr->sa_family == AF_INET6;
	shim_lock();
	if (!(inet6 ? connect6_on_xtcp(fd, sin6) : connect_on_xtcp(fd, sin)) ||
	    !(eng = shim_engine_get())) {
		shim_unlock(NULL);
		return REAL(connect)(fd, addr, len);
	}
	sd = inet6 ? sock_socket6(eng->stk) : sock_socket(eng->stk);
	s = sd >= 0 ? shim_sock_alloc() : NULL;
	if (!s) {
		if (sd >= 0)
			sock_close(eng->stk, sd);
		SHIM_STAT(fallback[SHIM_FB_STACK])++;
		shim_unlock(eng);
		return REAL(connect)(fd, addr, len);
	}
	fl = REAL(fcntl)(fd, F_GETFL, 0);
	s->role = SHIM_CONN;
	s->fd = fd;
	s->sd = sd;
	s->gen = eng->gen;
	s->nonblock = fl >= 0 && (fl & O_NONBLOCK);
	s->inet6 = inet6;
	/* Options set on the kernel socket before connect() carry over. */
	vl = sizeof(v);
	if (inet6 && !REAL(getsockopt)(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl))
		sock_setopt(eng->stk, sd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	vl = sizeof(v);
	if (inet6 && !REAL(getsockopt)(fd, IPPROTO_IPV6, IPV6_TCLASS, &v, &vl) && v > 0)
		sock_setopt(eng->stk, sd, IPPROTO_IPV6, IPV6_TCLASS, &v, sizeof(v));
	vl = sizeof(v);
	if (!REAL(getsockopt)(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) && v)
		sock_setopt(eng->stk, sd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
	vl = sizeof(v);
	if (!REAL(getsockopt)(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &vl) && v)
		sock_setopt(eng->stk, sd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v));
	kernel_opts(fd, kernel_opt_apply, &(struct kernel_opt_ctx){eng, sd});
	sock_set_user(eng->stk, sd, s);
	map_fd(fd, s);
	shim_ep_adopt(fd, s); /* epoll registrations made before connect() */
	SHIM_STAT(conns)++;
	SHIM_STAT(connected_xtcp)++;
	r = inet6 ? sock_connect6(eng->stk, sd, sin6, shim_now_us())
		  : sock_connect(eng->stk, sd, sin, shim_now_us());
	shim_engine_flush(eng);
	shim_engine_attend(eng); /* the handshake completes while the app computes */
	if (r == -EINPROGRESS) {
		s->connecting = true;
		r = s->nonblock ? -EINPROGRESS : wait_connected(eng, s);
	} else if (!r) {
		s->connected = true;
	}
	shim_unlock(eng);
	return r ? shim_errno(r) : 0;
}

/* Release one fd's reference to s (lock held). */
static void sock_unref(struct shim_sock *s, int fd)
{
	struct shim_engine *eng = shim_engine_cur();
	int other;

	if (--s->refs > 0) {
		if (s->fd == fd) {
			s->fd_poolable = false; /* the next is a dup: flags unknown */
			for (other = shim_fd_next(0); other >= 0; other = shim_fd_next(other + 1))
				if (shim_sock_of(other) == s)
					break;
			s->fd = other;
		}
		return;
	}
	shim_ep_sock_gone(s);
	if (shim_sock_live(s, eng)) {
		sock_set_user(eng->stk, s->sd, NULL);
		sock_close(eng->stk, s->sd);
		shim_engine_flush_soon(eng);
		if (s->role == SHIM_LISTENER)
			SHIM_STAT(listeners)--;
		else
			SHIM_STAT(conns)--;
	}
	if (shim_sock_live(s, eng) && s->role == SHIM_LISTENER) {
		s->sd = -1;
		shim_engine_drain_check(eng);
	}
	shim_sock_free(s);
}

int shim_close(int fd)
{
	struct shim_fd_obj *o;
	struct shim_sock *s;
	bool keep = false;

	if (!shim_fd_get(fd)) {
		shim_ep_forget(fd);
		return REAL(close)(fd);
	}
	shim_lock();
	o = shim_fd_clear(fd);
	if (shim_fdpool_has(o)) {
		shim_fd_set(fd, o);
		shim_unlock(shim_engine_cur());
		return shim_errno(-EBADF); /* closed already, for the app */
	}
	if (o && o->kind == SHIM_FD_SOCK) {
		s = (struct shim_sock *)o;
		keep = s->role == SHIM_CONN && s->fd == fd && s->fd_poolable;
		bool inet6 = s->inet6, cloexec = s->fd_cloexec;

		sock_unref(s, fd);
		keep = keep && shim_fdpool_put(fd, inet6, cloexec);
	} else if (o && o->kind == SHIM_FD_EPOLL) {
		shim_ep_close((struct shim_ep *)o);
	}
	shim_unlock(shim_engine_cur());
	return keep ? 0 : REAL(close)(fd);
}

/* Forget every mapped fd in [first, last] (lock held): they are about to be closed. */
static void unmap_range(unsigned first, unsigned last)
{
	struct shim_fd_obj *o;
	int fd;

	for (fd = shim_fd_next((int)first); fd >= 0 && (unsigned)fd <= last;
	     fd = shim_fd_next(fd + 1)) {
		o = shim_fd_clear(fd);
		if (shim_fdpool_has(o))
			shim_fdpool_forget(fd);
		else if (o && o->kind == SHIM_FD_SOCK)
			sock_unref((struct shim_sock *)o, fd);
		else if (o && o->kind == SHIM_FD_EPOLL)
			shim_ep_close((struct shim_ep *)o);
	}
}

int shim_close_range(unsigned int first, unsigned int last, int flags)
{
	int r;

	/* CLOSE_RANGE_CLOEXEC only marks: nothing closes now. */
	if ((flags & CLOSE_RANGE_CLOEXEC) || first > last || shim_fd_next((int)first) < 0) {
		r = REAL(close_range)(first, last, flags);
		if (!r && (flags & CLOSE_RANGE_CLOEXEC) && first <= last) {
			shim_lock();
			shim_fdpool_range_cloexec(first, last);
			shim_unlock(shim_engine_cur());
		}
		return r;
	}
	shim_lock();
	r = REAL(close_range)(first, last, flags);
	if (!r)
		unmap_range(first, last);
	shim_unlock(shim_engine_cur());
	return r;
}

void shim_closefrom_impl(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	shim_lock();
	unmap_range((unsigned)lowfd, ~0u);
	shim_unlock(shim_engine_cur());
	if (REAL(closefrom))
		REAL(closefrom)(lowfd);
	else
		REAL(close_range)((unsigned)lowfd, ~0u, 0);
}

int shim_shutdown(int fd, int how)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	int r;

	if (!s || s->role != SHIM_CONN)
		return REAL(shutdown)(fd, how);
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return shim_errno(-EINVAL);
	shim_lock();
	eng = shim_engine_cur();
	if (shim_sock_live(s, eng)) {
		r = sock_shutdown(eng->stk, s->sd, how);
		shim_engine_flush_soon(eng);
	} else {
		r = -EBADF;
	}
	shim_unlock(eng);
	return r ? shim_errno(r) : 0;
}

static int timeo_get(uint64_t us, void *val, socklen_t *len)
{
	struct timeval tv = {.tv_sec = (time_t)(us / 1000000),
			     .tv_usec = (suseconds_t)(us % 1000000)};

	if (!val || !len)
		return -EFAULT;
	if (*len < sizeof(tv))
		return -EINVAL;
	memcpy(val, &tv, sizeof(tv));
	*len = sizeof(tv);
	return 0;
}

static int timeo_set(uint64_t *us, const void *val, socklen_t len)
{
	struct timeval tv;

	if (!val)
		return -EFAULT;
	if (len < sizeof(tv))
		return -EINVAL;
	memcpy(&tv, val, sizeof(tv));
	if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec < 0)
		*us = 0;
	else
		*us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	return 0;
}

static int int_get(int v, void *val, socklen_t *len)
{
	if (!val || !len)
		return -EFAULT;
	if (*len < sizeof(int)) /* Linux truncates to the given length */
		memcpy(val, &v, *len);
	else {
		memcpy(val, &v, sizeof(int));
		*len = sizeof(int);
	}
	return 0;
}

static int conn_getopt(struct shim_engine *eng, struct shim_sock *s, int level, int name, void *val,
		       socklen_t *len)
{
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR: {
			int err = sock_error(eng->stk, s->sd); /* reading clears it */

			return int_get(err < 0 ? -err : err, val, len);
		}
		case SO_TYPE:
			return int_get(SOCK_STREAM, val, len);
		case SO_DOMAIN:
			return int_get(s->inet6 ? AF_INET6 : AF_INET, val, len);
		case SO_PROTOCOL:
			return int_get(IPPROTO_TCP, val, len);
		case SO_ACCEPTCONN:
			return int_get(0, val, len);
		case SO_RCVTIMEO:
			return timeo_get(s->rcvtimeo_us, val, len);
		case SO_SNDTIMEO:
			return timeo_get(s->sndtimeo_us, val, len);
		case SO_ZEROCOPY:
			return shim_zc_getopt(s, val, len);
		}
	}
	return sock_getopt(eng->stk, s->sd, level, name, val, len);
}

/*
 * SO_SNDBUF/SO_RCVBUF (and the FORCE variants) of a connection: the kernel
 * socket behind the fd takes the request first, so the value is clamped and
 * doubled exactly as this kernel does (net.core.wmem_max/rmem_max, the
 * floors, CAP_NET_ADMIN for FORCE); the stack then gets half of the result,
 * which it doubles back.
 */
static bool is_buf_opt(int level, int name)
{
	return level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_RCVBUF ||
				       name == SO_SNDBUFFORCE || name == SO_RCVBUFFORCE);
}

static int conn_setbuf(struct shim_engine *eng, struct shim_sock *s, int name, const void *val,
		       socklen_t len)
{
	int base = (name == SO_SNDBUF || name == SO_SNDBUFFORCE) ? SO_SNDBUF : SO_RCVBUF, v = 0;
	socklen_t vl = sizeof(v);

	if (REAL(setsockopt)(s->fd, SOL_SOCKET, name, val, len) ||
	    REAL(getsockopt)(s->fd, SOL_SOCKET, base, &v, &vl))
		return -errno;
	v /= 2;
	return sock_setopt(eng->stk, s->sd, SOL_SOCKET, base, &v, sizeof(v));
}

int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	int r;

	if (!s || s->role != SHIM_CONN)
		return REAL(getsockopt)(fd, level, name, val, len);
	shim_lock();
	eng = shim_engine_cur();
	r = shim_sock_live(s, eng) ? conn_getopt(eng, s, level, name, val, len) : -EBADF;
	shim_unlock(eng);
	return r ? shim_errno(r) : 0;
}

int shim_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	bool timeo = level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO);
	int r;

	if (!s)
		return REAL(setsockopt)(fd, level, name, val, len);
	shim_lock();
	eng = shim_engine_cur();
	if (s->role != SHIM_CONN) {
		/* Listener: the kernel socket takes it (and validates), then our copy. */
		r = REAL(setsockopt)(fd, level, name, val, len) ? -errno : 0;
		if (!r && timeo)
			timeo_set(name == SO_RCVTIMEO ? &s->rcvtimeo_us : &s->sndtimeo_us, val,
				  len);
		else if (!r && is_buf_opt(level, name)) {
			int v = 0, base = (name == SO_SNDBUF || name == SO_SNDBUFFORCE) ? SO_SNDBUF
											: SO_RCVBUF;
			socklen_t vl = sizeof(v);

			if (!REAL(getsockopt)(fd, SOL_SOCKET, base, &v, &vl)) {
				v /= 2; /* the kernel's clamped, doubled value: the stack doubles */
				remember_opt(s, SOL_SOCKET, base, &v, sizeof(v));
				if (shim_sock_live(s, eng))
					sock_setopt(eng->stk, s->sd, SOL_SOCKET, base, &v,
						    sizeof(v));
			}
		} else if (!r) {
			remember_opt(s, level, name, val, len);
			if (shim_sock_live(s, eng))
				sock_setopt(eng->stk, s->sd, level, name, val, len);
		}
	} else if (!shim_sock_live(s, eng)) {
		r = -EBADF;
	} else if (timeo) {
		r = timeo_set(name == SO_RCVTIMEO ? &s->rcvtimeo_us : &s->sndtimeo_us, val, len);
	} else if (is_buf_opt(level, name)) {
		r = conn_setbuf(eng, s, name, val, len);
	} else if (level == SOL_SOCKET && name == SO_ZEROCOPY) {
		r = shim_zc_setopt(s, val, len);
	} else {
		r = sock_setopt(eng->stk, s->sd, level, name, val, len);
		/*
		 * Options Linux accepts that the stack does not model (IP_TOS,
		 * SO_PRIORITY, ...) are accepted and have no effect, as the
		 * application could not observe a difference on the wire we make.
		 */
		if (r == -ENOPROTOOPT &&
		    (level == SOL_SOCKET || level == IPPROTO_IP || level == IPPROTO_TCP ||
		     (level == IPPROTO_IPV6 && s->inet6))) {
			shim_debug("fd %d: option %d/%d ignored by xtcp", fd, level, name);
			r = 0;
		}
		shim_engine_flush_soon(eng); /* uncorking may release data */
	}
	shim_unlock(eng);
	return r ? shim_errno(r) : 0;
}

static int name_common(int fd, struct sockaddr *addr, socklen_t *alen, bool peer)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	int r;

	if (!s || s->role != SHIM_CONN)
		return peer ? REAL(getpeername)(fd, addr, alen) : REAL(getsockname)(fd, addr, alen);
	if (!addr || !alen)
		return shim_errno(-EFAULT);
	shim_lock();
	eng = shim_engine_cur();
	if (!shim_sock_live(s, eng))
		r = -EBADF;
	else if (s->inet6)
		r = peer ? sock_peer6(eng->stk, s->sd, &sin6) : sock_name6(eng->stk, s->sd, &sin6);
	else
		r = peer ? sock_peer(eng->stk, s->sd, &sin) : sock_name(eng->stk, s->sd, &sin);
	shim_unlock(eng);
	if (r)
		return shim_errno(r);
	if (s->inet6)
		copy_sa(addr, alen, &sin6, sizeof(sin6));
	else
		copy_addr(addr, alen, &sin);
	return 0;
}

int shim_getsockname(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return name_common(fd, addr, alen, false);
}

int shim_getpeername(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return name_common(fd, addr, alen, true);
}

/* newfd now also names what fd names (lock held). */
static void dup_map(int fd, int newfd)
{
	struct shim_fd_obj *o = shim_fd_get(fd);

	if (!o || o->kind != SHIM_FD_SOCK || newfd < 0)
		return;
	((struct shim_sock *)o)->refs++;
	shim_fd_set(newfd, o);
}

/* dup2/dup3 close newfd silently first: drop what it named (lock held). */
static void dup_target_drop(int newfd)
{
	struct shim_fd_obj *o = shim_fd_clear(newfd);

	if (shim_fdpool_has(o))
		shim_fdpool_forget(newfd);
	else if (o && o->kind == SHIM_FD_SOCK)
		sock_unref((struct shim_sock *)o, newfd);
	else if (o && o->kind == SHIM_FD_EPOLL)
		shim_ep_close((struct shim_ep *)o);
}

int shim_dup(int fd)
{
	int r;

	if (!shim_fd_get(fd))
		return REAL(dup)(fd);
	if (shim_fdpool_has(shim_fd_get(fd)))
		return shim_errno(-EBADF);
	shim_lock();
	r = REAL(dup)(fd);
	dup_map(fd, r);
	shim_unlock(shim_engine_cur());
	return r;
}

int shim_dup3(int fd, int newfd, int flags)
{
	int r;

	if (!shim_fd_get(fd) && !shim_fd_get(newfd))
		return REAL(dup3)(fd, newfd, flags);
	if (shim_fdpool_has(shim_fd_get(fd)))
		return shim_errno(-EBADF);
	shim_lock();
	r = REAL(dup3)(fd, newfd, flags);
	if (r >= 0) {
		dup_target_drop(newfd);
		dup_map(fd, r);
	}
	shim_unlock(shim_engine_cur());
	return r;
}

int shim_dup2(int fd, int newfd)
{
	int r;

	if (shim_fdpool_has(shim_fd_get(fd)))
		return shim_errno(-EBADF);
	if (fd == newfd || (!shim_fd_get(fd) && !shim_fd_get(newfd)))
		return REAL(dup2)(fd, newfd);
	shim_lock();
	r = REAL(dup2)(fd, newfd);
	if (r >= 0) {
		dup_target_drop(newfd);
		dup_map(fd, r);
	}
	shim_unlock(shim_engine_cur());
	return r;
}

int shim_fcntl_impl(int fd, int cmd, long arg, shim_fn_fcntl real)
{
	struct shim_sock *s = shim_sock_of(fd);
	int r;

	if (!s)
		return real(fd, cmd, arg);
	if (s == &shim_fdpool_sock)
		return shim_errno(-EBADF);
	switch (cmd) {
	case F_SETFD:
		r = real(fd, cmd, arg);
		if (!r && fd == s->fd)
			s->fd_poolable = false; /* keep only numbers whose flag we know */
		return r;
	case F_GETFL:
		r = real(fd, cmd, arg);
		if (r >= 0 && s->role == SHIM_CONN)
			r = (r & ~O_NONBLOCK) | (s->nonblock ? O_NONBLOCK : 0);
		return r;
	case F_SETFL:
		/* A connection's placeholder is shared: its flag lives here, not in the kernel. */
		if (s->role == SHIM_CONN) {
			s->nonblock = arg & O_NONBLOCK;
			return 0;
		}
		r = real(fd, cmd, arg);
		if (!r)
			s->nonblock = arg & O_NONBLOCK;
		return r;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		shim_lock();
		r = real(fd, cmd, arg);
		dup_map(fd, r);
		shim_unlock(shim_engine_cur());
		return r;
	default:
		return real(fd, cmd, arg);
	}
}

int shim_ioctl_impl(int fd, unsigned long req, void *arg)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	int r = 0, v = 0;

	if (!s)
		return REAL(ioctl)(fd, req, arg);
	if (s == &shim_fdpool_sock)
		return shim_errno(-EBADF);
	if (req == FIOCLEX || req == FIONCLEX)
		s->fd_poolable = false; /* as F_SETFD */
	if (req == FIONBIO) {
		if (!arg)
			return shim_errno(-EFAULT);
		if (s->role != SHIM_CONN && REAL(ioctl)(fd, req, arg))
			return -1;
		s->nonblock = *(int *)arg != 0;
		return 0;
	}
	if (s->role != SHIM_CONN || (req != FIONREAD && req != SIOCOUTQ && req != SIOCATMARK))
		return REAL(ioctl)(fd, req, arg);
	if (!arg)
		return shim_errno(-EFAULT);
	shim_lock();
	eng = shim_engine_cur();
	if (!shim_sock_live(s, eng)) {
		r = -EBADF;
	} else {
		shim_engine_poll(eng); /* as the read calls: what has arrived counts */
		if (req == FIONREAD)
			v = (int)sock_rx_avail(eng->stk, s->sd);
		else if (req == SIOCATMARK)
			v = sock_atmark(eng->stk, s->sd);
		else
			v = (int)sock_tx_queued(eng->stk, s->sd);
	}
	shim_unlock(eng);
	if (r)
		return shim_errno(r);
	*(int *)arg = v;
	return 0;
}
