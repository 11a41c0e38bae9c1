/*
 * xtcpctl.c - operate xtcp: what is attached where, counters, connections,
 * protection rules, clean-up.
 *
 *   xtcpctl [--json] status [IFACE]
 *   xtcpctl [--json] conns
 *   xtcpctl [--json] filter show [IFACE]
 *   xtcpctl filter set|add|del|reset [IFACE] ...
 *   xtcpctl detach IFACE [--force]
 *   xtcpctl metrics [--listen ADDR:PORT | --textfile PATH [--interval SEC]]
 *
 * Sources, all read without stopping anything: the XDP program attached to
 * each interface (bpf_xdp_query -> program id -> its maps by name), the
 * AF_XDP sockets from the kernel's sock_diag (xtcpctl_diag.c), and the
 * statistics the xtcp processes publish in shared memory (xtcpctl_shm.c).
 * Writes: only the protection maps (filter) and the XDP attachment (detach).
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "protect_cfg.h"
#include "xtcp_xdp.h"
#include "xtcpctl.h"

#define XTCP_STAT_NAME_(e, name) [e] = name,
static const char *const xtcp_stat_names[XTCP_STAT__COUNT] = {XTCP_STATS(XTCP_STAT_NAME_)};
#undef XTCP_STAT_NAME_

struct ctl {
	bool json;
	struct jw w;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: xtcpctl [--json] COMMAND\n"
		"  status [IFACE]                 interfaces, XDP program, queues and owners,\n"
		"                                 counters, AF_XDP rings, xtcp processes\n"
		"  conns                          connections of every xtcp process (like ss -tn)\n"
		"  filter show [IFACE]            protection rules and counters\n"
		"  filter set [IFACE] KEY=VALUE.. src-rate|global-rate|syn-rate=PPS[/BURST]|off,\n"
		"                                 scope=udp,tcp,icmp,other|all|none,\n"
		"                                 served-default=allow|deny, src6-prefix=LEN\n"
		"  filter add [IFACE] port udp|tcp:PORT=allow|drop|rate:PPS[/BURST]\n"
		"  filter add [IFACE] allow|served-allow|served-deny PREFIX\n"
		"  filter del [IFACE] port udp|tcp:PORT | allow|served PREFIX\n"
		"                                 PREFIX: A.B.C.D[/LEN] or IPv6[/LEN]\n"
		"  filter reset [IFACE]           back to the documented defaults\n"
		"  detach IFACE [--force]         remove the xtcp XDP program from IFACE\n"
		"  metrics                        every counter in the Prometheus text format\n"
		"  metrics --listen ADDR:PORT     serve them over HTTP (GET /metrics)\n"
		"  metrics --textfile PATH [--interval SEC]\n"
		"                                 write them to PATH atomically (node_exporter\n"
		"                                 textfile collector), once or every SEC seconds\n"
		"IFACE may be left out when exactly one interface has xtcp attached.\n");
	return f == stderr ? 2 : 0;
}

static void human_count(char *buf, size_t n, uint64_t v)
{
	if (v >= 10000000000ull)
		snprintf(buf, n, "%lluG", (unsigned long long)(v / 1000000000ull));
	else if (v >= 10000000ull)
		snprintf(buf, n, "%lluM", (unsigned long long)(v / 1000000ull));
	else if (v >= 100000ull)
		snprintf(buf, n, "%lluk", (unsigned long long)(v / 1000ull));
	else
		snprintf(buf, n, "%llu", (unsigned long long)v);
}

/* --- programs on an interface --- */

struct ifprog {
	int ifindex;
	char name[IF_NAMESIZE];
	unsigned n_progs;
	uint32_t ids[PROTECT_MAX_PROGS];
	char prog_names[PROTECT_MAX_PROGS][BPF_OBJ_NAME_LEN];
	const char *mode;
	uint32_t xtcp_id; /* the program holding xtcp_stats (0: none) */
	bool has_protect;
};

