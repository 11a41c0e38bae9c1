/*
 * test_prot_verdicts.c - every protection rule of bpf/xtcp_protect.h on
 * crafted frames through BPF_PROG_TEST_RUN (no NIC, no namespace), with the
 * rules written by the real userspace code (xsk/protect_cfg.c) and the
 * per-reason counters checked after each case.
 *
 *   test_prot_verdicts OBJ harness   tests/protect/prot_harness.bpf.c: the
 *                                    hooks behind a minimal parser
 *   test_prot_verdicts OBJ xtcp      bpf/xtcp_xdp.bpf.c, the real steering
 *                                    program: served port 80 in xtcp_serve (no
 *                                    AF_XDP socket, so an admitted segment is
 *                                    passed), and every protection drop must
 *                                    also be its "dropped" verdict
 * Needs root (BPF): exits 77 otherwise (1 with XTCP_TEST_NO_SKIP=1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "protect_cfg.h"
#include "check.h"
#include "xtcp_xdp.h"

static int prog_fd, served_fd, xtcp_stats_fd = -1;
static struct protect_maps maps;
static struct protect_cfg *cfg;

struct frame {
	struct ethhdr eth;
	struct iphdr ip;
	union {
		struct udphdr udp;
		struct tcphdr tcp;
		unsigned char icmp[8];
	};
	unsigned char payload[32];
} __attribute__((packed));

#define SYN 1
#define ACK 2

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* Run one frame; returns the XDP verdict. */
static int run(uint8_t proto, const char *src, uint16_t dport, int tcpflags)
{
	struct frame f;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = &f, .data_size_in = sizeof(f), .repeat = 1);

	memset(&f, 0, sizeof(f));
	memset(f.eth.h_dest, 0x02, ETH_ALEN);
	memset(f.eth.h_source, 0x04, ETH_ALEN);
	f.eth.h_proto = htons(ETH_P_IP);
	f.ip.version = 4;
	f.ip.ihl = 5;
	f.ip.ttl = 64;
	f.ip.protocol = proto;
	f.ip.tot_len = htons(sizeof(f) - sizeof(f.eth));
	f.ip.saddr = ip4(src);
	f.ip.daddr = ip4("10.77.1.1");
	if (proto == IPPROTO_UDP) {
		f.udp.source = htons(40000);
		f.udp.dest = htons(dport);
		f.udp.len = htons(sizeof(f.udp) + sizeof(f.payload));
	} else if (proto == IPPROTO_TCP) {
		f.tcp.source = htons(40000);
		f.tcp.dest = htons(dport);
		f.tcp.doff = 5;
		f.tcp.syn = !!(tcpflags & SYN);
		f.tcp.ack = !!(tcpflags & ACK);
	} else {
		f.icmp[0] = 8; /* echo request */
	}
	if (bpf_prog_test_run_opts(prog_fd, &o)) {
		fprintf(stderr, "test_run: %s\n", strerror(errno));
		return -1;
	}
	return (int)o.retval;
}

static uint64_t counters[PROT_CNT_MAX];

/* Counter delta since the last call. */
static uint64_t delta(enum prot_counter c)
{
	uint64_t now[PROT_CNT_MAX], d;

	protect_stats(&maps, now);
	d = now[c] - counters[c];
	counters[c] = now[c];
	return d;
}

static uint64_t xtcp_dropped(void)
{
	uint64_t v[256] = {0}, sum = 0;
	uint32_t k = XTCP_STAT_DROPPED;
	int i, n = libbpf_num_possible_cpus();

	if (xtcp_stats_fd < 0 || n > 256 || bpf_map_lookup_elem(xtcp_stats_fd, &k, v))
		return 0;
	for (i = 0; i < n; i++)
		sum += v[i];
	return sum;
}

static void reset_counters(void)
{
	protect_stats(&maps, counters);
}

