/*
 * xp_share.c - RX queues shared by several processes: one UMEM per queue in
 * MAP_SHARED memory, registered on an anchor socket bound to the queue, and
 * one AF_XDP socket per member process on that UMEM (XDP_SHARED_UMEM: they
 * share its fill and completion rings). The XDP program picks the member of
 * each new flow by hash among those that listen (bpf/xtcp_xdp.bpf.c).
 *
 * Call order: the privileged process that serves first (nginx's master,
 * before it forks) xp_share_create() -> fork: children inherit the mappings
 * and the anchor fds -> each member process, while it still has privilege:
 * xp_share_pick() (fewest members) -> xp_port_open_shared() (xp_port.c:
 * xp_share_join() here, its socket, its XSKMAP slot) -> ... ->
 * xp_port_leave() at exit (its slot and cached frames back).
 *
 * Why an anchor: the kernel lets a socket share a UMEM only through a bound
 * socket that registered it, and that socket's queue binding holds the fill
 * and completion rings. Every process of the family holds the anchor, none
 * receives on it (it is in no XSKMAP), so members come and go and die
 * without taking the rings with them.
 *
 * Memory: the frame area and the header (struct xp_share_hdr: locks,
 * member table, free stack) are MAP_SHARED and live as long as a process of
 * the family maps them. A member killed with frames in its RX ring, its TX
 * ring or its TX cache takes them with it: at most its RX ring + TX ring +
 * XP_SHARE_TX_CACHE + NETDEV_BURST_MAX frames per death (the kernel keeps
 * no record of which frames a closed socket held, so they cannot be
 * reclaimed safely). The fill ring is kept full from the free stack, so
 * receiving goes on while the group has frames; deaths are counted and
 * reported when the slot is reused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "netdev.h"
#include "xp_priv.h"
#include "xp_sys.h"
#include "xtcp_xdp.h"

_Static_assert(XP_SHARE_MEMBERS_MAX == XTCP_SHARE_MAX_MEMBERS, "xp.h and the program agree");

#define XP_FRAME_SIZE	     4096
#define XP_ANCHOR_RING	     64	 /* the anchor's TX ring: required by bind, never used */
#define XP_SHARE_RESERVE     256 /* free frames kept for TX before the fill ring is topped up */
#define XP_SHARE_BATCH_NS    500000000ull  /* joins this close together: one generation */
#define XP_SHARE_TAKEOVER_NS 2000000000ull /* a reload's workers alone take new flows */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static int robust_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int err;

	pthread_mutexattr_init(&a);
	err = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!err)
		err = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!err)
		err = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -err;
}

static void join_lock(struct xp_share_hdr *h)
{
	if (pthread_mutex_lock(&h->join_lock) == EOWNERDEAD)
		pthread_mutex_consistent(&h->join_lock);
}

static bool member_alive(const struct xp_share_member *m)
{
	return m->pid && !m->left && xp_proc_start_time((pid_t)m->pid) == m->start_time;
}

