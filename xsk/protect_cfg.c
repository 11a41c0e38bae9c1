/*
 * protect_cfg.c - settings of the XDP flood protection (bpf/xtcp_protect.h).
 *
 *   protect_cfg_from_env()  defaults + XTCP_* variables -> struct protect_cfg
 *   protect_maps_open()     ifindex -> attached program id(s) -> map ids -> fds,
 *                           by name (bpf_xdp_query, libxdp for a dispatcher)
 *   protect_apply()         struct protect_cfg -> maps (full replace); IPv4
 *                           prefixes to prot_allow/prot_acl, IPv6 ones to
 *                           prot_allow6/prot_acl6
 *   protect_read()          maps -> struct protect_cfg
 *   protect_env_apply()     the shim's single call after attaching
 *
 * Memory: the caller owns struct protect_cfg (about 10 KiB) and the map fds in
 * struct protect_maps (protect_maps_close()). No globals.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "protect_cfg.h"

#define PROTECT_RATE_MAX 100000000u /* 100 Mpps: beyond any NIC queue */

/* Documented in docs/configuration.md, "Flood protection". */
void protect_cfg_defaults(struct protect_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->base.src_pps = 20000;
	c->base.src_burst = 40000;
	c->base.scope = PROT_SCOPE_UDP | PROT_SCOPE_OTHER;
	c->base.acl_default = PROT_ACL_ALLOW;
	c->base.src6_plen = PROT_SRC6_PLEN_DEFAULT;
}

static int parse_u32(const char *s, const char *end, uint32_t max, uint32_t *out)
{
	unsigned long v = 0;

	if (s == end)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int protect_parse_rate(const char *s, uint32_t *pps, uint32_t *burst)
{
	const char *slash, *end = s + strlen(s);

	if (!strcmp(s, "off") || !strcmp(s, "0")) {
		*pps = 0;
		*burst = 0;
		return 0;
	}
	slash = strchr(s, '/');
	if (parse_u32(s, slash ? slash : end, PROTECT_RATE_MAX, pps) || *pps == 0)
		return -EINVAL;
	if (!slash) {
		*burst = *pps; /* one second's worth */
		return 0;
	}
	if (parse_u32(slash + 1, end, PROTECT_RATE_MAX, burst) || *burst == 0)
		return -EINVAL;
	return 0;
}

/* Clear the bits of addr past len (network order, n bytes). */
static void prefix_clear_host(uint8_t *addr, size_t n, uint32_t len)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t bits = len > 8 * i ? len - 8 * (uint32_t)i : 0;

		addr[i] &= bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
	}
}

int protect_parse_prefix(const char *s, struct protect_prefix *out)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	bool v6 = memchr(s, ':', n) != NULL;
	uint32_t max = v6 ? 128 : 32, len = max;
	uint8_t a[16];

	if (n == 0 || n >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, n);
	ip[n] = 0;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, a) != 1)
		return -EINVAL;
	if (slash && parse_u32(slash + 1, s + strlen(s), max, &len))
		return -EINVAL;
	prefix_clear_host(a, v6 ? 16 : 4, len);
	memset(out, 0, sizeof(*out));
	out->v6 = v6;
	if (v6)
		memcpy(out->addr6, a, 16);
	else
		memcpy(&out->addr, a, 4);
	out->len = (uint8_t)len;
	out->action = 1;
	return 0;
}

int protect_parse_src6_plen(const char *s, uint32_t *plen)
{
	if (*s == '/')
		s++;
	return parse_u32(s, s + strlen(s), 128, plen) || *plen == 0 ? -EINVAL : 0;
}

/* The same prefix (the action aside)? */
static bool prefix_same(const struct protect_prefix *a, const struct protect_prefix *b)
{
	if (a->v6 != b->v6 || a->len != b->len)
		return false;
	return a->v6 ? !memcmp(a->addr6, b->addr6, 16) : a->addr == b->addr;
}