/* The steering program's "dropped" verdicts equal the protection's drops. */
static void check_verdict_counter(void)
{
	static const enum prot_counter drops[] = {PROT_CNT_DROP_PORT,	  PROT_CNT_DROP_PORT_RATE,
						  PROT_CNT_DROP_SRC_RATE, PROT_CNT_DROP_GLOBAL,
						  PROT_CNT_DROP_SYN_RATE, PROT_CNT_DROP_ACL};
	uint64_t now[PROT_CNT_MAX], sum = 0;
	unsigned i;

	if (xtcp_stats_fd < 0)
		return;
	protect_stats(&maps, now);
	for (i = 0; i < sizeof(drops) / sizeof(drops[0]); i++)
		sum += now[drops[i]];
	CHECK(xtcp_dropped() == sum, "xtcp_stats dropped %llu != protection drops %llu",
	      (unsigned long long)xtcp_dropped(), (unsigned long long)sum);
}

/* Fresh rules: defaults with everything off unless the case turns it on. */
static void rules_off(void)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->base.acl_default = PROT_ACL_ALLOW;
}

static void apply(void)
{
	int err = protect_apply(&maps, cfg);

	CHECK(err == 0, "protect_apply: %s", strerror(-err));
	reset_counters();
}

static void test_defaults_pass_normal_traffic(void)
{
	int i, ok = 0;

	protect_cfg_defaults(cfg);
	apply();
	for (i = 0; i < 100; i++)
		ok += run(IPPROTO_UDP, "10.1.0.1", 53, 0) == XDP_PASS;
	CHECK(ok == 100, "default UDP: %d of 100 passed", ok);
	CHECK(run(IPPROTO_ICMP, "10.1.0.1", 0, 0) == XDP_PASS, "ICMP");
	CHECK(run(IPPROTO_TCP, "10.1.0.1", 22, SYN) == XDP_PASS, "ssh SYN");
	CHECK(run(IPPROTO_TCP, "10.1.0.1", 80, SYN) == XDP_PASS, "served SYN");
	CHECK(delta(PROT_CNT_SEEN) == 102, "seen");
	CHECK(delta(PROT_CNT_SERVED_SEEN) == 1 && delta(PROT_CNT_SYN_SEEN) == 1, "served counters");
}

static void test_src_rate(void)
{
	rules_off();
	cfg->base.src_pps = 1;
	cfg->base.src_burst = 3;
	cfg->base.scope = PROT_SCOPE_UDP | PROT_SCOPE_OTHER;
	apply();
	CHECK(run(IPPROTO_UDP, "10.2.0.1", 9, 0) == XDP_PASS, "1st");
	CHECK(run(IPPROTO_UDP, "10.2.0.1", 9, 0) == XDP_PASS, "2nd");
	CHECK(run(IPPROTO_UDP, "10.2.0.1", 9, 0) == XDP_PASS, "3rd (burst 3)");
	CHECK(run(IPPROTO_UDP, "10.2.0.1", 9, 0) == XDP_DROP, "4th over burst");
	CHECK(run(IPPROTO_UDP, "10.2.0.2", 9, 0) == XDP_PASS, "another source has its own bucket");
	CHECK(run(IPPROTO_TCP, "10.2.0.1", 22, SYN) == XDP_PASS, "kernel TCP not in scope");
	CHECK(run(IPPROTO_ICMP, "10.2.0.1", 0, 0) == XDP_PASS, "ICMP not in scope");
	CHECK(run(47 /* GRE */, "10.2.0.1", 0, 0) == XDP_DROP, "other protocols in scope");
	CHECK(delta(PROT_CNT_DROP_SRC_RATE) == 2, "drop_src_rate");
	CHECK(delta(PROT_CNT_SRC_NEW) == 2, "two sources tracked");

	cfg->base.scope = PROT_SCOPE_ALL;
	apply();
	CHECK(run(IPPROTO_ICMP, "10.2.0.1", 0, 0) == XDP_DROP, "ICMP in scope=all");
	CHECK(delta(PROT_CNT_DROP_SRC_RATE) == 1, "counted");
}

