/*
 * test_xtcpctl_stats.c - the statistics file as xtcpctl and shim_stats_field
 * read it: this process publishes a struct shim_stats with known counters in
 * /dev/shm/xtcp-<pid>.stats (as preload/shim_stats.c does) and checks that
 * `xtcpctl status`, `xtcpctl --json status` and shim_stats_field show the
 * SYN cookie and invalid-segment counters (version 5), the IPv6 counters and
 * `xtcpctl conns` addresses as ss shows them (version 6), and that a version
 * 5 file still shows IPv4 addresses and a version 4 file its hand-off
 * counters and none of the newer ones.
 *
 *   test_xtcpctl_stats XTCPCTL SHIM_STATS_FIELD
 *
 * The file is removed before exit; it names this process only, so runs in
 * parallel do not collide.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_stats.h"
#include "check.h"

static char path[64];

static int publish(const struct shim_stats *st, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, st, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Output of a command (at most max - 1 bytes), NUL-terminated. */
static void run(const char *cmd, char *out, size_t max)
{
	FILE *f = popen(cmd, "r");
	size_t n = 0;

	out[0] = 0;
	if (!f)
		return;
	n = fread(out, 1, max - 1, f);
	out[n] = 0;
	pclose(f);
}

/* This process's object in the JSON: from its "pid" key to the next process. */
static const char *json_proc(const char *json, char *key, size_t keylen)
{
	snprintf(key, keylen, "\"pid\":%d,", (int)getpid());
	return strstr(json, key);
}