/* udp:53=allow | tcp:23=drop | udp:123=rate:PPS[/BURST] */
int protect_parse_port(const char *s, struct protect_port *out)
{
	const char *colon = strchr(s, ':'), *eq = strchr(s, '=');
	uint32_t port;

	memset(out, 0, sizeof(*out));
	if (!colon || !eq || eq < colon)
		return -EINVAL;
	if ((size_t)(colon - s) == 3 && !strncmp(s, "udp", 3))
		out->proto = IPPROTO_UDP;
	else if ((size_t)(colon - s) == 3 && !strncmp(s, "tcp", 3))
		out->proto = IPPROTO_TCP;
	else
		return -EINVAL;
	if (parse_u32(colon + 1, eq, 65535, &port) || port == 0)
		return -EINVAL;
	out->port = (uint16_t)port;
	eq++;
	if (!strcmp(eq, "allow"))
		out->action = PROT_PORT_ALLOW;
	else if (!strcmp(eq, "drop"))
		out->action = PROT_PORT_DROP;
	else if (!strncmp(eq, "rate:", 5) && !protect_parse_rate(eq + 5, &out->pps, &out->burst) &&
		 out->pps)
		out->action = PROT_PORT_RATE;
	else
		return -EINVAL;
	return 0;
}

int protect_parse_scope(const char *s, uint32_t *scope)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = {{"udp", PROT_SCOPE_UDP},	{"tcp", PROT_SCOPE_TCP},
		     {"icmp", PROT_SCOPE_ICMP}, {"other", PROT_SCOPE_OTHER},
		     {"all", PROT_SCOPE_ALL},	{"none", 0}};
	const char *p = s;

	*scope = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && !strncmp(p, names[i].name, n))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return -EINVAL;
		*scope |= names[i].bit;
		p += n;
		if (*p == ',')
			p++;
	}
	return p == s ? -EINVAL : 0;
}

int protect_cfg_add_port(struct protect_cfg *c, const struct protect_port *p)
{
	unsigned i;

	for (i = 0; i < c->n_ports; i++) {
		if (c->ports[i].proto == p->proto && c->ports[i].port == p->port) {
			c->ports[i] = *p;
			return 0;
		}
	}
	if (c->n_ports == PROTECT_MAX_PORTS)
		return -ENOSPC;
	c->ports[c->n_ports++] = *p;
	return 0;
}

int protect_cfg_del_port(struct protect_cfg *c, uint8_t proto, uint16_t port)
{
	unsigned i;

	for (i = 0; i < c->n_ports; i++) {
		if (c->ports[i].proto == proto && c->ports[i].port == port) {
			c->ports[i] = c->ports[--c->n_ports];
			return 0;
		}
	}
	return -ENOENT;
}

int protect_cfg_add_prefix(struct protect_prefix *arr, unsigned *n, const struct protect_prefix *p)
{
	unsigned i;

	for (i = 0; i < *n; i++) {
		if (prefix_same(&arr[i], p)) {
			arr[i] = *p;
			return 0;
		}
	}
	if (*n == PROTECT_MAX_PREFIXES)
		return -ENOSPC;
	arr[(*n)++] = *p;
	return 0;
}

int protect_cfg_del_prefix(struct protect_prefix *arr, unsigned *n, const struct protect_prefix *p)
{
	unsigned i;

	for (i = 0; i < *n; i++) {
		if (prefix_same(&arr[i], p)) {
			arr[i] = arr[--(*n)];
			return 0;
		}
	}
	return -ENOENT;
}

void protect_fmt_rate(char *buf, size_t n, uint32_t pps, uint32_t burst)
{
	if (!pps)
		snprintf(buf, n, "off");
	else
		snprintf(buf, n, "%u/%u", pps, burst ? burst : 1);
}

void protect_fmt_prefix(char *buf, size_t n, const struct protect_prefix *p)
{
	char ip[INET6_ADDRSTRLEN];
	struct in_addr a = {.s_addr = p->addr};

	if (p->v6)
		inet_ntop(AF_INET6, p->addr6, ip, sizeof(ip));
	else
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
	snprintf(buf, n, "%s/%u", ip, p->len);
}

void protect_fmt_port(char *buf, size_t n, const struct protect_port *p)
{
	const char *proto = p->proto == IPPROTO_UDP ? "udp" : "tcp";
	char rate[32];

	switch (p->action) {
	case PROT_PORT_ALLOW:
		snprintf(buf, n, "%s:%u=allow", proto, p->port);
		break;
	case PROT_PORT_DROP:
		snprintf(buf, n, "%s:%u=drop", proto, p->port);
		break;
	default:
		protect_fmt_rate(rate, sizeof(rate), p->pps, p->burst);
		snprintf(buf, n, "%s:%u=rate:%s", proto, p->port, rate);
		break;
	}
}

