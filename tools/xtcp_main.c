/*
 * xtcp_main.c - the launcher: xtcp [OPTIONS] [--] PROGRAM [ARGS...]
 *
 * Parses the options (launch.c), picks the interface when none is named,
 * validates the resulting XTCP_* environment with the library's own parsers,
 * then sets the variables and LD_PRELOAD and execs PROGRAM. The launcher
 * itself never touches the network and holds nothing across exec.
 *
 * Where the library is: XTCP_LIB_PATH (absolute, compiled into the build
 * tree's launcher: that build's libxtcp.so), or XTCP_LIB_REL (relative to
 * the directory of the installed launcher, /proc/self/exe, so a package or
 * `cmake --install --prefix P` finds its own library wherever P is).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"

#ifndef XTCP_VERSION
#define XTCP_VERSION "0"
#endif

/* text in lines of at most width columns, each indented by indent. */
static void wrap(FILE *f, const char *text, int indent, int width)
{
	const char *p = text;

	while (*p) {
		int room = width - indent, n = (int)strlen(p), cut = n;

		if (n > room) {
			for (cut = room; cut > 0 && p[cut] != ' '; cut--)
				;
			if (!cut)
				cut = room;
		}
		fprintf(f, "%*s%.*s\n", indent, "", cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	}
}

static void usage(FILE *f)
{
	unsigned i;

	fprintf(f,
		"usage: xtcp [--iface IF] [--ports LIST] [--connect-ports LIST] [--profile NAME]\n"
		"            [--strict] [OPTION...] [--] PROGRAM [ARGS...]\n"
		"Runs PROGRAM with its TCP ports LIST served by xtcp over AF_XDP on IF\n"
		"(LD_PRELOAD of libxtcp.so); everything else stays with the kernel.\n\n"
		"Each option sets the XTCP_* variable named next to it (xtcp(7)); an option\n"
		"wins over --profile, which wins over the inherited environment.\n"
		"Options take --NAME VALUE or --NAME=VALUE; flags alone mean 1, or "
		"--NAME=0|1.\n\n");
	for (i = 0; i < launch_n_opts; i++) {
		const struct launch_opt *o = &launch_opts[i];
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-36s %s\n", left, o->var);
		wrap(f, o->help, 6, 78);
	}
	fprintf(f, "\n  %-36s %s\n", "--user NAME[:GROUP]",
		"started as root: run PROGRAM as NAME, keeping only");
	wrap(f, LAUNCH_CAPS_TEXT " (ambient, so they survive exec); GROUP defaults to NAME's", 6,
	     78);
	fprintf(f, "  %-36s %s\n  %-36s %s\n  %-36s %s\n  %-36s %s\n  %-36s %s\n",
		"--profile latency|throughput|default", "a named set of variables", "--profiles",
		"list the profiles and their variables", "--dry-run",
		"print the environment and command, run nothing", "--version", "print the version",
		"-h, --help", "this help");
	fprintf(f, "\nExample: xtcp --iface eth1 --ports 80,443 -- nginx -g 'daemon off;'\n"
		   "Status and counters: xtcpctl status, xtcpctl metrics (xtcpctl(8)).\n");
}

static void list_profiles(void)
{
	unsigned i;

	for (i = 0; i < launch_n_profiles; i++)
		printf("%-11s %s\n            %s\n", launch_profiles[i].name,
		       *launch_profiles[i].vars ? launch_profiles[i].vars : "(no variables)",
		       launch_profiles[i].help);
}

static const char *real_getenv(const char *name)
{
	return getenv(name);
}

/* The library this launcher was built for; "" if it cannot be found. */
static void lib_path(char *out, size_t n)
{
#ifdef XTCP_LIB_PATH
	snprintf(out, n, "%s", XTCP_LIB_PATH);
#else
	char exe[PATH_MAX], rel[PATH_MAX + 64], abs[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (len <= 0) {
		out[0] = '\0';
		return;
	}
	exe[len] = '\0';
	snprintf(rel, sizeof(rel), "%s/%s", dirname(exe), XTCP_LIB_REL);
	/* bin/../lib/... -> lib/...: the path the program's maps and ps will show */
	snprintf(out, n, "%s", realpath(rel, abs) ? abs : rel);
#endif
}

/* Every variable the program will see from an option or the profile. */
static int export_all(const struct launch *l)
{
	char buf[64];
	unsigned i;

	for (i = 0; i < launch_n_opts; i++) {
		const char *var = launch_opts[i].var;
		const char *v = launch_value(l, var, real_getenv, buf, sizeof(buf));

		if (v && v != getenv(var) && setenv(var, v, 1))
			return -errno;
	}
	return 0;
}

static int set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *v;
	int rc;

	if (!old || !*old)
		return setenv("LD_PRELOAD", lib, 1);
	if (strstr(old, lib))
		return 0;
	if (asprintf(&v, "%s:%s", lib, old) < 0)
		return -1;
	rc = setenv("LD_PRELOAD", v, 1);
	free(v);
	return rc;
}

static void dry_run(const struct launch *l, char **argv)
{
	unsigned i;
	int a;

	printf("LD_PRELOAD=%s\n", getenv("LD_PRELOAD"));
	for (i = 0; i < launch_n_opts; i++)
		if (getenv(launch_opts[i].var))
			printf("%s=%s\n", launch_opts[i].var, getenv(launch_opts[i].var));
	for (a = l->prog; a && argv[a]; a++)
		printf("%s%s", a == l->prog ? "" : " ", argv[a]);
	if (l->prog)
		printf("\n");
	if (l->user)
		printf("as user %s, keeping %s\n", l->user, LAUNCH_CAPS_TEXT);
}

int main(int argc, char **argv)
{
	char err[512], lib[PATH_MAX + 64], iface[16];
	const char *why;
	struct launch l;
	FILE *routes;
	int idx;

	if (launch_parse(&l, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (l.help) {
		usage(stdout);
		return 0;
	}
	if (l.version) {
		printf("xtcp %s\n", XTCP_VERSION);
		return 0;
	}
	if (l.list_profiles) {
		list_profiles();
		return 0;
	}
	idx = launch_opt_index("XTCP_IFACE");
	if (!l.val[idx] && !(getenv("XTCP_IFACE") && *getenv("XTCP_IFACE"))) {
		routes = fopen("/proc/net/route", "re");
		if (launch_iface_auto(routes, iface, sizeof(iface), &why, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			if (routes)
				fclose(routes);
			return 2;
		}
		fclose(routes);
		l.val[idx] = iface;
		fprintf(stderr, "xtcp: serving on %s (%s)\n", iface, why);
	}
	if (launch_validate(&l, real_getenv, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	lib_path(lib, sizeof(lib));
	if (!*lib || access(lib, R_OK)) {
		fprintf(stderr, "xtcp: cannot find the library at %s: reinstall xtcp\n",
			*lib ? lib : "(unknown)");
		return 127;
	}
	if (export_all(&l) || set_preload(lib)) {
		fprintf(stderr, "xtcp: cannot set the environment: %s\n", strerror(errno));
		return 127;
	}
	if (l.dry_run) {
		dry_run(&l, argv);
		return 0;
	}
	if (l.user && launch_become_user(l.user, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 126;
	}
	execvp(argv[l.prog], argv + l.prog);
	fprintf(stderr, "xtcp: cannot run %s: %s\n", argv[l.prog], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
