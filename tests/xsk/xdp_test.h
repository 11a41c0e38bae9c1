/*
 * xdp_test.h - what the XDP program's verdict tests share (test_xdp_verdict.c,
 * test_xdp_icmp.c): crafted frames run through bpf_prog_test_run_opts, no
 * interface, no socket; the counters each frame moved; a real kernel
 * connection on loopback whose port is served.
 *
 *	__u8 raw[XDP_TEST_BUF] XDP_TEST_ALIGN, *buf = raw + 2;   Ethernet at 2 mod 4
 *	xdp_test_expect(skel, "name", buf, len, XDP_PASS, MOVES(XTCP_STAT_PASSED));
 *
 * Frames are built by each test into buf (256 bytes usable); the helpers
 * here write the headers that every builder starts with.
 */
#ifndef XTCP_XDP_TEST_H
#define XTCP_XDP_TEST_H

#include <linux/types.h>
#include <stdint.h>

#include "xtcp_xdp.h"
#include "xtcp_xdp.skel.h"

#define XDP_TEST_BUF   260
#define XDP_TEST_ALIGN __attribute__((aligned(4)))
/* The counters a frame must move, each by one, ended by -1: MOVES(XTCP_STAT_PASSED). */
#define MOVES(...)     ((const int[]){__VA_ARGS__, -1})

/*
 * The program loaded for a test (root or skip: check_root_or_skip()), with
 * 10.0.0.1:80 served and xtcp's local ports 40000-40010 (XDP_TEST_LPORT_*);
 * NULL with a failed CHECK.
 */
#define XDP_TEST_LPORT_MIN 40000
#define XDP_TEST_LPORT_MAX 40010
struct xtcp_xdp *xdp_test_open(void);
/* The program's verdict for buf, or a negative error of the test run. */
int xdp_test_run(struct xtcp_xdp *skel, const __u8 *buf, unsigned len);
/* A per-CPU counter summed over the CPUs (~0 if unreadable). */
__u64 xdp_test_stat(struct xtcp_xdp *skel, __u32 idx);
/* Verdicts counted so far (redirected + passed + dropped): one per frame. */
__u64 xdp_test_verdicts(struct xtcp_xdp *skel);
/* Run one frame; CHECK its verdict and that exactly the counters in moves moved, by one. */
void xdp_test_expect(struct xtcp_xdp *skel, const char *name, const __u8 *buf, unsigned len,
		     int verdict, const int *moves);
/* The next of a seeded xorshift64 sequence (*x != 0). */
uint64_t xdp_test_rand(uint64_t *x);

/* Clears 256 bytes of buf and writes an Ethernet header (02:.. <- 04:..) of proto (host order). */
void xdp_test_eth(__u8 *buf, __u16 proto);
/* An IPv6 header at ip: version 6, hop limit 64, payload length plen (host order). */
void xdp_test_ip6(__u8 *ip, __u8 nexthdr, __u16 plen, const char *src, const char *dst);

/*
 * A kernel connection on 127.0.0.1 (AF_INET) or ::1 (AF_INET6) in this
 * namespace, and its listener's port served (xtcp_serve or xtcp_serve6,
 * any address). Ports in host order; closed fds are -1.
 */
struct xdp_test_kconn {
	int af;
	int l, c, acc; /* listener, client, accepted */
	__u16 lport, cport;
};
/* 0, or -1 with a failed CHECK (nothing left open). */
int xdp_test_kconn_open(struct xtcp_xdp *skel, int af, struct xdp_test_kconn *k);
/* Closes the accepted side, then the client (the server closes first: it ends in TIME-WAIT). */
void xdp_test_kconn_close_conn(struct xdp_test_kconn *k);
/* Unserves the port, closes what is left. */
void xdp_test_kconn_close(struct xtcp_xdp *skel, struct xdp_test_kconn *k);

#endif
