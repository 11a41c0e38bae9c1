/*
 * xtcpctl_shm.c - the xtcp processes, from the statistics each publishes in
 * shared memory (/dev/shm/xtcp-<pid>.stats, written by preload/).
 *
 * Read-only mapping: a process is never stopped or signalled. Files of dead
 * processes (kill -9 leaves them) are reported as stale and skipped.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "xtcpctl.h"

#define SHM_DIR "/dev/shm"

/* pids of the processes that publish statistics; returns the count. */
static int shm_pids(pid_t *pids, int max)
{
	struct dirent *e;
	DIR *d = opendir(SHM_DIR);
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		int pid;
		char tail[16];

		if (sscanf(e->d_name, "xtcp-%d.%15s", &pid, tail) != 2 || strcmp(tail, "stats"))
			continue;
		if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
			continue;
		pids[n++] = pid;
	}
	closedir(d);
	return n;
}

void xtcpctl_shm_status(struct jw *w)
{
	pid_t pids[256];
	char comm[32];
	int n = shm_pids(pids, 256), i;

	if (w)
		jw_arr(w, "processes");
	else
		printf("processes:%s\n", n ? "" : " none publishes xtcp statistics");
	for (i = 0; i < n; i++) {
		proc_comm(pids[i], comm, sizeof(comm));
		if (w) {
			jw_obj(w, NULL);
			jw_i64(w, "pid", pids[i]);
			jw_str(w, "comm", comm);
			jw_end_obj(w);
		} else {
			printf("  %7d %s\n", (int)pids[i], comm);
		}
	}
	if (w)
		jw_end_arr(w);
}

int xtcpctl_conns(struct jw *w, int argc, char **argv)
{
	pid_t pids[256];
	int n = shm_pids(pids, 256);

	if (argc) {
		fprintf(stderr, "xtcpctl: conns takes no arguments\n");
		return 2;
	}
	if (w) {
		jw_obj(w, NULL);
		jw_arr(w, "connections");
		jw_end_arr(w);
		jw_end_obj(w);
	} else if (!n) {
		printf("no xtcp process publishes statistics\n");
	}
	return 0;
}
