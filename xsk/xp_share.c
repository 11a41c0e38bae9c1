/*
 * xp_share.c - RX queues shared by several processes, for more serving
 * processes than queues (nginx worker_processes 4 on a 1-queue veth).
 *
 * A queue is shared only when a process finds no free one. Until then its
 * holder runs exactly the unshared path (xp_port.c, xp_umem.c); the only
 * difference is where its frames live: a memfd, with a small header
 * (struct xp_share_hdr, xp_priv.h) in front, which xp_share_offer()
 * publishes in the program's xtcp_shareq map with the holder's pid and fd
 * numbers.
 *
 * Call order, a joiner (privileged, in xp_port_join()):
 *   xp_share_pick() (the queue with the fewest live members)
 *   -> xp_share_find(): copies of a member's memfd and AF_XDP socket
 *      (pidfd_getfd) -> map the memfd, bind our own socket with
 *      XDP_SHARED_UMEM to that socket (same queue: the kernel shares its
 *      fill and completion rings) -> close the copy (a member's socket must
 *      die with its process, or its XSKMAP slot would outlive it)
 *   -> xp_share_join(): a member slot; if the group is still solo, ask the
 *      first holder to switch to locked ring use and wait for it (its
 *      doorbell eventfd wakes it if it sleeps; bounded)
 *   -> xp_share_commit(): our socket (and, the first time, the first
 *      holder's) in xtcp_share_xsks, the queue published as shared, the
 *      first holder's xsks_map slot removed: from that moment the program's
 *      fallback path (share_steer()) spreads new flows over the members
 *      that listen; segments of flows it did not see start (the first
 *      holder's, from before) go to the first holder.
 *   -> xp_share_listen() at the first listener / when the last one closes
 *   -> xp_share_leave() at exit.
 *
 * Memory: the memfd (header + frames) lives while a member maps it. A
 * member killed with frames in its rings or TX cache takes them with it (the
 * kernel keeps no record of which frames a closed socket held, so they
 * cannot be reclaimed safely); the fill ring is topped up from the free
 * stack (xp_umem.c), so receiving goes on while the group has frames.
 * Deaths are counted and reported when the slot is reused.
 *
 * Generations (nginx -s reload): a process that joins well after the others
 * (XP_SHARE_BATCH_NS), all of them alive, starts a new generation, which
 * alone takes new flows for XP_SHARE_TAKEOVER_NS from then on; SYNs that
 * come before one of it listens are dropped (the peer retries), not given
 * to the old workers: nginx tells those to quit 100 ms after starting the
 * new ones, and a connection still in a closing listener's accept queue is
 * reset. Meanwhile the old workers accept what they have, so their accept
 * queues are empty when they close their listeners. Then every listening
 * member again (a server that adds workers over time keeps them all busy).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "netdev.h"
#include "xp_priv.h"
#include "xp_sys.h"
#include "xtcp_xdp.h"

#define XP_SHARE_BATCH_NS    500000000ull  /* joins this close together: one generation */
#define XP_SHARE_TAKEOVER_NS 2000000000ull /* a reload's workers alone take new flows */
#define XP_SHARE_SWITCH_MS   1000	   /* how long a joiner waits for the first holder */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void join_lock(struct xp_share_hdr *h)
{
	if (pthread_mutex_lock(&h->join_lock) == EOWNERDEAD)
		pthread_mutex_consistent(&h->join_lock);
}

static void join_unlock(struct xp_share_hdr *h)
{
	pthread_mutex_unlock(&h->join_lock);
}

static bool entry_alive(const struct xtcp_share_member *e)
{
	return e->pid && xp_proc_start_time((pid_t)e->pid) == e->start_time;
}

/* Parent of a process, 0 if unknown (/proc/PID/stat field 4). */
static pid_t proc_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd, n, ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = xp_sys_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = (int)xp_sys_read(fd, buf, sizeof(buf) - 1);
	xp_sys_close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

