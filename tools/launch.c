/*
 * launch.c - what the xtcp launcher (xtcp_main.c) knows: its options, one per
 * XTCP_* variable, the profiles, the choice of interface, and validation.
 *
 * Call order: launch_parse() -> [launch_iface_auto()] -> launch_validate().
 * Nothing here allocates or changes the process: values point into argv or
 * into the static tables, so main() can exec straight after.
 *
 * Validation reuses the library's own parsers (shim_config_parse(),
 * protect_cfg_parse()) on the environment the program will see, so the
 * launcher and the library can never disagree on an accepted form. Their
 * error line names the variable; when an option set it, the message is
 * rewritten to name the option.
 */
#include "launch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "protect_cfg.h"
#include "shim_config.h"

const struct launch_opt launch_opts[] = {
	{"iface", "XTCP_IFACE", "IF",
	 "interface whose traffic xtcp serves; may be left out when one interface carries the "
	 "IPv4 routes (the default route's, else the only one with routes)"},
	{"ports", "XTCP_PORTS", "LIST", "local TCP ports served by xtcp, e.g. 80,8080,9000-9010"},
	{"connect-ports", "XTCP_CONNECT_PORTS", "LIST",
	 "remote ports whose connect() runs on xtcp (client side)"},
	{"local-ports", "XTCP_LOCAL_PORTS", "MIN-MAX",
	 "local ports of xtcp's own connections (default 61000-65535)"},
	{"log", "XTCP_LOG", "LEVEL", "error, warn, info or debug (default warn)"},
	{"strict", "XTCP_STRICT", NULL,
	 "exit with status 1 on a configuration error or start-up failure instead of running "
	 "on the kernel"},
	{"spin-us", "XTCP_SPIN_US", "N", "microseconds epoll_wait polls before sleeping (0)"},
	{"busy-poll", "XTCP_BUSY_POLL", NULL,
	 "AF_XDP preferred busy polling even where the device does not defer interrupts "
	 "(default: where it does)"},
	{"mtu-probing", "XTCP_MTU_PROBING", NULL,
	 "probe the path MTU after a black hole, as Linux tcp_mtu_probing=1 (0)"},
	{"queues", "XTCP_QUEUES", "auto|one|all", "RX queues a serving process takes (auto)"},
	{"xdp-mode", "XTCP_XDP_MODE", "native|generic", "force the XDP attach mode (native)"},
	{"frames", "XTCP_FRAMES", "N", "UMEM frames per AF_XDP socket (4096)"},
	{"max-socks", "XTCP_MAX_SOCKS", "N", "stack sockets per process (16384)"},
	{"queue-wait-ms", "XTCP_QUEUE_WAIT_MS", "MS",
	 "wait for a free RX queue before dropping root (2000)"},
	{"exit-linger-ms", "XTCP_EXIT_LINGER_MS", "MS",
	 "at exit, wait for peers to acknowledge closed connections (1000)"},
	{"fork-conns", "XTCP_FORK_CONNS", "kernel|parent",
	 "at fork, hand open connections to the kernel, or keep them in the parent (kernel)"},
	{"rx-csum", "XTCP_RX_CSUM", "auto|verify|trust-local",
	 "accept a local kernel's unfinished checksums (auto: on veth)"},
	{"tx-csum", "XTCP_TX_CSUM", "auto|off",
	 "let the kernel or device finish sent checksums (auto)"},
	{"stats", "XTCP_STATS", NULL, "publish /dev/shm/xtcp-<pid>.stats for xtcpctl (1)"},
	{"protect", "XTCP_PROTECT", NULL, "XDP flood protection; --protect=0 turns it off (1)"},
	{"protect-src-rate", "XTCP_PROTECT_SRC_RATE", "PPS[/BURST]|off",
	 "per-source limit for non-served traffic (20000/40000)"},
	{"protect-src6-prefix", "XTCP_PROTECT_SRC6_PREFIX", "LEN",
	 "IPv6 sources share one per-source limit per prefix of LEN bits (64)"},
	{"protect-global-rate", "XTCP_PROTECT_GLOBAL_RATE", "PPS[/BURST]|off",
	 "all non-served traffic together (off)"},
	{"protect-scope", "XTCP_PROTECT_SCOPE", "LIST",
	 "what the limits apply to: udp,tcp,icmp,other or all (udp,other)"},
	{"protect-ports", "XTCP_PROTECT_PORTS", "RULES",
	 "port rules, e.g. udp:53=allow,udp:11211=drop,tcp:23=rate:100/200"},
	{"protect-allow", "XTCP_PROTECT_ALLOW", "PREFIXES", "sources never limited"},
	{"syn-rate", "XTCP_SYN_RATE", "PPS[/BURST]|off", "SYNs per second per source (off)"},
	{"served-allow", "XTCP_SERVED_ALLOW", "PREFIXES", "only these sources reach served ports"},
	{"served-deny", "XTCP_SERVED_DENY", "PREFIXES", "these sources never reach served ports"},
	{"served-default", "XTCP_SERVED_DEFAULT", "allow|deny", "sources in neither list"},
};
const unsigned launch_n_opts = sizeof(launch_opts) / sizeof(launch_opts[0]);
_Static_assert(sizeof(launch_opts) / sizeof(launch_opts[0]) <= LAUNCH_MAX_OPTS, "launch.val[]");