static void test_allowlist(void)
{
	struct protect_prefix p;

	rules_off();
	cfg->base.src_pps = 1;
	cfg->base.src_burst = 1;
	cfg->base.scope = PROT_SCOPE_ALL;
	protect_parse_prefix("10.3.0.0/16", &p);
	protect_cfg_add_prefix(cfg->allow, &cfg->n_allow, &p);
	protect_parse_port("udp:7=drop", &cfg->ports[cfg->n_ports++]);
	apply();
	for (int i = 0; i < 5; i++)
		CHECK(run(IPPROTO_UDP, "10.3.9.9", 9, 0) == XDP_PASS, "allow-listed %d", i);
	CHECK(run(IPPROTO_UDP, "10.3.9.9", 7, 0) == XDP_PASS, "allow-list beats a port drop");
	CHECK(run(IPPROTO_UDP, "10.4.9.9", 9, 0) == XDP_PASS, "outside: 1st");
	CHECK(run(IPPROTO_UDP, "10.4.9.9", 9, 0) == XDP_DROP, "outside: limited");
	CHECK(delta(PROT_CNT_PASS_ALLOWLIST) == 6, "pass_allowlist");
}

static void test_port_rules(void)
{
	int i, pass = 0;

	rules_off();
	cfg->base.src_pps = 1;
	cfg->base.src_burst = 1;
	cfg->base.scope = PROT_SCOPE_UDP;
	protect_parse_port("udp:53=allow", &cfg->ports[cfg->n_ports++]);
	protect_parse_port("udp:11211=drop", &cfg->ports[cfg->n_ports++]);
	protect_parse_port("udp:123=rate:1/2", &cfg->ports[cfg->n_ports++]);
	protect_parse_port("tcp:23=drop", &cfg->ports[cfg->n_ports++]);
	apply();
	for (i = 0; i < 10; i++)
		pass += run(IPPROTO_UDP, "10.5.0.1", 53, 0) == XDP_PASS;
	CHECK(pass == 10, "allow port never limited: %d/10", pass);
	CHECK(run(IPPROTO_UDP, "10.5.0.2", 11211, 0) == XDP_DROP, "drop port");
	CHECK(run(IPPROTO_TCP, "10.5.0.2", 23, SYN) == XDP_DROP, "tcp drop port");
	CHECK(run(IPPROTO_TCP, "10.5.0.2", 24, SYN) == XDP_PASS, "tcp other port");
	/* rate: the port's bucket is shared by all sources (fresh sources here) */
	CHECK(run(IPPROTO_UDP, "10.5.1.1", 123, 0) == XDP_PASS, "rate 1st");
	CHECK(run(IPPROTO_UDP, "10.5.1.2", 123, 0) == XDP_PASS, "rate 2nd");
	CHECK(run(IPPROTO_UDP, "10.5.1.3", 123, 0) == XDP_DROP, "rate over");
	CHECK(delta(PROT_CNT_PASS_PORT_ALLOW) == 10, "pass_port_allow");
	CHECK(delta(PROT_CNT_DROP_PORT) == 2, "drop_port_rule");
	CHECK(delta(PROT_CNT_DROP_PORT_RATE) == 1, "drop_port_rate");
}

static void test_global(void)
{
	char src[32];
	int i, pass = 0;

	rules_off();
	cfg->base.global_pps = 1;
	cfg->base.global_burst = 5;
	cfg->base.scope = PROT_SCOPE_UDP;
	apply();
	for (i = 0; i < 8; i++) {
		snprintf(src, sizeof(src), "10.6.0.%d", i + 1);
		pass += run(IPPROTO_UDP, src, 9, 0) == XDP_PASS;
	}
	CHECK(pass == 5, "global budget: %d passed of 8 (burst 5)", pass);
	CHECK(delta(PROT_CNT_DROP_GLOBAL) == 3, "drop_global_rate");
	CHECK(run(IPPROTO_TCP, "10.6.0.1", 22, SYN) == XDP_PASS, "TCP outside scope");
}

