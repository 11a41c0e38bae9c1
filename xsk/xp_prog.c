/*
 * xp_prog.c - the XDP steering program on an interface: load it from the
 * embedded skeleton (bpf/xtcp_xdp.bpf.c), attach it through libxdp, adopt or
 * replace one that is already there, serve ports, detach at the end.
 *
 * Call order: xp_prog_attach() -> xp_prog_serve()/xp_prog_set_local_ports()
 * -> xp_port_open() (xp_port.c, per queue) ... -> xp_prog_detach() (last
 * user: removes the program) or xp_prog_release() (others: handle only).
 *
 * Attach: libxdp tries its multi-program dispatcher first; where the kernel
 * refuses it (here: its extension programs get EPERM) libxdp falls back to
 * attaching our program alone, which we report in one line. Native (driver)
 * mode first, generic (skb) mode if the driver has no XDP.
 *
 * Already attached (found by name on the interface):
 *  - a program with a live user (xtcp_users map: pid + start time) and the
 *    map layout of this build is adopted: we use its maps and become a user;
 *  - one whose users are all dead (kill -9 leaves the program behind, while
 *    the kernel closed its sockets) is replaced by a fresh one, so a restart
 *    needs no manual clean-up and never inherits old served ports;
 *  - a live one of another build (other map layout) is left alone: -EBUSY.
 *
 * Memory: the handle and the map fds are ours; the skeleton is freed at
 * detach/release. The user table is shared by all processes using the
 * program; a slot whose pid is gone (or reused: start time differs) is free.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "xp_priv.h"
#include "xp_sys.h"
#include "xtcp_xdp.h"
#include "xtcp_xdp.skel.h"

void xp_log(int level, int max_level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	fputs("xtcp: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int libxdp_log_level;

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	/* libxdp is chatty (it logs its own fallback); show it at debug level only. */
	if (libxdp_log_level < 3)
		return 0;
	fputs("xtcp: libxdp: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* Its warnings include libxdp's failed dispatcher probe: debug level too. */
	if (libxdp_log_level < 3)
		return 0;
	fputs("xtcp: libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

/*
 * Start time of a process (clock ticks since boot), 0 if it does not exist
 * or is already dead (a zombie: killed, not yet reaped by its parent).
 */
uint64_t xp_proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = xp_sys_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = xp_sys_read(fd, buf, sizeof(buf) - 1);
	xp_sys_close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* comm (field 2) may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p || !p[1] || p[2] == 'Z' || p[2] == 'X')
		return 0;
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &start) != 1)
		return 0;
	return start;
}

static bool user_alive(const struct xtcp_user *u)
{
	return u->pid && xp_proc_start_time((pid_t)u->pid) == u->start_time;
}

/* Live users, the calling process included or not. */
static int live_users(int users_fd, bool count_self)
{
	struct xtcp_user u;
	int n = 0;

	for (uint32_t i = 0; i < XTCP_XDP_MAX_USERS; i++)
		if (!bpf_map_lookup_elem(users_fd, &i, &u) && user_alive(&u) &&
		    (count_self || u.pid != (uint32_t)getpid()))
			n++;
	return n;
}

int xp_prog_add_user(struct xp_prog *prog)
{
	struct xtcp_user u, me = {.pid = (uint32_t)getpid()};
	uint32_t i, slot = XTCP_XDP_MAX_USERS;

	if (prog->user_slot >= 0 && prog->user_pid == getpid())
		return 0;
	me.start_time = xp_proc_start_time(getpid());
	/* Our own slot if we have one (registered by an earlier handle), else a free one. */
	for (i = 0; i < XTCP_XDP_MAX_USERS; i++) {
		if (bpf_map_lookup_elem(prog->users_fd, &i, &u))
			return -errno;
		if (u.pid == me.pid && u.start_time == me.start_time) {
			slot = i;
			break;
		}
		if (slot == XTCP_XDP_MAX_USERS && !user_alive(&u))
			slot = i;
	}
	if (slot == XTCP_XDP_MAX_USERS)
		return -EUSERS;
	if (bpf_map_update_elem(prog->users_fd, &slot, &me, BPF_ANY))
		return -errno;
	prog->user_slot = (int)slot;
	prog->user_pid = getpid();
	return 0;
}

