/*
 * shim_config.c - parse and validate the XTCP_* environment variables.
 *
 * Called once from the constructor (shim_init.c) with getenv, and from the
 * unit tests with a fake environment. It only reads strings: no allocation,
 * no system call. Each invalid variable yields one message naming it and
 * its accepted form; the caller prints it and stays inert (or exits when
 * XTCP_STRICT=1).
 */
#include "shim_config.h"
#include "stack.h" /* STACK_LOCAL_PORT_MIN/MAX */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strict unsigned decimal in [min, max]; the whole string must be consumed. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One "N" or "N-M" item of a port list, ending at end. */
static int parse_port_item(const char *s, const char *end, unsigned *lo, unsigned *hi)
{
	char buf[16];
	char *dash;
	unsigned long a, b;
	size_t n = (size_t)(end - s);

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	dash = strchr(buf, '-');
	if (dash) {
		*dash = '\0';
		if (parse_uint(buf, 1, 65535, &a) || parse_uint(dash + 1, 1, 65535, &b) || a > b)
			return -EINVAL;
	} else {
		if (parse_uint(buf, 1, 65535, &a))
			return -EINVAL;
		b = a;
	}
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

int shim_config_parse_ports(const char *s, uint8_t bitmap[65536 / 8])
{
	const char *p = s, *comma;
	unsigned lo, hi, port;
	int count = 0;

	memset(bitmap, 0, 65536 / 8);
	if (!s || !*s)
		return -EINVAL;
	for (;;) {
		comma = strchr(p, ',');
		if (!comma)
			comma = p + strlen(p);
		if (parse_port_item(p, comma, &lo, &hi))
			return -EINVAL;
		for (port = lo; port <= hi; port++) {
			if (!shim_port_in(bitmap, (uint16_t)port))
				count++;
			bitmap[port >> 3] |= (uint8_t)(1u << (port & 7));
		}
		if (!*comma)
			break;
		p = comma + 1;
	}
	return count;
}

static int bad(char *err, size_t errlen, const char *var, const char *val, const char *form)
{
	if (!err || !errlen)
		return -EINVAL;
	snprintf(err, errlen, "xtcp: %s=\"%s\" is invalid: expected %s; xtcp stays off", var, val,
		 form);
	return -EINVAL;
}

static int parse_bool(shim_getenv_fn get, const char *var, bool dflt, bool *out, char *err,
		      size_t errlen)
{
	const char *v = get(var);

	*out = dflt;
	if (!v || !*v)
		return 0;
	if (!strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "0"))
		*out = false;
	else
		return bad(err, errlen, var, v, "0 or 1");
	return 0;
}

static int parse_num(shim_getenv_fn get, const char *var, unsigned long min, unsigned long max,
		     const char *form, uint32_t *out, char *err, size_t errlen)
{
	const char *v = get(var);
	unsigned long n;

	if (!v || !*v)
		return 0;
	if (parse_uint(v, min, max, &n))
		return bad(err, errlen, var, v, form);
	*out = (uint32_t)n;
	return 0;
}

static int parse_log(struct shim_config *cfg, shim_getenv_fn get, char *err, size_t errlen)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	const char *v = get("XTCP_LOG");
	unsigned i;

	cfg->log_level = SHIM_LOG_WARN;
	if (!v || !*v)
		return 0;
	for (i = 0; i < 4; i++) {
		if (!strcmp(v, names[i])) {
			cfg->log_level = (int)i;
			return 0;
		}
	}
	return bad(err, errlen, "XTCP_LOG", v, "error, warn, info or debug");
}

/* One of names[] (its index in *out); unset or empty keeps *out. */
static int parse_choice(shim_getenv_fn get, const char *var, const char *const *names, unsigned n,
			const char *form, uint8_t *out, char *err, size_t errlen)
{
	const char *v = get(var);

	if (!v || !*v)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(v, names[i])) {
			*out = (uint8_t)i;
			return 0;
		}
	}
	return bad(err, errlen, var, v, form);
}

/* XTCP_RX_CSUM / XTCP_TX_CSUM, in the order of enum xp_rx_csum / xp_tx_csum (xsk/xp.h). */
static int parse_csum(struct shim_config *cfg, shim_getenv_fn get, char *err, size_t errlen)
{
	static const char *const rx[] = {"auto", "verify", "trust-local"};
	static const char *const tx[] = {"auto", "off"};

	return parse_choice(get, "XTCP_RX_CSUM", rx, 3, "auto, verify or trust-local",
			    &cfg->rx_csum, err, errlen) ||
	       parse_choice(get, "XTCP_TX_CSUM", tx, 2, "auto or off", &cfg->tx_csum, err, errlen);
}

static int parse_local_ports(struct shim_config *cfg, shim_getenv_fn get, char *err, size_t errlen)
{
	const char *v = get("XTCP_LOCAL_PORTS");
	const char *form = "a range MIN-MAX within 1024-65535 (default 61000-65535)";
	unsigned lo, hi;

	cfg->lport_min = STACK_LOCAL_PORT_MIN;
	cfg->lport_max = STACK_LOCAL_PORT_MAX;
	if (!v || !*v)
		return 0;
	if (!strchr(v, '-') || strchr(v, ',') || parse_port_item(v, v + strlen(v), &lo, &hi) ||
	    lo < 1024)
		return bad(err, errlen, "XTCP_LOCAL_PORTS", v, form);
	cfg->lport_min = (uint16_t)lo;
	cfg->lport_max = (uint16_t)hi;
	return 0;
}

