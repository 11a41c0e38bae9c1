/*
 * xtcpctl_metrics.c - every counter xtcpctl knows, in the Prometheus text
 * exposition format (version 0.0.4):
 *
 *   xtcpctl metrics                          once, on stdout
 *   xtcpctl metrics --listen ADDR:PORT       HTTP, GET /metrics, one request at a time
 *   xtcpctl metrics --textfile PATH [--interval SEC]   for node_exporter's textfile collector
 *
 * A scrape reads the same sources as `xtcpctl status`, without stopping
 * anything: the counters of the XDP program on each interface, the AF_XDP
 * sockets (sock_diag), the statistics each xtcp process publishes in
 * /dev/shm. snapshot_take() gathers them, then emit() writes one family
 * at a time (the format wants a family's samples together, after its one
 * # HELP and # TYPE line); families are written even without samples, so
 * the set of names never depends on what runs.
 *
 * The listener is a plain kernel socket in a blocking loop: xtcpctl is
 * never run under the shim, and a scrape every few seconds needs no more.
 * Memory: each scrape's body is built in an open_memstream buffer and freed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "protect_cfg.h"
#include "shim_stats.h"
#include "stack.h"
#include "xtcp_xdp.h"
#include "xtcpctl.h"

#define M_MAX_IFS   64
#define M_MAX_PROCS 256
#define M_VERDICTS  3 /* the first XTCP_STATS entries are the verdicts (xtcp_xdp.h) */

#define STAT_NAME_(e, name) [e] = name,
static const char *const steer_names[XTCP_STAT__COUNT] = {XTCP_STATS(STAT_NAME_)};
#undef STAT_NAME_

static const char *const fb_names[SHIM_FB__COUNT] = {
	[SHIM_FB_NO_PROGRAM] = "no_xdp_program", [SHIM_FB_NO_ENGINE] = "no_af_xdp_queue",
	[SHIM_FB_NOT_INET] = "not_ipv4_stream",	 [SHIM_FB_FORKED] = "used_after_fork",
	[SHIM_FB_STACK] = "stack_refused",	 [SHIM_FB_KERNEL_SYN] = "kernel_handshake",
};

struct m_iface {
	char name[IF_NAMESIZE];
	bool has_steer, has_prot;
	uint64_t steer[XTCP_STAT_SLOTS];
	uint64_t prot[PROT_CNT_MAX];
};

struct snapshot {
	struct m_iface *ifs;
	int n_ifs;
	struct xsk_sock *xsk;
	int n_xsk;
	struct shm_proc *procs;
	int n_procs;
};

static void snapshot_take(struct snapshot *s)
{
	struct if_nameindex *all = if_nameindex(), *i;

	memset(s, 0, sizeof(*s));
	s->ifs = calloc(M_MAX_IFS, sizeof(*s->ifs));
	for (i = all; s->ifs && i && i->if_index && s->n_ifs < M_MAX_IFS; i++) {
		struct m_iface *m = &s->ifs[s->n_ifs];

		if (xtcpctl_xdp_counters((int)i->if_index, m->steer, &m->has_steer, m->prot,
					 &m->has_prot) ||
		    (!m->has_steer && !m->has_prot))
			continue; /* no xtcp program on this interface */
		snprintf(m->name, sizeof(m->name), "%s", i->if_name);
		s->n_ifs++;
	}
	if (all)
		if_freenameindex(all);
	s->n_xsk = xsk_diag_list(&s->xsk);
	if (s->n_xsk < 0)
		s->n_xsk = 0; /* no xsk_diag in this kernel: the processes' own figures remain */
	else
		xsk_diag_owners(s->xsk, s->n_xsk);
	s->procs = calloc(M_MAX_PROCS, sizeof(*s->procs));
	s->n_procs = s->procs ? xtcpctl_shm_open(s->procs, M_MAX_PROCS) : 0;
}

static void snapshot_free(struct snapshot *s)
{
	xtcpctl_shm_close(s->procs, s->n_procs);
	free(s->procs);
	free(s->xsk);
	free(s->ifs);
}

