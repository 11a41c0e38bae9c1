/*
 * test_protect_cfg.c - unit tests of the protection settings (xsk/protect_cfg.c):
 * XTCP_* parsing from a fake environment, validation messages naming the
 * variable, the parsers and formatters xtcpctl uses. No root, no BPF.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "protect_cfg.h"
#include "check.h"
#include "fake_env.h"

static int parse(struct protect_cfg *c, char *err, size_t n, const char *const *env)
{
	fake_env = env;
	err[0] = 0;
	return protect_cfg_parse(c, fake_getenv, err, n);
}

static void test_defaults(struct protect_cfg *c)
{
	const char *const env[] = {NULL};
	char err[256];

	CHECK(parse(c, err, sizeof(err), env) == 0, "%s", err);
	CHECK(c->base.src_pps == 20000 && c->base.src_burst == 40000, "src %u/%u", c->base.src_pps,
	      c->base.src_burst);
	CHECK(c->base.global_pps == 0, "global on by default");
	CHECK(c->base.syn_pps == 0, "syn on by default");
	/* ICMP and kernel TCP are never limited by default. */
	CHECK(c->base.scope == (PROT_SCOPE_UDP | PROT_SCOPE_OTHER), "scope %#x", c->base.scope);
	CHECK(!c->base.acl_on && c->base.acl_default == PROT_ACL_ALLOW, "acl");
}

static void test_full_env(struct protect_cfg *c)
{
	const char *const env[] = {
		"XTCP_PROTECT_SRC_RATE=500/1000",
		"XTCP_PROTECT_GLOBAL_RATE=100000",
		"XTCP_PROTECT_SCOPE=udp,icmp",
		"XTCP_PROTECT_PORTS=udp:53=allow,udp:11211=drop,tcp:23=rate:10/20",
		"XTCP_PROTECT_ALLOW=10.0.0.0/8,192.168.1.77",
		"XTCP_SYN_RATE=200/400",
		"XTCP_SERVED_DENY=10.9.0.0/16",
		NULL};
	char err[256];

	CHECK(parse(c, err, sizeof(err), env) == 0, "%s", err);
	CHECK(c->base.src_pps == 500 && c->base.src_burst == 1000, "src");
	CHECK(c->base.global_pps == 100000 && c->base.global_burst == 100000, "global burst = pps");
	CHECK(c->base.scope == (PROT_SCOPE_UDP | PROT_SCOPE_ICMP), "scope %#x", c->base.scope);
	CHECK(c->n_ports == 3, "ports %u", c->n_ports);
	CHECK(c->ports[0].proto == IPPROTO_UDP && c->ports[0].port == 53 &&
		      c->ports[0].action == PROT_PORT_ALLOW,
	      "port 0");
	CHECK(c->ports[1].action == PROT_PORT_DROP && c->ports[1].port == 11211, "port 1");
	CHECK(c->ports[2].proto == IPPROTO_TCP && c->ports[2].action == PROT_PORT_RATE &&
		      c->ports[2].pps == 10 && c->ports[2].burst == 20,
	      "port 2");
	CHECK(c->n_allow == 2 && c->allow[0].addr == htonl(0x0a000000) && c->allow[0].len == 8,
	      "allow 0");
	CHECK(c->allow[1].addr == htonl(0xc0a8014d) && c->allow[1].len == 32, "allow 1");
	CHECK(c->base.syn_pps == 200 && c->base.syn_burst == 400, "syn");
	CHECK(c->n_acl == 1 && c->acl[0].action == PROT_ACL_DENY, "acl");
	CHECK(c->base.acl_on && c->base.acl_default == PROT_ACL_ALLOW,
	      "deny list keeps default allow");
}

static void test_served_allow(struct protect_cfg *c)
{
	const char *const env[] = {"XTCP_SERVED_ALLOW=10.77.0.0/16", NULL};
	const char *const env2[] = {"XTCP_SERVED_ALLOW=10.77.0.0/16", "XTCP_SERVED_DEFAULT=allow",
				    NULL};
	const char *const off[] = {"XTCP_PROTECT=0", "XTCP_PROTECT_SRC_RATE=5", NULL};
	char err[256];

	CHECK(parse(c, err, sizeof(err), env) == 0, "%s", err);
	CHECK(c->base.acl_on && c->base.acl_default == PROT_ACL_DENY, "allow-list denies the rest");
	CHECK(parse(c, err, sizeof(err), env2) == 0, "%s", err);
	CHECK(c->base.acl_default == PROT_ACL_ALLOW, "explicit default wins");
	CHECK(parse(c, err, sizeof(err), off) == 0, "%s", err);
	CHECK(c->base.src_pps == 0 && c->base.scope == 0 && !c->base.acl_on, "XTCP_PROTECT=0");
}