/*
 * A member a process may join: alive, and its sibling (the same parent: a
 * prefork server's workers, a reload's new ones, a replacement for one that
 * died) or its parent. The members of a queue serve the same ports; another
 * program that finds the queues taken serves through the kernel, as it
 * always did.
 */
static bool entry_sibling(const struct xtcp_share_member *e)
{
	return entry_alive(e) &&
	       ((pid_t)e->pid == getppid() || proc_ppid((pid_t)e->pid) == getppid());
}

static bool member_alive(const struct xp_share_hdr *h, unsigned m)
{
	return !h->left[m] && entry_alive(&h->members[m]);
}

static int shareq_get(struct xp_prog *prog, unsigned q, struct xtcp_shareq *v)
{
	uint32_t k = q;

	memset(v, 0, sizeof(*v));
	if (q >= XTCP_SHARE_MAX_QUEUES)
		return -EINVAL;
	if (bpf_map_lookup_elem(prog->shareq_fd, &k, v))
		return -errno;
	return 0;
}

/*
 * Tell the program which members of the queue take new flows: those alive
 * and listening, the newest generation first (see the file comment), and
 * how joiners reach the members. join_lock held (the only writer, but for
 * wait_until, which is kept).
 */
static int share_publish(struct xp_prog *prog, struct xp_share_hdr *h)
{
	struct xtcp_shareq v, old;
	uint32_t k = h->queue;

	shareq_get(prog, h->queue, &old);
	memset(&v, 0, sizeof(v));
	v.wait_until = old.wait_until;
	v.shared = h->mode == XP_SHARE_SHARED;
	v.dflt = h->first;
	for (int newest = 1; newest >= 0; newest--) {
		for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++)
			if (h->listening[m] && (h->members[m].gen == h->gen) == newest &&
			    member_alive(h, m))
				v.slot[v.n++] = (uint8_t)m;
		if (newest)
			v.n_new = v.n;
	}
	if (h->gen)
		v.new_until = h->gen_ns + XP_SHARE_TAKEOVER_NS;
	for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++)
		if (member_alive(h, m))
			v.member[m] = h->members[m];
	xp_log(3, prog->log_level,
	       "%s queue %u: %u member(s) take new flows, %u of generation %u%s", prog->ifname,
	       h->queue, v.n, v.n_new, h->gen, v.new_until > now_ns() ? " alone for now" : "");
	if (bpf_map_update_elem(prog->shareq_fd, &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

static void member_set(struct xp_share_hdr *h, unsigned m, int sock_fd, int mem_fd)
{
	struct xtcp_share_member *e = &h->members[m];

	e->pid = (uint32_t)getpid();
	e->start_time = xp_proc_start_time(getpid());
	e->sock_fd = sock_fd;
	e->mem_fd = mem_fd;
	e->gen = h->gen;
	h->left[m] = 0;
	h->listening[m] = 0;
}

int xp_share_offer(struct xp_prog *prog, struct xp_umem *u, int sock_fd, int doorbell_fd)
{
	struct xp_share_hdr *h = u->sh;
	int err;

	join_lock(h);
	h->mode = XP_SHARE_SOLO;
	h->first = 0;
	h->doorbell_fd = doorbell_fd;
	h->last_join_ns = now_ns();
	member_set(h, 0, sock_fd, u->mem_fd);
	h->listening[0] = 1; /* as an unshared port: new flows unless drained */
	/* Last: a joiner that finds the magic finds a complete header. */
	__atomic_store_n(&h->magic, XP_SHARE_MAGIC, __ATOMIC_RELEASE);
	err = share_publish(prog, h);
	join_unlock(h);
	return err;
}

int xp_share_pick(struct xp_prog *prog, unsigned n_queues, unsigned *queue)
{
	unsigned best_n = ~0u;
	struct xtcp_shareq v;

	for (unsigned q = 0; q < n_queues && q < XTCP_SHARE_MAX_QUEUES; q++) {
		unsigned n = 0, siblings = 0;

		if (shareq_get(prog, q, &v))
			continue;
		for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
			n += entry_alive(&v.member[m]);
			siblings += entry_sibling(&v.member[m]);
		}
		if (siblings && n < best_n) {
			best_n = n;
			*queue = q;
		}
	}
	return best_n == ~0u ? -ENOENT : 0;
}

bool xp_share_taken(struct xp_prog *prog, unsigned q)
{
	struct xtcp_shareq v;

	if (shareq_get(prog, q, &v))
		return false;
	for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++)
		if (entry_sibling(&v.member[m]))
			return true;
	return false;
}

