/*
 * xp.h - the AF_XDP side of xtcp, as the shim (preload/) uses it.
 *
 *   xp_nl_*      kernel facts over rtnetlink: link, addresses, routes, neighbours
 *   xp_prog_*    the XDP steering program (bpf/xtcp_xdp.bpf.c, embedded as a
 *                skeleton): load, attach through libxdp, served ports/addresses
 *   xp_port_*    one AF_XDP socket on one RX queue with its own UMEM
 *                (MAP_SHARED), implementing struct netdev (stack/netdev.h)
 *
 * Ownership and fork (design (b) of ARCHITECTURE.md): the process that first
 * serves a port attaches the program (needs CAP_NET_ADMIN/CAP_BPF). AF_XDP
 * sockets are opened per process, each on a queue nobody else has bound
 * (the kernel's bind() refuses a taken queue with EBUSY: that is the claim),
 * while the process still holds the privilege. A socket dies with its owner,
 * and the kernel removes it from the XSKMAP, so its queue falls back to
 * XDP_PASS and can be claimed again. All functions return 0 / -errno.
 */
#ifndef XTCP_XP_H
#define XTCP_XP_H

#include <netinet/in.h>
#include <stdint.h>
#include <stdbool.h>
#include <netinet/in.h>

struct netdev;

/* --- kernel facts (xp_nl.c) --- */
#define XP_NL_MAX_ADDRS 8
struct xp_link {
	int ifindex;
	uint8_t mac[6];
	uint32_t mtu;
	unsigned n_rx_queues; /* real RX queues (sysfs / ethtool channels) */
	unsigned n_addrs;
	uint32_t addr[XP_NL_MAX_ADDRS]; /* IPv4, network order */
	uint8_t prefix_len[XP_NL_MAX_ADDRS];
	char kind[16]; /* IFLA_INFO_KIND ("veth", ...); empty for hardware */
	/* IPv6 addresses usable now (not tentative or failed DAD), global ones first */
	unsigned n_addrs6;
	struct in6_addr addr6[XP_NL_MAX_ADDRS];
	uint8_t prefix_len6[XP_NL_MAX_ADDRS];
	uint8_t scope6[XP_NL_MAX_ADDRS]; /* RT_SCOPE_UNIVERSE (0) or RT_SCOPE_LINK (253) */
	uint8_t hop_limit6; /* net.ipv6.conf.IF.hop_limit; 0 = not reported (no IPv6) */
};
int xp_nl_link(const char *ifname, struct xp_link *out);
/* Are both ends of this link in this kernel (veth, netkit)? */
bool xp_link_local_only(const struct xp_link *l);
/* Route lookup: next hop (the destination itself when on-link) and ifindex. */
int xp_nl_route(uint32_t dst_ip4, uint32_t *next_hop_ip4, int *ifindex);
/*
 * A route's hop limit (RTAX_HOPLIMIT, `ip route ... hoplimit N`): the
 * destination prefix (IPv4 v4-mapped, its length + 96) and the metric, 0 for
 * a route without one.
 */
struct xp_hop_route {
	struct in6_addr dst;
	uint8_t plen;
	uint8_t hops;
};
#define XP_HOP_ROUTES 16
/*
 * The main table's unicast routes through ifindex (both families) that
 * decide a hop limit: those with the metric, and those without it that are
 * more specific than one with it (they override it). Up to max in out;
 * returns how many, or -errno. Usually none: then every destination gets
 * the default.
 */
int xp_nl_route_hops(int ifindex, struct xp_hop_route *out, unsigned max);
/* The hop limit of the longest of those n routes that holds dst (0: none, or no metric). */
uint8_t xp_hop_route_find(const struct xp_hop_route *r, unsigned n, const struct in6_addr *dst);
/* net.ipv4.ip_default_ttl of this network namespace, 0 if unreadable. */
uint8_t xp_nl_default_ttl(void);
/*
 * Neighbour (ARP) entry for ip on ifindex: 0 and mac when REACHABLE/STALE/
 * PERMANENT...; -EAGAIN after asking the kernel to resolve it (an incomplete
 * entry is created and the kernel sends the ARP request); -EHOSTUNREACH when
 * the kernel marked it FAILED; -EPERM when the entry is missing and the
 * process may not ask (that needs CAP_NET_ADMIN; reading needs nothing).
 */