static void prog_name(uint32_t id, char *buf, size_t n)
{
	struct bpf_prog_info pi;
	uint32_t len = sizeof(pi);
	int fd = bpf_prog_get_fd_by_id(id);

	snprintf(buf, n, "?");
	if (fd < 0)
		return;
	memset(&pi, 0, sizeof(pi));
	if (!bpf_obj_get_info_by_fd(fd, &pi, &len))
		snprintf(buf, n, "%s", pi.name);
	close(fd);
}

/* 0 when a program is attached, -ENOENT when none, other -errno on failure. */
static int ifprog_query(int ifindex, struct ifprog *p)
{
	unsigned i;
	int err, fd;

	memset(p, 0, sizeof(*p));
	p->ifindex = ifindex;
	if_indextoname((unsigned)ifindex, p->name);
	err = protect_xdp_progs(ifindex, p->ids, &p->n_progs, &p->mode);
	if (err)
		return err;
	for (i = 0; i < p->n_progs; i++) {
		prog_name(p->ids[i], p->prog_names[i], sizeof(p->prog_names[i]));
		fd = protect_prog_map_fd(p->ids[i], "xtcp_stats");
		if (fd >= 0 && !p->xtcp_id) {
			p->xtcp_id = p->ids[i];
			close(fd);
		}
		fd = protect_prog_map_fd(p->ids[i], PROT_MAP_CFG);
		if (fd >= 0) {
			p->has_protect = true;
			close(fd);
		}
	}
	return 0;
}

static int iface_index(const char *name)
{
	unsigned idx = if_nametoindex(name);

	if (!idx) {
		fprintf(stderr, "xtcpctl: no such interface: %s\n", name);
		return -ENODEV;
	}
	return (int)idx;
}

/* The single interface with an xtcp (protection-capable) program, for commands without IFACE. */
static int iface_auto(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	struct ifprog p;
	int found = 0, n = 0;

	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		if (ifprog_query((int)i->if_index, &p) || (!p.xtcp_id && !p.has_protect))
			continue;
		found = (int)i->if_index;
		n++;
	}
	if_freenameindex(ifs);
	if (n == 1)
		return found;
	if (n == 0)
		fprintf(stderr, "xtcpctl: no interface has an xtcp XDP program attached\n");
	else
		fprintf(stderr, "xtcpctl: xtcp is attached to %d interfaces: name one\n", n);
	return -ENOENT;
}

/* --- counters --- */

static int percpu_sum(int fd, uint32_t n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus(), c;
	uint64_t *v;
	uint32_t i;

	if (ncpu <= 0)
		return -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, v))
			continue;
		for (c = 0; c < ncpu; c++)
			out[i] += v[c];
	}
	free(v);
	return 0;
}

/* Text: counters above zero, and always the first `always` (the verdicts). */
static void print_counters(struct ctl *ctl, const char *title, const char *const *names,
			   const uint64_t *v, unsigned n, unsigned always)
{
	char num[32];
	unsigned i, col = 0;

	if (ctl->json) {
		jw_obj(&ctl->w, title);
		for (i = 0; i < n; i++)
			if (names[i])
				jw_u64(&ctl->w, names[i], v[i]);
		jw_end_obj(&ctl->w);
		return;
	}
	printf("  %-11s", title);
	for (i = 0; i < n; i++) {
		if (!names[i] || (!v[i] && i >= always))
			continue; /* zero cause counters are noise */
		if (col && col % 5 == 0)
			printf("\n  %-11s", "");
		human_count(num, sizeof(num), v[i]);
		printf(" %s %s", names[i], num);
		col++;
	}
	printf("\n");
}