void protect_fmt_scope(char *buf, size_t n, uint32_t scope)
{
	static const char *const names[] = {"udp", "tcp", "icmp", "other"};
	size_t off = 0;
	unsigned i;

	buf[0] = 0;
	if (!scope) {
		snprintf(buf, n, "none");
		return;
	}
	for (i = 0; i < 4; i++) {
		if (!(scope & (1u << i)))
			continue;
		off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%s", off ? "," : "",
					names[i]);
	}
}

/* --- environment --- */

struct env_ctx {
	char *err;
	size_t errlen;
};

static int env_err(struct env_ctx *e, const char *var, const char *val, const char *form)
{
	snprintf(e->err, e->errlen, "%s=\"%s\" is invalid: expected %s", var, val, form);
	return -EINVAL;
}

/* Split a comma list and feed each item to fn; the first bad item fails. */
static int env_list(struct env_ctx *e, const char *var, const char *form, const char *val,
		    int (*fn)(struct protect_cfg *, const char *, void *), struct protect_cfg *c,
		    void *arg)
{
	char item[128];
	const char *p = val;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof(item))
			return env_err(e, var, val, form);
		memcpy(item, p, n);
		item[n] = 0;
		if (fn(c, item, arg))
			return env_err(e, var, val, form);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int env_port(struct protect_cfg *c, const char *s, void *arg)
{
	struct protect_port p;

	return protect_parse_port(s, &p) ?: protect_cfg_add_port(c, &p);
}

static int env_allow(struct protect_cfg *c, const char *s, void *arg)
{
	struct protect_prefix p;

	return protect_parse_prefix(s, &p) ?: protect_cfg_add_prefix(c->allow, &c->n_allow, &p);
}

static int env_acl(struct protect_cfg *c, const char *s, void *arg)
{
	struct protect_prefix p;

	if (protect_parse_prefix(s, &p))
		return -EINVAL;
	p.action = *(uint32_t *)arg;
	return protect_cfg_add_prefix(c->acl, &c->n_acl, &p);
}

#define FORM_RATE "PPS[/BURST] or off (e.g. 20000/40000)"
#define FORM_PREFIX                                                                                \
	"a comma list of A.B.C.D[/LEN] or IPv6[/LEN] (e.g. "                                       \
	"10.0.0.0/8,192.168.1.5,fd77:1::/64,2001:db8::1)"
#define FORM_PORTS                                                                                 \
	"a comma list of udp|tcp:PORT=allow|drop|rate:PPS[/BURST] (e.g. "                          \
	"udp:53=allow,udp:11211=drop)"