/* One queue's group: area, header, UMEM with its rings full, anchor bound. */
static int group_create(struct xp_share *sh, unsigned q, uint32_t frames, uint32_t ring,
			const struct xp_port_config *cfg)
{
	struct xp_share_q *g = &sh->q[q];
	struct xp_umem *u = &g->umem;
	struct xsk_umem_config ucfg = {
		.fill_size = ring,
		.comp_size = pow2_at_least(frames),
		.frame_size = XP_FRAME_SIZE,
		.frame_headroom = XP_NET_IP_ALIGN,
	};
	struct xsk_socket_config xcfg = {
		.tx_size = XP_ANCHOR_RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xp_share_hdr *h;
	uint32_t idx, i;
	void *area;
	int err;

	if (cfg->zero_copy == 1)
		xcfg.bind_flags |= XDP_ZEROCOPY;
	else if (cfg->zero_copy == 0)
		xcfg.bind_flags |= XDP_COPY;
	g->hdr_size = sizeof(*h) + (size_t)frames * sizeof(uint64_t);
	h = mmap(NULL, g->hdr_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return -errno;
	u->sh = h;
	err = robust_mutex_init(&h->lock);
	if (!err)
		err = robust_mutex_init(&h->join_lock);
	if (err)
		return err;
	area = mmap(NULL, (size_t)frames * XP_FRAME_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return -errno;
	u->area = area;
	u->size = (uint64_t)frames * XP_FRAME_SIZE;
	u->frame_size = XP_FRAME_SIZE;
	u->n_frames = frames;
	u->n_rx = ring;
	err = xsk_umem__create(&u->umem, area, u->size, &u->fq, &u->cq, &ucfg);
	if (err) {
		u->umem = NULL;
		return err;
	}
	/* The fill ring starts full; every other frame is free. */
	if (xsk_ring_prod__reserve(&u->fq, ring, &idx) != ring)
		return -ENOSPC;
	for (i = 0; i < ring; i++)
		*xsk_ring_prod__fill_addr(&u->fq, idx + i) = (uint64_t)i * XP_FRAME_SIZE;
	xsk_ring_prod__submit(&u->fq, ring);
	for (i = ring; i < frames; i++)
		h->free[h->n_free++] = (uint64_t)i * XP_FRAME_SIZE;
	h->fq_target = ring;
	h->tx_reserve = XP_SHARE_RESERVE;
	err = xsk_socket__create(&g->anchor, sh->prog->ifname, q, u->umem, NULL, &g->anchor_tx,
				 &xcfg);
	if (err) {
		g->anchor = NULL;
		return err;
	}
	/*
	 * Forked processes inherit the anchor, a program they exec does not: it
	 * would hold the queue and the pinned frames long after the server.
	 */
	xp_sys_cloexec(xsk_socket__fd(g->anchor));
	return 0;
}

static void group_free(struct xp_share_q *g)
{
	struct xp_umem *u = &g->umem;

	if (g->anchor)
		xsk_socket__delete(g->anchor);
	if (u->umem)
		xsk_umem__delete(u->umem);
	if (u->area)
		munmap(u->area, u->size);
	if (u->sh)
		munmap(u->sh, g->hdr_size);
	memset(g, 0, sizeof(*g));
}

void xp_share_free(struct xp_share *sh)
{
	if (!sh)
		return;
	for (unsigned q = 0; q < sh->n_queues; q++)
		group_free(&sh->q[q]);
	free(sh);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Tell the program which members of queue q take new flows: those alive and
 * listening. Just after a reload (a new generation's first member listens)
 * only the new generation does, for XP_SHARE_TAKEOVER_NS: the old workers
 * still accept meanwhile, so their accept queues are empty when they close
 * their listeners (which resets what is left in them); then all again (a
 * server that grows its workers over time keeps them all busy). The newest
 * generation comes first in slot[]. join_lock held (the only writer).
 */
static int share_publish(struct xp_share *sh, unsigned q)
{
	struct xp_share_hdr *h = sh->q[q].umem.sh;
	struct xtcp_shareq v = {.wait_until = h->wait_until, .shared = 1};
	uint32_t k = q;

	for (int newest = 1; newest >= 0; newest--)
		for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
			struct xp_share_member *e = &h->members[m];

			if (e->listening && (e->gen == h->gen) == newest && member_alive(e))
				v.slot[v.n++] = (uint8_t)m;
			if (newest)
				v.n_new = v.n;
		}
	if (h->gen_listening == h->gen && h->gen)
		v.new_until = h->listen_ns + XP_SHARE_TAKEOVER_NS;
	if (bpf_map_update_elem(sh->prog->shareq_fd, &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

/* The program's view of queue q: shared, no member yet, no stale drain. */
static int share_maps_reset(struct xp_share *sh, unsigned q)
{
	struct xp_prog *prog = sh->prog;
	uint32_t k, zero = 0;

	for (uint32_t m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
		k = q * XTCP_SHARE_MAX_MEMBERS + m;
		bpf_map_delete_elem(prog->share_xsks_fd, &k);
	}
	k = q;
	if (bpf_map_update_elem(prog->drain_fd, &k, &zero, BPF_ANY))
		return -errno;
	k = XTCP_XDP_MAX_QUEUES + q;
	if (bpf_map_update_elem(prog->drain_fd, &k, &zero, BPF_ANY))
		return -errno;
	return share_publish(sh, q);
}

int xp_share_create(struct xp_prog *prog, unsigned n_queues, const struct xp_port_config *cfg,
		    struct xp_share **out)
{
	static const struct xp_port_config defaults = {.zero_copy = -1};
	uint32_t frames, ring;
	struct xp_share *sh;
	unsigned q;
	int err;

	*out = NULL;
	if (!cfg)
		cfg = &defaults;
	if (!n_queues || n_queues > XTCP_SHARE_MAX_QUEUES)
		return -EINVAL;
	ring = cfg->ring_size ? cfg->ring_size : 2048;
	/* Several members send from one pool: twice a single port's frames. */
	frames = 2 * (cfg->frames ? cfg->frames : 4096);
	if ((ring & (ring - 1)) || frames < 2 * ring + XP_SHARE_RESERVE)
		return -EINVAL;
	sh = calloc(1, sizeof(*sh) + n_queues * sizeof(sh->q[0]));
	if (!sh)
		return -ENOMEM;
	sh->prog = prog;
	sh->ring_size = ring;
	sh->n_queues = n_queues;
	for (q = 0; q < n_queues; q++) {
		err = group_create(sh, q, frames, ring, cfg);
		if (err) {
			xp_log(1, prog->log_level, "cannot share %s queue %u: %s", prog->ifname, q,
			       strerror(-err));
			goto fail;
		}
	}
	for (q = 0; q < n_queues; q++) {
		err = share_maps_reset(sh, q);
		if (err)
			goto fail;
	}
	xp_log(2, prog->log_level, "%s: %u queue(s) shared, %u frames each", prog->ifname, n_queues,
	       frames);
	*out = sh;
	return 0;
fail:
	xp_share_free(sh);
	return err;
}

unsigned xp_share_queues(const struct xp_share *sh)
{
	return sh->n_queues;
}

static unsigned live_members(struct xp_share_hdr *h)
{
	unsigned n = 0;

	for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++)
		n += member_alive(&h->members[m]);
	return n;
}

unsigned xp_share_pick(struct xp_share *sh)
{
	unsigned best = 0, best_n = ~0u;

	for (unsigned q = 0; q < sh->n_queues; q++) {
		unsigned n = live_members(sh->q[q].umem.sh);

		if (n < best_n) {
			best = q;
			best_n = n;
		}
	}
	return best;
}

int xp_share_expect(struct xp_share *sh, unsigned queue, unsigned ms)
{
	struct xp_share_hdr *h;
	struct timespec ts;
	int err;

	if (queue >= sh->n_queues)
		return -EINVAL;
	h = sh->q[queue].umem.sh;
	/* The program compares with bpf_ktime_get_ns(): CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	join_lock(h);
	h->wait_until =
		(uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + ms * 1000000ull;
	err = share_publish(sh, queue);
	pthread_mutex_unlock(&h->join_lock);
	return err;
}

int xp_share_listen(struct xp_share *sh, unsigned queue, unsigned member, bool on)
{
	struct xp_share_hdr *h = sh->q[queue].umem.sh;
	int err = 0;

	join_lock(h);
	if (h->members[member].pid == (uint32_t)getpid()) {
		h->members[member].listening = on;
		if (on && h->members[member].gen == h->gen && h->gen_listening != h->gen) {
			h->gen_listening = h->gen;
			h->listen_ns = now_ns();
		}
		err = share_publish(sh, queue);
	}
	pthread_mutex_unlock(&h->join_lock);
	return err;
}

/*
 * Does a process joining now start a new generation? A prefork server
 * starts its workers together; one that joins a while later, while every
 * member is alive, comes from a reload (nginx -s reload starts new workers,
 * then asks the old ones to quit). A worker started to replace one that
 * died (its slot is dead without having left) joins the current one.
 * join_lock held.
 */
static bool new_generation(const struct xp_share_hdr *h)
{
	bool members = false;

	if (now_ns() - h->last_join_ns < XP_SHARE_BATCH_NS)
		return false;
	for (unsigned m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
		const struct xp_share_member *e = &h->members[m];

		if (e->pid && !e->left && !member_alive(e))
			return false;
		members |= member_alive(e);
	}
	return members;
}

int xp_share_join(struct xp_share *sh, unsigned queue, unsigned *member)
{
	struct xp_share_hdr *h = sh->q[queue].umem.sh;
	uint32_t pid = (uint32_t)getpid();
	unsigned m, slot = XTCP_SHARE_MAX_MEMBERS;

	join_lock(h);
	for (m = 0; m < XTCP_SHARE_MAX_MEMBERS; m++) {
		struct xp_share_member *e = &h->members[m];

		if (member_alive(e) && e->pid == pid) {
			slot = XTCP_SHARE_MAX_MEMBERS; /* already a member: one socket per process
							*/
			break;
		}
		if (slot == XTCP_SHARE_MAX_MEMBERS && !member_alive(e))
			slot = m;
	}
	if (m < XTCP_SHARE_MAX_MEMBERS || slot == XTCP_SHARE_MAX_MEMBERS) {
		pthread_mutex_unlock(&h->join_lock);
		return m < XTCP_SHARE_MAX_MEMBERS ? -EEXIST : -EUSERS;
	}
	if (new_generation(h))
		h->gen++;
	h->last_join_ns = now_ns();
	if (h->members[slot].pid && !h->members[slot].left) {
		h->deaths++;
		xp_log(1, sh->prog->log_level,
		       "%s queue %u: member %u (pid %u) died without leaving; up to %u frames "
		       "went with it (%u such death(s); %u frames free)",
		       sh->prog->ifname, queue, slot, h->members[slot].pid,
		       2 * sh->ring_size + XP_SHARE_TX_CACHE + NETDEV_BURST_MAX, h->deaths,
		       h->n_free);
	}
	h->members[slot].pid = pid;
	h->members[slot].left = 0;
	h->members[slot].listening = 0;
	h->members[slot].gen = h->gen;
	h->members[slot].start_time = xp_proc_start_time((pid_t)pid);
	share_publish(sh, queue); /* the dead one is out of the list */
	pthread_mutex_unlock(&h->join_lock);
	*member = slot;
	return 0;
}

void xp_share_leave(struct xp_share *sh, unsigned queue, unsigned member)
{
	struct xp_share_hdr *h = sh->q[queue].umem.sh;

	join_lock(h);
	if (h->members[member].pid == (uint32_t)getpid()) {
		h->members[member].left = 1;
		h->members[member].listening = 0;
		share_publish(sh, queue);
	}
	pthread_mutex_unlock(&h->join_lock);
}