int xtcpctl_xdp_counters(int ifindex, uint64_t *steer, bool *has_steer, uint64_t *prot,
			 bool *has_prot)
{
	struct protect_maps m;
	struct ifprog p;
	int err = ifprog_query(ifindex, &p), fd;

	*has_steer = *has_prot = false;
	if (err)
		return err;
	if (p.xtcp_id) {
		fd = protect_prog_map_fd(p.xtcp_id, "xtcp_stats");
		if (fd >= 0 && !percpu_sum(fd, XTCP_STAT__COUNT, steer))
			*has_steer = true;
		if (fd >= 0)
			close(fd);
	}
	if (p.has_protect && !protect_maps_open(ifindex, &m)) {
		*has_prot = !protect_stats(&m, prot);
		protect_maps_close(&m);
	}
	return 0;
}

/* --- status --- */

static void status_xsks(struct ctl *ctl, const struct xsk_sock *s, int n, int ifindex)
{
	int i, shown = 0;

	if (ctl->json)
		jw_arr(&ctl->w, "queues");
	for (i = 0; i < n; i++) {
		if ((int)s[i].ifindex != ifindex)
			continue;
		if (ctl->json) {
			jw_obj(&ctl->w, NULL);
			jw_u64(&ctl->w, "queue", s[i].queue_id);
			jw_i64(&ctl->w, "pid", s[i].pid);
			jw_str(&ctl->w, "comm", s[i].comm);
			jw_u64(&ctl->w, "inode", s[i].ino);
			jw_bool(&ctl->w, "zero_copy", s[i].zero_copy);
			jw_u64(&ctl->w, "rx_ring", s[i].rx_ring);
			jw_u64(&ctl->w, "tx_ring", s[i].tx_ring);
			jw_u64(&ctl->w, "fill_ring", s[i].fill_ring);
			jw_u64(&ctl->w, "comp_ring", s[i].comp_ring);
			jw_u64(&ctl->w, "rx_dropped", s[i].rx_dropped);
			jw_u64(&ctl->w, "rx_invalid", s[i].rx_invalid);
			jw_u64(&ctl->w, "rx_ring_full", s[i].rx_full);
			jw_u64(&ctl->w, "fill_ring_empty", s[i].fill_empty);
			jw_u64(&ctl->w, "tx_invalid", s[i].tx_invalid);
			jw_u64(&ctl->w, "tx_ring_empty", s[i].tx_empty);
			jw_end_obj(&ctl->w);
			continue;
		}
		if (!shown)
			printf("  %-11s %5s %7s %-15s %-5s %9s %9s %9s %9s\n", "queues", "queue",
			       "pid", "process", "mode", "rx_drop", "rx_full", "fill_empty",
			       "tx_inval");
		printf("  %-11s %5u %7d %-15s %-5s %9llu %9llu %9llu %9llu\n", "", s[i].queue_id,
		       (int)s[i].pid, s[i].pid ? s[i].comm : "?", s[i].zero_copy ? "zc" : "copy",
		       (unsigned long long)s[i].rx_dropped, (unsigned long long)s[i].rx_full,
		       (unsigned long long)s[i].fill_empty, (unsigned long long)s[i].tx_invalid);
		shown++;
	}
	if (ctl->json)
		jw_end_arr(&ctl->w);
	else if (!shown)
		printf("  %-11s no AF_XDP socket bound: served traffic goes to the kernel\n",
		       "queues");
}

/* Kernel without xsk_diag: AF_XDP sockets per owning process, queues unknown here. */
static void status_xsk_owners(struct ctl *ctl, const struct xsk_sock *s, int n)
{
	int i, j, count;

	if (ctl->json)
		jw_arr(&ctl->w, "xsk_owners");
	else
		printf("AF_XDP sockets (kernel without xsk_diag: queues and ring statistics come\n"
		       "from the processes' published statistics below):%s\n",
		       n ? "" : " none");
	for (i = 0; i < n; i++) {
		for (j = 0; j < i && s[j].pid != s[i].pid; j++)
			;
		if (j < i)
			continue; /* process already listed */
		for (count = 0, j = i; j < n; j++)
			count += s[j].pid == s[i].pid;
		if (ctl->json) {
			jw_obj(&ctl->w, NULL);
			jw_i64(&ctl->w, "pid", s[i].pid);
			jw_str(&ctl->w, "comm", s[i].comm);
			jw_u64(&ctl->w, "sockets", (uint64_t)count);
			jw_end_obj(&ctl->w);
		} else {
			printf("  %7d %-15s %d socket%s\n", (int)s[i].pid, s[i].comm, count,
			       count == 1 ? "" : "s");
		}
	}
	if (ctl->json)
		jw_end_arr(&ctl->w);
}

