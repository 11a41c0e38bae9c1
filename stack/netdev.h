/*
 * netdev.h - the seam between the TCP/IP stack and whatever moves frames.
 *
 * The stack (stack/) sees only this interface. It is implemented by the
 * AF_XDP port (xsk/xp_port.c) and by the in-memory link (stack/netdev_pipe.c)
 * that joins two stacks in one process for deterministic tests.
 *
 * Call order, once per stack_poll():
 *   rx_burst() -> (stack copies what it needs) -> rx_done()
 *   tx_alloc() ... fill pkt->data ... tx_queue()   (any number of times)
 *   tx_flush()                                      (once: one kick per loop,
 *                                                    and again while tx_pending())
 * Between polls the owner sleeps on poll_fds() until next_deadline(), then
 * reports the readable fds with poll_ready(). A decorator (several queues
 * as one, frames handed over by other processes) wraps another netdev and
 * answers all of these for both: its user sees one netdev.
 *
 * Memory: frames belong to the netdev. A pkt from rx_burst() is valid until
 * rx_done(); a pkt from tx_alloc() is owned by the caller until tx_queue()
 * or tx_free(). The stack never keeps a frame across stack_poll() calls.
 */
#ifndef XTCP_NETDEV_H
#define XTCP_NETDEV_H

#include <netinet/in.h>
#include <stdint.h>

#define NETDEV_BURST_MAX    64
#define NETDEV_POLL_FDS_MAX 8 /* poll_fds() of a netdev and its decorators, together */
#define NETDEV_IP6_MAX	    4 /* IPv6 addresses of the link the stack answers on */

struct netdev;

/* One Ethernet frame in a buffer owned by the netdev. */
struct pkt {
	uint8_t *data; /* first byte of the Ethernet header */
	uint32_t len;  /* bytes of frame at data */
	uint64_t addr; /* backend handle (UMEM offset, pipe slot); opaque to the stack */
};

/* Facts about the link, filled by the backend at open time. */
struct netdev_info {
	uint8_t mac[6];
	uint16_t mtu; /* IP MTU: the largest IPv4 or IPv6 packet, without Ethernet header */
	uint32_t ip4; /* our IPv4 address, network byte order */
	uint8_t prefix_len;
	int ifindex;
	unsigned queue_id; /* RX queue this netdev serves */
	unsigned n_queues; /* RX queues of the interface */
	/*
	 * Checksum facts. rx_csum_trust_local: every frame comes from a kernel
	 * on this host (veth), which leaves a TCP checksum unfinished
	 * (CHECKSUM_PARTIAL: the field holds only the pseudo-header sum) when
	 * nothing on the path needs it finished; the stack then accepts that
	 * form as well as a valid checksum (docs/design-notes.md, "Checksums").
	 * tx_csum_offload: the backend finishes the TCP checksum of every
	 * frame it sends; the stack writes only the pseudo-header sum.
	 */
	uint8_t rx_csum_trust_local;
	uint8_t tx_csum_offload;
	/*
	 * Our IPv6 addresses (global, unique-local and link-local; none: the
	 * stack serves IPv4 only) and the scope of each (RT_SCOPE_*: 0
	 * universe, 253 link), filled like ip4 at open time.
	 */
	struct in6_addr ip6[NETDEV_IP6_MAX];
	uint8_t ip6_prefix[NETDEV_IP6_MAX];
	uint8_t ip6_scope[NETDEV_IP6_MAX];
	uint8_t n_ip6;
	/*
	 * What a socket without IP_TTL / IPV6_UNICAST_HOPS sends with where
	 * the route sets no hop limit (hop_limit() below), as Linux:
	 * net.ipv4.ip_default_ttl, and the interface's
	 * net.ipv6.conf.IF.hop_limit. 0 = 64.
	 */
	uint8_t ttl4;
	uint8_t hop_limit6;
};