/*
 * Does this process have a live child? A child may not have registered yet:
 * nginx's daemon mode forks and exit()s the parent at once, while the child
 * registers from its fork handler. Run at detach only.
 */
static bool have_children(void)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	bool found = false;
	DIR *d = opendir("/proc");
	int ppid, fd;
	char state;
	ssize_t n;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = xp_sys_open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = xp_sys_read(fd, buf, sizeof(buf) - 1);
		xp_sys_close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* Fields after the command: state ppid ... */
		p = strrchr(buf, ')');
		if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid() &&
		    state != 'Z' && state != 'X')
			found = true;
	}
	closedir(d);
	return found;
}

static void drop_user(struct xp_prog *prog)
{
	struct xtcp_user u, none = {0};
	uint32_t i;

	if (prog->user_slot < 0 || prog->user_pid != getpid())
		return;
	i = (uint32_t)prog->user_slot;
	if (!bpf_map_lookup_elem(prog->users_fd, &i, &u) && u.pid == (uint32_t)getpid())
		bpf_map_update_elem(prog->users_fd, &i, &none, BPF_ANY);
	prog->user_slot = -1;
}

static const char *const map_names[] = {
	"xsks_map",	   "xtcp_serve",  "xtcp_cfg",	 "xtcp_users", "xtcp_stats", "xtcp_drain",
	"xtcp_kflow",	   "xtcp_kclean", "xtcp_serve6", "xtcp_hold",  "xtcp_pmtu",  "xtcp_shareq",
	"xtcp_share_xsks", "xtcp_hold6",  "xtcp_pmtu6",	 "xtcp_synq",  "xtcp_synq6"};
#define N_MAPS (sizeof(map_names) / sizeof(map_names[0]))

static int *map_slot(struct xp_prog *prog, const char *name)
{
	int *slots[N_MAPS] = {&prog->xsks_fd,	    &prog->serve_fd,  &prog->cfg_fd,
			      &prog->users_fd,	    &prog->stats_fd,  &prog->drain_fd,
			      &prog->kflow_fd,	    &prog->kclean_fd, &prog->serve6_fd,
			      &prog->hold_fd,	    &prog->pmtu_fd,   &prog->shareq_fd,
			      &prog->share_xsks_fd, &prog->hold6_fd,  &prog->pmtu6_fd,
			      &prog->synq_fd,	    &prog->synq6_fd};

	for (size_t i = 0; i < N_MAPS; i++)
		if (!strcmp(name, map_names[i]))
			return slots[i];
	return NULL;
}

/*
 * Open the maps of an attached xtcp program; -EPROTO unless every map has
 * the layout of this build's (then its maps cannot be shared).
 */
static int adopt_maps(struct xp_prog *prog, int prog_fd)
{
	uint32_t ids[64], n = 64, len = sizeof(struct bpf_prog_info);
	struct bpf_prog_info info = {.nr_map_ids = n, .map_ids = (uint64_t)(unsigned long)ids};
	struct bpf_map *ours;
	int *slot;

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	prog->prog_id = info.id;
	for (uint32_t i = 0; i < info.nr_map_ids && i < n; i++) {
		struct bpf_map_info mi = {0};
		int fd = bpf_map_get_fd_by_id(ids[i]);

		len = sizeof(mi);
		if (fd < 0)
			return -errno;
		if (bpf_obj_get_info_by_fd(fd, &mi, &len)) {
			xp_sys_close(fd);
			return -errno;
		}
		ours = bpf_object__find_map_by_name(prog->skel->obj, mi.name);
		slot = map_slot(prog, mi.name);
		/* Same name, type and sizes as our build's map: the layout is compatible. */
		if (!ours || !slot || *slot >= 0 || mi.type != bpf_map__type(ours) ||
		    mi.key_size != bpf_map__key_size(ours) ||
		    mi.value_size != bpf_map__value_size(ours) ||
		    mi.max_entries != bpf_map__max_entries(ours)) {
			xp_sys_close(fd);
			continue;
		}
		*slot = fd;
	}
	for (size_t i = 0; i < N_MAPS; i++)
		if (*map_slot(prog, map_names[i]) < 0)
			return -EPROTO;
	return 0;
}

