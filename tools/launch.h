/*
 * launch.h - the xtcp launcher's parsing, apart from its main() so that unit
 * tests can feed it any command line, environment and routing table.
 *
 *   launch_parse()      options -> l->val[] (one option per XTCP_* variable)
 *   launch_iface_auto() when --iface and XTCP_IFACE are both missing
 *   launch_validate()   the environment the program will see, checked by the
 *                       library's own parsers (shim_config.c, protect_cfg.c)
 *
 * Precedence of a variable: its option, else the profile, else the
 * inherited environment. Errors are one line in err naming the option (or
 * the inherited variable) and the accepted form; functions return 0/-EINVAL.
 */
#ifndef XTCP_LAUNCH_H
#define XTCP_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct launch_opt {
	const char *name; /* long option without "--" */
	const char *var;  /* the XTCP_* variable it sets */
	const char *arg;  /* metavariable; NULL for a 0/1 flag (alone: 1) */
	const char *help;
};

struct launch_profile {
	const char *name;
	const char *vars; /* "VAR=VALUE VAR=VALUE" */
	const char *help;
};

extern const struct launch_opt launch_opts[];
extern const unsigned launch_n_opts;
extern const struct launch_profile launch_profiles[];
extern const unsigned launch_n_profiles;

#define LAUNCH_MAX_OPTS 32

struct launch {
	const char *val[LAUNCH_MAX_OPTS]; /* by launch_opts index; NULL: not given */
	const struct launch_profile *profile;
	int prog;	  /* argv index of PROGRAM, 0 if none */
	const char *user; /* --user NAME[:GROUP], or NULL */
	bool help, list_profiles, dry_run, version;
};

typedef const char *(*launch_getenv_fn)(const char *name);

/* Parse argv up to PROGRAM (after "--" or the first non-option). */
int launch_parse(struct launch *l, int argc, char **argv, char *err, size_t errlen);

/*
 * The value of var the program will see (option, profile, environment);
 * profile values live in buf, which must outlast the result.
 */
const char *launch_value(const struct launch *l, const char *var, launch_getenv_fn get, char *buf,
			 size_t n);

/*
 * The interface that carries the IPv4 routes, from a /proc/net/route table:
 * the interface of the default route(s), or without one the only interface
 * with any route. 0 with out and why filled; -EINVAL with err otherwise.
 */
int launch_iface_auto(FILE *routes, char *out, size_t n, const char **why, char *err,
		      size_t errlen);

/* Check the whole XTCP_* environment the program will get. */
int launch_validate(const struct launch *l, launch_getenv_fn get, char *err, size_t errlen);

/* Index of a variable in launch_opts, or -1. */
int launch_opt_index(const char *var);

/*
 * --user (launch_user.c): the capabilities a service user keeps (ambient),
 * what xtcp needs (docs/install.md, "Service users"), as a mask and names.
 */
#define LAUNCH_CAPS_TEXT "CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_IPC_LOCK"
unsigned long long launch_user_caps(void);
/*
 * Switch from root to user spec "NAME[:GROUP]" (names or numbers; GROUP
 * defaults to the user's, supplementary groups are the user's), keeping
 * exactly launch_user_caps() as permitted, effective, inheritable and
 * ambient capabilities, so that they survive exec; HOME, USER and LOGNAME
 * become the user's. 0, or -errno with err naming what failed.
 */
int launch_become_user(const char *spec, char *err, size_t errlen);

#endif