int xp_share_find(struct xp_prog *prog, unsigned q, int *mem_fd, int *sock_fd)
{
	struct xtcp_shareq v;
	int err = shareq_get(prog, q, &v);

	if (err)
		return err;
	err = -ENOENT;
	for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
		const struct xtcp_share_member *e = &v.member[m];

		if (e->pid == (uint32_t)getpid() || !entry_sibling(e))
			continue;
		*mem_fd = xp_sys_fd_of((pid_t)e->pid, e->mem_fd);
		*sock_fd = *mem_fd >= 0 ? xp_sys_fd_of((pid_t)e->pid, e->sock_fd) : -1;
		if (*sock_fd >= 0)
			return 0;
		err = -errno;
		if (*mem_fd >= 0)
			xp_sys_close(*mem_fd);
	}
	return err;
}

/* Does a process joining now start a new generation? join_lock held. */
static bool new_generation(const struct xp_share_hdr *h)
{
	bool members = false;

	if (now_ns() - h->last_join_ns < XP_SHARE_BATCH_NS)
		return false;
	for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
		const struct xtcp_share_member *e = &h->members[m];

		/* One died without leaving: this process replaces it (same generation). */
		if (e->pid && !h->left[m] && !entry_alive(e))
			return false;
		members |= member_alive(h, m);
	}
	return members;
}

/*
 * The first holder drives the rings alone until it sees join_req move (at
 * its next poll) and answers with join_ack. Wake it if it sleeps. join_lock
 * held: joiners go one at a time.
 */
static int ask_switch(struct xp_share_hdr *h)
{
	const struct xtcp_share_member *f = &h->members[h->first];
	uint32_t req = __atomic_add_fetch(&h->join_req, 1, __ATOMIC_ACQ_REL);
	uint64_t one = 1, end = now_ns() + XP_SHARE_SWITCH_MS * 1000000ull;
	int bell = xp_sys_fd_of((pid_t)f->pid, h->doorbell_fd);

	if (bell >= 0) {
		xp_sys_write(bell, &one, sizeof(one));
		xp_sys_close(bell);
	}
	while (__atomic_load_n(&h->join_ack, __ATOMIC_ACQUIRE) != req) {
		if (now_ns() > end || !member_alive(h, h->first))
			return -ETIMEDOUT;
		usleep(500);
	}
	return 0;
}

int xp_share_join(struct xp_prog *prog, struct xp_share_hdr *h, unsigned *member)
{
	unsigned m, slot = XTCP_SHARE_MAX_MEMBERS;
	int err;

	join_lock(h);
	for (m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
		if (member_alive(h, m) && h->members[m].pid == (uint32_t)getpid()) {
			join_unlock(h);
			return -EEXIST; /* one socket per process and queue */
		}
		if (slot == XTCP_SHARE_MAX_MEMBERS && !member_alive(h, m))
			slot = m;
	}
	if (slot == XTCP_SHARE_MAX_MEMBERS) {
		join_unlock(h);
		return -EUSERS;
	}
	if (h->mode == XP_SHARE_SOLO) {
		err = ask_switch(h);
		if (err) {
			join_unlock(h);
			xp_log(0, prog->log_level,
			       "%s queue %u: its holder (pid %u) did not switch to shared use",
			       prog->ifname, h->queue, h->members[h->first].pid);
			return err;
		}
	}
	if (new_generation(h)) {
		h->gen++;
		h->gen_ns = now_ns();
	}
	h->last_join_ns = now_ns();
	if (h->members[slot].pid && !h->left[slot]) {
		h->deaths++;
		xp_log(1, prog->log_level,
		       "%s queue %u: member %u (pid %u) died without leaving; up to %u frames "
		       "went with it (%u such death(s); %u frames free)",
		       prog->ifname, h->queue, slot, h->members[slot].pid,
		       2 * h->ring + XP_SHARE_TX_CACHE + NETDEV_BURST_MAX, h->deaths, h->n_free);
	}
	*member = slot;
	return 0;
}