/* The xtcp program attached to ifindex (libxdp handle) and the multiprog, or NULL. */
static struct xdp_program *find_attached(int ifindex, struct xdp_multiprog **mp_out)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p = NULL;

	*mp_out = NULL;
	if (libxdp_get_error(mp) || !mp)
		return NULL;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && strcmp(xdp_program__name(p), XTCP_XDP_PROG_NAME))
			p = NULL;
	} else {
		while ((p = xdp_multiprog__next_prog(p, mp)))
			if (!strcmp(xdp_program__name(p), XTCP_XDP_PROG_NAME))
				break;
	}
	if (!p) {
		xdp_multiprog__close(mp);
		return NULL;
	}
	*mp_out = mp;
	return p;
}

static void close_fds(struct xp_prog *prog)
{
	for (size_t i = 0; i < N_MAPS; i++) {
		int *fd = map_slot(prog, map_names[i]);

		if (*fd >= 0)
			xp_sys_close(*fd);
		*fd = -1;
	}
}

static void prog_free(struct xp_prog *prog)
{
	close_fds(prog);
	if (prog->xprog)
		xdp_program__close(prog->xprog);
	if (prog->skel)
		xtcp_xdp__destroy(prog->skel);
	free(prog);
}

static const char *mode_name(int mode)
{
	return mode == XDP_MODE_NATIVE ? "native" : mode == XDP_MODE_SKB ? "generic" : "?";
}

/*
 * An xtcp program is attached: adopt it (live user, same map layout),
 * replace it (no live user), or refuse (-EBUSY). Returns 1 when adopted, 0
 * when the caller should attach ours, or -errno.
 */
static int adopt_or_clear(struct xp_prog *prog)
{
	struct xdp_multiprog *mp;
	struct xdp_program *old = find_attached(prog->ifindex, &mp);
	int err, live = 0;

	if (!old)
		return 0;
	err = adopt_maps(prog, xdp_program__fd(old));
	if (!err)
		live = live_users(prog->users_fd, true);
	if (!err && live) {
		prog->mode = xdp_multiprog__attach_mode(mp);
		xdp_multiprog__close(mp);
		xp_log(2, prog->log_level, "adopted the xtcp program on %s (%d live user(s))",
		       prog->ifname, live);
		return 1;
	}
	if (err == -EPROTO && prog->users_fd >= 0)
		live = live_users(prog->users_fd, true);
	close_fds(prog);
	if (live) {
		xdp_multiprog__close(mp);
		xp_log(0, prog->log_level,
		       "%s runs an xtcp program of another build, used by %d live process(es)",
		       prog->ifname, live);
		return -EBUSY;
	}
	/* Left by a process that died (kill -9): replace it. */
	if (xdp_multiprog__is_legacy(mp))
		err = xdp_multiprog__detach(mp);
	else
		err = xdp_program__detach(old, prog->ifindex, xdp_multiprog__attach_mode(mp), 0);
	xdp_multiprog__close(mp);
	if (err) {
		xp_log(0, prog->log_level, "cannot remove the stale xtcp program on %s: %s",
		       prog->ifname, strerror(-err));
		return err;
	}
	xp_log(1, prog->log_level, "replaced a stale xtcp program on %s (its users are gone)",
	       prog->ifname);
	return 0;
}