static void test_syn(void)
{
	struct protect_prefix p;

	rules_off();
	cfg->base.syn_pps = 1;
	cfg->base.syn_burst = 2;
	protect_parse_prefix("10.7.7.7", &p);
	protect_cfg_add_prefix(cfg->allow, &cfg->n_allow, &p);
	apply();
	CHECK(run(IPPROTO_TCP, "10.7.0.1", 80, SYN) == XDP_PASS, "SYN 1");
	CHECK(run(IPPROTO_TCP, "10.7.0.1", 80, SYN) == XDP_PASS, "SYN 2");
	CHECK(run(IPPROTO_TCP, "10.7.0.1", 80, SYN) == XDP_DROP, "SYN 3 over");
	CHECK(run(IPPROTO_TCP, "10.7.0.1", 80, ACK) == XDP_PASS, "ACK not limited");
	CHECK(run(IPPROTO_TCP, "10.7.0.1", 80, SYN | ACK) == XDP_PASS, "SYN-ACK not limited");
	CHECK(run(IPPROTO_TCP, "10.7.0.2", 80, SYN) == XDP_PASS, "other source");
	for (int i = 0; i < 5; i++)
		CHECK(run(IPPROTO_TCP, "10.7.7.7", 80, SYN) == XDP_PASS, "allow-listed SYN %d", i);
	CHECK(run(IPPROTO_TCP, "10.7.0.1", 22, SYN) == XDP_PASS, "non-served port: not a SYN rule");
	CHECK(delta(PROT_CNT_DROP_SYN_RATE) == 1, "drop_syn_rate");
	CHECK(delta(PROT_CNT_SYN_SEEN) == 9, "served_syn");
}

static void test_acl(void)
{
	struct protect_prefix p;

	rules_off();
	protect_parse_prefix("10.9.0.0/16", &p);
	p.action = PROT_ACL_DENY;
	protect_cfg_add_prefix(cfg->acl, &cfg->n_acl, &p);
	protect_parse_prefix("10.9.1.0/24", &p);
	p.action = PROT_ACL_ALLOW;
	protect_cfg_add_prefix(cfg->acl, &cfg->n_acl, &p);
	apply();
	CHECK(run(IPPROTO_TCP, "10.9.2.1", 80, SYN) == XDP_DROP, "denied prefix");
	CHECK(run(IPPROTO_TCP, "10.9.2.1", 80, ACK) == XDP_DROP, "denied: every segment");
	CHECK(run(IPPROTO_TCP, "10.9.1.1", 80, SYN) == XDP_PASS, "longer allow prefix wins");
	CHECK(run(IPPROTO_TCP, "10.8.0.1", 80, SYN) == XDP_PASS, "default allow");
	CHECK(run(IPPROTO_TCP, "10.9.2.1", 22, SYN) == XDP_PASS, "only served ports");
	CHECK(run(IPPROTO_UDP, "10.9.2.1", 80, 0) == XDP_PASS, "only TCP to served ports");
	CHECK(delta(PROT_CNT_DROP_ACL) == 2, "drop_served_acl");

	cfg->base.acl_default = PROT_ACL_DENY; /* allow-list mode */
	apply();
	CHECK(run(IPPROTO_TCP, "10.8.0.1", 80, SYN) == XDP_DROP, "default deny");
	CHECK(run(IPPROTO_TCP, "10.9.1.1", 80, SYN) == XDP_PASS, "allowed prefix");
	CHECK(delta(PROT_CNT_DROP_ACL) == 1, "counted");
}

