/*
 * launch_user.c - xtcp --user NAME[:GROUP]: the launcher, started as root,
 * becomes a service user (postgres, www-data) that keeps only the
 * capabilities xtcp needs, as ambient capabilities, so that the program it
 * execs, and that program's children and their execs, run as that user on
 * xtcp. What systemd does with User= and AmbientCapabilities=.
 *
 * Order (capabilities(7)): PR_SET_KEEPCAPS, so that setuid keeps the
 * permitted set -> initgroups, setresgid, setresuid (the kernel clears the
 * effective set) -> capset: permitted = effective = inheritable = the needed
 * set, everything else dropped -> PR_CAP_AMBIENT_RAISE for each (an ambient
 * capability must be permitted and inheritable) -> the caller execs: for a
 * program without file capabilities the kernel makes permitted = effective
 * = ambient. No libcap: capset(2) and prctl(2) directly.
 *
 * Memory: nothing outlives the call (getpwnam's static buffers aside).
 */
#define _GNU_SOURCE /* setresuid, setresgid */
#include "launch.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Why each: docs/install.md, "Service users" (and preload/shim_start.c missing_caps()). */
static const int user_caps[] = {
	CAP_NET_ADMIN, /* XDP attach (netlink), TCP_REPAIR and SO_*BUFFORCE at hand-over */
	CAP_NET_RAW,   /* AF_XDP sockets; the FIN replay of a hand-over (raw IPv4) */
	CAP_SYS_ADMIN, /* bpf(): load, and open an attached program or its maps by id */
	CAP_IPC_LOCK,  /* the UMEM (16 MiB per queue) beyond RLIMIT_MEMLOCK */
};
#define N_USER_CAPS (sizeof(user_caps) / sizeof(user_caps[0]))

unsigned long long launch_user_caps(void)
{
	unsigned long long m = 0;

	for (size_t i = 0; i < N_USER_CAPS; i++)
		m |= 1ULL << user_caps[i];
	return m;
}

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int e,
						      const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -e;
}

/* A name or a number; the passwd entry if there is one. */
static int find_user(const char *name, uid_t *uid, struct passwd **pw)
{
	char *end;
	unsigned long v;

	*pw = getpwnam(name);
	if (*pw) {
		*uid = (*pw)->pw_uid;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno || *end || end == name || v >= (uid_t)-1)
		return -ENOENT;
	*uid = (uid_t)v;
	*pw = getpwuid(*uid);
	return 0;
}

static int find_group(const char *name, gid_t *gid)
{
	struct group *gr = getgrnam(name);
	char *end;
	unsigned long v;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno || *end || end == name || v >= (gid_t)-1)
		return -ENOENT;
	*gid = (gid_t)v;
	return 0;
}

/* Exactly the needed set, then each of it ambient. */
static int keep_caps(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	unsigned long long m = launch_user_caps();

	data[0].permitted = data[0].effective = data[0].inheritable = (uint32_t)m;
	data[1].permitted = data[1].effective = data[1].inheritable = (uint32_t)(m >> 32);
	if (syscall(SYS_capset, &hdr, data))
		return fail(err, errlen, errno, "xtcp: --user: capset: %s", strerror(errno));
	for (size_t i = 0; i < N_USER_CAPS; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, user_caps[i], 0, 0))
			return fail(err, errlen, errno,
				    "xtcp: --user: cannot make capability %d ambient: %s",
				    user_caps[i], strerror(errno));
	return 0;
}

int launch_become_user(const char *spec, char *err, size_t errlen)
{
	char name[256];
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	int r;

	if (!len || len >= sizeof(name))
		return fail(err, errlen, EINVAL, "xtcp: --user \"%s\" is invalid: NAME[:GROUP]",
			    spec);
	memcpy(name, spec, len);
	name[len] = '\0';
	if (geteuid() != 0)
		return fail(err, errlen, EPERM,
			    "xtcp: --user needs root (it switches to %s keeping %s)", name,
			    LAUNCH_CAPS_TEXT);
	if (find_user(name, &uid, &pw))
		return fail(err, errlen, ENOENT, "xtcp: --user: no such user \"%s\"", name);
	if (colon && find_group(colon + 1, &gid))
		return fail(err, errlen, ENOENT, "xtcp: --user: no such group \"%s\"", colon + 1);
	if (!colon && !pw)
		return fail(err, errlen, EINVAL,
			    "xtcp: --user %s: a uid without a passwd entry needs :GROUP", name);
	if (!colon)
		gid = pw->pw_gid;
	r = pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL);
	if (r)
		return fail(err, errlen, errno, "xtcp: --user: setting the groups of %s: %s", name,
			    strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return fail(err, errlen, errno, "xtcp: --user: becoming %s: %s", name,
			    strerror(errno));
	if ((r = keep_caps(err, errlen)))
		return r;
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (pw && (setenv("HOME", pw->pw_dir, 1) || setenv("USER", pw->pw_name, 1) ||
		   setenv("LOGNAME", pw->pw_name, 1)))
		return fail(err, errlen, errno, "xtcp: --user: environment: %s", strerror(errno));
	return 0;
}