static int attach_ours(struct xp_prog *prog, const struct xp_prog_opts *opts)
{
	static const int modes[] = {XDP_MODE_NATIVE, XDP_MODE_SKB};
	struct xdp_multiprog *mp;
	int err = -EINVAL;

	for (size_t i = opts->force_generic ? 1 : 0; i < 2; i++) {
		err = xdp_program__attach(prog->xprog, prog->ifindex, modes[i], 0);
		if (!err) {
			prog->mode = modes[i];
			break;
		}
		xp_log(2, prog->log_level, "%s mode attach on %s failed: %s", mode_name(modes[i]),
		       prog->ifname, strerror(-err));
	}
	if (err)
		return err;
	mp = xdp_multiprog__get_from_ifindex(prog->ifindex);
	if (!libxdp_get_error(mp) && mp && xdp_multiprog__is_legacy(mp))
		xp_log(1, prog->log_level,
		       "XDP program attached alone on %s (%s mode): libxdp's dispatcher is not "
		       "available here, so no other XDP program can share the interface",
		       prog->ifname, mode_name(prog->mode));
	else
		xp_log(2, prog->log_level,
		       "XDP program attached on %s through libxdp's dispatcher "
		       "(%s mode)",
		       prog->ifname, mode_name(prog->mode));
	if (!libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	return 0;
}

/*
 * One line saying why attaching failed. Another program alone on the
 * interface (no dispatcher to share it) is the common case: -EBUSY, and it
 * is left alone, never replaced.
 */
static int explain_attach_failure(struct xp_prog *prog, int err)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(prog->ifindex);
	struct xdp_program *other = NULL;

	if (!libxdp_get_error(mp) && mp && xdp_multiprog__is_legacy(mp))
		other = xdp_multiprog__main_prog(mp);
	if (other) {
		xp_log(0, prog->log_level,
		       "%s already runs XDP program '%s' (id %u) and libxdp's dispatcher is not "
		       "available to share it: xtcp leaves it alone",
		       prog->ifname, xdp_program__name(other), xdp_program__id(other));
		err = -EBUSY;
	} else {
		xp_log(0, prog->log_level, "cannot attach the XDP program to %s: %s", prog->ifname,
		       strerror(-err));
	}
	if (!libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	return err;
}

/*
 * A link whose frames arrive on the queue the sending kernel picked (veth),
 * with several queues: the program notes each served SYN's queue.
 */
static bool sender_picks_queue(const char *ifname)
{
	struct xp_link l;

	return !xp_nl_link(ifname, &l) && l.n_rx_queues > 1 && xp_link_local_only(&l);
}

/* Attach our skeleton's program and take its map fds (dup'ed: the handle owns them). */
static int attach_new(struct xp_prog *prog, const struct xp_prog_opts *opts)
{
	struct bpf_map *maps[N_MAPS] = {
		prog->skel->maps.xsks_map,	  prog->skel->maps.xtcp_serve,
		prog->skel->maps.xtcp_cfg,	  prog->skel->maps.xtcp_users,
		prog->skel->maps.xtcp_stats,	  prog->skel->maps.xtcp_drain,
		prog->skel->maps.xtcp_kflow,	  prog->skel->maps.xtcp_kclean,
		prog->skel->maps.xtcp_serve6,	  prog->skel->maps.xtcp_hold,
		prog->skel->maps.xtcp_pmtu,	  prog->skel->maps.xtcp_shareq,
		prog->skel->maps.xtcp_share_xsks, prog->skel->maps.xtcp_hold6,
		prog->skel->maps.xtcp_pmtu6,	  prog->skel->maps.xtcp_synq,
		prog->skel->maps.xtcp_synq6};
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);
	int err;

	prog->skel->rodata->xtcp_note_syn_queue = prog->notes_syn_queue;
	/* libxdp loads the object itself (as a dispatcher extension, or alone). */
	prog->xprog = xdp_program__from_bpf_obj(prog->skel->obj, "xdp");
	err = (int)libxdp_get_error(prog->xprog);
	if (err) {
		prog->xprog = NULL;
		return err;
	}
	err = attach_ours(prog, opts);
	if (err)
		return err;
	for (size_t i = 0; i < N_MAPS; i++) {
		int fd = fcntl(bpf_map__fd(maps[i]), F_DUPFD_CLOEXEC, 3);

		if (fd < 0) {
			err = -errno;
			goto detach;
		}
		*map_slot(prog, map_names[i]) = fd;
	}
	if (!bpf_obj_get_info_by_fd(xdp_program__fd(prog->xprog), &info, &len))
		prog->prog_id = info.id;
	return 0;
detach:
	xdp_program__detach(prog->xprog, prog->ifindex, prog->mode, 0);
	return err;
}