static int parse_rest(struct shim_config *cfg, shim_getenv_fn get, char *err, size_t errlen)
{
	static const char *const busy[] = {"auto", "0", "1"}; /* enum xp_busy_poll */
	const char *v;

	if (parse_log(cfg, get, err, errlen) ||
	    parse_bool(get, "XTCP_STATS", true, &cfg->stats, err, errlen) ||
	    parse_choice(get, "XTCP_BUSY_POLL", busy, 3, "auto, 0 or 1", &cfg->busy_poll, err,
			 errlen) ||
	    parse_bool(get, "XTCP_MTU_PROBING", false, &cfg->mtu_probing, err, errlen) ||
	    parse_num(get, "XTCP_SPIN_US", 0, 1000000, "microseconds 0-1000000", &cfg->spin_us, err,
		      errlen) ||
	    parse_num(get, "XTCP_FRAMES", 256, 1u << 20, "UMEM frames 256-1048576", &cfg->frames,
		      err, errlen) ||
	    parse_num(get, "XTCP_MAX_SOCKS", 16, 1u << 22, "sockets 16-4194304", &cfg->max_socks,
		      err, errlen) ||
	    parse_num(get, "XTCP_QUEUE_WAIT_MS", 0, 60000, "milliseconds 0-60000",
		      &cfg->queue_wait_ms, err, errlen) ||
	    parse_num(get, "XTCP_EXIT_LINGER_MS", 0, 60000, "milliseconds 0-60000",
		      &cfg->exit_linger_ms, err, errlen) ||
	    parse_local_ports(cfg, get, err, errlen) || parse_csum(cfg, get, err, errlen))
		return -EINVAL;
	v = get("XTCP_XDP_MODE");
	if (v && *v) {
		if (!strcmp(v, "generic"))
			cfg->xdp_generic = true;
		else if (strcmp(v, "native"))
			return bad(err, errlen, "XTCP_XDP_MODE", v, "native or generic");
	}
	v = get("XTCP_FORK_CONNS");
	if (v && *v) {
		if (!strcmp(v, "parent"))
			cfg->fork_parent = true;
		else if (strcmp(v, "kernel"))
			return bad(err, errlen, "XTCP_FORK_CONNS", v, "kernel or parent");
	}
	v = get("XTCP_QUEUES");
	if (v && *v) {
		if (!strcmp(v, "one"))
			cfg->queues = SHIM_QUEUES_ONE;
		else if (!strcmp(v, "all"))
			cfg->queues = SHIM_QUEUES_ALL;
		else if (strcmp(v, "auto"))
			return bad(err, errlen, "XTCP_QUEUES", v, "auto, one or all");
	}
	return 0;
}

int shim_config_parse(struct shim_config *cfg, shim_getenv_fn get, char *err, size_t errlen)
{
	const char *iface = get("XTCP_IFACE");
	const char *ports = get("XTCP_PORTS");
	const char *cports = get("XTCP_CONNECT_PORTS");
	const char *list_form = "a list of ports and ranges like 80,8080,9000-9010 (1-65535)";
	bool strict;
	int n;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = SHIM_LOG_WARN;
	cfg->queue_wait_ms = 2000;
	cfg->exit_linger_ms = 1000;
	if (err && errlen)
		err[0] = '\0';
	if (parse_bool(get, "XTCP_STRICT", false, &strict, err, errlen))
		return -EINVAL;
	cfg->strict = strict;
	if (parse_rest(cfg, get, err, errlen))
		return -EINVAL;
	if ((!iface || !*iface) && (!ports || !*ports) && (!cports || !*cports))
		return 0; /* not asked for: inert */
	if (!iface || !*iface)
		return bad(err, errlen, "XTCP_IFACE", "", "an interface name (with XTCP_PORTS)");
	if (strlen(iface) >= sizeof(cfg->iface) || strchr(iface, '/') || strchr(iface, ' '))
		return bad(err, errlen, "XTCP_IFACE", iface,
			   "an interface name of 1-15 characters");
	if (ports && *ports) {
		n = shim_config_parse_ports(ports, cfg->ports);
		if (n < 0)
			return bad(err, errlen, "XTCP_PORTS", ports, list_form);
		cfg->n_ports = (unsigned)n;
	}
	if (cports && *cports) {
		n = shim_config_parse_ports(cports, cfg->connect_ports);
		if (n < 0)
			return bad(err, errlen, "XTCP_CONNECT_PORTS", cports, list_form);
		cfg->n_connect_ports = (unsigned)n;
	}
	if (!cfg->n_ports && !cfg->n_connect_ports)
		return bad(err, errlen, "XTCP_PORTS", "", list_form);
	strcpy(cfg->iface, iface);
	cfg->active = true;
	return 0;
}
