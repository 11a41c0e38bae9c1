/*
 * test_xp_prog.c - xp_prog_* on a real interface (argv[1], a veth of the
 * test bed; run by xp_prog_test.sh): attach in native mode through libxdp
 * (alone: the dispatcher is refused here), adopt by a second live process,
 * stay attached while a user lives, replace what a killed process left,
 * detach when the last user goes, generic mode on request, bad input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <linux/if_link.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>

#include "xp.h"
#include "check.h"

static uint32_t attached_id(const char *ifname)
{
	struct bpf_xdp_query_opts q = {.sz = sizeof(q)};

	if (bpf_xdp_query((int)if_nametoindex(ifname), 0, &q))
		return 0;
	return q.prog_id;
}

/* Child: adopt the program, serve a port, exit as told. Returns via status. */
static int child_adopt(const char *ifname, int clean_exit)
{
	struct xp_prog_opts o = {.log_level = 2};
	struct xp_prog *p;
	int err = xp_prog_attach(ifname, &o, &p);

	if (err)
		return 10;
	if (xp_prog_serve(p, 0, 4242, true))
		return 11;
	if (clean_exit)
		xp_prog_detach(p);
	return 0; /* without detach: as if killed */
}

/*
 * A user killed but not yet reaped (a zombie) is dead: kill -9 then a
 * restart must replace its program, and a zombie child keeps nothing.
 */
static void zombie_user(const char *ifname)
{
	struct xp_prog_opts opts = {.log_level = 1};
	struct xp_prog *prog;
	int c2p[2], st;
	uint32_t id;
	char c;
	pid_t pid;

	if (pipe(c2p))
		return;
	pid = fork();
	if (pid == 0) {
		if (xp_prog_attach(ifname, &opts, &prog) || write(c2p[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	CHECK(read(c2p[0], &c, 1) == 1, "zombie-to-be attached");
	id = attached_id(ifname);
	kill(pid, SIGKILL);
	poll(NULL, 0, 50); /* not reaped yet: a zombie */
	CHECK(xp_prog_attach(ifname, &opts, &prog) == 0, "attach over a zombie's program");
	CHECK(attached_id(ifname) != id, "the zombie's program was replaced, not adopted");
	xp_prog_detach(prog); /* our zombie child must not keep it */
	CHECK(attached_id(ifname) == 0, "detached despite the zombie child");
	waitpid(pid, &st, 0);
	close(c2p[0]);
	close(c2p[1]);
}

static int run_child(const char *ifname, int clean_exit)
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_adopt(ifname, clean_exit));
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/*
 * nginx in daemon mode: the process that attached forks and exits; the child
 * registers as a user and keeps the program attached, then detaches it last.
 */
static void child_keeps_program(const char *ifname)
{
	struct xp_prog_opts opts = {.log_level = 1};
	int c2p[2], p2c[2], st = -1;
	struct xp_prog *prog;
	uint32_t id;
	char c = 0;
	pid_t pid;

	if (xp_prog_attach(ifname, &opts, &prog)) {
		CHECK(0, "attach for the fork case");
		return;
	}
	id = attached_id(ifname);
	if (pipe(c2p) || pipe(p2c))
		return;
	pid = fork();
	if (pid == 0) {
		int rc = xp_prog_add_user(prog) ? 10 : 0;

		if (write(c2p[1], "r", 1) != 1 || read(p2c[0], &c, 1) != 1)
			_exit(11);
		if (!rc && attached_id(ifname) != id)
			rc = 12;
		xp_prog_detach(prog); /* the last user now */
		_exit(rc ? rc : attached_id(ifname) == 0 ? 0 : 13);
	}
	CHECK(read(c2p[0], &c, 1) == 1, "child registered");
	xp_prog_detach(prog);
	CHECK(attached_id(ifname) == id, "the parent left, the program stays for the child");
	CHECK(write(p2c[1], "g", 1) == 1, "go");
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child saw it kept, then detached it (%d)",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	CHECK(attached_id(ifname) == 0, "gone after the last user");
	close(c2p[0]);
	close(c2p[1]);
	close(p2c[0]);
	close(p2c[1]);
}

/*
 * The race of nginx's daemon mode: the parent exit()s right after fork,
 * before its child registered. A live child keeps the program; the child's
 * own detach (the shim's atexit) removes it later.
 */
static void unregistered_child(const char *ifname)
{
	struct xp_prog_opts opts = {.log_level = 1};
	int p2c[2], st = -1;
	struct xp_prog *prog;
	uint32_t id;
	char c = 0;
	pid_t pid;

	if (xp_prog_attach(ifname, &opts, &prog) || pipe(p2c)) {
		CHECK(0, "attach for the daemon case");
		return;
	}
	id = attached_id(ifname);
	pid = fork();
	if (pid == 0) {
		if (read(p2c[0], &c, 1) != 1)
			_exit(11);
		xp_prog_detach(prog);
		_exit(attached_id(ifname) == 0 ? 0 : 12);
	}
	xp_prog_detach(prog);
	CHECK(attached_id(ifname) == id, "kept for a live child that did not register yet");
	CHECK(write(p2c[1], "g", 1) == 1, "go");
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child removed it (%d)",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	close(p2c[0]);
	close(p2c[1]);
}

/* Another XDP program alone on the interface is left alone: -EBUSY. */
static void foreign_program(const char *ifname)
{
	struct bpf_insn pass[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_EXIT},
	};
	struct xp_prog_opts opts = {.log_level = 1};
	int ifindex = (int)if_nametoindex(ifname);
	struct xp_prog *prog;
	int fd, err;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "other_xdp", "GPL", pass, 2, NULL);
	CHECK(fd >= 0, "load a foreign program: %s", strerror(errno));
	if (fd < 0)
		return;
	CHECK(bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL) == 0, "attach it");
	err = xp_prog_attach(ifname, &opts, &prog);
	CHECK(err == -EBUSY, "xtcp refuses to share without a dispatcher: %s", strerror(-err));
	if (!err)
		xp_prog_detach(prog);
	CHECK(attached_id(ifname) != 0, "the foreign program is still there");
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	close(fd);
	CHECK(attached_id(ifname) == 0, "foreign program removed");
}

