/*
 * test_launch.c - unit tests of the xtcp launcher's parsing (tools/launch.c):
 * options and their forms, profiles and precedence, bad input naming the
 * option and the accepted form, validation by the library's parsers, and the
 * choice of interface from a routing table. No root, no network.
 */
#include "fake_env.h"
#include "launch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			passed++;                                                                  \
		} else {                                                                           \
			failed++;                                                                  \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);         \
		}                                                                                  \
	} while (0)

#define ARGV(...)	   ((char *[]){"xtcp", __VA_ARGS__, NULL})
#define ARGC(...)	   ((int)(sizeof((char *[]){"xtcp", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(l, err, ...) launch_parse(l, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err, sizeof(err))

static const char *val(const struct launch *l, const char *var)
{
	static char buf[64];

	return launch_value(l, var, fake_getenv, buf, sizeof(buf));
}

static void test_forms(void)
{
	struct launch l;
	char err[512];
	char **argv = ARGV("--iface", "veth0", "--ports=80,443", "--strict", "--", "nginx", "-g",
			   "daemon off;");

	CHECK(launch_parse(&l, 9, argv, err, sizeof(err)) == 0);
	CHECK(l.prog == 6 && !strcmp(argv[l.prog], "nginx"));
	CHECK(!strcmp(val(&l, "XTCP_IFACE"), "veth0"));
	CHECK(!strcmp(val(&l, "XTCP_PORTS"), "80,443"));
	CHECK(!strcmp(val(&l, "XTCP_STRICT"), "1"));
	CHECK(val(&l, "XTCP_LOG") == NULL);

	/* The first non-option is the program; what follows is its own. */
	CHECK(PARSE(&l, err, "--ports", "80", "nginx", "--ports", "90") == 0);
	CHECK(l.prog == 3 && !strcmp(val(&l, "XTCP_PORTS"), "80"));
	/* Flags: alone 1, or =0 / =1. */
	CHECK(PARSE(&l, err, "--stats=0", "--busy-poll=1", "true") == 0);
	CHECK(!strcmp(val(&l, "XTCP_STATS"), "0") && !strcmp(val(&l, "XTCP_BUSY_POLL"), "1"));
	/* The last of a repeated option wins. */
	CHECK(PARSE(&l, err, "--log", "info", "--log=debug", "true") == 0);
	CHECK(!strcmp(val(&l, "XTCP_LOG"), "debug"));
	/* Every option of the table parses in both forms. */
	for (unsigned i = 0; i < launch_n_opts; i++) {
		char opt[64], eq[80];
		const char *v = launch_opts[i].arg ? "x" : "1";

		snprintf(opt, sizeof(opt), "--%s", launch_opts[i].name);
		snprintf(eq, sizeof(eq), "--%s=%s", launch_opts[i].name, v);
		if (launch_opts[i].arg)
			CHECK(PARSE(&l, err, opt, "x", "true") == 0 && l.val[i] &&
			      !strcmp(l.val[i], "x"));
		else
			CHECK(PARSE(&l, err, opt, "true") == 0 && !strcmp(l.val[i], "1"));
		CHECK(PARSE(&l, err, eq, "true") == 0 && !strcmp(l.val[i], v));
		CHECK(!strncmp(launch_opts[i].var, "XTCP_", 5));
	}
	CHECK(PARSE(&l, err, "--help") == 0 && l.help);
	CHECK(PARSE(&l, err, "--profiles") == 0 && l.list_profiles);
	CHECK(PARSE(&l, err, "--dry-run", "--ports", "80") == 0 && l.dry_run && !l.prog);
	CHECK(PARSE(&l, err, "--user", "postgres", "true") == 0 && !strcmp(l.user, "postgres") &&
	      l.prog == 3);
	CHECK(PARSE(&l, err, "--user=www-data:adm", "true") == 0 &&
	      !strcmp(l.user, "www-data:adm"));
	CHECK(PARSE(&l, err, "--ports", "80", "true") == 0 && !l.user);
	/* What --user keeps: exactly the four capabilities (docs/install.md). */
	CHECK(launch_user_caps() == (1ULL << 12 | 1ULL << 13 | 1ULL << 14 | 1ULL << 21));
}

/* err names what, and no other option. */
static int names(const char *err, const char *what)
{
	return strstr(err, what) != NULL;
}