int xp_nl_neigh(int ifindex, uint32_t ip4, uint8_t mac[6]);
/*
 * The same for IPv6: the route to dst (oif: the interface, needed for a
 * link-local dst) and its neighbour (NDP by the kernel, as for ARP).
 */
int xp_nl_route6(const struct in6_addr *dst, int oif, struct in6_addr *next_hop, int *ifindex);
int xp_nl_neigh6(int ifindex, const struct in6_addr *ip6, uint8_t mac[6]);
/*
 * Local ports of the kernel's TCP connections in this network namespace
 * (sock_diag; IPv4 and IPv6, every state but LISTEN and TIME-WAIT, half-open
 * ones included, loopback addresses left out): set bits in ports. 0 / -errno.
 */
int xp_nl_tcp_flow_ports(uint8_t ports[65536 / 8]);

/* --- the XDP program (xp_prog.c) --- */
struct xp_prog;
struct xp_prog_opts {
	bool force_generic; /* skip native mode (tests) */
	int log_level;	    /* 0 quiet .. 3 debug, to stderr */
};
/* Load and attach, or adopt an xtcp program already attached (after a crash). */
int xp_prog_attach(const char *ifname, const struct xp_prog_opts *opts, struct xp_prog **out);
/* Serve TCP (ip4, port) on AF_XDP; ip4 0 = any local address. Ports host order. */
int xp_prog_serve(struct xp_prog *prog, uint32_t ip4, uint16_t port, bool on);
/* Serve TCP [ip6]:port; ip6 :: (or NULL) = any local IPv6 address. */
int xp_prog_serve6(struct xp_prog *prog, const struct in6_addr *ip6, uint16_t port, bool on);
/*
 * Let served ports skip the program's kernel-socket lookup where the kernel
 * holds no connection (bpf/xtcp_xdp.h, struct xtcp_kflow): one sock_diag
 * dump, then each served port that is free of kernel flows, and had no SYN
 * handed to the kernel (nor a serve) for 100 ms, is marked clean. Returns
 * how many served ports still need the lookup, or -errno. Cheap enough to
 * call about once a second from a serving process; never per packet.
 */
int xp_prog_kflow_sweep(struct xp_prog *prog);
/*
 * How many served ports need the lookup now (not marked clean for their
 * current gen), or -errno: a few map reads, no dump. A port's gen moves
 * when a SYN goes to the kernel or the port is served again, so a caller
 * that found every port clean needs the dump again only when this is > 0
 * (or for a flow whose SYN came another way: asymmetric routing).
 */
int xp_prog_kflow_unclean(struct xp_prog *prog);
/*
 * The next-hop MTU of the last "fragmentation needed" about an xtcp flow to
 * peer (network order) that the program steered to any queue, if noted less
 * than max_age_us ago: 0 and *mtu, else -ENOENT (xp_pmtu.c; bpf/xtcp_xdp.h,
 * struct xtcp_pmtu). One map lookup: for a retransmission timeout, not per
 * packet.
 */
int xp_prog_path_mtu(struct xp_prog *prog, uint32_t peer, uint64_t max_age_us, uint32_t *mtu);
/* The same for an IPv6 peer: the last ICMPv6 "packet too big" (xtcp_pmtu6). */
int xp_prog_path_mtu6(struct xp_prog *prog, const struct in6_addr *peer, uint64_t max_age_us,
		      uint32_t *mtu);
/* The kernel got a flow on local port (host order) another way: look it up again. */
int xp_prog_kflow_added(struct xp_prog *prog, uint16_t port);
/*
 * Hold a flow's segments back from the kernel (on) while its kernel socket is
 * built in TCP_REPAIR mode, then let them through (off); bpf/xtcp_xdp.h,
 * struct xtcp_hold_key. A hold lapses by itself after 1 s. Addresses and
 * ports network order, as in a sockaddr_in.
 */
int xp_prog_flow_hold(struct xp_prog *prog, const struct sockaddr_in *local,
		      const struct sockaddr_in *peer, bool on);