static void status_protect_line(struct ctl *ctl, const struct protect_cfg *c)
{
	char src[32], glob[32], syn[32], scope[48];

	protect_fmt_rate(src, sizeof(src), c->base.src_pps, c->base.src_burst);
	protect_fmt_rate(glob, sizeof(glob), c->base.global_pps, c->base.global_burst);
	protect_fmt_rate(syn, sizeof(syn), c->base.syn_pps, c->base.syn_burst);
	protect_fmt_scope(scope, sizeof(scope), c->base.scope);
	printf("  %-11s src %s, global %s (%s); syn %s; %u port rules, %u allowed prefixes;"
	       " served sources: %s\n",
	       "protection", src, glob, scope, syn, c->n_ports, c->n_allow,
	       !c->base.acl_on			      ? "all"
	       : c->base.acl_default == PROT_ACL_DENY ? "allow-list"
						      : "deny-list");
}

static void status_iface(struct ctl *ctl, const struct ifprog *p, const struct xsk_sock *s, int n,
			 bool diag)
{
	uint64_t v[XTCP_STAT_SLOTS], pv[PROT_CNT_MAX];
	struct protect_maps m;
	struct protect_cfg *c;
	unsigned i;
	int fd;

	if (ctl->json) {
		jw_obj(&ctl->w, NULL);
		jw_str(&ctl->w, "iface", p->name);
		jw_u64(&ctl->w, "ifindex", (uint64_t)p->ifindex);
		jw_str(&ctl->w, "mode", p->mode);
		jw_arr(&ctl->w, "programs");
		for (i = 0; i < p->n_progs; i++) {
			jw_obj(&ctl->w, NULL);
			jw_u64(&ctl->w, "id", p->ids[i]);
			jw_str(&ctl->w, "name", p->prog_names[i]);
			jw_end_obj(&ctl->w);
		}
		jw_end_arr(&ctl->w);
		jw_bool(&ctl->w, "xtcp", p->xtcp_id != 0);
	} else {
		printf("%s (ifindex %d): ", p->name, p->ifindex);
		if (!p->n_progs)
			printf("no XDP program attached\n");
		else
			printf("XDP program %u \"%s\" (%s)%s\n", p->ids[0], p->prog_names[0],
			       p->mode, p->xtcp_id || p->has_protect ? "" : ", not xtcp's");
		for (i = 1; i < p->n_progs; i++)
			printf("  %-11s %u \"%s\"\n", "component", p->ids[i], p->prog_names[i]);
	}
	if (p->xtcp_id) {
		fd = protect_prog_map_fd(p->xtcp_id, "xtcp_stats");
		if (fd >= 0 && !percpu_sum(fd, XTCP_STAT__COUNT, v))
			print_counters(ctl, "steering", xtcp_stat_names, v, XTCP_STAT__COUNT, 3);
		if (fd >= 0)
			close(fd);
	}
	c = malloc(sizeof(*c));
	if (c && p->has_protect && !protect_maps_open(p->ifindex, &m)) {
		if (!protect_read(&m, c) && !ctl->json)
			status_protect_line(ctl, c);
		if (!protect_stats(&m, pv))
			print_counters(ctl, "protect", prot_counter_names, pv, PROT_CNT_MAX, 1);
		protect_maps_close(&m);
	}
	free(c);
	if (diag)
		status_xsks(ctl, s, n, p->ifindex);
	if (ctl->json)
		jw_end_obj(&ctl->w);
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct if_nameindex *ifs = NULL, *i;
	struct xsk_sock *s = NULL;
	struct ifprog p;
	int n, idx = 0, shown = 0, err;
	bool diag = true;

	if (argc > 1)
		return usage(stderr);
	if (argc == 1 && (idx = iface_index(argv[0])) < 0)
		return 1;
	n = xsk_diag_list(&s);
	if (n >= 0) {
		xsk_diag_owners(s, n);
	} else {
		/* No xsk_diag in this kernel: owners from /proc, queues from the processes. */
		diag = false;
		n = xsk_proc_list(&s);
		if (n < 0)
			n = 0;
	}
	if (ctl->json) {
		jw_obj(&ctl->w, NULL);
		jw_arr(&ctl->w, "interfaces");
	}
	if (idx) {
		err = ifprog_query(idx, &p);
		if (err && err != -ENOENT)
			fprintf(stderr, "xtcpctl: %s: XDP query failed: %s\n", argv[0],
				strerror(-err));
		status_iface(ctl, &p, s, n, diag);
	} else {
		ifs = if_nameindex();
		for (i = ifs; i && i->if_index; i++) {
			int j, has_xsk = 0;

			for (j = 0; j < n; j++)
				has_xsk |= s[j].ifindex == i->if_index;
			if (ifprog_query((int)i->if_index, &p) && !has_xsk)
				continue;
			status_iface(ctl, &p, s, n, diag);
			shown++;
		}
		if (ifs)
			if_freenameindex(ifs);
		if (!shown && !ctl->json)
			printf("no interface has an XDP program or AF_XDP socket\n");
	}
	if (ctl->json)
		jw_end_arr(&ctl->w);
	if (!diag)
		status_xsk_owners(ctl, s, n);
	xtcpctl_shm_status(ctl->json ? &ctl->w : NULL);
	if (ctl->json)
		jw_end_obj(&ctl->w);
	free(s);
	return 0;
}