static void expect_bad(struct protect_cfg *c, const char *var, const char *setting)
{
	const char *env[] = {setting, NULL};
	char err[256];

	CHECK(parse(c, err, sizeof(err), env) == -EINVAL, "%s accepted", setting);
	CHECK(strstr(err, var) && strstr(err, "expected"), "message \"%s\" for %s", err, setting);
}

static void test_bad(struct protect_cfg *c)
{
	expect_bad(c, "XTCP_PROTECT_SRC_RATE", "XTCP_PROTECT_SRC_RATE=fast");
	expect_bad(c, "XTCP_PROTECT_SRC_RATE", "XTCP_PROTECT_SRC_RATE=10/");
	expect_bad(c, "XTCP_PROTECT_SRC_RATE", "XTCP_PROTECT_SRC_RATE=-5");
	expect_bad(c, "XTCP_PROTECT_SRC_RATE", "XTCP_PROTECT_SRC_RATE=999999999999");
	expect_bad(c, "XTCP_PROTECT_GLOBAL_RATE", "XTCP_PROTECT_GLOBAL_RATE=1/0");
	expect_bad(c, "XTCP_PROTECT_SCOPE", "XTCP_PROTECT_SCOPE=udp,sctp");
	expect_bad(c, "XTCP_PROTECT_SCOPE", "XTCP_PROTECT_SCOPE=");
	expect_bad(c, "XTCP_PROTECT_PORTS", "XTCP_PROTECT_PORTS=udp:53=maybe");
	expect_bad(c, "XTCP_PROTECT_PORTS", "XTCP_PROTECT_PORTS=udp:70000=drop");
	expect_bad(c, "XTCP_PROTECT_PORTS", "XTCP_PROTECT_PORTS=icmp:1=drop");
	expect_bad(c, "XTCP_PROTECT_PORTS", "XTCP_PROTECT_PORTS=udp:53=allow,,");
	expect_bad(c, "XTCP_PROTECT_PORTS", "XTCP_PROTECT_PORTS=udp:9=rate:0");
	expect_bad(c, "XTCP_PROTECT_ALLOW", "XTCP_PROTECT_ALLOW=10.0.0.0/33");
	expect_bad(c, "XTCP_PROTECT_ALLOW", "XTCP_PROTECT_ALLOW=10.0.0");
	expect_bad(c, "XTCP_SYN_RATE", "XTCP_SYN_RATE=lots");
	expect_bad(c, "XTCP_SERVED_DENY", "XTCP_SERVED_DENY=example.com");
	expect_bad(c, "XTCP_SERVED_DEFAULT", "XTCP_SERVED_DEFAULT=maybe");
	expect_bad(c, "XTCP_PROTECT", "XTCP_PROTECT=yes");
	expect_bad(c, "XTCP_PROTECT_ALLOW", "XTCP_PROTECT_ALLOW=fd77:1::/129");
	expect_bad(c, "XTCP_PROTECT_ALLOW", "XTCP_PROTECT_ALLOW=fd77:::1");
	expect_bad(c, "XTCP_SERVED_ALLOW", "XTCP_SERVED_ALLOW=10.0.0.0/8,fd77:1::/x");
	expect_bad(c, "XTCP_SERVED_DENY", "XTCP_SERVED_DENY=[2001:db8::1]");
	expect_bad(c, "XTCP_PROTECT_SRC6_PREFIX", "XTCP_PROTECT_SRC6_PREFIX=0");
	expect_bad(c, "XTCP_PROTECT_SRC6_PREFIX", "XTCP_PROTECT_SRC6_PREFIX=129");
	expect_bad(c, "XTCP_PROTECT_SRC6_PREFIX", "XTCP_PROTECT_SRC6_PREFIX=/");
}

