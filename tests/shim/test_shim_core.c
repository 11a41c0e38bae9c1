/*
 * test_shim_core.c - unit tests of the shim's configuration parsing
 * (preload/shim_config.c) and fd table (preload/shim_fd.c). No root, no
 * network, no LD_PRELOAD: the two files are linked in directly.
 */
#include "check.h"
#include "fake_env.h"
#include "shim_config.h"
#include "shim_fd.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(struct shim_config *cfg, char *err, const char *const *env)
{
	fake_env = env;
	return shim_config_parse(cfg, fake_getenv, err, 256);
}

static void test_inert(void)
{
	static struct shim_config cfg;
	char err[256];
	const char *none[] = {NULL};
	const char *only_log[] = {"XTCP_LOG=debug", NULL};

	CHECK(parse(&cfg, err, none) == 0);
	CHECK(!cfg.active);
	CHECK(cfg.log_level == SHIM_LOG_WARN);
	CHECK(parse(&cfg, err, only_log) == 0);
	CHECK(!cfg.active && cfg.log_level == SHIM_LOG_DEBUG);
}

static void test_ports(void)
{
	static struct shim_config cfg;
	char err[256];
	const char *env[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80,8080,9000-9010", NULL};
	const char *env2[] = {"XTCP_IFACE=eth1", "XTCP_PORTS=65535,1,1", NULL};

	CHECK(parse(&cfg, err, env) == 0);
	CHECK(cfg.active);
	CHECK(!strcmp(cfg.iface, "veth0"));
	CHECK(cfg.n_ports == 13);
	CHECK(shim_port_in(cfg.ports, 80));
	CHECK(shim_port_in(cfg.ports, 8080));
	CHECK(shim_port_in(cfg.ports, 9000) && shim_port_in(cfg.ports, 9005) &&
	      shim_port_in(cfg.ports, 9010));
	CHECK(!shim_port_in(cfg.ports, 8999) && !shim_port_in(cfg.ports, 9011));
	CHECK(!shim_port_in(cfg.ports, 81) && !shim_port_in(cfg.ports, 0));
	CHECK(cfg.n_connect_ports == 0);
	CHECK(cfg.lport_min == 61000 && cfg.lport_max == 65535);
	CHECK(cfg.queue_wait_ms == 2000 && cfg.spin_us == 0 && cfg.stats && !cfg.strict);
	CHECK(cfg.rx_csum == 0 && cfg.tx_csum == 0); /* auto */
	CHECK(!cfg.fork_parent);		     /* XTCP_FORK_CONNS=kernel */
	CHECK(parse(&cfg, err, env2) == 0);
	CHECK(cfg.n_ports == 2 && shim_port_in(cfg.ports, 65535) && shim_port_in(cfg.ports, 1));
}

static void expect_bad(const char *const *env, const char *var)
{
	static struct shim_config cfg;
	char err[256];

	CHECK(parse(&cfg, err, env) == -EINVAL);
	CHECK(!cfg.active);
	CHECK(strstr(err, var) != NULL);
	CHECK(strstr(err, "expected") != NULL);
	if (!strstr(err, var))
		fprintf(stderr, "  message was: %s\n", err);
}

static void test_bad(void)
{
	const char *p1[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80,", NULL};
	const char *p2[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=0", NULL};
	const char *p3[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=65536", NULL};
	const char *p4[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=90-80", NULL};
	const char *p5[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=http", NULL};
	const char *p6[] = {"XTCP_IFACE=veth0", "XTCP_PORTS= 80", NULL};
	const char *p7[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80-", NULL};
	const char *p8[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=-80", NULL};
	const char *i1[] = {"XTCP_PORTS=80", NULL};
	const char *i2[] = {"XTCP_IFACE=averyveryverylongname", "XTCP_PORTS=80", NULL};
	const char *i3[] = {"XTCP_IFACE=veth0", NULL};
	const char *l1[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_LOG=loud", NULL};
	const char *s1[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_STRICT=yes", NULL};
	const char *sp[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_SPIN_US=-1", NULL};
	const char *sp2[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_SPIN_US=10us", NULL};
	const char *c1[] = {"XTCP_IFACE=veth0", "XTCP_CONNECT_PORTS=a", NULL};
	const char *lp[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_LOCAL_PORTS=500-600", NULL};
	const char *lp2[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_LOCAL_PORTS=61000", NULL};
	const char *m1[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_XDP_MODE=skb", NULL};
	const char *f1[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_FRAMES=1", NULL};
	const char *q1[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_QUEUE_WAIT_MS=60001", NULL};
	const char *b1[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_BUSY_POLL=yes", NULL};
	const char *qs[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_QUEUES=2", NULL};
	const char *el[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_EXIT_LINGER_MS=60001", NULL};
	const char *rc[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_RX_CSUM=trust", NULL};
	const char *tc[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_TX_CSUM=on", NULL};
	const char *fc[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_FORK_CONNS=child", NULL};

	expect_bad(p1, "XTCP_PORTS");
	expect_bad(p2, "XTCP_PORTS");
	expect_bad(p3, "XTCP_PORTS");
	expect_bad(p4, "XTCP_PORTS");
	expect_bad(p5, "XTCP_PORTS");
	expect_bad(p6, "XTCP_PORTS");
	expect_bad(p7, "XTCP_PORTS");
	expect_bad(p8, "XTCP_PORTS");
	expect_bad(i1, "XTCP_IFACE");
	expect_bad(i2, "XTCP_IFACE");
	expect_bad(i3, "XTCP_PORTS");
	expect_bad(l1, "XTCP_LOG");
	expect_bad(s1, "XTCP_STRICT");
	expect_bad(sp, "XTCP_SPIN_US");
	expect_bad(sp2, "XTCP_SPIN_US");
	expect_bad(c1, "XTCP_CONNECT_PORTS");
	expect_bad(lp, "XTCP_LOCAL_PORTS");
	expect_bad(lp2, "XTCP_LOCAL_PORTS");
	expect_bad(m1, "XTCP_XDP_MODE");
	expect_bad(f1, "XTCP_FRAMES");
	expect_bad(q1, "XTCP_QUEUE_WAIT_MS");
	expect_bad(b1, "XTCP_BUSY_POLL");
	expect_bad(qs, "XTCP_QUEUES");
	expect_bad(el, "XTCP_EXIT_LINGER_MS");
	expect_bad(rc, "XTCP_RX_CSUM");
	expect_bad(tc, "XTCP_TX_CSUM");
	expect_bad(fc, "XTCP_FORK_CONNS");
}

static void test_options(void)
{
	static struct shim_config cfg;
	char err[256];
	const char *env[] = {
		"XTCP_IFACE=veth0",	  "XTCP_CONNECT_PORTS=80,443",
		"XTCP_STRICT=1",	  "XTCP_SPIN_US=50",
		"XTCP_LOG=error",	  "XTCP_LOCAL_PORTS=40000-40999",
		"XTCP_XDP_MODE=generic",  "XTCP_STATS=0",
		"XTCP_MAX_SOCKS=1000",	  "XTCP_QUEUE_WAIT_MS=0",
		"XTCP_BUSY_POLL=1",	  "XTCP_QUEUES=one",
		"XTCP_EXIT_LINGER_MS=5",  "XTCP_RX_CSUM=trust-local",
		"XTCP_FORK_CONNS=parent", NULL,
	};
	const char *strict_bad[] = {"XTCP_STRICT=1", "XTCP_IFACE=veth0", "XTCP_PORTS=x", NULL};
	const char *tx_off[] = {"XTCP_IFACE=veth0", "XTCP_PORTS=80", "XTCP_TX_CSUM=off", NULL};

	CHECK(parse(&cfg, err, env) == 0);
	CHECK(cfg.active); /* a client-only configuration is valid */
	CHECK(cfg.n_ports == 0 && cfg.n_connect_ports == 2);
	CHECK(shim_port_in(cfg.connect_ports, 443) && !shim_port_in(cfg.connect_ports, 8080));
	CHECK(cfg.strict && cfg.spin_us == 50 && cfg.log_level == SHIM_LOG_ERROR);
	CHECK(cfg.lport_min == 40000 && cfg.lport_max == 40999);
	CHECK(cfg.xdp_generic && !cfg.stats && cfg.max_socks == 1000);
	CHECK(cfg.queue_wait_ms == 0 && cfg.busy_poll == 2 && cfg.queues == SHIM_QUEUES_ONE);
	CHECK(cfg.exit_linger_ms == 5 && cfg.fork_parent);
	CHECK(cfg.rx_csum == 2 && cfg.tx_csum == 0); /* XP_RX_CSUM_TRUST_LOCAL, XP_TX_CSUM_AUTO */
	CHECK(parse(&cfg, err, tx_off) == 0 && cfg.tx_csum == 1); /* XP_TX_CSUM_OFF */
	CHECK(cfg.busy_poll == 0);				  /* XP_BUSY_POLL_AUTO by default */
	/* XTCP_STRICT is known even when another variable is wrong (the caller exits). */
	CHECK(parse(&cfg, err, strict_bad) == -EINVAL && cfg.strict && !cfg.active);
}

static struct shim_fd_obj objs[4] = {
	{SHIM_FD_SOCK}, {SHIM_FD_EPOLL}, {SHIM_FD_SOCK}, {SHIM_FD_SOCK}};

static void test_fd_table(void)
{
	unsigned base = shim_fd_count();

	CHECK(shim_fd_get(0) == NULL);
	CHECK(shim_fd_get(-1) == NULL);
	CHECK(shim_fd_get(SHIM_FD_MAX) == NULL);
	CHECK(shim_fd_set(5, &objs[0]) == 0);
	CHECK(shim_fd_get(5) == &objs[0]);
	CHECK(shim_fd_set(5, &objs[1]) == -EEXIST);
	CHECK(shim_fd_set(-3, &objs[1]) == -EBADF);
	CHECK(shim_fd_set(SHIM_FD_MAX, &objs[1]) == -EBADF);
	CHECK(shim_fd_set(SHIM_FD_MAX - 1, &objs[1]) == 0); /* last slot, last chunk */
	CHECK(shim_fd_get(SHIM_FD_MAX - 1)->kind == SHIM_FD_EPOLL);
	CHECK(shim_fd_set(1023, &objs[2]) == 0);
	CHECK(shim_fd_set(1024, &objs[3]) == 0); /* chunk boundary */
	CHECK(shim_fd_get(1023) == &objs[2] && shim_fd_get(1024) == &objs[3]);
	CHECK(shim_fd_get(1025) == NULL && shim_fd_get(4) == NULL);
	CHECK(shim_fd_count() == base + 4);
	CHECK(shim_fd_next(0) == 5);
	CHECK(shim_fd_next(6) == 1023);
	CHECK(shim_fd_next(1025) == SHIM_FD_MAX - 1);
	CHECK(shim_fd_clear(5) == &objs[0]);
	CHECK(shim_fd_clear(5) == NULL);
	CHECK(shim_fd_get(5) == NULL);
	CHECK(shim_fd_clear(SHIM_FD_MAX - 1) == &objs[1]);
	CHECK(shim_fd_clear(1023) == &objs[2] && shim_fd_clear(1024) == &objs[3]);
	CHECK(shim_fd_next(0) == -1);
	CHECK(shim_fd_count() == base);
	CHECK(shim_fd_clear(777777) == NULL); /* never allocated chunk */
}

/* Concurrent writers on distinct fds of one fresh chunk: the CAS keeps every mapping. */
#define THREADS 4
#define PER	200
static struct shim_fd_obj thread_objs[THREADS][PER];

static void *writer(void *arg)
{
	long t = (long)arg;
	int i;

	for (i = 0; i < PER; i++) {
		thread_objs[t][i].kind = SHIM_FD_SOCK;
		if (shim_fd_set(200000 + i * THREADS + (int)t, &thread_objs[t][i]))
			return (void *)1;
	}
	return NULL;
}

static void test_fd_threads(void)
{
	pthread_t th[THREADS];
	void *r;
	long t;
	int i, bad = 0;

	for (t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, writer, (void *)t);
	for (t = 0; t < THREADS; t++) {
		pthread_join(th[t], &r);
		bad += r != NULL;
	}
	CHECK(bad == 0);
	for (t = 0; t < THREADS; t++)
		for (i = 0; i < PER; i++)
			bad += shim_fd_get(200000 + i * THREADS + (int)t) != &thread_objs[t][i];
	CHECK(bad == 0);
	for (i = 0; i < THREADS * PER; i++)
		shim_fd_clear(200000 + i);
	CHECK(shim_fd_next(0) == -1);
}

int main(void)
{
	test_inert();
	test_ports();
	test_bad();
	test_options();
	test_fd_table();
	test_fd_threads();
	return check_summary();
}