int xp_share_commit(struct xp_prog *prog, struct xp_share_hdr *h, unsigned member, int sock_fd,
		    int other_fd, int mem_fd)
{
	uint32_t q = h->queue, k, zero = 0;
	struct xtcp_shareq v;
	int err = 0;

	member_set(h, member, sock_fd, mem_fd);
	k = q * XTCP_SHARE_MAX_MEMBERS + member;
	if (bpf_map_update_elem(prog->share_xsks_fd, &k, &sock_fd, BPF_ANY))
		err = -errno;
	shareq_get(prog, q, &v);
	if (!err && !v.shared) {
		/*
		 * The first sharing: the first holder's socket (we hold a copy)
		 * joins the members' map, its drain marks no longer apply, the
		 * queue is published shared, and only then its own slot goes.
		 */
		k = q * XTCP_SHARE_MAX_MEMBERS + h->first;
		if (bpf_map_update_elem(prog->share_xsks_fd, &k, &other_fd, BPF_ANY))
			err = -errno;
		k = q;
		bpf_map_update_elem(prog->drain_fd, &k, &zero, BPF_ANY);
		k = XTCP_XDP_MAX_QUEUES + q;
		bpf_map_update_elem(prog->drain_fd, &k, &zero, BPF_ANY);
	}
	if (!err)
		err = share_publish(prog, h);
	if (!err && !v.shared) {
		k = q;
		bpf_map_delete_elem(prog->xsks_fd, &k);
	}
	join_unlock(h);
	return err;
}

int xp_share_listen(struct xp_prog *prog, struct xp_share_hdr *h, unsigned member, bool on)
{
	int err = 0;

	if (member >= XTCP_SHARE_MAX_MEMBERS)
		return -EINVAL;
	join_lock(h);
	if (h->members[member].pid == (uint32_t)getpid() && h->listening[member] != on) {
		h->listening[member] = on;
		err = share_publish(prog, h);
	}
	join_unlock(h);
	return err;
}

void xp_share_leave(struct xp_prog *prog, struct xp_share_hdr *h, unsigned member)
{
	uint32_t k = h->queue * XTCP_SHARE_MAX_MEMBERS + member;

	if (member >= XTCP_SHARE_MAX_MEMBERS)
		return;
	join_lock(h);
	if (h->members[member].pid == (uint32_t)getpid()) {
		h->left[member] = 1;
		h->listening[member] = 0;
		bpf_map_delete_elem(prog->share_xsks_fd, &k);
		share_publish(prog, h);
	}
	join_unlock(h);
}

int xp_share_expect(struct xp_prog *prog, unsigned n_queues, unsigned ms)
{
	uint64_t until = now_ns() + ms * 1000000ull;
	struct xtcp_shareq v;

	/* The program compares with bpf_ktime_get_ns(): CLOCK_MONOTONIC. */
	for (uint32_t q = 0; q < n_queues && q < XTCP_SHARE_MAX_QUEUES; q++) {
		int err = shareq_get(prog, q, &v);

		if (err)
			return err;
		v.wait_until = until;
		if (bpf_map_update_elem(prog->shareq_fd, &q, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}