struct netdev_ops {
	/* Receive up to max frames; returns how many were written to pkts. */
	unsigned (*rx_burst)(struct netdev *dev, struct pkt *pkts, unsigned max);
	/* Give received frames back (recycles them to the fill ring). */
	void (*rx_done)(struct netdev *dev, struct pkt *pkts, unsigned n);
	/* Get a transmit frame of at least len bytes: 0, or -ENOBUFS. */
	int (*tx_alloc)(struct netdev *dev, struct pkt *pkt, uint32_t len);
	/* Return an allocated frame that will not be sent. */
	void (*tx_free)(struct netdev *dev, struct pkt *pkt);
	/* Queue filled frames (pkt->len set) for transmission; takes ownership. */
	void (*tx_queue)(struct netdev *dev, struct pkt *pkts, unsigned n);
	/* Push queued frames to the wire: one kick per poll. 0 or -errno. */
	int (*tx_flush)(struct netdev *dev);
	/*
	 * Sleeping: the fds that turn readable (POLLIN) when this netdev has
	 * work, at most max of them written to fds; returns how many.
	 * Decorators append theirs to their inner netdev's. NULL: none.
	 */
	unsigned (*poll_fds)(struct netdev *dev, int *fds, unsigned max);
	/* After such a sleep: bit i of ready set when fds[i] was readable. NULL: ignored. */
	void (*poll_ready)(struct netdev *dev, uint32_t ready);
	/*
	 * The latest time to poll again though no fd turned readable
	 * (frames held by a decorator, frames the device has not taken
	 * yet), or UINT64_MAX. NULL: UINT64_MAX.
	 */
	uint64_t (*next_deadline)(struct netdev *dev, uint64_t now_us);
	/*
	 * Frames given to tx_queue() that the device has not taken yet: the
	 * stack calls tx_flush() again at its next poll. NULL: never.
	 */
	int (*tx_pending)(struct netdev *dev);
	/*
	 * This process lets go: close its fds and mappings, free the netdev
	 * and what it wraps. In a forked child it drops only the child's view
	 * (the parent keeps its rings). NULL: nothing to release.
	 */
	void (*close)(struct netdev *dev);
	/*
	 * Next-hop MAC for an IPv4 destination (network order): 0 and mac set,
	 * -EAGAIN while resolution is under way (ask again later), or
	 * -EHOSTUNREACH. May do a system call: called on connect, never per packet.
	 */
	int (*resolve)(struct netdev *dev, uint32_t dst_ip4, uint8_t mac[6]);
	/* The same for an IPv6 destination (neighbour discovery by the kernel). NULL: no IPv6. */
	int (*resolve6)(struct netdev *dev, const struct in6_addr *dst, uint8_t mac[6]);
	/*
	 * Optional: a next-hop MTU towards dst_ip4 that the link learned outside
	 * this stack (an ICMP "fragmentation needed" the XDP program steered to
	 * another queue), noted less than max_age_us ago: 0 and *mtu, else
	 * -ENOENT. Unvalidated (no sequence check), so the stack asks only on a
	 * retransmission timeout; may do a system call.
	 */
	int (*path_mtu)(struct netdev *dev, uint32_t dst_ip4, uint64_t max_age_us, uint32_t *mtu);
	/* The same for an IPv6 destination (an ICMPv6 "packet too big"). NULL: none. */
	int (*path_mtu6)(struct netdev *dev, const struct in6_addr *dst, uint64_t max_age_us,
			 uint32_t *mtu);
	/*
	 * Optional: the hop limit the route to dst sets (RTAX_HOPLIMIT; IPv4
	 * v4-mapped), or 0 for none. No system call: asked once per connection.
	 */
	uint8_t (*hop_limit)(struct netdev *dev, const struct in6_addr *dst);
};

struct netdev {
	const struct netdev_ops *ops;
	struct netdev_info info;
};

/* In-memory link for tests: two endpoints, seeded impairment, virtual clock. */
struct netdev_pipe_cfg {
	uint32_t loss_ppm;     /* frames dropped, per million */
	uint32_t dup_ppm;      /* frames duplicated, per million */
	uint32_t corrupt_ppm;  /* frames with one byte flipped, per million */
	uint32_t reorder_ppm;  /* frames held back behind later ones, per million */
	uint32_t delay_us;     /* one-way delay */
	uint64_t rate_bps;     /* bits per second, 0 = unlimited */
	uint32_t queue_frames; /* frames in flight per direction before tail drop; 0 = 4096 */
	uint64_t seed;
	const char *pcap; /* write both directions to this pcap file, or NULL */
};

struct netdev_pipe;

/*
 * Join two endpoints a and b. Each gets its own MAC, IPv4 address
 * (ip4 network order, 10.77.x.1 / 10.77.x.2 by default), IPv6 address
 * (fd77:1::1 / fd77:1::2) and MTU 1500.
 * Frames sent at virtual time t are delivered at t + delay (+ serialisation).
 */
struct netdev_pipe *netdev_pipe_pair(struct netdev **a, struct netdev **b,
				     const struct netdev_pipe_cfg *cfg);
/* Advance the link's virtual clock; frames due by now become receivable. */
void netdev_pipe_set_time(struct netdev_pipe *pipe, uint64_t now_us);
/* Earliest time a frame in flight becomes due, or UINT64_MAX. */
uint64_t netdev_pipe_next_due(const struct netdev_pipe *pipe);
void netdev_pipe_free(struct netdev_pipe *pipe);

#endif