/*
 * xp_prog_kflow_sweep(): a port just served stays on the lookup for the
 * grace period, is cleared once no kernel connection is on it, goes back
 * on while one is (even one the program never saw start: a connection to
 * our own address runs over lo), and is cleared again after it closed.
 * xp_prog_kflow_unclean() reads the same marks without a dump.
 */
static void kflow_sweep(const char *ifname)
{
	struct xp_prog_opts opts = {.log_level = 0};
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = inet_addr("10.77.1.1"),
				.sin_port = htons(4343)};
	struct xp_prog *prog;
	int err, l, c, acc = -1;

	err = xp_prog_attach(ifname, &opts, &prog);
	CHECK(err == 0, "attach: %s", strerror(-err));
	if (err)
		return;
	CHECK(xp_prog_serve(prog, 0, 4343, true) == 0, "serve 4343");
	CHECK(xp_prog_kflow_unclean(prog) == 1, "just served: unclean before any sweep");
	CHECK(xp_prog_kflow_sweep(prog) == 1, "just served: on the lookup for the grace period");
	poll(NULL, 0, 150);
	CHECK(xp_prog_kflow_sweep(prog) == 0, "no kernel connection: cleared");
	CHECK(xp_prog_kflow_unclean(prog) == 0, "cleared: the counters agree");
	CHECK(xp_prog_kflow_sweep(prog) == 0, "stays cleared");
	CHECK(xp_prog_serve(prog, 0, 4343, true) == 0, "served again");
	CHECK(xp_prog_kflow_unclean(prog) == 1, "served again: unclean without a dump");
	poll(NULL, 0, 150);
	CHECK(xp_prog_kflow_sweep(prog) == 0, "cleared again after the grace period");

	l = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0 && c >= 0 &&
		      !setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) &&
		      !bind(l, (struct sockaddr *)&a, sizeof(a)) && !listen(l, 4),
	      "kernel listener: %s", strerror(errno));
	CHECK(xp_prog_kflow_sweep(prog) == 0, "a listener is no kernel flow");
	CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0, "kernel connection");
	acc = accept(l, NULL, NULL);
	CHECK(xp_prog_kflow_unclean(prog) == 0, "a flow it never saw: only a dump finds it");
	CHECK(xp_prog_kflow_sweep(prog) == 1, "a kernel connection on the port: on the lookup");
	CHECK(xp_prog_kflow_unclean(prog) == 1, "after the dump: unclean");
	close(c); /* the client's end takes the TIME-WAIT, on its own port */
	if (acc >= 0)
		close(acc);
	poll(NULL, 0, 50);
	CHECK(xp_prog_kflow_sweep(prog) == 0, "closed: cleared again");
	close(l);
	xp_prog_detach(prog);
}