/*
 * Named sets of variables. Busy polling only acts when the device defers
 * its interrupts (README, XTCP_BUSY_POLL); without that it costs nothing.
 */
const struct launch_profile launch_profiles[] = {
	{"default", "",
	 "the library's defaults: sleep at once when idle, busy polling only where the device "
	 "defers interrupts"},
	{"latency", "XTCP_BUSY_POLL=1 XTCP_SPIN_US=50",
	 "poll 50 us before sleeping and busy-poll the queue: fewer wake-ups on the reply path, "
	 "some CPU spent while idle"},
	{"throughput", "XTCP_BUSY_POLL=1 XTCP_FRAMES=8192",
	 "busy-poll the queue and double the UMEM (32 MB per queue) to absorb bursts"},
};
const unsigned launch_n_profiles = sizeof(launch_profiles) / sizeof(launch_profiles[0]);

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int launch_opt_index(const char *var)
{
	unsigned i;

	for (i = 0; i < launch_n_opts; i++)
		if (!strcmp(launch_opts[i].var, var))
			return (int)i;
	return -1;
}

static int opt_by_name(const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < launch_n_opts; i++)
		if (strlen(launch_opts[i].name) == len && !strncmp(launch_opts[i].name, name, len))
			return (int)i;
	return -1;
}

static const struct launch_profile *profile_by_name(const char *name)
{
	unsigned i;

	for (i = 0; i < launch_n_profiles; i++)
		if (!strcmp(launch_profiles[i].name, name))
			return &launch_profiles[i];
	return NULL;
}

/* --NAME[=VALUE] or --NAME VALUE for one table option; *i advances past what it used. */
static int parse_table_opt(struct launch *l, int idx, const char *inl, int argc, char **argv,
			   int *i, char *err, size_t errlen)
{
	const struct launch_opt *o = &launch_opts[idx];
	const char *v = inl;

	if (!o->arg) { /* a flag: alone means 1 */
		if (!v)
			v = "1";
		if (strcmp(v, "0") && strcmp(v, "1"))
			return fail(err, errlen,
				    "xtcp: --%s=\"%s\" is invalid: expected the flag alone (1), "
				    "=0 or =1",
				    o->name, v);
		l->val[idx] = v;
		return 0;
	}
	if (!v) {
		if (*i + 1 >= argc)
			return fail(err, errlen, "xtcp: --%s needs a value: %s", o->name, o->arg);
		v = argv[++*i];
	}
	if (!*v)
		return fail(err, errlen, "xtcp: --%s needs a value: %s", o->name, o->arg);
	l->val[idx] = v;
	return 0;
}