/* --- the writer --- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped (the format's three). */
static void label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*v, f);
	}
}

/* name{k="v",...} value; labels as NULL-terminated key, value pairs. */
static void sample(FILE *f, const char *name, uint64_t v, const char *const *labels)
{
	int i;

	fputs(name, f);
	for (i = 0; labels[i]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "{", labels[i]);
		label_value(f, labels[i + 1]);
		fputc('"', f);
	}
	fprintf(f, "%s %llu\n", i ? "}" : "", (unsigned long long)v);
}

static uint64_t rd(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* --- interfaces: the XDP program's counters --- */

static void emit_ifaces(FILE *f, const struct snapshot *s)
{
	int i;
	unsigned c;

	family(f, "xtcp_xdp_packets_total", "counter",
	       "Frames by the XDP program's verdict: redirected to xtcp (AF_XDP), passed to the "
	       "kernel, dropped.");
	for (i = 0; i < s->n_ifs; i++)
		for (c = 0; s->ifs[i].has_steer && c < M_VERDICTS; c++)
			sample(f, "xtcp_xdp_packets_total", s->ifs[i].steer[c],
			       (const char *[]){"interface", s->ifs[i].name, "verdict",
						steer_names[c], NULL});
	family(f, "xtcp_xdp_seen_total", "counter",
	       "Frames by what the XDP program found in them (a frame may count under several "
	       "reasons besides its verdict).");
	for (i = 0; i < s->n_ifs; i++)
		for (c = M_VERDICTS; s->ifs[i].has_steer && c < XTCP_STAT__COUNT; c++)
			sample(f, "xtcp_xdp_seen_total", s->ifs[i].steer[c],
			       (const char *[]){"interface", s->ifs[i].name, "reason",
						steer_names[c], NULL});
	family(f, "xtcp_protect_packets_total", "counter",
	       "Flood protection: packets inspected, passed by a rule, or dropped, by reason.");
	for (i = 0; i < s->n_ifs; i++)
		for (c = 0; s->ifs[i].has_prot && c < PROT_CNT_MAX; c++)
			if (prot_counter_names[c])
				sample(f, "xtcp_protect_packets_total", s->ifs[i].prot[c],
				       (const char *[]){"interface", s->ifs[i].name, "reason",
							prot_counter_names[c], NULL});
}

/* --- AF_XDP sockets, as the kernel counts them (XDP_STATISTICS via sock_diag) --- */

static void emit_xsks(FILE *f, const struct snapshot *s)
{
	static const struct {
		const char *reason;
		size_t off;
	} ev[] = {
		{"rx_dropped", offsetof(struct xsk_sock, rx_dropped)},
		{"rx_invalid", offsetof(struct xsk_sock, rx_invalid)},
		{"rx_ring_full", offsetof(struct xsk_sock, rx_full)},
		{"fill_ring_empty", offsetof(struct xsk_sock, fill_empty)},
		{"tx_invalid", offsetof(struct xsk_sock, tx_invalid)},
		{"tx_ring_empty", offsetof(struct xsk_sock, tx_empty)},
	};
	char ifn[IF_NAMESIZE], queue[16], pid[16];
	unsigned e;
	int i;

	family(f, "xtcp_xsk_socket_events_total", "counter",
	       "Kernel counters of each AF_XDP socket (queue), by reason: frames dropped or "
	       "invalid, rings full or empty.");
	for (i = 0; i < s->n_xsk; i++) {
		const struct xsk_sock *x = &s->xsk[i];

		if (!x->has_stats || !if_indextoname(x->ifindex, ifn))
			continue;
		snprintf(queue, sizeof(queue), "%u", x->queue_id);
		snprintf(pid, sizeof(pid), "%d", (int)x->pid);
		for (e = 0; e < sizeof(ev) / sizeof(ev[0]); e++)
			sample(f, "xtcp_xsk_socket_events_total",
			       *(const uint64_t *)((const char *)x + ev[e].off),
			       (const char *[]){"interface", ifn, "queue", queue, "process",
						x->pid ? x->comm : "", "pid", pid, "reason",
						ev[e].reason, NULL});
	}
}

/* --- processes: what each publishes in /dev/shm --- */

enum { P_COUNTER, P_GAUGE };

/* One sample per process of a uint64_t field, with at most one extra label. */
struct pfield {
	const char *name;
	int type;
	const char *help; /* NULL: same family as the row before */
	const char *key, *val;
	size_t off;
	int version; /* first shim_stats version carrying the field */
};

#define PF(n, t, h, k, v, field, ver)                                                              \
	{                                                                                          \
		n, t, h, k, v, offsetof(struct shim_stats, field), ver                             \
	}

static const struct pfield pfields[] = {
	PF("xtcp_listeners", P_GAUGE, "Listening sockets on xtcp now.", NULL, NULL, listeners, 1),
	PF("xtcp_connections", P_GAUGE, "xtcp connections open now.", NULL, NULL, conns, 1),
	PF("xtcp_accepted_total", P_COUNTER,
	   "Connections accepted, by where they came from: xtcp, or the kernel's placeholder "
	   "socket (loopback, other interfaces).",
	   "source", "xtcp", accepted_xtcp, 1),
	PF("xtcp_accepted_total", P_COUNTER, NULL, "source", "kernel", accepted_kernel, 1),
	PF("xtcp_connected_total", P_COUNTER, "connect() calls run on xtcp.", NULL, NULL,
	   connected_xtcp, 1),
	PF("xtcp_engine_polls_total", P_COUNTER, "Stack poll rounds of the engine.", NULL, NULL,
	   polls, 1),
	PF("xtcp_engine_sleeps_total", P_COUNTER, "Blocking waits of the engine that slept.", NULL,
	   NULL, sleeps, 1),
	PF("xtcp_stack_frames_total", P_COUNTER, "Frames through the TCP/IP stack, by direction.",
	   "direction", "rx", stack_rx_frames, 1),
	PF("xtcp_stack_frames_total", P_COUNTER, NULL, "direction", "tx", stack_tx_frames, 1),
	PF("xtcp_stack_opens_total", P_COUNTER,
	   "Connections opened by the stack: active (connect), passive (accept).", "side", "active",
	   stack_active_opens, 1),
	PF("xtcp_stack_opens_total", P_COUNTER, NULL, "side", "passive", stack_passive_opens, 1),
	PF("xtcp_stack_ipv6_frames_total", P_COUNTER,
	   "IPv6 frames through the stack, by direction (part of xtcp_stack_frames_total).",
	   "direction", "rx", stack_rx_frames6, 6),
	PF("xtcp_stack_ipv6_frames_total", P_COUNTER, NULL, "direction", "tx", stack_tx_frames6, 6),
	PF("xtcp_stack_ipv6_opens_total", P_COUNTER,
	   "IPv6 connections opened by the stack (part of xtcp_stack_opens_total).", "side",
	   "active", stack_active_opens6, 6),
	PF("xtcp_stack_ipv6_opens_total", P_COUNTER, NULL, "side", "passive", stack_passive_opens6,
	   6),
	PF("xtcp_stack_retransmits_total", P_COUNTER, "TCP segments retransmitted.", NULL, NULL,
	   stack_retrans_segs, 1),
	PF("xtcp_stack_sockets", P_GAUGE, "Stack sockets in use (pool occupancy).", NULL, NULL,
	   stack_socks_in_use, 1),
	PF("xtcp_syn_cookies_total", P_COUNTER,
	   "SYN cookies: sent, handshakes validated by one, ACKs that carried none valid.",
	   "result", "sent", stack_syn_cookies_sent, 5),
	PF("xtcp_syn_cookies_total", P_COUNTER, NULL, "result", "validated",
	   stack_syn_cookies_validated, 5),
	PF("xtcp_syn_cookies_total", P_COUNTER, NULL, "result", "failed", stack_syn_cookies_failed,
	   5),
	PF("xtcp_challenge_acks_total", P_COUNTER, "RFC 5961 challenge ACKs sent.", NULL, NULL,
	   stack_challenge_acks, 5),
	PF("xtcp_rx_csum_partial_total", P_COUNTER,
	   "Segments accepted with a local kernel's unfinished checksum (veth).", NULL, NULL,
	   stack_rx_csum_partial, 5),
	PF("xtcp_kernel_handovers_total", P_COUNTER,
	   "Connections handed to the kernel (TCP_REPAIR): at fork, at exit, refused, left on "
	   "xtcp.",
	   "when", "fork", kernel_at_fork, 5),
	PF("xtcp_kernel_handovers_total", P_COUNTER, NULL, "when", "exit", kernel_at_exit, 5),
	PF("xtcp_kernel_handovers_total", P_COUNTER, NULL, "when", "failed", kernel_failed, 5),
	PF("xtcp_kernel_handovers_total", P_COUNTER, NULL, "when", "left", kernel_left, 5),
	PF("xtcp_icmp_errors_total", P_COUNTER,
	   "ICMP errors about the process's connections: received, acted on, rejected (the quote "
	   "names no connection, or a sequence not in flight).",
	   "result", "received", stack_icmp_errors, 7),
	PF("xtcp_icmp_errors_total", P_COUNTER, NULL, "result", "acted", stack_icmp_acted, 7),
	PF("xtcp_icmp_errors_total", P_COUNTER, NULL, "result", "rejected", stack_icmp_rejected, 7),
	PF("xtcp_pmtu_lowered_total", P_COUNTER,
	   "Path MTUs lowered by ICMP fragmentation needed (RFC 1191).", NULL, NULL,
	   stack_pmtu_lowered, 7),
	PF("xtcp_af_xdp_sockets", P_GAUGE, "AF_XDP sockets (RX queues) the process drives.", NULL,
	   NULL, xsk_ports, 3),
	PF("xtcp_af_xdp_packets_total", P_COUNTER, "Packets through the process's AF_XDP rings.",
	   "direction", "rx", xsk_rx_packets, 3),
	PF("xtcp_af_xdp_packets_total", P_COUNTER, NULL, "direction", "tx", xsk_tx_packets, 3),
	PF("xtcp_af_xdp_ring_events_total", P_COUNTER,
	   "Ring-full events of the process's AF_XDP sockets: RX ring full (kernel dropped), fill "
	   "ring empty, TX ring full.",
	   "reason", "rx_ring_full", xsk_rx_ring_full, 3),
	PF("xtcp_af_xdp_ring_events_total", P_COUNTER, NULL, "reason", "fill_ring_empty",
	   xsk_fill_empty, 3),
	PF("xtcp_af_xdp_ring_events_total", P_COUNTER, NULL, "reason", "tx_ring_full",
	   xsk_tx_ring_full, 3),
	PF("xtcp_af_xdp_errors_total", P_COUNTER,
	   "AF_XDP descriptors the kernel found invalid, and frames it dropped.", "reason",
	   "rx_invalid", xsk_rx_invalid, 3),
	PF("xtcp_af_xdp_errors_total", P_COUNTER, NULL, "reason", "tx_invalid", xsk_tx_invalid, 3),
	PF("xtcp_af_xdp_errors_total", P_COUNTER, NULL, "reason", "rx_dropped", xsk_rx_dropped, 3),
	PF("xtcp_af_xdp_tx_kicks_total", P_COUNTER, "sendto() calls that kicked the TX ring.", NULL,
	   NULL, xsk_tx_kicks, 3),
	PF("xtcp_handoff_total", P_COUNTER,
	   "Segments handed between the processes of one server (a reply on another process's "
	   "queue), by event.",
	   "event", "sent", handoff_sent, 4),
	PF("xtcp_handoff_total", P_COUNTER, NULL, "event", "received", handoff_received, 4),
	PF("xtcp_handoff_total", P_COUNTER, NULL, "event", "lost", handoff_lost, 4),
	PF("xtcp_handoff_total", P_COUNTER, NULL, "event", "no_owner", handoff_no_owner, 4),
	PF("xtcp_handoff_total", P_COUNTER, NULL, "event", "rejected", handoff_rejected, 4),
};

struct plabels {
	char pid[16], queue[16], iface[IF_NAMESIZE];
};

static void proc_labels(const struct shm_proc *p, struct plabels *l)
{
	snprintf(l->pid, sizeof(l->pid), "%d", (int)p->st->pid);
	snprintf(l->queue, sizeof(l->queue), "%u", p->st->queue);
	snprintf(l->iface, sizeof(l->iface), "%.*s", (int)sizeof(p->st->iface) - 1, p->st->iface);
}

/* Does the process's file carry this version's fields? */
static bool has_version(const struct shm_proc *p, int version)
{
	if (version >= 7) /* not a file version: the fields after the IPv6 ones in version 6 */
		return xtcpctl_shm_has_icmp(p);
	if (version >= 6)
		return xtcpctl_shm_has_ipv6(p);
	if (version >= 4)
		return xtcpctl_shm_has_handoff(p);
	if (version >= 3)
		return xtcpctl_shm_has_xsk(p);
	return true; /* xtcpctl_shm_open() keeps only files that reach version 1's end */
}

static void emit_procs(FILE *f, const struct snapshot *s)
{
	struct plabels l;
	unsigned r, c;
	int i;

	for (r = 0; r < sizeof(pfields) / sizeof(pfields[0]); r++) {
		const struct pfield *pf = &pfields[r];

		if (pf->help)
			family(f, pf->name, pf->type == P_GAUGE ? "gauge" : "counter", pf->help);
		for (i = 0; i < s->n_procs; i++) {
			const struct shm_proc *p = &s->procs[i];

			if (!has_version(p, pf->version))
				continue;
			proc_labels(p, &l);
			sample(f, pf->name, rd((const uint64_t *)((const char *)p->st + pf->off)),
			       (const char *[]){"interface", l.iface, "process", p->comm, "pid",
						l.pid, "queue", l.queue, pf->key, pf->val, NULL});
		}
	}
	family(f, "xtcp_fallbacks_total", "counter",
	       "Sockets that could have run on xtcp but stayed on the kernel, by reason.");
	for (i = 0; i < s->n_procs; i++) {
		proc_labels(&s->procs[i], &l);
		for (c = 0; c < SHIM_FB__COUNT; c++)
			if (fb_names[c])
				sample(f, "xtcp_fallbacks_total", rd(&s->procs[i].st->fallback[c]),
				       (const char *[]){"interface", l.iface, "process",
							s->procs[i].comm, "pid", l.pid, "queue",
							l.queue, "reason", fb_names[c], NULL});
	}
	family(f, "xtcp_stack_drops_total", "counter",
	       "Frames the TCP/IP stack dropped on input, by reason.");
	for (i = 0; i < s->n_procs; i++) {
		proc_labels(&s->procs[i], &l);
		for (c = 0; c < 32; c++) {
			const char *why = stack_drop_reason_name(c);

			if (strcmp(why, "unknown"))
				sample(f, "xtcp_stack_drops_total",
				       rd(&s->procs[i].st->stack_drop[c]),
				       (const char *[]){"interface", l.iface, "process",
							s->procs[i].comm, "pid", l.pid, "queue",
							l.queue, "reason", why, NULL});
		}
	}
}

static void emit(FILE *f)
{
	struct snapshot s;

	snapshot_take(&s);
	emit_ifaces(f, &s);
	emit_xsks(f, &s);
	emit_procs(f, &s);
	family(f, "xtcp_processes", "gauge", "xtcp processes in this network namespace.");
	sample(f, "xtcp_processes", (uint64_t)s.n_procs, (const char *[]){NULL});
	snapshot_free(&s);
}

/* --- serving --- */

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

/* One request: GET /metrics (or /) -> 200 with a fresh scrape, else 404. */
static void serve_one(int c)
{
	struct timeval tv = {.tv_sec = 2};
	char req[2048], *body = NULL, head[256];
	size_t got = 0, len = 0;
	ssize_t n;
	FILE *f;
	int hl;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) {
		n = recv(c, req + got, sizeof(req) - 1 - got, 0);
		if (n <= 0)
			return;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';
	if (strncmp(req, "GET /metrics ", 13) && strncmp(req, "GET / ", 6) &&
	    strncmp(req, "GET /metrics?", 13)) {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
					 "Content-Length: 20\r\n\r\ntry GET /metrics\r\n\r\n";

		send(c, nf, sizeof(nf) - 1, MSG_NOSIGNAL);
		return;
	}
	f = open_memstream(&body, &len);
	if (!f)
		return;
	emit(f);
	fclose(f);
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
		      "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		      len);
	if (send(c, head, (size_t)hl, MSG_NOSIGNAL) == hl)
		for (got = 0; got < len; got += (size_t)n) {
			n = send(c, body + got, len - got, MSG_NOSIGNAL);
			if (n <= 0)
				break;
		}
	free(body);
}

static int metrics_listen(const char *addr)
{
	struct sockaddr_in sa;
	int s, c, one = 1;

	if (parse_listen(addr, &sa)) {
		fprintf(stderr,
			"xtcpctl: metrics --listen \"%s\" is invalid: expected ADDR:PORT, an IPv4 "
			"address and a port 1-65535 (e.g. 127.0.0.1:9478)\n",
			addr);
		return 2;
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 16)) {
		fprintf(stderr, "xtcpctl: metrics: cannot listen on %s: %s\n", addr,
			strerror(errno));
		if (s >= 0)
			close(s);
		return 1;
	}
	fprintf(stderr, "xtcpctl: serving metrics on http://%s/metrics\n", addr);
	for (;;) {
		c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			fprintf(stderr, "xtcpctl: metrics: accept: %s\n", strerror(errno));
			close(s);
			return 1;
		}
		serve_one(c);
		close(c);
	}
}