/* --- filter --- */

static int open_protect(int ifindex, struct protect_maps *m)
{
	char name[IF_NAMESIZE] = "?";
	int err = protect_maps_open(ifindex, m);

	if_indextoname((unsigned)ifindex, name);
	if (err == -ENOENT)
		fprintf(stderr, "xtcpctl: %s: no XDP program attached\n", name);
	else if (err == -ESRCH)
		fprintf(stderr,
			"xtcpctl: %s: the attached XDP program has no xtcp protection maps\n",
			name);
	else if (err)
		fprintf(stderr, "xtcpctl: %s: cannot read the XDP program: %s\n", name,
			strerror(-err));
	return err;
}

static void filter_show(struct ctl *ctl, int ifindex, const struct protect_cfg *c,
			const uint64_t *st)
{
	char name[IF_NAMESIZE] = "?", a[64], b[48], d[48];
	unsigned i;

	if_indextoname((unsigned)ifindex, name);
	if (ctl->json) {
		jw_obj(&ctl->w, NULL);
		jw_str(&ctl->w, "iface", name);
		protect_fmt_rate(a, sizeof(a), c->base.src_pps, c->base.src_burst);
		jw_str(&ctl->w, "src_rate", a);
		protect_fmt_rate(a, sizeof(a), c->base.global_pps, c->base.global_burst);
		jw_str(&ctl->w, "global_rate", a);
		protect_fmt_rate(a, sizeof(a), c->base.syn_pps, c->base.syn_burst);
		jw_str(&ctl->w, "syn_rate", a);
		protect_fmt_scope(a, sizeof(a), c->base.scope);
		jw_str(&ctl->w, "scope", a);
		jw_str(&ctl->w, "served_default",
		       c->base.acl_default == PROT_ACL_DENY ? "deny" : "allow");
		jw_u64(&ctl->w, "src6_prefix", c->base.src6_plen);
		jw_arr(&ctl->w, "ports");
		for (i = 0; i < c->n_ports; i++) {
			protect_fmt_port(a, sizeof(a), &c->ports[i]);
			jw_str(&ctl->w, NULL, a);
		}
		jw_end_arr(&ctl->w);
		jw_arr(&ctl->w, "allow");
		for (i = 0; i < c->n_allow; i++) {
			protect_fmt_prefix(a, sizeof(a), &c->allow[i]);
			jw_str(&ctl->w, NULL, a);
		}
		jw_end_arr(&ctl->w);
		jw_arr(&ctl->w, "served");
		for (i = 0; i < c->n_acl; i++) {
			jw_obj(&ctl->w, NULL);
			protect_fmt_prefix(a, sizeof(a), &c->acl[i]);
			jw_str(&ctl->w, "prefix", a);
			jw_str(&ctl->w, "action",
			       c->acl[i].action == PROT_ACL_DENY ? "deny" : "allow");
			jw_end_obj(&ctl->w);
		}
		jw_end_arr(&ctl->w);
		print_counters(ctl, "counters", prot_counter_names, st, PROT_CNT_MAX, 1);
		jw_end_obj(&ctl->w);
		return;
	}
	protect_fmt_rate(a, sizeof(a), c->base.src_pps, c->base.src_burst);
	protect_fmt_rate(b, sizeof(b), c->base.global_pps, c->base.global_burst);
	protect_fmt_scope(d, sizeof(d), c->base.scope);
	printf("%s: traffic xtcp does not serve (%s)\n", name, d);
	printf("  per source   %s pkt/s (IPv6: per /%u)\n  global       %s pkt/s\n", a,
	       c->base.src6_plen, b);
	printf("  allow-list  ");
	for (i = 0; i < c->n_allow; i++) {
		protect_fmt_prefix(a, sizeof(a), &c->allow[i]);
		printf(" %s", a);
	}
	printf("%s\n  port rules  ", c->n_allow ? " (never limited)" : " none");
	for (i = 0; i < c->n_ports; i++) {
		protect_fmt_port(a, sizeof(a), &c->ports[i]);
		printf(" %s", a);
	}
	protect_fmt_rate(a, sizeof(a), c->base.syn_pps, c->base.syn_burst);
	printf("%s\n%s: served ports\n  SYN/source   %s\n  sources      default %s",
	       c->n_ports ? "" : " none", name, a,
	       c->base.acl_default == PROT_ACL_DENY ? "deny" : "allow");
	for (i = 0; i < c->n_acl; i++) {
		protect_fmt_prefix(a, sizeof(a), &c->acl[i]);
		printf(", %s %s", c->acl[i].action == PROT_ACL_DENY ? "deny" : "allow", a);
	}
	printf("\n");
	print_counters(ctl, "counters", prot_counter_names, st, PROT_CNT_MAX, 1);
}

