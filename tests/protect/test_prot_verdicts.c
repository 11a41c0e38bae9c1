/*
 * test_prot_verdicts.c - every protection rule of bpf/xtcp_protect.h on
 * crafted frames through BPF_PROG_TEST_RUN (no NIC, no namespace), with the
 * rules written by the real userspace code (xsk/protect_cfg.c) and the
 * per-reason counters checked after each case; every rule for IPv4 and
 * IPv6 (per-/64 buckets, ND and MLD never limited, extension-header chains,
 * fragments, truncated frames).
 *
 *   test_prot_verdicts OBJ harness   tests/protect/prot_harness.bpf.c: the
 *                                    hooks behind a minimal parser
 *   test_prot_verdicts OBJ xtcp      bpf/xtcp_xdp.bpf.c, the real steering
 *                                    program: served port 80 in xtcp_serve and
 *                                    xtcp_serve6 (no AF_XDP socket, so an
 *                                    admitted segment is
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
#include <linux/ipv6.h>
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

/* Run one IPv4 frame; returns the XDP verdict. */
static int run4(uint8_t proto, const char *src, uint16_t dport, int tcpflags)
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

/* An IPv6 frame: extension headers before the upper layer, truncation. */
struct v6x {
	int hop;       /* hop limit (0: 64) */
	int dstopts;   /* that many 8-byte destination options headers first */
	int hbh;       /* a hop-by-hop options header first (MLD carries router alert) */
	int frag;      /* a fragment header: 1 first fragment, 2 a later one */
	int icmp_type; /* ICMPv6 type (proto IPPROTO_ICMPV6; 0: echo request) */
	size_t cut;    /* frame length when nonzero: a truncated frame */
};

/* Run one IPv6 frame from src to fd77:1::1; returns the XDP verdict. */
static int run6x(uint8_t proto, const char *src, uint16_t dport, int tcpflags, const struct v6x *x)
{
	unsigned char f[256] = {0}, *p;
	struct ethhdr *eth = (void *)f;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	uint8_t *nh = &ip6->nexthdr;
	size_t len;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .repeat = 1);

	memset(eth->h_dest, 0x02, ETH_ALEN);
	memset(eth->h_source, 0x04, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IPV6);
	ip6->version = 6;
	ip6->hop_limit = x->hop ? (uint8_t)x->hop : 64;
	inet_pton(AF_INET6, src, &ip6->saddr);
	inet_pton(AF_INET6, "fd77:1::1", &ip6->daddr);
	p = (unsigned char *)(ip6 + 1);
	if (x->hbh) {
		*nh = IPPROTO_HOPOPTS;
		nh = p;
		p[2] = 5; /* router alert (RFC 2711), length 2, value 0: MLD */
		p[3] = 2;
		p += 8;
	}
	for (int i = 0; i < x->dstopts; i++) {
		*nh = IPPROTO_DSTOPTS;
		nh = p;
		p[2] = 1; /* PadN filling the header */
		p[3] = 4;
		p += 8;
	}
	if (x->frag) {
		*nh = IPPROTO_FRAGMENT;
		nh = p;
		p[3] = x->frag == 1 ? 0x01 : 0x11; /* M set; offset 0 or 2 units of 8 */
		p += 8;
	}
	*nh = proto;
	if (proto == IPPROTO_UDP) {
		struct udphdr *u = (void *)p;

		u->source = htons(40000);
		u->dest = htons(dport);
		u->len = htons(sizeof(*u) + 32);
		p += sizeof(*u) + 32;
	} else if (proto == IPPROTO_TCP) {
		struct tcphdr *t = (void *)p;

		t->source = htons(40000);
		t->dest = htons(dport);
		t->doff = 5;
		t->syn = !!(tcpflags & SYN);
		t->ack = !!(tcpflags & ACK);
		p += sizeof(*t) + 32;
	} else {
		p[0] = x->icmp_type ? (uint8_t)x->icmp_type : 128; /* echo request */
		p += 32;
	}
	len = (size_t)(p - f);
	ip6->payload_len = htons((uint16_t)(len - sizeof(*eth) - sizeof(*ip6)));
	o.data_size_in = x->cut ? (uint32_t)x->cut : (uint32_t)len;
	if (bpf_prog_test_run_opts(prog_fd, &o)) {
		fprintf(stderr, "test_run: %s\n", strerror(errno));
		return -1;
	}
	return (int)o.retval;
}