static void test_read_back(void)
{
	struct protect_cfg *rb = malloc(sizeof(*rb));
	struct protect_prefix p;

	rules_off();
	cfg->base.src_pps = 7;
	cfg->base.src_burst = 8;
	protect_parse_port("udp:1=drop", &cfg->ports[cfg->n_ports++]);
	protect_parse_port("udp:2=allow", &cfg->ports[cfg->n_ports++]);
	protect_parse_prefix("192.168.0.0/16", &p);
	protect_cfg_add_prefix(cfg->allow, &cfg->n_allow, &p);
	apply();
	CHECK(rb && protect_read(&maps, rb) == 0, "read");
	CHECK(rb->base.src_pps == 7 && rb->base.src_burst == 8, "base");
	CHECK(rb->n_ports == 2 && rb->n_allow == 1 && rb->n_acl == 0, "%u ports %u allow %u acl",
	      rb->n_ports, rb->n_allow, rb->n_acl);
	/* a rule removed from the config disappears from the map */
	protect_cfg_del_port(cfg, IPPROTO_UDP, 1);
	cfg->n_allow = 0;
	apply();
	CHECK(protect_read(&maps, rb) == 0 && rb->n_ports == 1 && rb->ports[0].port == 2 &&
		      rb->n_allow == 0,
	      "pruned: %u ports, %u allow", rb->n_ports, rb->n_allow);
	CHECK(run(IPPROTO_UDP, "10.10.0.1", 1, 0) == XDP_PASS, "deleted drop rule no longer drops");
	free(rb);
}

/* A second process adopting the program keeps the rules in force. */
static void test_apply_initial(void)
{
	struct protect_cfg *rb = malloc(sizeof(*rb));
	uint32_t zero = 0;
	struct prot_config blank = {0};

	CHECK(rb != NULL, "malloc");
	if (!rb)
		return;
	bpf_map_update_elem(maps.cfg, &zero, &blank, BPF_ANY); /* a fresh program */
	rules_off();
	cfg->base.src_pps = 11;
	CHECK(protect_apply_initial(&maps, cfg) == 0, "first apply");
	cfg->base.src_pps = 22;
	CHECK(protect_apply_initial(&maps, cfg) == 1, "second apply leaves it");
	CHECK(protect_read(&maps, rb) == 0 && rb->base.src_pps == 11, "kept %u", rb->base.src_pps);
	free(rb);
}

static int map_fd(struct bpf_object *obj, const char *name)
{
	return bpf_object__find_map_fd_by_name(obj, name);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	uint16_t port = 80;
	uint8_t one = 1;
	bool xtcp;

	check_root_or_skip("BPF");
	if (argc != 3 || (strcmp(argv[2], "harness") && strcmp(argv[2], "xtcp"))) {
		fprintf(stderr, "usage: test_prot_verdicts OBJ harness|xtcp\n");
		return 2;
	}
	xtcp = !strcmp(argv[2], "xtcp");
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (libbpf_get_error(obj) || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s\n", argv[1]);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, xtcp ? XTCP_XDP_PROG_NAME : "prot_harness");
	prog_fd = prog ? bpf_program__fd(prog) : -1;
	served_fd = map_fd(obj, xtcp ? "xtcp_serve" : "h_served");
	if (xtcp)
		xtcp_stats_fd = map_fd(obj, "xtcp_stats");
	maps = (struct protect_maps){
		.cfg = map_fd(obj, PROT_MAP_CFG),
		.stats = map_fd(obj, PROT_MAP_STATS),
		.src = map_fd(obj, PROT_MAP_SRC),
		.glob = map_fd(obj, PROT_MAP_GLOB),
		.port = map_fd(obj, PROT_MAP_PORT),
		.allow = map_fd(obj, PROT_MAP_ALLOW),
		.acl = map_fd(obj, PROT_MAP_ACL),
		.syn = map_fd(obj, PROT_MAP_SYN),
	};
	if (prog_fd < 0 || served_fd < 0 || maps.cfg < 0 || maps.stats < 0) {
		fprintf(stderr, "%s: no program or no protection maps in it\n", argv[1]);
		return 1;
	}
	if (xtcp) {
		struct xtcp_serve_key k = {.ip4 = 0, .port = htons(80)};
		struct xtcp_serve_val v = {0};

		bpf_map_update_elem(served_fd, &k, &v, BPF_ANY);
	} else {
		bpf_map_update_elem(served_fd, &port, &one, BPF_ANY);
	}
	cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return 1;

	test_defaults_pass_normal_traffic();
	test_src_rate();
	test_allowlist();
	test_port_rules();
	test_global();
	test_syn();
	test_acl();
	test_read_back();
	test_apply_initial();
	check_verdict_counter();

	free(cfg);
	bpf_object__close(obj);
	return check_summary();
}