int main(int argc, char **argv)
{
	struct xp_prog_opts opts = {.log_level = 2};
	struct xp_prog *prog, *p2;
	const char *ifname = argc > 1 ? argv[1] : "";
	uint32_t id1, id2;
	int err;

	check_root_or_skip("attaching XDP");
	CHECK(xp_prog_attach("no-such-if0", &opts, &prog) == -ENODEV, "bad interface");
	CHECK(xp_prog_attach("", &opts, &prog) == -EINVAL, "empty name");

	err = xp_prog_attach(ifname, &opts, &prog);
	CHECK(err == 0, "attach %s: %s", ifname, strerror(-err));
	if (err)
		return check_summary();
	CHECK(!strcmp(xp_prog_mode(prog), "native"), "mode %s", xp_prog_mode(prog));
	CHECK(xp_prog_ifindex(prog) == (int)if_nametoindex(ifname), "ifindex");
	id1 = attached_id(ifname);
	CHECK(id1 != 0, "a program is attached");
	CHECK(xp_prog_serve(prog, inet_addr("10.77.1.1"), 80, true) == 0, "serve");
	CHECK(xp_prog_serve(prog, 0, 0, true) == -EINVAL, "port 0");
	CHECK(xp_prog_serve(prog, 0, 81, false) == 0, "unserve what is not served");
	struct in6_addr a6;

	inet_pton(AF_INET6, "fd77:1::1", &a6);
	CHECK(xp_prog_serve6(prog, &a6, 80, true) == 0, "serve IPv6");
	CHECK(xp_prog_serve6(prog, NULL, 80, true) == 0, "serve IPv6 any");
	CHECK(xp_prog_serve6(prog, NULL, 0, true) == -EINVAL, "IPv6 port 0");
	CHECK(xp_prog_serve6(prog, &a6, 80, false) == 0, "unserve IPv6");
	CHECK(xp_prog_serve6(prog, &a6, 81, false) == 0, "unserve IPv6 what is not served");
	CHECK(xp_prog_kflow_sweep(prog) >= 0, "sweep over both families");
	CHECK(xp_prog_set_local_ports(prog, 50000, 50100) == 0, "local ports");
	CHECK(xp_prog_set_local_ports(prog, 60000, 50000) == -EINVAL, "inverted range");
	CHECK(xp_prog_set_local_ports(prog, 0, 0) == 0, "no range");

	/* A second process adopts the live program, and leaving keeps it attached. */
	CHECK(run_child(ifname, 1) == 0, "child adopts and detaches");
	CHECK(attached_id(ifname) == id1, "still attached after the child left");

	/* Another handle in this same process adopts too (we are a live user). */
	err = xp_prog_attach(ifname, &opts, &p2);
	CHECK(err == -0, "second handle: %s", strerror(-err));
	if (!err)
		xp_prog_release(p2);
	CHECK(attached_id(ifname) == id1, "still attached after release");

	xp_prog_detach(prog);
	CHECK(attached_id(ifname) == 0, "detached by the last user");

	/* A process dies without detaching: the next attach replaces its program. */
	CHECK(run_child(ifname, 0) == 0, "child attaches and dies");
	id2 = attached_id(ifname);
	CHECK(id2 != 0, "the dead child's program stays attached");
	err = xp_prog_attach(ifname, &opts, &prog);
	CHECK(err == 0, "attach over a stale program: %s", strerror(-err));
	if (!err) {
		CHECK(attached_id(ifname) != id2 && attached_id(ifname) != 0, "stale replaced");
		xp_prog_detach(prog);
	}
	CHECK(attached_id(ifname) == 0, "detached");

	child_keeps_program(ifname);
	unregistered_child(ifname);
	CHECK(attached_id(ifname) == 0, "nothing left");
	foreign_program(ifname);
	zombie_user(ifname);
	kflow_sweep(ifname);
	CHECK(attached_id(ifname) == 0, "detached (kflow)");

	opts.force_generic = true;
	err = xp_prog_attach(ifname, &opts, &prog);
	CHECK(err == 0, "generic attach: %s", strerror(-err));
	if (!err) {
		CHECK(!strcmp(xp_prog_mode(prog), "generic"), "mode %s", xp_prog_mode(prog));
		xp_prog_detach(prog);
	}
	CHECK(attached_id(ifname) == 0, "detached (generic)");
	return check_summary();
}