static int filter_set(struct protect_cfg *c, int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *k = argv[i], *v = eq ? eq + 1 : "";
		size_t kl = eq ? (size_t)(eq - k) : strlen(k);
		int bad = 0;

#define KEY(s) (kl == strlen(s) && !strncmp(k, s, kl))
		if (!eq)
			bad = 1;
		else if (KEY("src-rate"))
			bad = protect_parse_rate(v, &c->base.src_pps, &c->base.src_burst);
		else if (KEY("global-rate"))
			bad = protect_parse_rate(v, &c->base.global_pps, &c->base.global_burst);
		else if (KEY("syn-rate"))
			bad = protect_parse_rate(v, &c->base.syn_pps, &c->base.syn_burst);
		else if (KEY("scope"))
			bad = protect_parse_scope(v, &c->base.scope);
		else if (KEY("src6-prefix"))
			bad = protect_parse_src6_plen(v, &c->base.src6_plen);
		else if (KEY("served-default") && (!strcmp(v, "allow") || !strcmp(v, "deny")))
			c->base.acl_default = !strcmp(v, "allow") ? PROT_ACL_ALLOW : PROT_ACL_DENY;
		else
			bad = 1;
#undef KEY
		if (bad) {
			fprintf(stderr,
				"xtcpctl: filter set: bad setting \"%s\": expected src-rate=, "
				"global-rate=, syn-rate= PPS[/BURST]|off, "
				"scope=udp,tcp,icmp,other|all|none, served-default=allow|deny"
				" or src6-prefix=LEN (1..128)\n",
				argv[i]);
			return -EINVAL;
		}
	}
	return argc ? 0 : -EINVAL;
}