int xp_prog_attach(const char *ifname, const struct xp_prog_opts *opts, struct xp_prog **out)
{
	static const struct xp_prog_opts defaults = {.log_level = 1};
	struct xp_prog *prog;
	int err;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE)
		return -EINVAL;
	prog = calloc(1, sizeof(*prog));
	if (!prog)
		return -ENOMEM;
	prog->xsks_fd = prog->serve_fd = prog->cfg_fd = prog->users_fd = prog->stats_fd = -1;
	prog->drain_fd = prog->kflow_fd = prog->kclean_fd = prog->serve6_fd = prog->hold_fd =
		prog->pmtu_fd = -1;
	prog->shareq_fd = prog->share_xsks_fd = prog->hold6_fd = prog->pmtu6_fd = -1;
	prog->synq_fd = prog->synq6_fd = -1;
	prog->user_slot = -1;
	prog->log_level = opts->log_level;
	libxdp_log_level = opts->log_level;
	libxdp_set_print(libxdp_print);
	libbpf_set_print(libbpf_print);
	strcpy(prog->ifname, ifname);
	prog->ifindex = (int)if_nametoindex(ifname);
	if (!prog->ifindex) {
		err = -ENODEV;
		xp_log(0, prog->log_level, "no interface %s", ifname);
		goto fail;
	}
	prog->notes_syn_queue = sender_picks_queue(ifname); /* an adopted program's too */
	prog->skel = xtcp_xdp__open();
	if (!prog->skel) {
		err = errno ? -errno : -ENOMEM;
		goto fail;
	}
	err = adopt_or_clear(prog);
	if (err < 0)
		goto fail;
	if (err == 1) {
		/* Adopted: the attached program and its maps are used, ours is not loaded. */
		xtcp_xdp__destroy(prog->skel);
		prog->skel = NULL;
	} else {
		err = attach_new(prog, opts);
		if (err) {
			err = explain_attach_failure(prog, err);
			goto fail;
		}
	}
	err = xp_prog_add_user(prog);
	if (err) {
		xp_log(0, prog->log_level, "cannot register in the xtcp user table: %s",
		       strerror(-err));
		goto fail_detach;
	}
	*out = prog;
	return 0;
fail_detach:
	if (prog->xprog)
		xdp_program__detach(prog->xprog, prog->ifindex, prog->mode, 0);
fail:
	prog_free(prog);
	return err;
}

/* A SYN handed to the kernel is in its tables well within this. */
#define KFLOW_GRACE_NS (100u * 1000 * 1000)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Mark a port as changed: gen + 1, stamped now. Not atomic with the
 * program's own bumps, but either way gen moves past what any earlier check
 * read, and last_ns is at least as new as the program's stamp.
 */
static int kflow_touch(struct xp_prog *prog, uint16_t port)
{
	struct xtcp_kflow k;
	uint32_t key = port;

	if (bpf_map_lookup_elem(prog->kflow_fd, &key, &k))
		return -1;
	k.gen++;
	k.last_ns = mono_ns();
	return bpf_map_update_elem(prog->kflow_fd, &key, &k, BPF_ANY);
}

int xp_prog_kflow_added(struct xp_prog *prog, uint16_t port)
{
	return kflow_touch(prog, port);
}

/* Long enough for any hand-over (tens of us), short enough that a dead process's is harmless. */
#define HOLD_NS (1000u * 1000 * 1000)

int xp_prog_flow_hold(struct xp_prog *prog, const struct sockaddr_in *local,
		      const struct sockaddr_in *peer, bool on)
{
	struct xtcp_hold_key key = {.saddr = peer->sin_addr.s_addr,
				    .daddr = local->sin_addr.s_addr,
				    .sport = peer->sin_port,
				    .dport = local->sin_port};
	uint64_t until = mono_ns() + HOLD_NS;

	if (on)
		return bpf_map_update_elem(prog->hold_fd, &key, &until, BPF_ANY) ? -errno : 0;
	if (bpf_map_delete_elem(prog->hold_fd, &key) && errno != ENOENT)
		return -errno;
	return 0;
}