int launch_parse(struct launch *l, int argc, char **argv, char *err, size_t errlen)
{
	int i;

	memset(l, 0, sizeof(*l));
	if (err && errlen)
		err[0] = '\0';
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t len;
		int idx;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			l->help = true;
			return 0;
		}
		if (!strcmp(a, "--profiles")) {
			l->list_profiles = true;
			return 0;
		}
		if (!strcmp(a, "--version")) {
			l->version = true;
			return 0;
		}
		if (!strcmp(a, "--dry-run")) {
			l->dry_run = true;
			continue;
		}
		if (!strncmp(a, "--user", 6) && (!a[6] || a[6] == '=')) {
			l->user = a[6] ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
			if (!l->user || !*l->user || *l->user == ':')
				return fail(err, errlen,
					    "xtcp: --user needs a value: NAME[:GROUP]");
			continue;
		}
		if (strncmp(a, "--", 2))
			return fail(err, errlen, "xtcp: unknown option %s (see xtcp --help)", a);
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		if (len == 7 && !strncmp(a, "profile", 7)) {
			const char *name = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);

			if (!name)
				return fail(
					err, errlen,
					"xtcp: --profile needs a value: %s (see xtcp --profiles)",
					"latency, throughput or default");
			l->profile = profile_by_name(name);
			if (!l->profile)
				return fail(err, errlen,
					    "xtcp: --profile \"%s\" is invalid: expected %s", name,
					    "latency, throughput or default (see xtcp --profiles)");
			continue;
		}
		idx = opt_by_name(a, len);
		if (idx < 0)
			return fail(err, errlen, "xtcp: unknown option %s (see xtcp --help)",
				    argv[i]);
		if (parse_table_opt(l, idx, eq ? eq + 1 : NULL, argc, argv, &i, err, errlen))
			return -EINVAL;
	}
	l->prog = i < argc ? i : 0;
	if (!l->prog && !l->dry_run)
		return fail(err, errlen,
			    "xtcp: no program to run: xtcp [OPTIONS] [--] PROGRAM [ARGS...]");
	return 0;
}

/* The profile's value of var, copied to buf; NULL if the profile does not set it. */
static const char *profile_value(const struct launch_profile *p, const char *var, char *buf,
				 size_t n)
{
	size_t vl = strlen(var);
	const char *s;

	if (!p)
		return NULL;
	for (s = p->vars; (s = strstr(s, var)); s += vl) {
		size_t m;

		if ((s != p->vars && s[-1] != ' ') || s[vl] != '=')
			continue;
		s += vl + 1;
		m = strcspn(s, " ");
		if (m >= n)
			return NULL;
		memcpy(buf, s, m);
		buf[m] = '\0';
		return buf;
	}
	return NULL;
}

const char *launch_value(const struct launch *l, const char *var, launch_getenv_fn get, char *buf,
			 size_t n)
{
	int idx = launch_opt_index(var);
	const char *v;

	if (idx >= 0 && l->val[idx])
		return l->val[idx];
	v = profile_value(l->profile, var, buf, n);
	return v ? v : get(var);
}

/* --- the interface carrying the routes --- */

#define ROUTE_MAX_IFS 16

static void add_if(char names[][16], unsigned *n, const char *name)
{
	unsigned i;

	for (i = 0; i < *n; i++)
		if (!strcmp(names[i], name))
			return;
	if (*n < ROUTE_MAX_IFS)
		snprintf(names[(*n)++], 16, "%s", name);
}