int protect_cfg_parse(struct protect_cfg *c, const char *(*get)(const char *), char *errbuf,
		      size_t errlen)
{
	uint32_t allow = PROT_ACL_ALLOW, deny = PROT_ACL_DENY;
	struct env_ctx e = {errbuf, errlen};
	const char *v;
	int err;

	protect_cfg_defaults(c);
	v = get("XTCP_PROTECT");
	if (v && strcmp(v, "1") && strcmp(v, "0"))
		return env_err(&e, "XTCP_PROTECT", v, "0 or 1");
	if (v && !strcmp(v, "0")) {
		memset(c, 0, sizeof(*c));
		c->base.acl_default = PROT_ACL_ALLOW;
		return 0;
	}
	v = get("XTCP_PROTECT_SRC_RATE");
	if (v && protect_parse_rate(v, &c->base.src_pps, &c->base.src_burst))
		return env_err(&e, "XTCP_PROTECT_SRC_RATE", v, FORM_RATE);
	v = get("XTCP_PROTECT_GLOBAL_RATE");
	if (v && protect_parse_rate(v, &c->base.global_pps, &c->base.global_burst))
		return env_err(&e, "XTCP_PROTECT_GLOBAL_RATE", v, FORM_RATE);
	v = get("XTCP_PROTECT_SRC6_PREFIX");
	if (v && protect_parse_src6_plen(v, &c->base.src6_plen))
		return env_err(&e, "XTCP_PROTECT_SRC6_PREFIX", v,
			       "a prefix length 1..128 (e.g. 64: one bucket per /64)");
	v = get("XTCP_PROTECT_SCOPE");
	if (v && protect_parse_scope(v, &c->base.scope))
		return env_err(&e, "XTCP_PROTECT_SCOPE", v,
			       "a comma list of udp,tcp,icmp,other, or all");
	v = get("XTCP_PROTECT_PORTS");
	if (v && (err = env_list(&e, "XTCP_PROTECT_PORTS", FORM_PORTS, v, env_port, c, NULL)))
		return err;
	v = get("XTCP_PROTECT_ALLOW");
	if (v && (err = env_list(&e, "XTCP_PROTECT_ALLOW", FORM_PREFIX, v, env_allow, c, NULL)))
		return err;
	v = get("XTCP_SYN_RATE");
	if (v && protect_parse_rate(v, &c->base.syn_pps, &c->base.syn_burst))
		return env_err(&e, "XTCP_SYN_RATE", v, FORM_RATE);
	v = get("XTCP_SERVED_ALLOW");
	if (v && (err = env_list(&e, "XTCP_SERVED_ALLOW", FORM_PREFIX, v, env_acl, c, &allow)))
		return err;
	if (v && *v)
		c->base.acl_default = PROT_ACL_DENY; /* an allow-list: only those */
	v = get("XTCP_SERVED_DENY");
	if (v && (err = env_list(&e, "XTCP_SERVED_DENY", FORM_PREFIX, v, env_acl, c, &deny)))
		return err;
	v = get("XTCP_SERVED_DEFAULT");
	if (v && strcmp(v, "allow") && strcmp(v, "deny"))
		return env_err(&e, "XTCP_SERVED_DEFAULT", v, "allow or deny");
	if (v)
		c->base.acl_default = !strcmp(v, "allow") ? PROT_ACL_ALLOW : PROT_ACL_DENY;
	c->base.acl_on = c->n_acl > 0 || c->base.acl_default == PROT_ACL_DENY;
	return 0;
}

static const char *real_getenv(const char *name)
{
	return getenv(name);
}

int protect_cfg_from_env(struct protect_cfg *c)
{
	char err[256];
	int rc = protect_cfg_parse(c, real_getenv, err, sizeof(err));

	if (rc)
		fprintf(stderr, "xtcp: %s\n", err);
	return rc;
}

int protect_env_check(void)
{
	struct protect_cfg *c = malloc(sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	err = protect_cfg_from_env(c);
	free(c);
	return err;
}

/* --- maps of the attached program --- */

static const char *mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "generic";
	case XDP_MODE_HW:
		return "offload";
	default:
		return "none";
	}
}

static int quiet_print(enum libxdp_print_level level, const char *fmt, va_list args)
{
	return 0;
}

int protect_xdp_progs(int ifindex, uint32_t ids[PROTECT_MAX_PROGS], unsigned *n, const char **mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct xdp_multiprog *mp;
	struct xdp_program *p;
	libxdp_print_fn_t old;
	int err;

	*n = 0;
	*mode = "none";
	err = bpf_xdp_query(ifindex, 0, &q);
	if (err)
		return err;
	if (!q.prog_id)
		return -ENOENT;
	ids[(*n)++] = q.prog_id;
	*mode = q.attach_mode == XDP_ATTACHED_DRV   ? "native"
		: q.attach_mode == XDP_ATTACHED_SKB ? "generic"
		: q.attach_mode == XDP_ATTACHED_HW  ? "offload"
						    : "multi";
	/* A libxdp dispatcher: its component programs hold the maps. */
	old = libxdp_set_print(quiet_print);
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	libxdp_set_print(old);
	if (libxdp_get_error(mp))
		return 0;
	if (!xdp_multiprog__is_legacy(mp)) {
		*mode = mode_name(xdp_multiprog__attach_mode(mp));
		for (p = xdp_multiprog__next_prog(NULL, mp); p && *n < PROTECT_MAX_PROGS;
		     p = xdp_multiprog__next_prog(p, mp))
			ids[(*n)++] = xdp_program__id(p);
	}
	xdp_multiprog__close(mp);
	return 0;
}