int xp_prog_flow_hold6(struct xp_prog *prog, const struct sockaddr_in6 *local,
		       const struct sockaddr_in6 *peer, bool on)
{
	struct xtcp_flow6_key key = {.sport = peer->sin6_port, .dport = local->sin6_port};
	uint64_t until = mono_ns() + HOLD_NS;

	memcpy(key.saddr, &peer->sin6_addr, 16);
	memcpy(key.daddr, &local->sin6_addr, 16);
	if (on)
		return bpf_map_update_elem(prog->hold6_fd, &key, &until, BPF_ANY) ? -errno : 0;
	if (bpf_map_delete_elem(prog->hold6_fd, &key) && errno != ENOENT)
		return -errno;
	return 0;
}

bool xp_prog_notes_syn_queue(const struct xp_prog *prog)
{
	return prog->notes_syn_queue;
}

int xp_prog_syn_queue(struct xp_prog *prog, const struct in6_addr *peer, uint16_t peer_port,
		      const struct in6_addr *local, uint16_t local_port)
{
	uint32_t q;
	int err;

	if (!prog->notes_syn_queue)
		return -ENOENT;
	if (IN6_IS_ADDR_V4MAPPED(peer)) {
		struct xtcp_flow_key key = {.sport = htons(peer_port), .dport = htons(local_port)};

		if (prog->synq_fd < 0)
			return -ENOENT;
		memcpy(&key.saddr, &peer->s6_addr[12], 4);
		memcpy(&key.daddr, &local->s6_addr[12], 4);
		err = bpf_map_lookup_elem(prog->synq_fd, &key, &q);
	} else {
		struct xtcp_flow6_key key = {.sport = htons(peer_port), .dport = htons(local_port)};

		if (prog->synq6_fd < 0)
			return -ENOENT;
		memcpy(key.saddr, peer, 16);
		memcpy(key.daddr, local, 16);
		err = bpf_map_lookup_elem(prog->synq6_fd, &key, &q);
	}
	return err ? -errno : (int)q;
}

int xp_prog_serve(struct xp_prog *prog, uint32_t ip4, uint16_t port, bool on)
{
	struct xtcp_serve_key key = {.ip4 = ip4, .port = htons(port)};
	struct xtcp_serve_val val = {0};
	int err;

	if (!port)
		return -EINVAL;
	/*
	 * Kernel connections from before the port was served (and SYNs the
	 * kernel is still taking in) need the lookup: the port counts as
	 * changed now, and only a sweep a grace period later can clear it.
	 */
	if (on && kflow_touch(prog, port))
		return -errno;
	if (on)
		err = bpf_map_update_elem(prog->serve_fd, &key, &val, BPF_ANY);
	else
		err = bpf_map_delete_elem(prog->serve_fd, &key);
	if (err && !(errno == ENOENT && !on))
		return -errno;
	return 0;
}

int xp_prog_serve6(struct xp_prog *prog, const struct in6_addr *ip6, uint16_t port, bool on)
{
	struct xtcp_serve6_key key = {.port = htons(port)};
	struct xtcp_serve_val val = {0};
	int err;

	if (!port)
		return -EINVAL;
	if (ip6)
		memcpy(key.addr, ip6, 16);
	/* as xp_prog_serve(): the port needs the kernel-flow lookup until a sweep clears it */
	if (on && kflow_touch(prog, port))
		return -errno;
	if (on)
		err = bpf_map_update_elem(prog->serve6_fd, &key, &val, BPF_ANY);
	else
		err = bpf_map_delete_elem(prog->serve6_fd, &key);
	if (err && !(errno == ENOENT && !on))
		return -errno;
	return 0;
}

