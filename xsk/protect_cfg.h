/*
 * protect_cfg.h - the userspace side of the XDP flood protection
 * (bpf/xtcp_protect.h): settings from XTCP_* variables, parsing shared with
 * xtcpctl, and reading/writing the protection maps of the program attached to
 * an interface (found through its id, never through a pinned path).
 *
 * The shim calls, once the steering program is attached:
 *	protect_env_apply(ifindex);
 * xtcpctl calls protect_maps_open() / protect_read() / protect_apply() to
 * change the rules of a running server. All functions return 0 / -errno.
 */
#ifndef XTCP_PROTECT_CFG_H
#define XTCP_PROTECT_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "xtcp_protect.h"

#define PROTECT_MAX_PORTS    256
#define PROTECT_MAX_PREFIXES 256

struct protect_port {
	uint8_t proto; /* IPPROTO_UDP / IPPROTO_TCP */
	uint16_t port;
	uint32_t action; /* PROT_PORT_* */
	uint32_t pps, burst;
};

/* An IPv4 or IPv6 prefix; both families share the lists (and go to their own maps). */
struct protect_prefix {
	uint32_t addr; /* IPv4, network order, host bits cleared */
	uint8_t len;
	uint32_t action;   /* prot_acl: PROT_ACL_*; prot_allow: 1 */
	bool v6;	   /* addr6 holds the prefix, addr is 0 */
	uint8_t addr6[16]; /* IPv6, network order, host bits cleared */
};

struct protect_cfg {
	struct prot_config base;
	unsigned n_ports, n_allow, n_acl;
	struct protect_port ports[PROTECT_MAX_PORTS];
	struct protect_prefix allow[PROTECT_MAX_PREFIXES]; /* never limited */
	struct protect_prefix acl[PROTECT_MAX_PREFIXES];   /* served-port sources */
};

/* The documented defaults (docs/configuration.md, "Flood protection"). */
void protect_cfg_defaults(struct protect_cfg *c);
/*
 * Defaults, then the XTCP_PROTECT* / XTCP_SYN_RATE / XTCP_SERVED_* variables.
 * On bad input: one line on stderr naming the variable and the accepted form,
 * and -EINVAL.
 */
int protect_cfg_from_env(struct protect_cfg *c);
/* The same from any getenv-like function; the error line goes to err (no newline). */
int protect_cfg_parse(struct protect_cfg *c, const char *(*get)(const char *), char *err,
		      size_t errlen);
/* Validate the variables only (for a shim that checks all XTCP_* up front). */
int protect_env_check(void);

/* Parsers (also used by xtcpctl). 0 / -EINVAL; err gets the accepted form. */
int protect_parse_rate(const char *s, uint32_t *pps, uint32_t *burst); /* PPS[/BURST]|off */
int protect_parse_prefix(const char *s, struct protect_prefix *out); /* A.B.C.D[/LEN], IPv6[/LEN] */
int protect_parse_src6_plen(const char *s, uint32_t *plen);	     /* 1..128 */
int protect_parse_port(const char *s, struct protect_port *out);     /* udp:53=allow */
int protect_parse_scope(const char *s, uint32_t *scope);	     /* udp,tcp,icmp,other|all */
/* Add or replace (same key); -ENOSPC when full. */
int protect_cfg_add_port(struct protect_cfg *c, const struct protect_port *p);
int protect_cfg_add_prefix(struct protect_prefix *arr, unsigned *n, const struct protect_prefix *p);
/* Remove; -ENOENT when absent. */
int protect_cfg_del_port(struct protect_cfg *c, uint8_t proto, uint16_t port);
int protect_cfg_del_prefix(struct protect_prefix *arr, unsigned *n, const struct protect_prefix *p);

/* Text forms, as accepted by the parsers. */
void protect_fmt_rate(char *buf, size_t n, uint32_t pps, uint32_t burst);
void protect_fmt_prefix(char *buf, size_t n, const struct protect_prefix *p);
void protect_fmt_port(char *buf, size_t n, const struct protect_port *p);
void protect_fmt_scope(char *buf, size_t n, uint32_t scope);

/* --- the maps of an attached program --- */
struct protect_maps {
	int cfg, stats, src, glob, port, allow, acl, syn;
	/* IPv6 tables: -1 in a program built before they existed (IPv6 rules refused) */
	int src6, allow6, acl6, syn6;
	uint32_t prog_id; /* the program that holds them */
};

/*
 * XDP programs attached to ifindex: ids[] (the main program first, then a
 * libxdp dispatcher's components), their count in *n, and the attach mode
 * ("native", "generic", "offload", "multi" or "none"). -ENOENT: none attached.
 */
#define PROTECT_MAX_PROGS 10
int protect_xdp_progs(int ifindex, uint32_t ids[PROTECT_MAX_PROGS], unsigned *n, const char **mode);
/* Find a map by name among the maps of program id; returns an fd or -errno. */
int protect_prog_map_fd(uint32_t prog_id, const char *name);
/*
 * The protection maps of the program attached to ifindex. -ENOENT when no
 * program is attached, -ESRCH when the attached program(s) have no
 * protection maps.
 */
int protect_maps_open(int ifindex, struct protect_maps *m);
void protect_maps_close(struct protect_maps *m);

/*
 * Replace the whole configuration in the maps (buckets of changed rules restart
 * full). -EOPNOTSUPP: IPv6 prefixes for a program without the IPv6 tables.
 */
int protect_apply(const struct protect_maps *m, const struct protect_cfg *c);
/*
 * The same, only if nobody configured the maps yet (returns 1 and changes
 * nothing otherwise): a process that adopts a running program, e.g. a new
 * worker, keeps the settings in force, including changes made with xtcpctl.
 */
int protect_apply_initial(const struct protect_maps *m, const struct protect_cfg *c);
/* Read the configuration back from the maps. */
int protect_read(const struct protect_maps *m, struct protect_cfg *c);
/* Sum the per-CPU counters. */
int protect_stats(const struct protect_maps *m, uint64_t out[PROT_CNT_MAX]);

/*
 * The shim's one call after attaching: the XTCP_* settings into the program on
 * ifindex, unless it is configured already (protect_apply_initial). 0 or
 * -errno, with one stderr line on error.
 */
int protect_env_apply(int ifindex);

#endif