int protect_prog_map_fd(uint32_t prog_id, const char *name)
{
	uint32_t map_ids[64];
	struct bpf_prog_info pi;
	uint32_t len = sizeof(pi), i, nr;
	int pfd, fd, err = -ESRCH;

	pfd = bpf_prog_get_fd_by_id(prog_id);
	if (pfd < 0)
		return -errno;
	memset(&pi, 0, sizeof(pi));
	pi.nr_map_ids = 64;
	pi.map_ids = (uint64_t)(unsigned long)map_ids;
	if (bpf_obj_get_info_by_fd(pfd, &pi, &len)) {
		err = -errno;
		goto out;
	}
	nr = pi.nr_map_ids < 64 ? pi.nr_map_ids : 64;
	for (i = 0; i < nr; i++) {
		struct bpf_map_info mi;
		uint32_t mlen = sizeof(mi);

		fd = bpf_map_get_fd_by_id(map_ids[i]);
		if (fd < 0)
			continue;
		memset(&mi, 0, sizeof(mi));
		if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) && !strcmp(mi.name, name)) {
			err = fd;
			goto out;
		}
		close(fd);
	}
out:
	close(pfd);
	return err;
}

void protect_maps_close(struct protect_maps *m)
{
	int *fds[] = {&m->cfg, &m->stats, &m->src,  &m->glob,	&m->port, &m->allow,
		      &m->acl, &m->syn,	  &m->src6, &m->allow6, &m->acl6, &m->syn6};
	unsigned i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int maps_of_prog(uint32_t id, struct protect_maps *m)
{
	struct {
		int *fd;
		const char *name;
	} want[] = {{&m->cfg, PROT_MAP_CFG},   {&m->stats, PROT_MAP_STATS},
		    {&m->src, PROT_MAP_SRC},   {&m->glob, PROT_MAP_GLOB},
		    {&m->port, PROT_MAP_PORT}, {&m->allow, PROT_MAP_ALLOW},
		    {&m->acl, PROT_MAP_ACL},   {&m->syn, PROT_MAP_SYN}};

	struct {
		int *fd;
		const char *name;
	} want6[] = {{&m->src6, PROT_MAP_SRC6},
		     {&m->allow6, PROT_MAP_ALLOW6},
		     {&m->acl6, PROT_MAP_ACL6},
		     {&m->syn6, PROT_MAP_SYN6}};
	unsigned i;
	int fd;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		fd = protect_prog_map_fd(id, want[i].name);
		if (fd < 0) {
			protect_maps_close(m);
			return fd;
		}
		*want[i].fd = fd;
	}
	/* Optional: a program of an older build still takes the IPv4 rules. */
	for (i = 0; i < sizeof(want6) / sizeof(want6[0]); i++) {
		fd = protect_prog_map_fd(id, want6[i].name);
		*want6[i].fd = fd < 0 ? -1 : fd;
	}
	m->prog_id = id;
	return 0;
}

int protect_maps_open(int ifindex, struct protect_maps *m)
{
	uint32_t ids[PROTECT_MAX_PROGS];
	const char *mode;
	unsigned n, i;
	int err;

	memset(m, 0, sizeof(*m));
	m->cfg = m->stats = m->src = m->glob = m->port = m->allow = m->acl = m->syn = -1;
	m->src6 = m->allow6 = m->acl6 = m->syn6 = -1;
	err = protect_xdp_progs(ifindex, ids, &n, &mode);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (!maps_of_prog(ids[i], m))
			return 0;
	return -ESRCH;
}

/* Delete every key of map fd that keep() rejects. Keys up to 32 bytes. */
static int map_prune(int fd, size_t ksz, bool (*keep)(const void *key, const struct protect_cfg *c),
		     const struct protect_cfg *c)
{
	uint8_t key[32] = {0}, next[32] = {0};
	void *prev = NULL;

	if (fd < 0)
		return 0;

	while (!bpf_map_get_next_key(fd, prev, next)) {
		if (!keep(next, c)) {
			if (bpf_map_delete_elem(fd, next) && errno != ENOENT)
				return -errno;
			/* Restart: the deleted key can no longer be "prev". */
			prev = NULL;
			continue;
		}
		memcpy(key, next, ksz);
		prev = key;
	}
	return 0;
}

static bool keep_port(const void *key, const struct protect_cfg *c)
{
	const struct prot_port_key *k = key;
	unsigned i;

	for (i = 0; i < c->n_ports; i++)
		if (c->ports[i].proto == k->proto && c->ports[i].port == k->port)
			return true;
	return false;
}