int xp_prog_set_local_ports(struct xp_prog *prog, uint16_t min, uint16_t max)
{
	struct xtcp_cfg cfg = {0};
	uint32_t zero = 0;

	if ((min || max) && (!min || min > max))
		return -EINVAL;
	if (bpf_map_lookup_elem(prog->cfg_fd, &zero, &cfg))
		return -errno;
	cfg.lport_min = min;
	cfg.lport_max = max;
	if (bpf_map_update_elem(prog->cfg_fd, &zero, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

int xp_prog_drain_successor(struct xp_prog *prog, unsigned queue, bool on)
{
	uint32_t k = XTCP_XDP_MAX_QUEUES + queue, v = on;

	if (queue >= XTCP_XDP_MAX_QUEUES)
		return -EINVAL;
	if (bpf_map_update_elem(prog->drain_fd, &k, &v, BPF_ANY))
		return -errno;
	return 0;
}

int xp_prog_ifindex(const struct xp_prog *prog)
{
	return prog->ifindex;
}

const char *xp_prog_mode(const struct xp_prog *prog)
{
	return mode_name(prog->mode);
}

int xp_prog_read_stats(struct xp_prog *prog, uint64_t *counts, unsigned n)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	if (n > XTCP_STAT_SLOTS)
		n = XTCP_STAT_SLOTS;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		counts[i] = 0;
		if (bpf_map_lookup_elem(prog->stats_fd, &i, vals)) {
			free(vals);
			return -errno;
		}
		for (int c = 0; c < ncpu; c++)
			counts[i] += vals[c];
	}
	free(vals);
	return (int)n;
}

/* Remove an xtcp program from the interface, whether we attached or adopted it. */
static void remove_from_interface(struct xp_prog *prog)
{
	struct xdp_multiprog *mp;
	struct xdp_program *p;
	int err;

	p = find_attached(prog->ifindex, &mp);
	if (!p)
		return;
	if (xdp_program__id(p) != prog->prog_id)
		err = 0; /* replaced meanwhile by another process: not ours to remove */
	else if (xdp_multiprog__is_legacy(mp))
		err = xdp_multiprog__detach(mp);
	else
		err = xdp_program__detach(p, prog->ifindex, prog->mode, 0);
	xdp_multiprog__close(mp);
	if (err)
		xp_log(0, prog->log_level, "cannot detach the XDP program from %s: %s",
		       prog->ifname, strerror(-err));
	else
		xp_log(2, prog->log_level, "XDP program detached from %s", prog->ifname);
}

void xp_prog_detach(struct xp_prog *prog)
{
	int users;

	if (!prog)
		return;
	drop_user(prog);
	users = live_users(prog->users_fd, false);
	/*
	 * A live child may still register (or be a user's parent-to-be); a
	 * program kept for nobody is harmless: it passes what no socket takes,
	 * the last process of the family removes it, or the next start replaces it.
	 */
	if (users == 0 && !have_children())
		remove_from_interface(prog);
	else
		xp_log(2, prog->log_level, "XDP program kept on %s: %d other user(s)%s",
		       prog->ifname, users, users ? "" : ", live child process(es)");
	prog_free(prog);
}

void xp_prog_release(struct xp_prog *prog)
{
	if (!prog)
		return;
	/*
	 * The program stays attached and our user slot stays: it frees itself
	 * when this process exits (a slot of a dead pid is free). Only this
	 * process's fds and memory go.
	 */
	prog_free(prog);
}

/* One port's counters and clean mark: 0 or -1 (errno set). */
static int kflow_read(struct xp_prog *prog, uint16_t port, struct xtcp_kflow *k, uint64_t *clean)
{
	uint32_t key = port;

	if (bpf_map_lookup_elem(prog->kflow_fd, &key, k) ||
	    bpf_map_lookup_elem(prog->kclean_fd, &key, clean))
		return -1;
	return 0;
}

/*
 * Mark one port clean if gen is still what it was before the socket dump,
 * the last SYN handed to the kernel (or serve) is older than the grace
 * period, and the dump saw no kernel flow on it; unmark it when the dump
 * saw one. 1 clean, 0 not, -errno.
 * A bump between the read and the write leaves gen + 1 != clean: harmless.
 */
static int kflow_clear(struct xp_prog *prog, uint16_t port, uint64_t gen_before,
		       const uint8_t *kernel_ports, uint64_t now_ns)
{
	uint32_t key = port;
	struct xtcp_kflow k;
	uint64_t clean;

	if (kflow_read(prog, port, &k, &clean))
		return -errno;
	if (kernel_ports[port >> 3] & (1u << (port & 7))) {
		/*
		 * A kernel flow the program never saw start (its SYN came in
		 * another way): look it up again, to be safe.
		 */
		if (clean == k.gen + 1) {
			clean = 0;
			if (bpf_map_update_elem(prog->kclean_fd, &key, &clean, BPF_ANY))
				return -errno;
		}
		return 0;
	}
	if (clean == k.gen + 1)
		return 1;
	if (k.gen != gen_before || now_ns - k.last_ns < KFLOW_GRACE_NS)
		return 0;
	clean = k.gen + 1;
	if (bpf_map_update_elem(prog->kclean_fd, &key, &clean, BPF_ANY))
		return -errno;
	return 1;
}

/*
 * The ports served for either family, host order, XTCP_XDP_MAX_SERVED at
 * most (a port served for both is listed twice: harmless to its users).
 */
static unsigned served_ports(struct xp_prog *prog, uint16_t *ports)
{
	struct xtcp_serve_key key, next;
	struct xtcp_serve6_key key6, next6;
	unsigned n = 0;

	for (void *kp = NULL;
	     n < XTCP_XDP_MAX_SERVED && !bpf_map_get_next_key(prog->serve_fd, kp, &next);
	     kp = &key) {
		key = next;
		ports[n++] = ntohs(next.port);
	}
	for (void *kp = NULL;
	     n < XTCP_XDP_MAX_SERVED && !bpf_map_get_next_key(prog->serve6_fd, kp, &next6);
	     kp = &key6) {
		key6 = next6;
		ports[n++] = ntohs(next6.port);
	}
	return n;
}

int xp_prog_kflow_sweep(struct xp_prog *prog)
{
	struct sweep {
		uint64_t gen[XTCP_XDP_MAX_SERVED];
		uint16_t port[XTCP_XDP_MAX_SERVED];
		uint8_t kernel_ports[65536 / 8];
	} *w = malloc(sizeof(*w)); /* 48 KiB: not on an application thread's stack */
	struct xtcp_kflow k;
	unsigned n, left = 0;
	uint64_t now_ns;
	int err = 0;

	if (!w)
		return -ENOMEM;
	/*
	 * Order: each served port's gen, then the kernel's sockets, then gen
	 * again (kflow_clear()): a SYN handed to the kernel after the first
	 * read moves gen; one handed over before it is older than the grace
	 * period (else the port waits), so the dump saw its socket.
	 */
	n = served_ports(prog, w->port);
	for (unsigned i = 0; i < n; i++) {
		uint32_t p = w->port[i];

		if (bpf_map_lookup_elem(prog->kflow_fd, &p, &k)) {
			err = -errno;
			goto out;
		}
		w->gen[i] = k.gen;
	}
	err = xp_nl_tcp_flow_ports(w->kernel_ports);
	now_ns = mono_ns();
	for (unsigned i = 0; i < n && !err; i++) {
		int r = kflow_clear(prog, w->port[i], w->gen[i], w->kernel_ports, now_ns);

		if (r < 0)
			err = r;
		left += r == 0;
	}
out:
	free(w);
	return err ? err : (int)left;
}

/* Is one port still marked clean for its current gen? 1 yes, 0 no, -errno. */
static int kflow_is_clean(struct xp_prog *prog, uint16_t port)
{
	struct xtcp_kflow k;
	uint64_t clean;

	if (kflow_read(prog, port, &k, &clean))
		return -errno;
	return clean == k.gen + 1;
}

int xp_prog_kflow_unclean(struct xp_prog *prog)
{
	uint16_t ports[XTCP_XDP_MAX_SERVED];
	unsigned n = served_ports(prog, ports);
	int left = 0;

	for (unsigned i = 0; i < n; i++) {
		int r = kflow_is_clean(prog, ports[i]);

		if (r < 0)
			return r;
		left += !r;
	}
	return left;
}
