/*
 * xtcpctl_diag.c - AF_XDP sockets as the kernel sees them, and the JSON writer.
 *
 * xsk_diag_list(): one NETLINK_SOCK_DIAG dump request for AF_XDP
 * (linux/xdp_diag.h: info = ifindex/queue, ring sizes, UMEM, statistics);
 * xsk_diag_owners(): which process holds each socket (its inode in
 * /proc/<pid>/fd). Read-only: nothing here touches the sockets.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/xdp_diag.h>

#include "xtcpctl.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

/* --- JSON writer --- */

static void jw_sep(struct jw *w, const char *key)
{
	if (w->comma[w->depth])
		fputc(',', w->f);
	w->comma[w->depth] = true;
	if (key)
		fprintf(w->f, "\"%s\":", key);
}

static void jw_open(struct jw *w, const char *key, char c)
{
	jw_sep(w, key);
	fputc(c, w->f);
	if (w->depth < JW_DEPTH - 1)
		w->depth++;
	w->comma[w->depth] = false;
}

void jw_obj(struct jw *w, const char *key)
{
	jw_open(w, key, '{');
}

void jw_arr(struct jw *w, const char *key)
{
	jw_open(w, key, '[');
}

void jw_end_obj(struct jw *w)
{
	fputc('}', w->f);
	if (w->depth > 0)
		w->depth--;
	if (w->depth == 0)
		fputc('\n', w->f);
}

void jw_end_arr(struct jw *w)
{
	fputc(']', w->f);
	if (w->depth > 0)
		w->depth--;
}

void jw_str(struct jw *w, const char *key, const char *val)
{
	const unsigned char *p;

	jw_sep(w, key);
	fputc('"', w->f);
	for (p = (const unsigned char *)val; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(w->f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(w->f, "\\u%04x", *p);
		else
			fputc(*p, w->f);
	}
	fputc('"', w->f);
}

void jw_u64(struct jw *w, const char *key, uint64_t val)
{
	jw_sep(w, key);
	fprintf(w->f, "%llu", (unsigned long long)val);
}

void jw_i64(struct jw *w, const char *key, int64_t val)
{
	jw_sep(w, key);
	fprintf(w->f, "%lld", (long long)val);
}

void jw_bool(struct jw *w, const char *key, bool val)
{
	jw_sep(w, key);
	fputs(val ? "true" : "false", w->f);
}

/* --- sock_diag --- */

static void parse_attrs(struct xsk_sock *s, struct nlattr *a, int len)
{
	while (len >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= len) {
		void *d = (char *)a + NLA_HDRLEN;
		unsigned dl = a->nla_len - NLA_HDRLEN;

		switch (a->nla_type) {
		case XDP_DIAG_INFO:
			if (dl >= sizeof(struct xdp_diag_info)) {
				struct xdp_diag_info *i = d;

				s->ifindex = i->ifindex;
				s->queue_id = i->queue_id;
			}
			break;
		case XDP_DIAG_UID:
			if (dl >= 4)
				memcpy(&s->uid, d, 4);
			break;
		case XDP_DIAG_RX_RING:
		case XDP_DIAG_TX_RING:
		case XDP_DIAG_UMEM_FILL_RING:
		case XDP_DIAG_UMEM_COMPLETION_RING:
			if (dl >= sizeof(struct xdp_diag_ring)) {
				uint32_t e = ((struct xdp_diag_ring *)d)->entries;

				if (a->nla_type == XDP_DIAG_RX_RING)
					s->rx_ring = e;
				else if (a->nla_type == XDP_DIAG_TX_RING)
					s->tx_ring = e;
				else if (a->nla_type == XDP_DIAG_UMEM_FILL_RING)
					s->fill_ring = e;
				else
					s->comp_ring = e;
			}
			break;
		case XDP_DIAG_UMEM:
			if (dl >= sizeof(struct xdp_diag_umem)) {
				struct xdp_diag_umem *u = d;

				s->umem_size = u->size;
				s->umem_id = u->id;
				s->zero_copy = u->flags & XDP_DU_F_ZEROCOPY;
			}
			break;
		case XDP_DIAG_STATS:
			if (dl >= sizeof(struct xdp_diag_stats)) {
				struct xdp_diag_stats *st = d;

				s->has_stats = true;
				s->rx_dropped = st->n_rx_dropped;
				s->rx_invalid = st->n_rx_invalid;
				s->rx_full = st->n_rx_full;
				s->fill_empty = st->n_fill_ring_empty;
				s->tx_invalid = st->n_tx_invalid;
				s->tx_empty = st->n_tx_ring_empty;
			}
			break;
		}
		len -= NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
	}
}

int xsk_diag_list(struct xsk_sock **out)
{
	struct {
		struct nlmsghdr nlh;
		struct xdp_diag_req req;
	} rq = {
		.nlh = {.nlmsg_len = sizeof(rq),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
		.req = {.sdiag_family = AF_XDP,
			.xdiag_show =
				XDP_SHOW_INFO | XDP_SHOW_RING_CFG | XDP_SHOW_UMEM | XDP_SHOW_STATS},
	};
	struct xsk_sock *v = NULL, *nv;
	static char buf[32768];
	int fd, n = 0, cap = 0, err = 0;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	if (send(fd, &rq, sizeof(rq), 0) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len < 0) {
			err = -errno;
			goto out;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			struct xdp_diag_msg *m = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error ? e->error : -EIO;
				goto out;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				nv = realloc(v, (size_t)cap * sizeof(*v));
				if (!nv) {
					err = -ENOMEM;
					goto out;
				}
				v = nv;
			}
			memset(&v[n], 0, sizeof(v[n]));
			v[n].ino = m->xdiag_ino;
			parse_attrs(&v[n], (struct nlattr *)(m + 1),
				    (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m))));
			n++;
		}
	}