static bool prefix_in(const void *key, bool v6, const struct protect_prefix *arr, unsigned n)
{
	const struct prot_lpm6_key *k6 = key;
	const struct prot_lpm_key *k = key;
	struct protect_prefix p = {.v6 = v6};
	unsigned i;

	if (v6) {
		p.len = (uint8_t)k6->prefixlen;
		memcpy(p.addr6, k6->addr, 16);
	} else {
		p.len = (uint8_t)k->prefixlen;
		p.addr = k->addr;
	}
	for (i = 0; i < n; i++)
		if (prefix_same(&arr[i], &p))
			return true;
	return false;
}

static bool keep_allow(const void *key, const struct protect_cfg *c)
{
	return prefix_in(key, false, c->allow, c->n_allow);
}

static bool keep_acl(const void *key, const struct protect_cfg *c)
{
	return prefix_in(key, false, c->acl, c->n_acl);
}

static bool keep_allow6(const void *key, const struct protect_cfg *c)
{
	return prefix_in(key, true, c->allow, c->n_allow);
}

static bool keep_acl6(const void *key, const struct protect_cfg *c)
{
	return prefix_in(key, true, c->acl, c->n_acl);
}

/* The prefixes of one family into its LPM map (fd4 or fd6). */
static int put_prefixes(int fd4, int fd6, const struct protect_prefix *arr, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct prot_lpm_key k = {.prefixlen = arr[i].len, .addr = arr[i].addr};
		struct prot_lpm6_key k6 = {.prefixlen = arr[i].len};
		uint32_t v = arr[i].action;
		int err;

		if (arr[i].v6 && fd6 < 0)
			return -EOPNOTSUPP;
		memcpy(k6.addr, arr[i].addr6, 16);
		err = arr[i].v6 ? bpf_map_update_elem(fd6, &k6, &v, BPF_ANY)
				: bpf_map_update_elem(fd4, &k, &v, BPF_ANY);
		if (err)
			return -errno;
	}
	return 0;
}

static bool any_prefix(const struct protect_prefix *arr, unsigned n, bool v6)
{
	for (unsigned i = 0; i < n; i++)
		if (arr[i].v6 == v6)
			return true;
	return false;
}

/* prot_config.src6_mask: the first plen bits set, network order. */
static void src6_mask(struct prot_config *base)
{
	uint8_t m[16];

	if (!base->src6_plen || base->src6_plen > 128)
		base->src6_plen = PROT_SRC6_PLEN_DEFAULT;
	memset(m, 0xff, sizeof(m));
	prefix_clear_host(m, sizeof(m), base->src6_plen);
	memcpy(base->src6_mask, m, sizeof(m));
}

int protect_apply(const struct protect_maps *m, const struct protect_cfg *c)
{
	struct prot_config base = c->base;
	uint32_t zero = 0;
	unsigned i;
	int err;

	/* Lists first, so a tighter default never meets a missing allow entry. */
	for (i = 0; i < c->n_ports; i++) {
		struct prot_port_key k = {.proto = c->ports[i].proto, .port = c->ports[i].port};
		struct prot_port_rule r = {.action = c->ports[i].action,
					   .pps = c->ports[i].pps,
					   .burst = c->ports[i].burst};

		if (bpf_map_update_elem(m->port, &k, &r, BPF_ANY))
			return -errno;
	}
	err = map_prune(m->port, sizeof(struct prot_port_key), keep_port, c);
	err = err ?: put_prefixes(m->allow, m->allow6, c->allow, c->n_allow);
	err = err ?: map_prune(m->allow, sizeof(struct prot_lpm_key), keep_allow, c);
	err = err ?: map_prune(m->allow6, sizeof(struct prot_lpm6_key), keep_allow6, c);
	err = err ?: put_prefixes(m->acl, m->acl6, c->acl, c->n_acl);
	err = err ?: map_prune(m->acl, sizeof(struct prot_lpm_key), keep_acl, c);
	err = err ?: map_prune(m->acl6, sizeof(struct prot_lpm6_key), keep_acl6, c);
	if (err)
		return err;
	base.acl_on = c->n_acl > 0 || base.acl_default == PROT_ACL_DENY;
	base.flags = (any_prefix(c->allow, c->n_allow, false) ? PROT_F_ALLOW : 0) |
		     (any_prefix(c->allow, c->n_allow, true) ? PROT_F_ALLOW6 : 0) |
		     (c->n_ports ? PROT_F_PORTS : 0);
	if (!base.acl_default)
		base.acl_default = PROT_ACL_ALLOW;
	src6_mask(&base);
	if (bpf_map_update_elem(m->cfg, &zero, &base, BPF_ANY))
		return -errno;
	return 0;
}