/* The same for an IPv6 flow (bpf/xtcp_xdp.h, xtcp_hold6). */
int xp_prog_flow_hold6(struct xp_prog *prog, const struct sockaddr_in6 *local,
		       const struct sockaddr_in6 *peer, bool on);
/*
 * The RX queue a served flow's SYN arrived on (peer and local address as
 * IPv6, IPv4 v4-mapped; ports in host order): >= 0, or -ENOENT when the
 * program does not note SYN queues on this link or forgot the flow.
 */
int xp_prog_syn_queue(struct xp_prog *prog, const struct in6_addr *peer, uint16_t peer_port,
		      const struct in6_addr *local, uint16_t local_port);
/* Does the program note SYN queues (a veth-like link with several queues)? */
bool xp_prog_notes_syn_queue(const struct xp_prog *prog);
/* The local-port range of xtcp's own outgoing connections (also steered). */
int xp_prog_set_local_ports(struct xp_prog *prog, uint16_t min, uint16_t max);
int xp_prog_ifindex(const struct xp_prog *prog);
const char *xp_prog_mode(const struct xp_prog *prog); /* "native" / "generic" */
/*
 * Read the program's counters, summed over CPUs: counts[i] for i < n, in the
 * order of enum xtcp_stat (bpf/xtcp_xdp.h). Returns how many were read, or -errno.
 */
int xp_prog_read_stats(struct xp_prog *prog, uint64_t *counts, unsigned n);
/*
 * Leave the user table and free; the program is removed from the interface
 * when no other live user and no live child of the caller remain (a child
 * may still register; the family's last process removes it then).
 */
void xp_prog_detach(struct xp_prog *prog);
/*
 * Make the calling process a user of the program (idempotent): the program
 * stays attached while any user lives. xp_prog_attach() and xp_port_open()
 * do it; a forked child that keeps serving without opening ports calls it.
 */
int xp_prog_add_user(struct xp_prog *prog);
/* Free this process's handle without detaching (a forked child). */
void xp_prog_release(struct xp_prog *prog);

/* --- one AF_XDP socket (xp_port.c, xp_umem.c) --- */
struct xp_port;
/*
 * Which TCP checksums the stack accepts (netdev_info.rx_csum_trust_local):
 * auto trusts a local kernel's unfinished (CHECKSUM_PARTIAL) form on links
 * whose both ends are in this kernel (xp_link_local_only()) and verifies
 * elsewhere; verify and trust_local force one or the other.
 */
enum xp_rx_csum { XP_RX_CSUM_AUTO = 0, XP_RX_CSUM_VERIFY, XP_RX_CSUM_TRUST_LOCAL };
/*
 * Preferred busy polling (XTCP_BUSY_POLL): auto turns it on where the
 * device defers its interrupts (napi_defer_hard_irqs and gro_flush_timeout
 * both set), the only place it helps; on and off force it.
 */
enum xp_busy_poll { XP_BUSY_POLL_AUTO = 0, XP_BUSY_POLL_OFF, XP_BUSY_POLL_ON };
/*
 * Who finishes transmitted TCP checksums (netdev_info.tx_csum_offload): auto
 * asks the kernel through AF_XDP TX metadata (Linux 6.8+) where that works
 * on every device, i.e. in copy mode; off, older kernels and zero-copy
 * sockets: the stack sums.
 */
enum xp_tx_csum { XP_TX_CSUM_AUTO = 0, XP_TX_CSUM_OFF };

struct xp_port_config {
	uint32_t frames;    /* UMEM frames; 0 = 4096 */
	uint32_t ring_size; /* each of RX/TX/fill/completion; 0 = 2048 */
	int zero_copy;	    /* -1 auto (zero-copy if the driver has it), 0 copy, 1 require */
	enum xp_busy_poll busy_poll; /* XTCP_BUSY_POLL; 0 = auto */
	/* XTCP_RX_CSUM, XTCP_TX_CSUM; 0 = auto */
	enum xp_rx_csum rx_csum;
	enum xp_tx_csum tx_csum;
	/*
	 * Other processes may join this queue when they find no free one
	 * (xp_port_join): the frames live in a memfd with a small header.
	 * Nothing else changes until one joins.
	 */
	bool shareable;
};
/*
 * -EBUSY when another socket already holds that queue, and also for a few ms
 * after the socket that held it was closed or its process died: the kernel
 * frees a queue from a work queue, later. A claimant retries briefly.
 */