static void join(char *buf, size_t n, char names[][16], unsigned count)
{
	unsigned i;
	size_t off = 0;

	buf[0] = '\0';
	for (i = 0; i < count && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", names[i]);
}

int launch_iface_auto(FILE *routes, char *out, size_t n, const char **why, char *err, size_t errlen)
{
	char line[512], any[ROUTE_MAX_IFS][16], dflt[ROUTE_MAX_IFS][16], list[256];
	unsigned n_any = 0, n_dflt = 0;

	if (!routes || !fgets(line, sizeof(line), routes)) /* header */
		return fail(
			err, errlen,
			"xtcp: cannot read the IPv4 routes: name the interface with --iface IF");
	while (fgets(line, sizeof(line), routes)) {
		char ifn[64];
		unsigned long dst, gw, flags, mask;

		if (sscanf(line, "%63s %lx %lx %lx %*d %*d %*d %lx", ifn, &dst, &gw, &flags,
			   &mask) != 5)
			continue;
		if (!(flags & 1) || !strcmp(ifn, "lo") || strlen(ifn) >= 16) /* RTF_UP */
			continue;
		add_if(any, &n_any, ifn);
		if (dst == 0 && mask == 0)
			add_if(dflt, &n_dflt, ifn);
	}
	if (n_dflt == 1) {
		snprintf(out, n, "%s", dflt[0]);
		*why = "the interface of the default route";
		return 0;
	}
	if (n_dflt > 1) {
		join(list, sizeof(list), dflt, n_dflt);
		return fail(err, errlen,
			    "xtcp: --iface is needed: default routes go out of %s; name one with "
			    "--iface IF",
			    list);
	}
	if (n_any == 1) {
		snprintf(out, n, "%s", any[0]);
		*why = "the only interface with IPv4 routes, no default route";
		return 0;
	}
	if (!n_any)
		return fail(err, errlen,
			    "xtcp: --iface is needed: no interface has an IPv4 route; name one "
			    "with --iface IF");
	join(list, sizeof(list), any, n_any);
	return fail(err, errlen,
		    "xtcp: --iface is needed: no default route, and IPv4 routes go out of %s; "
		    "name one with --iface IF",
		    list);
}

/* --- validation by the library's parsers --- */

/* The parsers take a plain getenv-like function: this tool is single-threaded. */
static const struct launch *val_l;
static launch_getenv_fn val_get;
static char val_buf[LAUNCH_MAX_OPTS][64];

static const char *val_getenv(const char *var)
{
	int idx = launch_opt_index(var);

	return launch_value(val_l, var, val_get, val_buf[idx < 0 ? 0 : idx], sizeof(val_buf[0]));
}

/* "[xtcp: ]VAR="VAL" is invalid: expected FORM[; ...]" -> the option's words. */
static int rename_error(const struct launch *l, const char *msg, char *err, size_t errlen)
{
	const char *v = strstr(msg, "XTCP_"), *form = strstr(msg, "expected ");
	char var[48];
	size_t m;
	int idx;

	if (!v || !form)
		return fail(err, errlen, "%s", msg);
	m = strcspn(v, "=");
	if (m >= sizeof(var))
		return fail(err, errlen, "%s", msg);
	memcpy(var, v, m);
	var[m] = '\0';
	idx = launch_opt_index(var);
	form += strlen("expected ");
	m = strcspn(form, ";");
	if (idx < 0 || !l->val[idx]) { /* from the inherited environment: the library's words */
		if (err && errlen)
			snprintf(err, errlen,
				 "xtcp: %s (from the environment) is invalid: expected %.*s", var,
				 (int)m, form);
		return -EINVAL;
	}
	if (err && errlen)
		snprintf(err, errlen, "xtcp: --%s \"%s\" is invalid: expected %.*s (%s)",
			 launch_opts[idx].name, l->val[idx], (int)m, form, var);
	return -EINVAL;
}

int launch_validate(const struct launch *l, launch_getenv_fn get, char *err, size_t errlen)
{
	static struct shim_config cfg;
	static struct protect_cfg pc;
	char msg[512], b1[64], b2[64];
	const char *ports, *cports;

	val_l = l;
	val_get = get;
	ports = launch_value(l, "XTCP_PORTS", get, b1, sizeof(b1));
	cports = launch_value(l, "XTCP_CONNECT_PORTS", get, b2, sizeof(b2));
	if ((!ports || !*ports) && (!cports || !*cports))
		return fail(err, errlen,
			    "xtcp: nothing to serve: give --ports LIST and/or --connect-ports LIST "
			    "(%s)",
			    "a list of ports and ranges like 80,8080,9000-9010");
	if (shim_config_parse(&cfg, val_getenv, msg, sizeof(msg)))
		return rename_error(l, msg, err, errlen);
	if (!cfg.active)
		return fail(err, errlen, "xtcp: --iface is needed: xtcp would stay off");
	if (protect_cfg_parse(&pc, val_getenv, msg, sizeof(msg)))
		return rename_error(l, msg, err, errlen);
	return 0;
}