static int filter_addel(struct protect_cfg *c, bool add, int argc, char **argv)
{
	struct protect_prefix pf;
	struct protect_port pp;
	int err;

	if (argc != 2)
		goto bad;
	if (!strcmp(argv[0], "port")) {
		if (add) {
			if (protect_parse_port(argv[1], &pp))
				goto bad;
			return protect_cfg_add_port(c, &pp);
		}
		/* del takes udp:53 (no action) */
		{
			char tmp[64];

			snprintf(tmp, sizeof(tmp), "%s=drop", argv[1]);
			if (protect_parse_port(tmp, &pp))
				goto bad;
		}
		err = protect_cfg_del_port(c, pp.proto, pp.port);
		if (err)
			fprintf(stderr, "xtcpctl: no rule for port %s\n", argv[1]);
		return err;
	}
	if (protect_parse_prefix(argv[1], &pf))
		goto bad;
	if (!strcmp(argv[0], "allow")) {
		err = add ? protect_cfg_add_prefix(c->allow, &c->n_allow, &pf)
			  : protect_cfg_del_prefix(c->allow, &c->n_allow, &pf);
	} else if (add && (!strcmp(argv[0], "served-allow") || !strcmp(argv[0], "served-deny"))) {
		pf.action = !strcmp(argv[0], "served-deny") ? PROT_ACL_DENY : PROT_ACL_ALLOW;
		err = protect_cfg_add_prefix(c->acl, &c->n_acl, &pf);
	} else if (!add && !strcmp(argv[0], "served")) {
		err = protect_cfg_del_prefix(c->acl, &c->n_acl, &pf);
	} else {
		goto bad;
	}
	if (err == -ENOENT)
		fprintf(stderr, "xtcpctl: %s is not in the %s list\n", argv[1], argv[0]);
	if (err == -ENOSPC)
		fprintf(stderr, "xtcpctl: the %s list is full (%d entries)\n", argv[0],
			PROTECT_MAX_PREFIXES);
	return err;
bad:
	fprintf(stderr,
		"xtcpctl: filter %s: expected \"port udp|tcp:PORT%s\" or \"%s "
		"A.B.C.D[/LEN]|IPv6[/LEN]\"\n",
		add ? "add" : "del", add ? "=allow|drop|rate:PPS[/BURST]" : "",
		add ? "allow|served-allow|served-deny" : "allow|served");
	return -EINVAL;
}