int main(int argc, char **argv)
{
	static struct shim_stats st;
	static char out[1 << 20];
	char cmd[1024], key[64];
	const char *p;
	int i;

	if (argc != 3) {
		fprintf(stderr, "usage: test_xtcpctl_stats XTCPCTL SHIM_STATS_FIELD\n");
		return 2;
	}
	snprintf(path, sizeof(path), SHIM_STATS_PATH, (int)getpid());
	st.magic = SHIM_STATS_MAGIC;
	st.version = SHIM_STATS_VERSION;
	st.pid = getpid();
	strcpy(st.iface, "veth-test");
	st.handoff_sent = 5;
	for (i = 0; i < 6; i++) /* the version 5 counters, in order: 31 .. 36 */
		(&st.stack_syn_cookies_sent)[i] = 31 + (uint64_t)i;
	CHECK(SHIM_STATS_VERSION == 6, "this test knows version 6, the header says %d",
	      SHIM_STATS_VERSION);
	/* version 6: an IPv4 listener, an AF_INET6 one, an IPv6 and a v4-mapped connection */
	st.stack_rx_frames = 100;
	st.stack_tx_frames = 90;
	st.stack_passive_opens = 7;
	st.stack_rx_frames6 = 60;
	st.stack_tx_frames6 = 50;
	st.stack_passive_opens6 = 3;
	st.n_conn = 4;
	st.conn[0] = (struct shim_conn_info){.state = 10, .lport = 80};
	st.conn6[0].laddr[10] = st.conn6[0].laddr[11] = 0xff; /* 0.0.0.0, v4-mapped */
	st.conn[1] = (struct shim_conn_info){.state = 10, .lport = 80};
	st.conn6[1].inet6 = 1;
	st.conn[2] = (struct shim_conn_info){.state = 1, .lport = 80, .rport = 40000};
	inet_pton(AF_INET6, "fd77:1::1", st.conn6[2].laddr);
	inet_pton(AF_INET6, "fd77:1::2", st.conn6[2].raddr);
	st.conn6[2].inet6 = 1;
	st.conn[3] = (struct shim_conn_info){.state = 1, .lport = 80, .rport = 40001};
	inet_pton(AF_INET6, "::ffff:10.77.1.1", st.conn6[3].laddr);
	inet_pton(AF_INET6, "::ffff:10.77.1.2", st.conn6[3].raddr);
	st.conn6[3].inet6 = 1;
	st.conn[3].laddr = inet_addr("10.77.1.1");
	st.conn[3].raddr = inet_addr("10.77.1.2");
	if (publish(&st, sizeof(st))) {
		perror(path);
		return 1;
	}

	snprintf(cmd, sizeof(cmd), "%s --json status", argv[1]);
	run(cmd, out, sizeof(out));
	p = json_proc(out, key, sizeof(key));
	CHECK(p != NULL, "output: %.600s", out);
	if (p) {
		CHECK(strstr(p, "\"syn_cookies_sent\":31,") != NULL, "output: %.600s", out);
		CHECK(strstr(p, "\"syn_cookies_validated\":32,") != NULL, "output: %.600s", out);
		CHECK(strstr(p, "\"syn_cookies_failed\":33,") != NULL, "output: %.600s", out);
		CHECK(strstr(p, "\"challenge_acks\":34,") != NULL, "output: %.600s", out);
		CHECK(strstr(p, "\"invalid_acks_limited\":35,") != NULL, "output: %.600s", out);
		CHECK(strstr(p, "\"malformed_opt_lists\":36") != NULL, "output: %.600s", out);
		/* the hand-off block (version 4) is still there */
		CHECK(strstr(p, "\"sent\":5,") != NULL, "output: %.600s", out);
	}
	snprintf(cmd, sizeof(cmd), "%s status", argv[1]);
	run(cmd, out, sizeof(out));
	snprintf(key, sizeof(key), "  %d ", (int)getpid());
	p = strstr(out, key);
	CHECK(p != NULL, "output: %.600s", out);
	if (p)
		CHECK(strstr(p, "SYN cookies: sent 31 validated 32 failed 33; challenge ACKs 34, "
				"replies to invalid segments held back 35; option lists cut at a "
				"malformed option 36") != NULL,
		      "output: %.600s", p);
	if (p)
		CHECK(strstr(p, "by family: IPv4 rx 40 tx 40 frames, 0 active + 4 passive opens; "
				"IPv6 rx 60 tx 50 frames, 0 active + 3 passive opens") != NULL,
		      "output: %.600s", p);
	snprintf(cmd, sizeof(cmd), "%s conns", argv[1]);
	run(cmd, out, sizeof(out));
	CHECK(strstr(out, "0.0.0.0:80 ") != NULL, "IPv4 listener: %.800s", out);
	CHECK(strstr(out, "[::]:80 ") != NULL, "IPv6 listener: %.800s", out);
	CHECK(strstr(out, "[fd77:1::1]:80 ") && strstr(out, "[fd77:1::2]:40000 "),
	      "IPv6 connection: %.800s", out);
	CHECK(strstr(out, "[::ffff:10.77.1.1]:80 ") && strstr(out, "[::ffff:10.77.1.2]:40001 "),
	      "v4-mapped connection: %.800s", out);
	snprintf(cmd, sizeof(cmd), "%s metrics", argv[1]);
	run(cmd, out, sizeof(out));
	snprintf(key, sizeof(key), "pid=\"%d\"", (int)getpid());
	p = strstr(out, "xtcp_stack_ipv6_frames_total{");
	CHECK(p && strstr(p, key) && strstr(p, "direction=\"rx\"} 60\n"), "metrics: %.800s", out);
	p = strstr(out, "xtcp_stack_ipv6_opens_total{");
	CHECK(p && strstr(p, "side=\"passive\"} 3\n"), "metrics: %.800s", out);
	snprintf(cmd, sizeof(cmd), "%s --json conns", argv[1]);
	run(cmd, out, sizeof(out));
	CHECK(strstr(out, "\"local\":\"[fd77:1::1]:80\"") != NULL, "json: %.800s", out);
	/* A version 5 file: IPv4 addresses from conn[], no IPv6 line */
	st.version = 5;
	CHECK(publish(&st, offsetof(struct shim_stats, conn6)) == 0, "write %s", path);
	snprintf(cmd, sizeof(cmd), "%s conns", argv[1]);
	run(cmd, out, sizeof(out));
	CHECK(strstr(out, "10.77.1.2:40001 ") != NULL && !strstr(out, "["), "v5 conns: %.800s",
	      out);
	snprintf(cmd, sizeof(cmd), "%s status", argv[1]);
	run(cmd, out, sizeof(out));
	CHECK(strstr(out, "by family") == NULL, "v5 status: %.600s", out);
	st.version = 6;
	snprintf(cmd, sizeof(cmd), "%s %s stack_syn_cookies_failed stack_challenge_acks", argv[2],
		 path);
	run(cmd, out, sizeof(out));
	CHECK(strcmp(out, "33\n34\n") == 0, "output: %.600s", out);

	/* A version 4 file (a shim of before): hand-off shown, cookies absent. */
	st.version = 4;
	CHECK(publish(&st, offsetof(struct shim_stats, stack_syn_cookies_sent)) == 0, "write %s",
	      path);
	snprintf(cmd, sizeof(cmd), "%s --json status", argv[1]);
	run(cmd, out, sizeof(out));
	p = json_proc(out, key, sizeof(key));
	CHECK(p != NULL, "output: %.600s", out);
	if (p) {
		const char *next = strstr(p + 1, "\"pid\":");
		const char *c = strstr(p, "syn_cookies_sent");

		CHECK(strstr(p, "\"sent\":5,") != NULL, "output: %.600s", out);
		CHECK(!c || (next && c > next), "output: %.600s", out);
	}
	snprintf(cmd, sizeof(cmd), "%s %s stack_syn_cookies_failed", argv[2], path);
	run(cmd, out, sizeof(out));
	CHECK(strcmp(out, "absent\n") == 0, "output: %.600s", out);

	unlink(path);
	return check_summary();
}
