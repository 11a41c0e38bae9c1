/*
 * xp_priv.h - what the files of xsk/ share with each other (not with the
 * shim): the program handle's fields, logging, the user table.
 */
#ifndef XTCP_XP_PRIV_H
#define XTCP_XP_PRIV_H

#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

#include "xp.h"

struct xtcp_xdp;
struct xdp_program;

struct xp_prog {
	struct xtcp_xdp *skel;	   /* our loaded skeleton; NULL when adopted */
	struct xdp_program *xprog; /* libxdp handle of the attached program, or NULL */
	char ifname[IF_NAMESIZE];
	int ifindex;
	int mode; /* enum xdp_attach_mode it runs in */
	uint32_t prog_id;
	int xsks_fd, serve_fd, cfg_fd, users_fd, stats_fd; /* map fds (ours to close) */
	int user_slot;					   /* our slot in xtcp_users, -1 if none */
	pid_t user_pid;					   /* the process that holds user_slot */
	int log_level;
};

/* Log to stderr with the "xtcp: " prefix when level <= the handle's level. */
void xp_log(int level, int max_level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Make the calling process a user of the program (idempotent). 0 / -errno. */
int xp_prog_add_user(struct xp_prog *prog);

#endif