/* Append the prefixes of an IPv4 (v6 false) or IPv6 LPM map to arr. */
static int read_prefixes(int fd, bool v6, struct protect_prefix *arr, unsigned *n)
{
	struct prot_lpm6_key k, next;
	void *prev = NULL;
	uint32_t v;

	if (fd < 0)
		return 0;
	while (!bpf_map_get_next_key(fd, prev, &next) && *n < PROTECT_MAX_PREFIXES) {
		if (!bpf_map_lookup_elem(fd, &next, &v)) {
			struct protect_prefix *p = &arr[(*n)++];

			memset(p, 0, sizeof(*p));
			p->v6 = v6;
			p->len = (uint8_t)next.prefixlen;
			p->action = v;
			/* an IPv4 key is {prefixlen, addr}: the first 4 bytes of addr[] here */
			if (v6)
				memcpy(p->addr6, next.addr, 16);
			else
				memcpy(&p->addr, next.addr, 4);
		}
		k = next;
		prev = &k;
	}
	return 0;
}

int protect_read(const struct protect_maps *m, struct protect_cfg *c)
{
	struct prot_port_key k, next;
	struct prot_port_rule r;
	void *prev = NULL;
	uint32_t zero = 0;

	memset(c, 0, sizeof(*c));
	if (bpf_map_lookup_elem(m->cfg, &zero, &c->base))
		return -errno;
	while (!bpf_map_get_next_key(m->port, prev, &next) && c->n_ports < PROTECT_MAX_PORTS) {
		if (!bpf_map_lookup_elem(m->port, &next, &r)) {
			struct protect_port *p = &c->ports[c->n_ports++];

			p->proto = next.proto;
			p->port = next.port;
			p->action = r.action;
			p->pps = r.pps;
			p->burst = r.burst;
		}
		k = next;
		prev = &k;
	}
	read_prefixes(m->allow, false, c->allow, &c->n_allow);
	read_prefixes(m->allow6, true, c->allow, &c->n_allow);
	read_prefixes(m->acl, false, c->acl, &c->n_acl);
	read_prefixes(m->acl6, true, c->acl, &c->n_acl);
	return 0;
}

int protect_stats(const struct protect_maps *m, uint64_t out[PROT_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v;
	uint32_t i;
	int c;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < PROT_CNT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(m->stats, &i, v))
			continue;
		for (c = 0; c < ncpu; c++)
			out[i] += v[c];
	}
	free(v);
	return 0;
}

int protect_apply_initial(const struct protect_maps *m, const struct protect_cfg *c)
{
	struct prot_config cur;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(m->cfg, &zero, &cur))
		return -errno;
	if (cur.acl_default != 0)
		return 1; /* configured already (by the first user or by xtcpctl): keep */
	return protect_apply(m, c);
}

int protect_env_apply(int ifindex)
{
	struct protect_cfg *c = malloc(sizeof(*c));
	struct protect_maps m;
	int err;

	if (!c)
		return -ENOMEM;
	err = protect_cfg_from_env(c);
	if (err)
		goto out;
	err = protect_maps_open(ifindex, &m);
	if (err) {
		fprintf(stderr, "xtcp: protection not configured: %s\n",
			err == -ESRCH ? "the attached XDP program has no protection maps"
				      : strerror(-err));
		goto out;
	}
	err = protect_apply_initial(&m, c);
	if (err == -EOPNOTSUPP)
		fprintf(stderr,
			"xtcp: protection maps not updated: the attached XDP program is of "
			"a build without IPv6 protection maps, and IPv6 prefixes are set\n");
	else if (err < 0)
		fprintf(stderr, "xtcp: protection maps not updated: %s\n", strerror(-err));
	else
		err = 0;
	protect_maps_close(&m);
out:
	free(c);
	return err;
}