/* Write PATH.tmp then rename: the collector never reads half a file. */
static int metrics_textfile(const char *path, unsigned interval)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp))
		return 2;
	for (;;) {
		f = fopen(tmp, "we");
		if (!f) {
			fprintf(stderr, "xtcpctl: metrics: cannot write %s: %s\n", tmp,
				strerror(errno));
			return 1;
		}
		emit(f);
		if (fclose(f) || rename(tmp, path)) {
			fprintf(stderr, "xtcpctl: metrics: cannot write %s: %s\n", path,
				strerror(errno));
			unlink(tmp);
			return 1;
		}
		if (!interval)
			return 0;
		sleep(interval);
	}
}

int xtcpctl_metrics(int argc, char **argv)
{
	const char *form = "expected no option, --listen ADDR:PORT, or --textfile PATH "
			   "[--interval SEC]";
	unsigned long interval = 0;
	char *end;

	if (argc == 0) {
		emit(stdout);
		return fflush(stdout) ? 1 : 0;
	}
	if (argc == 2 && !strcmp(argv[0], "--listen")) {
		signal(SIGPIPE, SIG_IGN);
		return metrics_listen(argv[1]);
	}
	if ((argc == 2 || argc == 4) && !strcmp(argv[0], "--textfile")) {
		if (argc == 4) {
			interval = strtoul(argv[3], &end, 10);
			if (strcmp(argv[2], "--interval") || argv[3][0] < '0' || argv[3][0] > '9' ||
			    *end || interval < 1 || interval > 86400) {
				fprintf(stderr,
					"xtcpctl: metrics --interval \"%s\" is invalid: expected "
					"seconds 1-86400\n",
					argv[3]);
				return 2;
			}
		}
		return metrics_textfile(argv[1], (unsigned)interval);
	}
	fprintf(stderr, "xtcpctl: metrics: %s\n", form);
	return 2;
}