static void test_bad_options(void)
{
	struct launch l;
	char err[512];

	CHECK(PARSE(&l, err, "--bogus", "true") == -EINVAL);
	CHECK(names(err, "unknown option --bogus"));
	CHECK(PARSE(&l, err, "-x", "true") == -EINVAL && names(err, "unknown option -x"));
	CHECK(PARSE(&l, err, "--ports") == -EINVAL);
	CHECK(names(err, "--ports needs a value: LIST"));
	CHECK(PARSE(&l, err, "--ports=", "true") == -EINVAL && names(err, "--ports needs a value"));
	CHECK(PARSE(&l, err, "--strict=yes", "true") == -EINVAL);
	CHECK(names(err, "--strict=\"yes\" is invalid") && names(err, "=0 or =1"));
	CHECK(PARSE(&l, err, "--ports", "80") == -EINVAL && names(err, "no program to run"));
	CHECK(PARSE(&l, err, "--profile", "fast", "true") == -EINVAL);
	CHECK(names(err, "--profile \"fast\"") && names(err, "latency, throughput or default"));
	CHECK(PARSE(&l, err, "--profile") == -EINVAL && names(err, "--profile needs a value"));
	CHECK(PARSE(&l, err, "--user") == -EINVAL && names(err, "--user needs a value"));
	CHECK(PARSE(&l, err, "--user=:adm", "true") == -EINVAL && names(err, "NAME[:GROUP]"));
	CHECK(PARSE(&l, err, "--users", "x", "true") == -EINVAL && names(err, "--users"));
	/* A prefix of an option is not that option. */
	CHECK(PARSE(&l, err, "--port", "80", "true") == -EINVAL && names(err, "--port "));
}

static void test_profiles(void)
{
	static const char *const env[] = {"XTCP_SPIN_US=7", "XTCP_LOG=info", NULL};
	struct launch l;
	char err[512];
	unsigned i;

	fake_env = env;
	CHECK(launch_n_profiles == 3);
	for (i = 0; i < launch_n_profiles; i++)
		CHECK(!strcmp(launch_profiles[i].name, "latency") ||
		      !strcmp(launch_profiles[i].name, "throughput") ||
		      !strcmp(launch_profiles[i].name, "default"));
	CHECK(PARSE(&l, err, "--profile", "latency", "true") == 0);
	CHECK(!strcmp(val(&l, "XTCP_BUSY_POLL"), "1"));
	CHECK(!strcmp(val(&l, "XTCP_SPIN_US"), "50")); /* profile over the environment */
	CHECK(!strcmp(val(&l, "XTCP_LOG"), "info"));   /* not in the profile: inherited */
	CHECK(PARSE(&l, err, "--spin-us", "3", "--profile=latency", "true") == 0);
	CHECK(!strcmp(val(&l, "XTCP_SPIN_US"), "3")); /* option over the profile */
	CHECK(PARSE(&l, err, "--profile", "throughput", "true") == 0);
	CHECK(!strcmp(val(&l, "XTCP_FRAMES"), "8192"));
	CHECK(!strcmp(val(&l, "XTCP_SPIN_US"), "7"));
	CHECK(PARSE(&l, err, "--profile", "default", "true") == 0);
	CHECK(!strcmp(val(&l, "XTCP_SPIN_US"), "7") && !val(&l, "XTCP_BUSY_POLL"));
	/* Every profile passes the library's validation. */
	for (i = 0; i < launch_n_profiles; i++) {
		CHECK(PARSE(&l, err, "--iface", "eth1", "--ports", "80", "--profile",
			    (char *)launch_profiles[i].name, "true") == 0);
		CHECK(launch_validate(&l, fake_getenv, err, sizeof(err)) == 0);
	}
	fake_env = NULL;
}