int xp_port_open(struct xp_prog *prog, unsigned queue_id, const struct xp_port_config *cfg,
		 struct xp_port **out);
struct netdev *xp_port_netdev(struct xp_port *port);
unsigned xp_port_queue(const struct xp_port *port);
/*
 * Drain: while on, new flows (pure SYNs to served ports) arriving on this
 * port's queue go to the kernel (its listener) instead of this socket; the
 * other segments still come here, so open connections finish on xtcp. For a
 * process that stopped listening (nginx reload/quit). Cleared by on=false
 * or when a new socket is opened on the queue.
 */
int xp_port_drain(struct xp_port *port, bool on);
/*
 * A process waiting for a queue another process holds (nginx's new workers
 * after a reload) asks the holder's queue to drain, so the holder's accept
 * queue empties before it closes its listeners, instead of its last
 * handshaked connections being reset. Cleared by on=false or when a new
 * socket is opened on the queue. Returns 0 or -errno.
 */
int xp_prog_drain_successor(struct xp_prog *prog, unsigned queue, bool on);
struct xp_port_stats {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_ring_full, fill_empty, tx_ring_full, tx_invalid, rx_invalid, rx_dropped;
	uint64_t tx_kicks;
	uint64_t drain_syn; /* SYNs dropped on a shared queue's member that stopped listening */
	bool zero_copy;
	bool shared;  /* on a queue shared with other processes */
	bool tx_csum; /* TCP checksums finished by the kernel or device */
	/* UMEM TX frames: the pool's size and those not free (in the TX batch, ring or
	 * completion ring); RX frames cycle through the fill ring and are never held */
	uint32_t tx_frames, tx_frames_in_use;
};
void xp_port_get_stats(struct xp_port *port, struct xp_port_stats *out);
/*
 * One netdev over several ports (queues) of one interface: receives from
 * all, sends through the first. It owns the ports: its close() closes them.
 */
struct netdev *xp_mq_create(struct netdev **ports, unsigned n);
/* Close the socket and unmap the UMEM (in a forked child: only this process's view). */
void xp_port_close(struct xp_port *port);

/*
 * More processes than queues (xp_share.c). A process that finds every queue
 * taken joins the one with the fewest members, while it is privileged: its
 * own AF_XDP socket on the queue's UMEM (XDP_SHARED_UMEM), which it reaches
 * through a member's fds (pidfd_getfd: needs ptrace rights over it, as root
 * has). The first holder switches to locked ring use at its next poll; the
 * program then spreads new flows over the members that listen. The new
 * member takes none until xp_port_drain(port, false). Only queues held by a
 * sibling (the same parent: prefork workers serve the same ports) or the
 * parent are joined. -ENOENT: no such queue (its holder is not shareable,
 * or not a sibling); -EUSERS: groups full.
 */
int xp_port_join(struct xp_prog *prog, unsigned n_queues, const struct xp_port_config *cfg,
		 struct xp_port **out);
/* Leave a shared queue's group cleanly (exit): frames back, no more flows. */
void xp_port_leave(struct xp_port *port);
/*
 * SYNs on queues 0..n_queues-1 that no socket takes are dropped for ms
 * (the peer retries), not given to the kernel: serving processes are about
 * to start (a prefork master before its workers claim queues).
 */
int xp_share_expect(struct xp_prog *prog, unsigned n_queues, unsigned ms);
/*
 * Is queue held by a live sibling process that lets others join? Then opening a
 * port of our own there would fail with EBUSY, but only after building and
 * pinning a whole UMEM (tens of ms on a busy machine: a reload's workers
 * missed nginx's 100 ms before the old ones quit).
 */
bool xp_share_taken(struct xp_prog *prog, unsigned queue);
/* The queue of 0..n_queues-1 whose group has the fewest live members. */
int xp_share_pick(struct xp_prog *prog, unsigned n_queues, unsigned *queue);

#endif