out:
	close(fd);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	return n;
}

void proc_comm(pid_t pid, char *buf, size_t n)
{
	char path[64];
	FILE *f;

	buf[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(buf, (int)n, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* Is /proc/<pid>/fd/<fd> an AF_XDP socket? (its protocol name is "XDP") */
static bool fd_is_xsk(const char *path)
{
	char proto[16];
	ssize_t l = getxattr(path, "system.sockprotoname", proto, sizeof(proto) - 1);

	if (l <= 0)
		return false;
	proto[l] = 0;
	return !strcmp(proto, "XDP");
}

bool pid_in_my_netns(pid_t pid)
{
	struct stat a, b;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &a) || stat("/proc/self/ns/net", &b))
		return false;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/*
 * Calls fn(ctx, pid, ino, fd path) for each socket fd of each process (only
 * those in this network namespace when my_netns) until fn returns nonzero.
 * 0, or -errno when /proc cannot be read.
 */
static int proc_sockets(bool my_netns,
			int (*fn)(void *ctx, int pid, unsigned long ino, const char *path),
			void *ctx)
{
	struct dirent *pe, *fe;
	char path[600], link[64];
	DIR *proc, *fds;
	int stop = 0;

	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while (!stop && (pe = readdir(proc))) {
		if (!isdigit((unsigned char)pe->d_name[0]) ||
		    (my_netns && !pid_in_my_netns(atoi(pe->d_name))))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while (!stop && (fe = readdir(fds))) {
			unsigned long ino;
			ssize_t l;

			snprintf(path, sizeof(path), "/proc/%s/fd/%s", pe->d_name, fe->d_name);
			l = readlink(path, link, sizeof(link) - 1);
			if (l <= 0)
				continue;
			link[l] = 0;
			if (sscanf(link, "socket:[%lu]", &ino) == 1)
				stop = fn(ctx, atoi(pe->d_name), ino, path);
		}
		closedir(fds);
	}
	closedir(proc);
	return 0;
}

struct proc_list {
	struct xsk_sock *v;
	int n, cap;
};

static int proc_list_add(void *ctx, int pid, unsigned long ino, const char *path)
{
	struct proc_list *pl = ctx;
	struct xsk_sock *nv;

	if (!fd_is_xsk(path))
		return 0;
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 16;
		nv = realloc(pl->v, (size_t)pl->cap * sizeof(*nv));
		if (!nv)
			return 1;
		pl->v = nv;
	}
	memset(&pl->v[pl->n], 0, sizeof(pl->v[pl->n]));
	pl->v[pl->n].ino = (uint32_t)ino;
	pl->v[pl->n].queue_id = UINT32_MAX;
	pl->v[pl->n].pid = pid;
	proc_comm(pid, pl->v[pl->n].comm, sizeof(pl->v[pl->n].comm));
	pl->n++;
	return 0;
}

int xsk_proc_list(struct xsk_sock **out)
{
	struct proc_list pl = {0};
	int err = proc_sockets(true, proc_list_add, &pl);

	if (err)
		return err;
	*out = pl.v;
	return pl.n;
}

struct owners {
	struct xsk_sock *s;
	int n, left;
};

static int owners_match(void *ctx, int pid, unsigned long ino, const char *path)
{
	struct owners *o = ctx;

	(void)path;
	for (int i = 0; i < o->n; i++) {
		if (o->s[i].ino == ino && !o->s[i].pid) {
			o->s[i].pid = pid;
			proc_comm(pid, o->s[i].comm, sizeof(o->s[i].comm));
			o->left--;
		}
	}
	return o->left <= 0;
}

void xsk_diag_owners(struct xsk_sock *s, int n)
{
	struct owners o = {s, n, n};

	if (n > 0)
		proc_sockets(false, owners_match, &o);
}