/* IPv6 prefixes wherever IPv4 ones are accepted, in the same lists. */
static void test_ipv6(struct protect_cfg *c)
{
	const char *const env[] = {"XTCP_PROTECT_ALLOW=10.0.0.0/8,fd77:1::/64,2001:db8::1",
				   "XTCP_SERVED_DENY=2001:db8:bad::/48",
				   "XTCP_PROTECT_SRC6_PREFIX=56", NULL};
	struct protect_prefix p, q;
	char err[256], buf[64];

	CHECK(parse(c, err, sizeof(err), env) == 0, "%s", err);
	CHECK(c->n_allow == 3 && !c->allow[0].v6 && c->allow[1].v6 && c->allow[2].v6, "allow");
	protect_fmt_prefix(buf, sizeof(buf), &c->allow[1]);
	CHECK(!strcmp(buf, "fd77:1::/64"), "%s", buf);
	protect_fmt_prefix(buf, sizeof(buf), &c->allow[2]);
	CHECK(!strcmp(buf, "2001:db8::1/128"), "a bare address is a /128: %s", buf);
	CHECK(c->n_acl == 1 && c->acl[0].v6 && c->acl[0].len == 48 &&
		      c->acl[0].action == PROT_ACL_DENY,
	      "served deny");
	CHECK(c->base.src6_plen == 56, "src6 prefix %u", c->base.src6_plen);

	CHECK(protect_parse_prefix("2001:db8:1:2:3:4:5:6/36", &p) == 0 && p.len == 36, "parse");
	protect_fmt_prefix(buf, sizeof(buf), &p);
	CHECK(!strcmp(buf, "2001:db8::/36"), "host bits cleared: %s", buf);
	CHECK(protect_parse_prefix("::/0", &p) == 0 && p.len == 0 && p.v6, "::/0");
	CHECK(protect_parse_prefix("::ffff:10.0.0.1", &p) == 0 && p.v6 && p.len == 128, "mapped");
	/* the same prefix in the other family is another entry */
	protect_cfg_defaults(c);
	protect_parse_prefix("10.0.0.0/8", &p);
	protect_parse_prefix("a00::/8", &q);
	CHECK(protect_cfg_add_prefix(c->allow, &c->n_allow, &p) == 0 &&
		      protect_cfg_add_prefix(c->allow, &c->n_allow, &q) == 0 && c->n_allow == 2,
	      "two families, %u entries", c->n_allow);
	CHECK(protect_cfg_del_prefix(c->allow, &c->n_allow, &q) == 0 && c->n_allow == 1 &&
		      !c->allow[0].v6,
	      "del IPv6 leaves IPv4");
	CHECK(c->base.src6_plen == PROT_SRC6_PLEN_DEFAULT, "default /64");
}

static void test_parsers(struct protect_cfg *c)
{
	struct protect_prefix p, q;
	struct protect_port pp;
	char buf[64];
	uint32_t pps, burst, scope;

	CHECK(protect_parse_prefix("10.1.2.3/8", &p) == 0 && p.addr == htonl(0x0a000000),
	      "host bits cleared");
	protect_fmt_prefix(buf, sizeof(buf), &p);
	CHECK(!strcmp(buf, "10.0.0.0/8"), "%s", buf);
	CHECK(protect_parse_prefix("0.0.0.0/0", &p) == 0 && p.len == 0 && p.addr == 0, "default");
	CHECK(protect_parse_rate("off", &pps, &burst) == 0 && pps == 0, "off");
	protect_fmt_rate(buf, sizeof(buf), 100, 250);
	CHECK(!strcmp(buf, "100/250"), "%s", buf);
	CHECK(protect_parse_port("udp:123=rate:5/9", &pp) == 0, "port");
	protect_fmt_port(buf, sizeof(buf), &pp);
	CHECK(!strcmp(buf, "udp:123=rate:5/9"), "%s", buf);
	CHECK(protect_parse_scope("all", &scope) == 0 && scope == PROT_SCOPE_ALL, "all");
	protect_fmt_scope(buf, sizeof(buf), PROT_SCOPE_UDP | PROT_SCOPE_TCP);
	CHECK(!strcmp(buf, "udp,tcp"), "%s", buf);

	/* add replaces the same key, del removes, del of a missing key is -ENOENT */
	protect_cfg_defaults(c);
	protect_parse_port("udp:53=allow", &pp);
	CHECK(protect_cfg_add_port(c, &pp) == 0 && c->n_ports == 1, "add");
	protect_parse_port("udp:53=drop", &pp);
	CHECK(protect_cfg_add_port(c, &pp) == 0 && c->n_ports == 1 &&
		      c->ports[0].action == PROT_PORT_DROP,
	      "replace");
	CHECK(protect_cfg_del_port(c, IPPROTO_UDP, 53) == 0 && c->n_ports == 0, "del");
	CHECK(protect_cfg_del_port(c, IPPROTO_UDP, 53) == -ENOENT, "del missing");
	protect_parse_prefix("10.0.0.0/8", &q);
	CHECK(protect_cfg_add_prefix(c->allow, &c->n_allow, &q) == 0, "add prefix");
	CHECK(protect_cfg_del_prefix(c->allow, &c->n_allow, &q) == 0 && c->n_allow == 0, "del");
	CHECK(protect_cfg_del_prefix(c->allow, &c->n_allow, &q) == -ENOENT, "del missing");
}

int main(void)
{
	struct protect_cfg *c = malloc(sizeof(*c));

	if (!c)
		return 1;
	test_defaults(c);
	test_full_env(c);
	test_served_allow(c);
	test_bad(c);
	test_parsers(c);
	test_ipv6(c);
	free(c);
	return check_summary();
}