static int run6(uint8_t proto, const char *src, uint16_t dport, int tcpflags)
{
	struct v6x x = {0};

	return run6x(proto, src, dport, tcpflags, &x);
}

/*
 * The family the cases below send: they run once over IPv4, then again over
 * IPv6 with a.b.c.d standing for 2001:db8:aabb:ccdd::1, so that each IPv4
 * source is a /64 of its own and a.b.c.d/LEN is 2001:db8:aabb:ccdd::/(32+LEN).
 */
static int family = 4;

static const char *as6(const char *v4, char *buf, size_t n)
{
	uint8_t a[4] = {0};

	inet_pton(AF_INET, v4, a);
	snprintf(buf, n, "2001:db8:%x:%x::1", a[0] << 8 | a[1], a[2] << 8 | a[3]);
	return buf;
}

static int run(uint8_t proto, const char *src, uint16_t dport, int tcpflags)
{
	char buf[INET6_ADDRSTRLEN];

	if (family == 4)
		return run4(proto, src, dport, tcpflags);
	return run6(proto == IPPROTO_ICMP ? IPPROTO_ICMPV6 : proto, as6(src, buf, sizeof(buf)),
		    dport, tcpflags);
}

/* An IPv4 prefix A.B.C.D[/LEN] of the cases, in the family of the round. */
static void parse_prefix(const char *v4, struct protect_prefix *p)
{
	char ip[INET_ADDRSTRLEN] = {0}, buf[64];
	const char *slash = strchr(v4, '/');
	unsigned len = slash ? (unsigned)atoi(slash + 1) : 32;

	memcpy(ip, v4, slash ? (size_t)(slash - v4) : strlen(v4));
	if (family == 6) {
		as6(ip, buf, sizeof(buf));
		snprintf(buf + strlen(buf) - 1, sizeof(buf) - strlen(buf) + 1, "/%u", 32 + len);
		v4 = buf;
	}
	CHECK(protect_parse_prefix(v4, p) == 0, "prefix %s", v4);
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

/* Empty the global budget and the per-source buckets the earlier cases left behind. */
static void buckets_reset(void)
{
	struct prot_bucket zero_b = {0};
	uint32_t zero = 0;
	int fds[] = {maps.src, maps.syn, maps.src6, maps.syn6};
	uint8_t key[16], next[16];

	bpf_map_update_elem(maps.glob, &zero, &zero_b, BPF_ANY);
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		while (!bpf_map_get_next_key(fds[i], NULL, next)) {
			memcpy(key, next, sizeof(key));
			bpf_map_delete_elem(fds[i], key);
		}
}

/* Fresh rules and buckets: defaults with everything off unless the case turns it on. */
static void rules_off(void)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->base.acl_default = PROT_ACL_ALLOW;
	buckets_reset();
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
	parse_prefix("10.3.0.0/16", &p);
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
	parse_prefix("10.7.7.7", &p);
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
	parse_prefix("10.9.0.0/16", &p);
	p.action = PROT_ACL_DENY;
	protect_cfg_add_prefix(cfg->acl, &cfg->n_acl, &p);
	parse_prefix("10.9.1.0/24", &p);
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
	parse_prefix("192.168.0.0/16", &p);
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

/* --- IPv6 only --- */

static void add_prefix(struct protect_prefix *arr, unsigned *n, const char *s, uint32_t action)
{
	struct protect_prefix p;

	CHECK(protect_parse_prefix(s, &p) == 0, "parse %s", s);
	p.action = action;
	protect_cfg_add_prefix(arr, n, &p);
}

/* One bucket per /64 (an attacker owns the whole /64), or per configured prefix. */
static void test6_src_rate(void)
{
	rules_off();
	cfg->base.src_pps = 1;
	cfg->base.src_burst = 2;
	cfg->base.scope = PROT_SCOPE_UDP | PROT_SCOPE_OTHER;
	apply();
	CHECK(run6(IPPROTO_UDP, "2001:db8:2:1::1", 9, 0) == XDP_PASS, "1st");
	CHECK(run6(IPPROTO_UDP, "2001:db8:2:1::2", 9, 0) == XDP_PASS, "2nd, same /64");
	CHECK(run6(IPPROTO_UDP, "2001:db8:2:1:ffff:1:2:3", 9, 0) == XDP_DROP, "3rd: same /64");
	CHECK(run6(IPPROTO_UDP, "2001:db8:2:2::1", 9, 0) == XDP_PASS, "another /64");
	CHECK(run6(IPPROTO_TCP, "2001:db8:2:1::1", 22, SYN) == XDP_PASS, "kernel TCP not in scope");
	CHECK(run6(IPPROTO_ICMPV6, "2001:db8:2:1::1", 0, 0) == XDP_PASS, "ICMPv6 not in scope");
	CHECK(run6(47 /* GRE */, "2001:db8:2:1::9", 0, 0) == XDP_DROP, "other protocols in scope");
	CHECK(run(IPPROTO_UDP, "10.2.6.1", 9, 0) == XDP_PASS, "IPv4 has its own buckets");
	CHECK(delta(PROT_CNT_DROP_SRC_RATE) == 2, "drop_src_rate");
	CHECK(delta(PROT_CNT_SRC_NEW) == 3, "two /64s and one IPv4 source tracked");

	cfg->base.scope = PROT_SCOPE_ALL;
	cfg->base.src6_plen = 128; /* per address */
	apply();
	CHECK(run6(IPPROTO_ICMPV6, "2001:db8:2:3::1", 0, 0) == XDP_PASS, "/128: ::1 1st");
	CHECK(run6(IPPROTO_ICMPV6, "2001:db8:2:3::1", 0, 0) == XDP_PASS, "/128: ::1 2nd");
	CHECK(run6(IPPROTO_ICMPV6, "2001:db8:2:3::1", 0, 0) == XDP_DROP, "/128: ICMPv6 in scope");
	CHECK(run6(IPPROTO_ICMPV6, "2001:db8:2:3::2", 0, 0) == XDP_PASS, "/128: ::2 its own");
	CHECK(delta(PROT_CNT_DROP_SRC_RATE) == 1, "/128 counted");
	cfg->base.src6_plen = 48;
	apply();
	CHECK(run6(IPPROTO_UDP, "2001:db8:4:1::1", 9, 0) == XDP_PASS, "/48: 1st");
	CHECK(run6(IPPROTO_UDP, "2001:db8:4:2::1", 9, 0) == XDP_PASS, "/48: 2nd, other /64");
	CHECK(run6(IPPROTO_UDP, "2001:db8:4:ffff::1", 9, 0) == XDP_DROP, "/48: same /48");
	CHECK(delta(PROT_CNT_DROP_SRC_RATE) == 1, "/48 counted");
}

/* ND and MLD are never limited or dropped, by no rule; only as the RFCs send them. */
static void test6_nd_mld(void)
{
	struct v6x ns = {.hop = 255, .icmp_type = 135}, ra = {.hop = 255, .icmp_type = 134};
	struct v6x mld = {.hop = 1, .hbh = 1, .icmp_type = 143},
		   fwd = {.hop = 64, .icmp_type = 135};
	int i, pass = 0;

	rules_off();
	cfg->base.src_pps = 1;
	cfg->base.src_burst = 1;
	cfg->base.global_pps = 1;
	cfg->base.global_burst = 1;
	cfg->base.scope = PROT_SCOPE_ALL;
	apply();
	for (i = 0; i < 20; i++) {
		pass += run6x(IPPROTO_ICMPV6, "fe80::1", 0, 0, &ns) == XDP_PASS;
		pass += run6x(IPPROTO_ICMPV6, "fe80::1", 0, 0, &ra) == XDP_PASS;
		pass += run6x(IPPROTO_ICMPV6, "fe80::1", 0, 0, &mld) == XDP_PASS;
	}
	CHECK(pass == 60, "NS, RA, MLDv2 report under a 1 pkt/s limit: %d of 60 passed", pass);
	CHECK(delta(PROT_CNT_PASS_ND) == 60, "pass_nd_mld");
	/* hop limit 64: it crossed a router, so it is no ND the kernel accepts */
	CHECK(run6x(IPPROTO_ICMPV6, "2001:db8:5::1", 0, 0, &fwd) == XDP_PASS, "routed NS 1st");
	CHECK(run6x(IPPROTO_ICMPV6, "2001:db8:5::1", 0, 0, &fwd) == XDP_DROP, "routed NS limited");
	CHECK(delta(PROT_CNT_PASS_ND) == 0 && delta(PROT_CNT_DROP_SRC_RATE) == 1, "counted");
}

/* Port rules behind extension headers and in fragments; one rate bucket for both families. */
static void test6_port_rules(void)
{
	struct v6x chain = {.dstopts = 2}, first = {.frag = 1}, later = {.frag = 2};

	rules_off();
	cfg->base.src_pps = 1;
	cfg->base.src_burst = 1;
	cfg->base.scope = PROT_SCOPE_UDP;
	protect_parse_port("udp:11211=drop", &cfg->ports[cfg->n_ports++]);
	protect_parse_port("udp:123=rate:1/2", &cfg->ports[cfg->n_ports++]);
	apply();
	CHECK(run6x(IPPROTO_UDP, "2001:db8:5:1::2", 11211, 0, &chain) == XDP_DROP,
	      "drop port behind two destination options headers");
	CHECK(run6x(IPPROTO_UDP, "2001:db8:5:1::2", 11211, 0, &first) == XDP_DROP,
	      "drop port in a first fragment");
	/* a later fragment has no port: only the per-source bucket of its /64 */
	CHECK(run6x(IPPROTO_UDP, "2001:db8:5:2::2", 11211, 0, &later) == XDP_PASS,
	      "later fragment");
	CHECK(run4(IPPROTO_UDP, "10.5.2.1", 123, 0) == XDP_PASS, "rate 1st (IPv4)");
	CHECK(run6(IPPROTO_UDP, "2001:db8:5:3::1", 123, 0) == XDP_PASS, "rate 2nd");
	CHECK(run6(IPPROTO_UDP, "2001:db8:5:4::1", 123, 0) == XDP_DROP, "rate over, for both");
	CHECK(delta(PROT_CNT_DROP_PORT) == 2, "drop_port_rule");
	CHECK(delta(PROT_CNT_DROP_PORT_RATE) == 1, "drop_port_rate");
}

/* The families share the global budget and the default, not each other's prefixes. */
static void test6_families(void)
{
	char src[64];
	int i, pass = 0;

	rules_off();
	cfg->base.global_pps = 1;
	cfg->base.global_burst = 5;
	cfg->base.scope = PROT_SCOPE_UDP;
	add_prefix(cfg->allow, &cfg->n_allow, "10.3.0.0/16", 1);
	add_prefix(cfg->acl, &cfg->n_acl, "10.8.0.0/16", PROT_ACL_DENY);
	apply();
	CHECK(run4(IPPROTO_UDP, "10.6.1.1", 9, 0) == XDP_PASS, "IPv4 takes from the budget");
	for (i = 0; i < 8; i++) {
		snprintf(src, sizeof(src), "2001:db8:6:%x::1", i + 1);
		pass += run6(IPPROTO_UDP, src, 9, 0) == XDP_PASS;
	}
	CHECK(pass == 4, "global budget: %d of 8 passed (burst 5, one taken by IPv4)", pass);
	CHECK(run6(IPPROTO_UDP, "::ffff:10.3.0.1", 9, 0) == XDP_DROP,
	      "an IPv4 allow prefix does not cover IPv6 sources");
	CHECK(run6(IPPROTO_TCP, "::ffff:10.8.0.1", 80, SYN) == XDP_PASS,
	      "an IPv4 deny does not cover IPv6 sources");
	CHECK(delta(PROT_CNT_DROP_GLOBAL) == 5, "drop_global_rate");

	cfg->base.acl_default = PROT_ACL_DENY; /* allow-list mode: for both families */
	add_prefix(cfg->acl, &cfg->n_acl, "fd77:9:1::/48", PROT_ACL_ALLOW);
	apply();
	CHECK(run6(IPPROTO_TCP, "fd77:8::1", 80, SYN) == XDP_DROP, "IPv6 default deny");
	CHECK(run4(IPPROTO_TCP, "10.11.0.1", 80, SYN) == XDP_DROP, "IPv4 default deny");
	CHECK(run6(IPPROTO_TCP, "fd77:9:1:2::1", 80, SYN) == XDP_PASS, "allowed IPv6 prefix");
	CHECK(delta(PROT_CNT_DROP_ACL) == 2, "drop_served_acl");
}

/* SYN rate per /64: random addresses of one /64 are one source. */
static void test6_syn(void)
{
	rules_off();
	cfg->base.syn_pps = 1;
	cfg->base.syn_burst = 2;
	apply();
	CHECK(run6(IPPROTO_TCP, "2001:db8:7:1::1", 80, SYN) == XDP_PASS, "SYN 1");
	CHECK(run6(IPPROTO_TCP, "2001:db8:7:1::2", 80, SYN) == XDP_PASS, "SYN 2, same /64");
	CHECK(run6(IPPROTO_TCP, "2001:db8:7:1:ffff::3", 80, SYN) == XDP_DROP, "SYN 3, same /64");
	CHECK(run6(IPPROTO_TCP, "2001:db8:7:2::1", 80, SYN) == XDP_PASS, "other /64");
	CHECK(delta(PROT_CNT_DROP_SYN_RATE) == 1, "drop_syn_rate");
}

/* Malformed and unusual chains: counted, judged by their source, never a crash. */
static void test6_malformed(void)
{
	struct v6x trunc_fixed = {.cut = sizeof(struct ethhdr) + 20};
	struct v6x trunc_ext = {.dstopts = 1, .cut = sizeof(struct ethhdr) + 40 + 4};
	struct v6x long_chain = {.dstopts = 5};
	uint64_t seen;

	rules_off();
	cfg->base.src_pps = 1;
	cfg->base.src_burst = 1;
	cfg->base.scope = PROT_SCOPE_OTHER;
	apply();
	CHECK(run6x(IPPROTO_UDP, "2001:db8:8::1", 9, 0, &trunc_fixed) == XDP_PASS,
	      "half an IPv6 header: passed, the kernel drops it");
	seen = delta(PROT_CNT_SEEN);
	CHECK(seen == 0, "no source to judge: not inspected (%llu)", (unsigned long long)seen);
	CHECK(run6x(IPPROTO_UDP, "2001:db8:8::1", 9, 0, &trunc_ext) == XDP_PASS, "cut option 1st");
	CHECK(run6x(IPPROTO_UDP, "2001:db8:8::1", 9, 0, &trunc_ext) == XDP_DROP,
	      "cut option: class other, limited");
	CHECK(run6x(IPPROTO_UDP, "2001:db8:8:1::1", 9, 0, &long_chain) == XDP_PASS,
	      "long chain 1st");
	CHECK(run6x(IPPROTO_UDP, "2001:db8:8:1::1", 9, 0, &long_chain) == XDP_DROP,
	      "five options headers: class other, limited");
	CHECK(delta(PROT_CNT_UNPARSED6) == 4, "ip6_no_upper");
	CHECK(run6(IPPROTO_UDP, "2001:db8:8:2::1", 9, 0) == XDP_PASS, "plain UDP: not in scope");
	CHECK(run6(IPPROTO_UDP, "2001:db8:8:2::1", 9, 0) == XDP_PASS, "plain UDP: not in scope 2");
	for (size_t cut = sizeof(struct ethhdr); cut < 120; cut++) {
		struct v6x x = {.hbh = 1, .dstopts = 1, .frag = 1, .cut = cut};
		int v = run6x(IPPROTO_TCP, "2001:db8:8:3::1", 80, SYN, &x);

		CHECK(v == XDP_PASS || v == XDP_DROP, "cut at %zu: verdict %d", cut, v);
	}
}

static void test6_read_back(void)
{
	struct protect_cfg *rb = malloc(sizeof(*rb));
	char buf[64];

	CHECK(rb != NULL, "malloc");
	if (!rb)
		return;
	rules_off();
	cfg->base.src6_plen = 56;
	add_prefix(cfg->allow, &cfg->n_allow, "2001:db8:a::/48", 1);
	add_prefix(cfg->allow, &cfg->n_allow, "10.12.0.0/16", 1);
	add_prefix(cfg->acl, &cfg->n_acl, "2001:db8:b::1", PROT_ACL_DENY);
	apply();
	CHECK(protect_read(&maps, rb) == 0, "read");
	CHECK(rb->n_allow == 2 && rb->n_acl == 1, "%u allow %u acl", rb->n_allow, rb->n_acl);
	CHECK(rb->base.src6_plen == 56, "src6_plen %u", rb->base.src6_plen);
	protect_fmt_prefix(buf, sizeof(buf), &rb->acl[0]);
	CHECK(!strcmp(buf, "2001:db8:b::1/128") && rb->acl[0].action == PROT_ACL_DENY, "acl %s",
	      buf);
	/* a rule removed from the config disappears from the map */
	cfg->n_allow = 1; /* keeps 2001:db8:a::/48 */
	cfg->n_acl = 0;
	apply();
	CHECK(protect_read(&maps, rb) == 0 && rb->n_allow == 1 && rb->allow[0].v6 && rb->n_acl == 0,
	      "pruned: %u allow, %u acl", rb->n_allow, rb->n_acl);
	protect_fmt_prefix(buf, sizeof(buf), &rb->allow[0]);
	CHECK(!strcmp(buf, "2001:db8:a::/48"), "allow %s", buf);
	free(rb);
}

/* A program of a build without the IPv6 tables takes IPv4 rules and refuses IPv6 ones. */
static void test6_old_program(void)
{
	struct protect_maps old = maps;

	old.src6 = old.allow6 = old.acl6 = old.syn6 = -1;
	rules_off();
	add_prefix(cfg->acl, &cfg->n_acl, "10.13.0.0/16", PROT_ACL_DENY);
	CHECK(protect_apply(&old, cfg) == 0, "IPv4 rules applied");
	add_prefix(cfg->acl, &cfg->n_acl, "2001:db8:d::/48", PROT_ACL_DENY);
	CHECK(protect_apply(&old, cfg) == -EOPNOTSUPP, "IPv6 rules refused");
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
		.src6 = map_fd(obj, PROT_MAP_SRC6),
		.allow6 = map_fd(obj, PROT_MAP_ALLOW6),
		.acl6 = map_fd(obj, PROT_MAP_ACL6),
		.syn6 = map_fd(obj, PROT_MAP_SYN6),
	};
	if (prog_fd < 0 || served_fd < 0 || maps.cfg < 0 || maps.stats < 0 || maps.allow6 < 0 ||
	    maps.acl6 < 0) {
		fprintf(stderr, "%s: no program or no protection maps in it\n", argv[1]);
		return 1;
	}
	if (xtcp) {
		struct xtcp_serve_key k = {.ip4 = 0, .port = htons(80)};
		struct xtcp_serve_val v = {0};

		struct xtcp_serve6_key k6 = {.port = htons(80)};
		int serve6_fd = map_fd(obj, "xtcp_serve6");

		bpf_map_update_elem(served_fd, &k, &v, BPF_ANY);
		CHECK(serve6_fd >= 0 && !bpf_map_update_elem(serve6_fd, &k6, &v, BPF_ANY),
		      "serve [::]:80");
	} else {
		bpf_map_update_elem(served_fd, &port, &one, BPF_ANY);
	}
	cfg = malloc(sizeof(*cfg));
	if (!cfg)
		return 1;

	for (family = 4; family <= 6; family += 2) {
		printf("the cases over IPv%d\n", family);
		test_defaults_pass_normal_traffic();
		test_src_rate();
		test_allowlist();
		test_port_rules();
		test_global();
		test_syn();
		test_acl();
		test_read_back();
	}
	test6_src_rate();
	test6_nd_mld();
	test6_port_rules();
	test6_families();
	test6_syn();
	test6_malformed();
	test6_read_back();
	test6_old_program();
	test_apply_initial();
	check_verdict_counter();

	free(cfg);
	bpf_object__close(obj);
	return check_summary();
}