static int cmd_filter(struct ctl *ctl, int argc, char **argv)
{
	uint64_t st[PROT_CNT_MAX];
	struct protect_maps m;
	struct protect_cfg *c;
	const char *verb;
	int ifindex, err;
	bool configured;

	if (argc < 1)
		return usage(stderr);
	verb = argv[0];
	argc--;
	argv++;
	if (argc > 0 && if_nametoindex(argv[0])) {
		ifindex = (int)if_nametoindex(argv[0]);
		argc--;
		argv++;
	} else if (!strcmp(verb, "show") && argc == 1) {
		iface_index(argv[0]); /* prints "no such interface" */
		return 1;
	} else {
		ifindex = iface_auto();
		if (ifindex < 0)
			return 1;
	}
	if (open_protect(ifindex, &m))
		return 1;
	c = malloc(sizeof(*c));
	err = c ? protect_read(&m, c) : -ENOMEM;
	if (err) {
		fprintf(stderr, "xtcpctl: cannot read the protection maps: %s\n", strerror(-err));
		goto out;
	}
	/* acl_default is 0 only in maps nobody configured yet: they limit nothing. */
	configured = c->base.acl_default != 0;
	if (!strcmp(verb, "show") && argc == 0) {
		if (!configured && !ctl->json)
			printf("(protection not configured yet: nothing is limited; any change "
			       "starts from the defaults)\n");
		err = protect_stats(&m, st);
		if (!err)
			filter_show(ctl, ifindex, c, st);
		goto out;
	}
	if (!configured)
		protect_cfg_defaults(c);
	if (!strcmp(verb, "set"))
		err = filter_set(c, argc, argv);
	else if (!strcmp(verb, "add") || !strcmp(verb, "del"))
		err = filter_addel(c, !strcmp(verb, "add"), argc, argv);
	else if (!strcmp(verb, "reset") && argc == 0)
		protect_cfg_defaults(c);
	else
		err = usage(stderr) ? -EINVAL : 0;
	if (err)
		goto out;
	err = protect_apply(&m, c);
	if (err == -EOPNOTSUPP)
		fprintf(stderr, "xtcpctl: the attached XDP program is of a build without IPv6 "
				"protection maps: IPv6 prefixes are refused\n");
	else if (err)
		fprintf(stderr, "xtcpctl: cannot update the protection maps: %s\n", strerror(-err));
out:
	free(c);
	protect_maps_close(&m);
	return err ? 1 : 0;
}

/* --- detach --- */

static int cmd_detach(struct ctl *ctl, int argc, char **argv)
{
	bool force = argc == 2 && !strcmp(argv[1], "--force");
	struct xdp_multiprog *mp;
	struct ifprog p;
	int ifindex, err, flags;

	if (argc < 1 || (argc == 2 && !force) || argc > 2)
		return usage(stderr);
	ifindex = iface_index(argv[0]);
	if (ifindex < 0)
		return 1;
	err = ifprog_query(ifindex, &p);
	if (err == -ENOENT) {
		fprintf(stderr, "xtcpctl: %s: no XDP program attached\n", argv[0]);
		return 1;
	}
	if (err) {
		fprintf(stderr, "xtcpctl: %s: XDP query failed: %s\n", argv[0], strerror(-err));
		return 1;
	}
	if (!p.xtcp_id && !p.has_protect && !force) {
		fprintf(stderr,
			"xtcpctl: %s: the attached program %u \"%s\" is not xtcp's (use --force)\n",
			argv[0], p.ids[0], p.prog_names[0]);
		return 1;
	}
	if (p.n_progs > 1) {
		mp = xdp_multiprog__get_from_ifindex(ifindex);
		err = libxdp_get_error(mp);
		if (!err) {
			err = xdp_multiprog__detach(mp);
			xdp_multiprog__close(mp);
		}
	} else {
		flags = !strcmp(p.mode, "generic")   ? XDP_FLAGS_SKB_MODE
			: !strcmp(p.mode, "offload") ? XDP_FLAGS_HW_MODE
						     : XDP_FLAGS_DRV_MODE;
		err = bpf_xdp_detach(ifindex, flags, NULL);
	}
	if (err) {
		fprintf(stderr, "xtcpctl: %s: detach failed: %s\n", argv[0], strerror(-err));
		return 1;
	}
	printf("%s: detached XDP program %u \"%s\"; its traffic goes to the kernel\n", argv[0],
	       p.ids[0], p.prog_names[0]);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.w = {.f = stdout}};
	int i = 1;

	libbpf_set_print(NULL);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			ctl.json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage(stdout);
		else
			return usage(stderr);
	}
	if (i >= argc)
		return usage(stderr);
	if (!strcmp(argv[i], "status"))
		return cmd_status(&ctl, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "conns"))
		return xtcpctl_conns(ctl.json ? &ctl.w : NULL, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "filter"))
		return cmd_filter(&ctl, argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "metrics"))
		return xtcpctl_metrics(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "detach"))
		return cmd_detach(&ctl, argc - i - 1, argv + i + 1);
	fprintf(stderr, "xtcpctl: unknown command \"%s\"\n", argv[i]);
	return usage(stderr);
}