/* One bad value per option: the message names the option, the form, the variable. */
static void test_validate(void)
{
	static const struct {
		const char *opt, *bad, *form;
	} cases[] = {
		{"--ports", "8o", "ports and ranges like 80,8080"},
		{"--ports", "70000", "1-65535"},
		{"--connect-ports", "1-", "ports and ranges"},
		{"--local-ports", "80-90", "MIN-MAX within 1024-65535"},
		{"--iface", "a/b", "interface name"},
		{"--log", "loud", "error, warn, info or debug"},
		{"--spin-us", "-1", "microseconds 0-1000000"},
		{"--queues", "two", "auto, one or all"},
		{"--xdp-mode", "skb", "native or generic"},
		{"--frames", "12", "UMEM frames 256-1048576"},
		{"--max-socks", "1x", "sockets 16-4194304"},
		{"--queue-wait-ms", "60001", "milliseconds 0-60000"},
		{"--exit-linger-ms", "ms", "milliseconds 0-60000"},
		{"--protect-src-rate", "fast", "PPS[/BURST] or off"},
		{"--protect-global-rate", "1/x", "PPS[/BURST] or off"},
		{"--protect-scope", "web", "udp,tcp,icmp,other"},
		{"--protect-ports", "udp:53=maybe", "udp|tcp:PORT="},
		{"--protect-allow", "10.0.0.300", "A.B.C.D[/LEN]"},
		{"--syn-rate", "many", "PPS[/BURST] or off"},
		{"--served-allow", "10.0.0.0/33", "A.B.C.D[/LEN]"},
		{"--served-deny", "host", "A.B.C.D[/LEN]"},
		{"--served-default", "maybe", "allow or deny"},
	};
	static const char *const env_bad[] = {"XTCP_FRAMES=3", NULL};
	static const char *const env_ok[] = {"XTCP_PORTS=8080", "XTCP_IFACE=eth1", NULL};
	struct launch l;
	char err[512], want[96];
	unsigned i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(PARSE(&l, err, "--iface", "eth1", "--ports", "80", (char *)cases[i].opt,
			    (char *)cases[i].bad, "true") == 0);
		CHECK(launch_validate(&l, fake_getenv, err, sizeof(err)) == -EINVAL);
		snprintf(want, sizeof(want), "xtcp: %s \"%s\" is invalid: expected ", cases[i].opt,
			 cases[i].bad);
		if (!names(err, want) || !names(err, cases[i].form) || !names(err, "(XTCP_"))
			fprintf(stderr, "  %s %s -> %s\n", cases[i].opt, cases[i].bad, err);
		CHECK(names(err, want) && names(err, cases[i].form) && names(err, "(XTCP_"));
	}
	/* Good values of the same options pass. */
	CHECK(PARSE(&l, err, "--iface", "eth1", "--ports", "80,8080,9000-9010", "--connect-ports",
		    "443", "--local-ports", "40000-50000", "--log", "debug", "--spin-us", "10",
		    "--queues", "one", "--xdp-mode", "generic", "--frames", "8192", "--max-socks",
		    "1024", "--queue-wait-ms", "0", "--exit-linger-ms", "10", "--stats=0",
		    "--protect", "--protect-src-rate", "100/200", "--protect-global-rate", "off",
		    "--protect-scope", "udp,icmp", "--protect-ports", "udp:53=allow",
		    "--protect-allow", "10.0.0.0/8", "--syn-rate", "50", "--served-allow",
		    "10.1.0.0/16", "--served-deny", "10.1.2.0/24", "--served-default", "deny",
		    "--strict", "--busy-poll", "true") == 0);
	CHECK(launch_validate(&l, fake_getenv, err, sizeof(err)) == 0);
	/* Nothing to serve. */
	CHECK(PARSE(&l, err, "--iface", "eth1", "true") == 0);
	CHECK(launch_validate(&l, fake_getenv, err, sizeof(err)) == -EINVAL);
	CHECK(names(err, "--ports LIST and/or --connect-ports LIST"));
	/* A bad inherited variable is named as a variable. */
	fake_env = env_bad;
	CHECK(PARSE(&l, err, "--iface", "eth1", "--ports", "80", "true") == 0);
	CHECK(launch_validate(&l, fake_getenv, err, sizeof(err)) == -EINVAL);
	CHECK(names(err, "XTCP_FRAMES (from the environment) is invalid: expected UMEM frames"));
	/* An option fixes it. */
	CHECK(PARSE(&l, err, "--iface", "eth1", "--ports", "80", "--frames", "4096", "true") == 0);
	CHECK(launch_validate(&l, fake_getenv, err, sizeof(err)) == 0);
	/* The inherited variables count: XTCP_IFACE/XTCP_PORTS alone suffice. */
	fake_env = env_ok;
	CHECK(PARSE(&l, err, "true") == 0);
	CHECK(launch_validate(&l, fake_getenv, err, sizeof(err)) == 0);
	fake_env = NULL;
}

static int iface_from(const char *table, char *out, const char **why, char *err, size_t n)
{
	FILE *f = fmemopen((void *)table, strlen(table), "r");
	int rc = launch_iface_auto(f, out, 16, why, err, n);

	if (f)
		fclose(f);
	return rc;
}

#define HDR	  "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
#define DFLT(ifn) ifn "\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
#define NET(ifn)  ifn "\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
#define NET2(ifn) ifn "\t00014D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
#define DOWN(ifn) ifn "\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"

static void test_iface_auto(void)
{
	char out[16], err[512];
	const char *why = NULL;

	CHECK(iface_from(HDR DFLT("eth0") NET("eth0") NET2("eth1"), out, &why, err, sizeof(err)) ==
	      0);
	CHECK(!strcmp(out, "eth0") && names(why, "default route"));
	/* Test bed: no default route, one veth with a route. */
	CHECK(iface_from(HDR NET2("veth0"), out, &why, err, sizeof(err)) == 0);
	CHECK(!strcmp(out, "veth0") && names(why, "only interface"));
	CHECK(iface_from(HDR DFLT("eth0") DFLT("eth1"), out, &why, err, sizeof(err)) == -EINVAL);
	CHECK(names(err, "--iface is needed") && names(err, "eth0, eth1"));
	CHECK(iface_from(HDR NET("eth0") NET2("eth1"), out, &why, err, sizeof(err)) == -EINVAL);
	CHECK(names(err, "no default route") && names(err, "eth0, eth1"));
	CHECK(iface_from(HDR, out, &why, err, sizeof(err)) == -EINVAL);
	CHECK(names(err, "no interface has an IPv4 route"));
	CHECK(iface_from(HDR NET("lo") DOWN("eth9"), out, &why, err, sizeof(err)) == -EINVAL);
	CHECK(iface_from("", out, &why, err, sizeof(err)) == -EINVAL);
	CHECK(names(err, "cannot read the IPv4 routes"));
	CHECK(iface_from(HDR "garbage line\n" NET2("veth0"), out, &why, err, sizeof(err)) == 0);
	CHECK(!strcmp(out, "veth0"));
	CHECK(launch_iface_auto(NULL, out, sizeof(out), &why, err, sizeof(err)) == -EINVAL);
}

int main(void)
{
	test_forms();
	test_bad_options();
	test_profiles();
	test_validate();
	test_iface_auto();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
