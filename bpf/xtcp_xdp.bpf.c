/*
 * xtcp_xdp.bpf.c - the XDP steering program.
 *
 * Job: send TCP segments for the (address, port)s that xtcp serves, and for
 * xtcp's own local-port range, to the AF_XDP socket of the receiving queue;
 * everything else to the kernel (XDP_PASS). Maps: bpf/xtcp_xdp.h.
 *
 * Flow: xtcp_xdp() -> parse Ethernet (one VLAN tag) -> IPv4 -> TCP ->
 * xtcp_steered() -> bpf_redirect_map(&xsks_map, rx_queue_index, XDP_PASS).
 * IPv6 frames go to xtcp_xdp6() instead: IPv6 -> at most XTCP_IP6_EXT_MAX
 * extension headers -> TCP -> xtcp_steered6() (xtcp_serve6, then the same
 * local-port range) -> the same drain and kernel-flow rules -> redirect.
 * ICMPv6 errors about an xtcp flow go to its socket (xtcp_icmp6()); other
 * ICMPv6 (ND, RA, echo), fragments, routing headers with segments left and
 * longer chains go to the kernel, counted.
 * The XDP_PASS fallback of bpf_redirect_map is what returns a queue to the
 * kernel when its socket dies: no socket in the XSKMAP slot, no black hole.
 *
 * Flood protection (bpf/xtcp_protect.h) is asked before every XDP_PASS and
 * before every redirect of a parsed IPv4 or IPv6 header (xtcp_protect_pass6()
 * and xtcp_protect_served6() for IPv6); its drops count as "dropped".
 *
 * ICMP errors (xtcp_icmp()) quoting a segment of a flow steered here go to
 * the same AF_XDP socket: the stack needs "fragmentation needed" for path
 * MTU discovery; xtcp_icmp6() does the same for ICMPv6 errors ("packet too
 * big"). Both note the MTU for the peer (xtcp_pmtu, xtcp_pmtu6), since the
 * error may land on another process's queue than its flow's. All other ICMP
 * and ICMPv6 passes.
 *
 * Shared queues (more processes than queues, xsk/xp_share.c): a queue
 * without a socket of its own in xsks_map may be served by a group of
 * processes, one AF_XDP socket each on one UMEM. Only then, on that
 * fallback path, share_steer() sends a pure SYN to a member that listens,
 * picked by a hash of the 4-tuple among the live ones, and remembers the
 * choice (xtcp_flows; IPv6: share_steer6(), xtcp_flows6); later segments
 * and ICMP errors (share_icmp()) follow their flow. A member that died
 * has an empty XSKMAP slot (the kernel clears it): its flows are passed and
 * new ones avoid it. While members are expected (wait_until) a SYN nobody
 * can take is dropped (the peer sends it again), not given to the kernel.
 * A queue with its own socket never reaches this code.
 *
 * Kernel flows: a served segment other than a pure SYN whose 4-tuple has a
 * kernel socket (not a listener) is passed (kernel_owns_flow()): the kernel
 * accepted that connection before an AF_XDP socket was on the queue. The
 * lookup runs only on ports where the kernel may own a flow (xtcp_kflow,
 * bpf/xtcp_xdp.h), and always for a SYN|ACK. A kernel flow whose socket
 * is still in TCP_REPAIR (a hand-over: xtcp_hold, IPv6 xtcp_hold6) has its
 * segments dropped: the peer retransmits them to the finished socket.
 *
 * Decisions (docs/design-notes.md, "XDP program"):
 *  - 802.1Q/802.1ad-tagged frames (one tag) are parsed and counted, but
 *    steered only with XTCP_CFG_F_VLAN: the stack speaks untagged Ethernet,
 *    and tagged traffic belongs to the kernel's VLAN interfaces.
 *  - IPv4 fragments (MF set or offset != 0) are passed and counted: a
 *    non-first fragment has no TCP header, a first one only part of the
 *    segment, and the stack does no reassembly. TCP sets DF, so they are rare.
 *  - IPv4 options are parsed past (the TCP header is at IHL*4), counted, and
 *    steered like any segment: the stack reads IHL.
 *  - Malformed headers are passed and counted: the kernel checks again and
 *    drops them with its own counters.
 * Bounds: every header is checked with `if (h + 1 > end)` before it is read.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xtcp_xdp.h"
#include "xtcp_protect.h" /* flood protection hooks: maps prot_* */

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XTCP_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XTCP_XDP_MAX_SERVED);
	__type(key, struct xtcp_serve_key);
	__type(value, struct xtcp_serve_val);
} xtcp_serve SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XTCP_XDP_MAX_SERVED);
	__type(key, struct xtcp_serve6_key);
	__type(value, struct xtcp_serve_val);
} xtcp_serve6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xtcp_cfg);
} xtcp_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XTCP_XDP_MAX_USERS);
	__type(key, __u32);
	__type(value, struct xtcp_user);
} xtcp_users SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XTCP_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xtcp_drain SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XTCP_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} xtcp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XTCP_KFLOW_PORTS);
	__type(key, __u32);
	__type(value, struct xtcp_kflow);
} xtcp_kflow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XTCP_KFLOW_PORTS);
	__type(key, __u32);
	__type(value, __u64);
} xtcp_kclean SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_XDP_MAX_HOLDS);
	__type(key, struct xtcp_hold_key);
	__type(value, __u64);
} xtcp_hold SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_XDP_MAX_HOLDS);
	__type(key, struct xtcp_flow6_key);
	__type(value, __u64);
} xtcp_hold6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_PMTU_MAX);
	__type(key, __u32);
	__type(value, struct xtcp_pmtu);
} xtcp_pmtu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_PMTU_MAX);
	__type(key, struct xtcp_pmtu6_key);
	__type(value, struct xtcp_pmtu);
} xtcp_pmtu6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XTCP_SHARE_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct xtcp_shareq);
} xtcp_shareq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XTCP_SHARE_MAX_QUEUES *XTCP_SHARE_MAX_MEMBERS);
	__type(key, __u32);
	__type(value, __u32);
} xtcp_share_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_SHARE_MAX_FLOWS);
	__type(key, struct xtcp_flow_key);
	__type(value, struct xtcp_flow_val);
} xtcp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_SHARE_MAX_FLOWS);
	__type(key, struct xtcp_flow6_key);
	__type(value, struct xtcp_flow_val);
} xtcp_flows6 SEC(".maps");

/* 802.1Q / 802.1ad tag, after the MAC addresses. */
struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_SYNQ_MAX);
	__type(key, struct xtcp_flow_key);
	__type(value, __u32);
} xtcp_synq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XTCP_SYNQ_MAX);
	__type(key, struct xtcp_flow6_key);
	__type(value, __u32);
} xtcp_synq6 SEC(".maps");

/*
 * Set before load (xsk/xp_prog.c) on a link whose sender picks the RX queue
 * (veth: the peer's TX queue) and that has several: Linux picks a new TX
 * queue after an RTO (net.core.txrehash), so a flow's later segments can
 * reach another process's queue. Its SYN's queue is noted here, and that
 * process's stack hands such segments to the owner. A NIC's RSS hashes the
 * tuple and never moves a flow: no cost there.
 */
const volatile __u32 xtcp_note_syn_queue = 0;

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&xtcp_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline int verdict_drop(void)
{
	stat_inc(XTCP_STAT_DROPPED);
	return XDP_DROP;
}

static __always_inline int verdict_pass(__u32 cause)
{
	stat_inc(cause);
	stat_inc(XTCP_STAT_PASSED);
	return XDP_PASS;
}

enum steer { STEER_NO = 0, STEER_SERVED, STEER_LOCAL_PORT };

static __always_inline enum steer xtcp_local_port(__u16 dport);

/* Is this destination served: exact (addr, port), then (any, port), then the range? */
static __always_inline enum steer xtcp_steered(__u32 daddr, __u16 dport)
{
	struct xtcp_serve_key key = {.ip4 = daddr, .port = dport};

	if (bpf_map_lookup_elem(&xtcp_serve, &key))
		return STEER_SERVED;
	key.ip4 = 0;
	if (bpf_map_lookup_elem(&xtcp_serve, &key))
		return STEER_SERVED;
	return xtcp_local_port(dport);
}

/* The same for IPv6 (xtcp_serve6); the local-port range is shared by both families. */
static __always_inline enum steer xtcp_steered6(const struct in6_addr *daddr, __u16 dport)
{
	struct xtcp_serve6_key key = {.port = dport};

	__builtin_memcpy(key.addr, daddr, 16);
	if (bpf_map_lookup_elem(&xtcp_serve6, &key))
		return STEER_SERVED;
	__builtin_memset(key.addr, 0, 16);
	if (bpf_map_lookup_elem(&xtcp_serve6, &key))
		return STEER_SERVED;
	return xtcp_local_port(dport);
}

/* Is dport in xtcp's local-port range (its own connections)? */
static __always_inline enum steer xtcp_local_port(__u16 dport)
{
	struct xtcp_cfg *cfg;
	__u32 zero = 0;
	__u16 port;

	cfg = bpf_map_lookup_elem(&xtcp_cfg, &zero);
	if (!cfg) {
		/*
		 * Never taken (an array always has slot 0). It ties xtcp_users to
		 * the program, so that another process finds the user table among
		 * the attached program's maps (xsk/xp_prog.c adopt_maps()).
		 */
		bpf_map_lookup_elem(&xtcp_users, &zero);
		return STEER_NO;
	}
	if (!cfg->lport_min)
		return STEER_NO;
	port = bpf_ntohs(dport);
	if (port >= cfg->lport_min && port <= cfg->lport_max) {
		stat_inc(XTCP_STAT_LOCAL_PORT);
		return STEER_LOCAL_PORT;
	}
	return STEER_NO;
}

/*
 * Is this queue draining: its owner stopped listening (xp_port_drain()), or
 * a successor waits for it (xp_prog_drain_successor())? No new flows then.
 */
static __always_inline int queue_draining(__u32 queue)
{
	__u32 succ = queue + XTCP_XDP_MAX_QUEUES;
	__u32 *d = bpf_map_lookup_elem(&xtcp_drain, &queue);

	if (d && *d)
		return 1;
	d = bpf_map_lookup_elem(&xtcp_drain, &succ);
	return d && *d;
}

/* Are tagged frames steered too (XTCP_CFG_F_VLAN)? */
static __always_inline int vlan_steering(void)
{
	__u32 zero = 0;
	struct xtcp_cfg *cfg = bpf_map_lookup_elem(&xtcp_cfg, &zero);

	return cfg && (cfg->flags & XTCP_CFG_F_VLAN);
}

/*
 * Does the kernel own this segment's connection? A served port has a kernel
 * listener too (loopback, fallback), and SYNs that arrived while no AF_XDP
 * socket was on their queue made kernel connections: their later segments
 * must stay with the kernel even once a socket appears. A kernel socket for
 * the 4-tuple owns it unless it is the listener (then the flow is not the
 * kernel's) or in TIME-WAIT: a new xtcp connection may reuse the 4-tuple of
 * a finished kernel one, and the old one needs nothing more from the peer.
 */
static __always_inline int kernel_owns_tuple(struct xdp_md *ctx, struct bpf_sock_tuple *t,
					     __u32 len)
{
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, t, len, BPF_F_CURRENT_NETNS, 0);
	int owned;

	if (!sk)
		return 0;
	owned = sk->state != BPF_TCP_LISTEN && sk->state != BPF_TCP_TIME_WAIT;
	bpf_sk_release(sk);
	return owned;
}

/* The segment's tuple as the kernel sees it. */
static __always_inline int kernel_owns_flow(struct xdp_md *ctx, struct iphdr *ip, struct tcphdr *th)
{
	struct bpf_sock_tuple t = {};

	t.ipv4.saddr = ip->saddr;
	t.ipv4.daddr = ip->daddr;
	t.ipv4.sport = th->source;
	t.ipv4.dport = th->dest;
	return kernel_owns_tuple(ctx, &t, sizeof(t.ipv4));
}

/*
 * A SYN of a served port goes to the kernel, or the kernel owns a flow the
 * program just found: the port needs the lookup until userspace has seen it
 * free of kernel connections again. The bump comes before the frame goes up,
 * so a check that read the old gen fails.
 */
static __always_inline void kflow_note(__be16 dport)
{
	__u32 port = bpf_ntohs(dport);
	struct xtcp_kflow *k = bpf_map_lookup_elem(&xtcp_kflow, &port);

	if (!k)
		return;
	__sync_fetch_and_add(&k->gen, 1);
	k->last_ns = bpf_ktime_get_ns();
}

/*
 * Is the kernel socket of this flow still being built (struct xtcp_hold_key)?
 * Asked only of segments the kernel would get. An entry whose deadline
 * passed (its process died in the hand-over) holds nothing.
 */
static __always_inline int flow_held(struct iphdr *ip, struct tcphdr *th)
{
	struct xtcp_hold_key k = {
		.saddr = ip->saddr, .daddr = ip->daddr, .sport = th->source, .dport = th->dest};
	__u64 *until = bpf_map_lookup_elem(&xtcp_hold, &k);

	return until && *until > bpf_ktime_get_ns();
}

/* flow_held() for IPv6 (xtcp_hold6), the key as share_steer6() builds it. */
static __always_inline int flow_held6(const struct xtcp_flow6_key *k)
{
	__u64 *until = bpf_map_lookup_elem(&xtcp_hold6, k);

	return until && *until > bpf_ktime_get_ns();
}

/* May the kernel own a connection on this served port? */
static __always_inline int kflow_possible(__be16 dport)
{
	__u32 port = bpf_ntohs(dport);
	struct xtcp_kflow *k = bpf_map_lookup_elem(&xtcp_kflow, &port);
	__u64 *clean = bpf_map_lookup_elem(&xtcp_kclean, &port);

	return !k || !clean || *clean != k->gen + 1;
}

/* ICMP header (RFC 792): <linux/icmp.h> would pull libc headers into the BPF build. */
struct icmp_head {
	__u8 type;
	__u8 code;
	__be16 csum;
	__be32 rest; /* "fragmentation needed": unused, next-hop MTU (RFC 1191) */
};
#define ICMP_T_DEST_UNREACH  3
#define ICMP_T_TIME_EXCEEDED 11
#define ICMP_T_PARAMETERPROB 12
#define ICMP_C_FRAG_NEEDED   4

/* A "fragmentation needed" about an xtcp flow: noted in xtcp_pmtu once steered. */
struct icmp_pmtu_note {
	__u32 peer; /* network order; 0 = nothing to note */
	__u32 mtu;
};

/* The start of the TCP header an ICMP error quotes: RFC 792 promises 8 bytes. */
struct icmp_tcp_quote {
	__be16 source; /* our port: the quoted segment is one we sent */
	__be16 dest;
	__be32 seq;
};

/* Does the kernel own the connection an ICMP error quotes (as kernel_owns_flow())? */
static __always_inline int icmp_kernel_owns(struct xdp_md *ctx, struct iphdr *qip,
					    struct icmp_tcp_quote *q)
{
	struct bpf_sock_tuple t = {};

	/* the tuple as the kernel sees the flow's incoming segments */
	t.ipv4.saddr = qip->daddr;
	t.ipv4.daddr = qip->saddr;
	t.ipv4.sport = q->dest;
	t.ipv4.dport = q->source;
	return kernel_owns_tuple(ctx, &t, sizeof(t.ipv4));
}

/*
 * Is this ICMP datagram an error about one of xtcp's flows? Destination
 * unreachable (with "fragmentation needed" the path MTU, RFC 1191), time
 * exceeded and parameter problem quote the IPv4 header and at least 8 bytes
 * of the TCP header of a segment we sent (RFC 792): our address and port are
 * its source. That flow is steered as its own segments are: a served
 * {address, port} (after the kernel-flow check) or xtcp's local-port range;
 * VLAN as for TCP. Anything short, fragmented or not quoting TCP from the
 * frame's own destination stays with the kernel, which handles ICMP for
 * its own sockets. Every header is bounds-checked before it is read.
 */
static __always_inline enum steer icmp_error_flow(struct xdp_md *ctx, struct iphdr *ip, __u32 ihl,
						  int tagged, struct icmp_pmtu_note *note)
{
	void *end = (void *)(long)ctx->data_end;
	struct icmp_head *ic = (void *)ip + ihl;
	struct icmp_tcp_quote *q;
	struct iphdr *qip;
	enum steer steer;
	__u32 qihl;

	if ((void *)(ic + 1) > end || (ip->frag_off & bpf_htons(0x3fff)))
		return STEER_NO;
	if (ic->type != ICMP_T_DEST_UNREACH && ic->type != ICMP_T_TIME_EXCEEDED &&
	    ic->type != ICMP_T_PARAMETERPROB)
		return STEER_NO;
	qip = (void *)(ic + 1);
	if ((void *)(qip + 1) > end)
		return STEER_NO;
	stat_inc(XTCP_STAT_ICMP_ERROR);
	qihl = qip->ihl * 4;
	if (qip->version != 4 || qihl < sizeof(*qip) || qip->protocol != IPPROTO_TCP ||
	    qip->saddr != ip->daddr || (qip->frag_off & bpf_htons(0x1fff)))
		return STEER_NO;
	q = (void *)qip + qihl;
	if ((void *)(q + 1) > end)
		return STEER_NO;
	steer = xtcp_steered(qip->saddr, q->source);
	if (steer != STEER_NO && tagged && !vlan_steering())
		return STEER_NO;
	if (steer == STEER_SERVED && kflow_possible(q->source)) {
		stat_inc(XTCP_STAT_KFLOW_LOOKUP);
		if (icmp_kernel_owns(ctx, qip, q)) {
			stat_inc(XTCP_STAT_KERNEL_FLOW);
			return STEER_NO;
		}
	}
	if (ic->type == ICMP_T_DEST_UNREACH && ic->code == ICMP_C_FRAG_NEEDED) {
		note->peer = qip->daddr;
		note->mtu = bpf_ntohl(ic->rest) & 0xffff;
	}
	return steer;
}

__attribute__((noinline)) int share_steer(struct xdp_md *ctx, __u32 saddr, __u32 daddr, __u32 ports,
					  __u64 syn_seq);

/*
 * An error icmp_error_flow() steers, on a queue with no socket of its own:
 * to the member its flow went to (the tuple of the flow's incoming
 * segments, peer to us), as share_steer() sends those; -1 if not shared.
 */
static __always_inline long share_icmp(struct xdp_md *ctx, struct iphdr *ip, __u32 ihl)
{
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *qip = (void *)ip + ihl + sizeof(struct icmp_head);
	struct icmp_tcp_quote *q;

	if ((void *)(qip + 1) > end)
		return -1;
	q = (void *)qip + qip->ihl * 4;
	if ((void *)(q + 1) > end)
		return -1;
	return share_steer(ctx, qip->daddr, qip->saddr, (__u32)q->dest << 16 | q->source, 0);
}

/*
 * An ICMP datagram: an error about an xtcp flow goes to the AF_XDP socket
 * of this queue, like the flow's segments (the stack's icmp.c checks the
 * quote against its connections); everything else ICMP to the kernel.
 * Protection treats both as ICMP (xtcp_protect_pass()).
 */
static __always_inline int xtcp_icmp(struct xdp_md *ctx, struct iphdr *ip, __u32 ihl, int tagged)
{
	struct icmp_pmtu_note note = {};
	enum steer steer = icmp_error_flow(ctx, ip, ihl, tagged, &note);
	long rc;

	if (xtcp_protect_pass(ctx, ip) != XDP_PASS)
		return verdict_drop();
	if (steer == STEER_NO)
		return verdict_pass(XTCP_STAT_NOT_TCP);
	stat_inc(XTCP_STAT_ICMP_STEERED);
	if (note.peer) {
		/* for the stack that holds the flow, whichever queue this is (xtcp_xdp.h) */
		struct xtcp_pmtu v = {.mtu = note.mtu, .ns = bpf_ktime_get_ns()};

		bpf_map_update_elem(&xtcp_pmtu, &note.peer, &v, BPF_ANY);
	}
	rc = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	if (rc == XDP_REDIRECT) {
		stat_inc(XTCP_STAT_REDIRECTED);
		return XDP_REDIRECT;
	}
	rc = share_icmp(ctx, ip, ihl);
	if (rc >= 0)
		return (int)rc;
	return verdict_pass(XTCP_STAT_NO_SOCKET);
}

/* kernel_owns_flow() for IPv6: the same rule, the v6 tuple. */
static __always_inline int kernel_owns_flow6(struct xdp_md *ctx, struct ipv6hdr *ip6,
					     struct tcphdr *th)
{
	struct bpf_sock_tuple t = {};

	__builtin_memcpy(t.ipv6.saddr, &ip6->saddr, 16);
	__builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
	t.ipv6.sport = th->source;
	t.ipv6.dport = th->dest;
	return kernel_owns_tuple(ctx, &t, sizeof(t.ipv6));
}

/*
 * Walk IPv6 extension headers from the one after the fixed header (*nh) to
 * TCP, at most XTCP_IP6_EXT_MAX of them, each checked against end before it
 * is read. Returns 0 with *l4 at the TCP header, or the counter of the pass
 * verdict: fragments (no whole TCP header), a routing header with segments
 * left (the kernel forwards or answers it), other upper layers, too many.
 */
static __always_inline __u32 ip6_walk(void **l4, void *end, __u8 *nh)
{
	void *p = *l4;
	__u8 n = *nh;

#pragma unroll
	for (int i = 0; i < XTCP_IP6_EXT_MAX; i++) {
		struct ipv6_opt_hdr *h = p;

		if (n == IPPROTO_TCP)
			break;
		if (n == IPPROTO_FRAGMENT)
			return XTCP_STAT_IP6_FRAG;
		if (n == IPPROTO_ICMPV6)
			return XTCP_STAT_ICMP6;
		if (n != IPPROTO_HOPOPTS && n != IPPROTO_ROUTING && n != IPPROTO_DSTOPTS)
			return XTCP_STAT_NOT_TCP;
		if ((void *)h + 8 > end)
			return XTCP_STAT_MALFORMED;
		if (n == IPPROTO_ROUTING && ((struct ipv6_rt_hdr *)h)->segments_left)
			return XTCP_STAT_IP6_EXT;
		n = h->nexthdr;
		p += ((__u32)h->hdrlen + 1) * 8;
	}
	if (n == IPPROTO_ICMPV6)
		return XTCP_STAT_ICMP6;
	if (n != IPPROTO_TCP)
		return n == IPPROTO_FRAGMENT ? XTCP_STAT_IP6_FRAG : XTCP_STAT_IP6_EXT;
	if (p != *l4)
		stat_inc(XTCP_STAT_IP6_EXT); /* once per frame that had any */
	*l4 = p;
	*nh = n;
	return 0;
}

#define ICMP6_T_DEST_UNREACH  1
#define ICMP6_T_PKT_TOOBIG    2
#define ICMP6_T_TIME_EXCEEDED 3
#define ICMP6_T_PARAMPROB     4

/* Two IPv6 addresses equal (word-wise: the BPF target has no memcmp)? */
static __always_inline int addr6_eq(const struct in6_addr *a, const struct in6_addr *b)
{
	return !((a->in6_u.u6_addr32[0] ^ b->in6_u.u6_addr32[0]) |
		 (a->in6_u.u6_addr32[1] ^ b->in6_u.u6_addr32[1]) |
		 (a->in6_u.u6_addr32[2] ^ b->in6_u.u6_addr32[2]) |
		 (a->in6_u.u6_addr32[3] ^ b->in6_u.u6_addr32[3]));
}

/* icmp_kernel_owns() for IPv6: the quoted flow's tuple reversed, as its segments arrive. */
static __always_inline int icmp6_kernel_owns(struct xdp_md *ctx, struct ipv6hdr *qip,
					     struct icmp_tcp_quote *q)
{
	struct bpf_sock_tuple t = {};

	__builtin_memcpy(t.ipv6.saddr, &qip->daddr, 16);
	__builtin_memcpy(t.ipv6.daddr, &qip->saddr, 16);
	t.ipv6.sport = q->dest;
	t.ipv6.dport = q->source;
	return kernel_owns_tuple(ctx, &t, sizeof(t.ipv6));
}

/*
 * icmp_error_flow() for ICMPv6 (RFC 4443), right after the fixed header:
 * destination unreachable, packet too big (the path MTU, RFC 8201), time
 * exceeded and parameter problem quote the IPv6 header and the start of a
 * segment we sent. xtcp sends no extension headers, so the quote's next
 * header must be TCP, its source the frame's destination, and 8 bytes of
 * TCP must follow. Its flow is steered as its segments are (xtcp_steered6,
 * VLAN, the kernel-flow check). ND, RA, echo and errors about other flows
 * stay with the kernel. A packet too big is noted in *mtu (0: none), for
 * xtcp_pmtu6 once steered.
 */
static __always_inline enum steer icmp6_error_flow(struct xdp_md *ctx, struct ipv6hdr *ip6,
						   void *end, int tagged, __u32 *mtu)
{
	struct icmp_head *ic = (void *)(ip6 + 1);
	struct icmp_tcp_quote *q;
	struct ipv6hdr *qip;
	enum steer steer;

	if ((void *)(ic + 1) > end)
		return STEER_NO;
	if (ic->type < ICMP6_T_DEST_UNREACH || ic->type > ICMP6_T_PARAMPROB)
		return STEER_NO;
	qip = (void *)(ic + 1);
	if ((void *)(qip + 1) > end)
		return STEER_NO;
	stat_inc(XTCP_STAT_ICMP_ERROR);
	q = (void *)(qip + 1);
	if (qip->version != 6 || qip->nexthdr != IPPROTO_TCP || (void *)(q + 1) > end ||
	    !addr6_eq(&qip->saddr, &ip6->daddr))
		return STEER_NO;
	steer = xtcp_steered6(&qip->saddr, q->source);
	if (steer != STEER_NO && tagged && !vlan_steering())
		return STEER_NO;
	if (steer == STEER_SERVED && kflow_possible(q->source)) {
		stat_inc(XTCP_STAT_KFLOW_LOOKUP);
		if (icmp6_kernel_owns(ctx, qip, q)) {
			stat_inc(XTCP_STAT_KERNEL_FLOW);
			return STEER_NO;
		}
	}
	if (ic->type == ICMP6_T_PKT_TOOBIG)
		*mtu = bpf_ntohl(ic->rest); /* RFC 4443 3.2: the whole word is the MTU */
	return steer;
}

/*
 * An ICMPv6 datagram: an error about an xtcp flow to this queue's AF_XDP
 * socket (the stack's icmp.c checks it again); everything else ICMPv6 to the
 * kernel, which needs ND and RA. Flood protection was asked before
 * (xtcp_xdp6(): ND and MLD always pass).
 */
static __always_inline int xtcp_icmp6(struct xdp_md *ctx, struct ipv6hdr *ip6, void *end,
				      int tagged)
{
	__u32 mtu = 0;
	long rc;

	if (icmp6_error_flow(ctx, ip6, end, tagged, &mtu) == STEER_NO)
		return verdict_pass(XTCP_STAT_ICMP6);
	stat_inc(XTCP_STAT_ICMP_STEERED);
	if (mtu) {
		/* as xtcp_icmp(): for the stack that holds the flow, whichever queue this is */
		struct xtcp_pmtu v = {.mtu = mtu, .ns = bpf_ktime_get_ns()};
		struct xtcp_pmtu6_key pk;
		struct ipv6hdr *qip = (void *)(ip6 + 1) + sizeof(struct icmp_head);

		if ((void *)(qip + 1) <= end) {
			__builtin_memcpy(pk.addr, &qip->daddr, 16);
			bpf_map_update_elem(&xtcp_pmtu6, &pk, &v, BPF_ANY);
		}
	}
	rc = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	if (rc == XDP_REDIRECT) {
		stat_inc(XTCP_STAT_REDIRECTED);
		stat_inc(XTCP_STAT_IP6_REDIRECTED);
		return XDP_REDIRECT;
	}
	return verdict_pass(XTCP_STAT_NO_SOCKET);
}
__attribute__((noinline)) int share_steer6(struct xdp_md *ctx, const struct xtcp_flow6_key *fk,
					   __u64 syn_seq);

/*
 * IPv6: the IPv4 path's rules (served or local port, drain, kernel flows,
 * flood protection). Kept apart from the IPv4 path so that both grow
 * independently.
 */
static __always_inline int xtcp_xdp6(struct xdp_md *ctx, void *l3, void *end, int tagged)
{
	/* for xtcp_protect_pass6(), which takes no packet pointer */
	__u32 l3off = sizeof(struct ethhdr) + (tagged ? sizeof(struct vlan_tag) : 0);
	struct xtcp_flow6_key fk;
	struct ipv6hdr *ip6 = l3;
	struct tcphdr *th;
	enum steer steer;
	void *l4;
	__u8 nh;
	__u32 why;
	long rc;

	stat_inc(XTCP_STAT_IP6);
	if ((void *)(ip6 + 1) > end)
		return verdict_pass(XTCP_STAT_MALFORMED);
	if (ip6->version != 6)
		return verdict_pass(XTCP_STAT_MALFORMED);
	if (ip6->nexthdr == IPPROTO_ICMPV6) {
		if (xtcp_protect_pass6(ctx, l3off) != XDP_PASS)
			return verdict_drop();
		return xtcp_icmp6(ctx, ip6, end, tagged);
	}
	l4 = ip6 + 1;
	nh = ip6->nexthdr;
	why = ip6_walk(&l4, end, &nh);
	if (why) {
		if (xtcp_protect_pass6(ctx, l3off) != XDP_PASS)
			return verdict_drop();
		return verdict_pass(why);
	}
	th = l4;
	if ((void *)(th + 1) > end)
		return verdict_pass(XTCP_STAT_MALFORMED);
	if (th->doff < 5 ||
	    (void *)th + th->doff * 4 > (void *)(ip6 + 1) + bpf_ntohs(ip6->payload_len))
		return verdict_pass(XTCP_STAT_MALFORMED);

	steer = xtcp_steered6(&ip6->daddr, th->dest);
	if (steer != STEER_NO && tagged && !vlan_steering())
		steer = STEER_NO;
	/* as for IPv4 (xtcp_xdp()): new flows to the kernel while draining; kernel flows stay */
	if (steer == STEER_SERVED && th->syn && !th->ack) {
		if (queue_draining(ctx->rx_queue_index)) {
			stat_inc(XTCP_STAT_DRAIN);
			kflow_note(th->dest);
			steer = STEER_NO;
		}
	} else if (steer == STEER_SERVED && (th->syn || kflow_possible(th->dest))) {
		stat_inc(XTCP_STAT_KFLOW_LOOKUP);
		if (kernel_owns_flow6(ctx, ip6, th)) {
			__builtin_memcpy(fk.saddr, &ip6->saddr, 16);
			__builtin_memcpy(fk.daddr, &ip6->daddr, 16);
			fk.sport = th->source;
			fk.dport = th->dest;
			if (flow_held6(&fk)) {
				stat_inc(XTCP_STAT_HANDOVER_HOLD);
				return verdict_drop();
			}
			stat_inc(XTCP_STAT_KERNEL_FLOW);
			if (th->syn)
				kflow_note(th->dest);
			steer = STEER_NO;
		}
	}
	if (steer == STEER_NO) {
		if (xtcp_protect_pass6(ctx, l3off) != XDP_PASS)
			return verdict_drop();
		stat_inc(XTCP_STAT_PASSED);
		return XDP_PASS;
	}
	if (xtcp_protect_served6(ctx, ip6, th) != XDP_PASS)
		return verdict_drop();
	rc = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	if (rc == XDP_REDIRECT) {
		stat_inc(XTCP_STAT_REDIRECTED);
		stat_inc(XTCP_STAT_IP6_REDIRECTED);
		if (xtcp_note_syn_queue && steer == STEER_SERVED && th->syn && !th->ack) {
			__u32 q = ctx->rx_queue_index;

			__builtin_memcpy(fk.saddr, &ip6->saddr, 16);
			__builtin_memcpy(fk.daddr, &ip6->daddr, 16);
			fk.sport = th->source;
			fk.dport = th->dest;
			bpf_map_update_elem(&xtcp_synq6, &fk, &q, BPF_ANY);
		}
		return XDP_REDIRECT;
	}
	/* No socket of its own on this queue: maybe a group shares it (as for IPv4). */
	__builtin_memcpy(fk.saddr, &ip6->saddr, 16);
	__builtin_memcpy(fk.daddr, &ip6->daddr, 16);
	fk.sport = th->source;
	fk.dport = th->dest;
	rc = share_steer6(ctx, &fk,
			  steer == STEER_SERVED && th->syn && !th->ack ? (__u64)th->seq << 32 | 1
								       : 0);
	if (rc >= 0) {
		if (rc == XDP_REDIRECT)
			stat_inc(XTCP_STAT_IP6_REDIRECTED);
		return (int)rc;
	}
	if (steer == STEER_SERVED && th->syn && !th->ack)
		kflow_note(th->dest);
	return verdict_pass(XTCP_STAT_NO_SOCKET);
}

/*
 * Shared queues. The share_* functions are global: the verifier checks each
 * once on its own instead of walking their loops again at every call site
 * (the program's load time is on the path of a client's first connect).
 */
static __always_inline int share_sock(__u32 q, __u32 m)
{
	__u32 k = q * XTCP_SHARE_MAX_MEMBERS + m;

	return m < XTCP_SHARE_MAX_MEMBERS && bpf_map_lookup_elem(&xtcp_share_xsks, &k);
}

/*
 * The member for a hash among those of queue q that listen (slot[0..n)),
 * skipping one whose socket is gone (it died: the kernel emptied its slot;
 * its entry stays until another member rewrites the list), or -1.
 */
__attribute__((noinline)) int share_pick(__u32 q, __u32 hash)
{
	struct xtcp_shareq *sq = bpf_map_lookup_elem(&xtcp_shareq, &q);
	__u32 n, i;

	if (!sq)
		return -1;
	n = sq->n;
	/* Just after a reload the new workers alone take new flows (xsk/xp_share.c). */
	if (bpf_ktime_get_ns() < sq->new_until)
		n = sq->n_new;
	if (!n || n > XTCP_SHARE_MAX_MEMBERS)
		return -1;
	i = hash % n;
	for (__u32 t = 0; t < XTCP_SHARE_MAX_MEMBERS; t++) {
		__u32 j = i + t, m;

		if (t >= n)
			break;
		if (j >= n)
			j -= n;
		m = sq->slot[j & (XTCP_SHARE_MAX_MEMBERS - 1)];
		if (share_sock(q, m))
			return (int)m;
	}
	return -1;
}

static __always_inline __u32 flow_hash(const struct xtcp_flow_key *f)
{
	/* murmur3's finaliser over the 4-tuple: ports and addresses all mix in. */
	__u32 h = f->saddr * 0x9e3779b1u ^ f->daddr;

	h ^= ((__u32)f->sport << 16 | f->dport) * 0x85ebca6bu;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

/*
 * A SYN of a shared queue: the member that listens for its flow, or -1. The
 * hash picks the same member for a retransmitted SYN while the members that
 * listen stay the same; the table remembers it for the flow's later segments.
 */
static __always_inline int share_syn_member(__u32 q, struct xtcp_flow_key *fk, __u32 seq)
{
	struct xtcp_flow_val fv;
	int m = share_pick(q, flow_hash(fk));

	if (m < 0)
		return -1;
	fv.member = (__u32)m;
	fv.isn = seq;
	bpf_map_update_elem(&xtcp_flows, fk, &fv, BPF_ANY);
	return m;
}

/* The queue's entry, if q may be shared at all. */
static __always_inline struct xtcp_shareq *share_queue(__u32 q)
{
	if (q >= XTCP_SHARE_MAX_QUEUES)
		return 0;
	return bpf_map_lookup_elem(&xtcp_shareq, &q);
}

/* A SYN no member took: dropped while serving processes start (the peer's retry finds them). */
static __always_inline int share_syn_waits(const struct xtcp_shareq *sq)
{
	if (bpf_ktime_get_ns() < sq->wait_until || bpf_ktime_get_ns() < sq->new_until) {
		stat_inc(XTCP_STAT_SHARE_WAIT);
		return 1;
	}
	return 0;
}

/* Redirect to member m of queue q: the verdict, or -1 if its socket is gone. */
static __always_inline int share_send(__u32 q, int m)
{
	__u32 key;

	if (m < 0 || m >= XTCP_SHARE_MAX_MEMBERS)
		return -1;
	key = q * XTCP_SHARE_MAX_MEMBERS + (__u32)m;
	if (bpf_redirect_map(&xtcp_share_xsks, key, XDP_PASS) == XDP_REDIRECT) {
		stat_inc(XTCP_STAT_REDIRECTED);
		return XDP_REDIRECT;
	}
	stat_inc(XTCP_STAT_SHARE_GONE);
	return -1;
}

/*
 * A served segment on a queue with no socket in xsks_map: the verdict, or
 * -1 to pass it as on a queue nobody serves. The segment comes as scalars
 * (addresses and ports as on the wire; syn_seq = seq << 32 | 1 for a pure
 * SYN to a served port, 0 otherwise).
 */
__attribute__((noinline)) int share_steer(struct xdp_md *ctx, __u32 saddr, __u32 daddr, __u32 ports,
					  __u64 syn_seq)
{
	struct xtcp_flow_key fk = {saddr, daddr, (__u16)(ports >> 16), (__u16)ports};
	__u32 q = ctx->rx_queue_index;
	struct xtcp_flow_val *owner;
	struct xtcp_shareq *sq = share_queue(q);
	int m = -1;

	if (!sq)
		return -1;
	if (syn_seq & 1) {
		if (sq->shared)
			m = share_syn_member(q, &fk, (__u32)(syn_seq >> 32));
		if (m < 0 && share_syn_waits(sq))
			return verdict_drop();
	} else if (sq->shared) {
		owner = bpf_map_lookup_elem(&xtcp_flows, &fk);
		/* Not seen starting: a flow of the first holder from before the sharing. */
		m = owner ? (int)owner->member : (int)sq->dflt;
	}
	return share_send(q, m);
}

/*
 * share_steer() for IPv6, the flow by pointer (five scalars do not carry
 * two 16-byte addresses) and remembered in xtcp_flows6. The hash folds
 * each address to 32 bits, then mixes as for IPv4.
 */
__attribute__((noinline)) int share_steer6(struct xdp_md *ctx, const struct xtcp_flow6_key *fk,
					   __u64 syn_seq)
{
	__u32 q = ctx->rx_queue_index, s[4], d[4];
	struct xtcp_flow_key folded;
	struct xtcp_flow_val *owner, fv;
	struct xtcp_shareq *sq;
	int m = -1;

	if (!fk)
		return -1;
	sq = share_queue(q);
	if (!sq)
		return -1;
	if (syn_seq & 1) {
		if (sq->shared) {
			__builtin_memcpy(s, fk->saddr, 16);
			__builtin_memcpy(d, fk->daddr, 16);
			folded.saddr =
				((s[0] * 0x9e3779b1u ^ s[1]) * 0x9e3779b1u ^ s[2]) * 0x9e3779b1u ^
				s[3];
			folded.daddr =
				((d[0] * 0x9e3779b1u ^ d[1]) * 0x9e3779b1u ^ d[2]) * 0x9e3779b1u ^
				d[3];
			folded.sport = fk->sport;
			folded.dport = fk->dport;
			m = share_pick(q, flow_hash(&folded));
			if (m >= 0) {
				fv.member = (__u32)m;
				fv.isn = (__u32)(syn_seq >> 32);
				bpf_map_update_elem(&xtcp_flows6, fk, &fv, BPF_ANY);
			}
		}
		if (m < 0 && share_syn_waits(sq))
			return verdict_drop();
	} else if (sq->shared) {
		owner = bpf_map_lookup_elem(&xtcp_flows6, fk);
		m = owner ? (int)owner->member : (int)sq->dflt;
	}
	return share_send(q, m);
}

SEC("xdp")
int xtcp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *th;
	void *l3;
	enum steer steer;
	int tagged = 0;
	__u16 proto;
	__u32 ihl;
	long rc;

	if ((void *)(eth + 1) > end)
		return verdict_pass(XTCP_STAT_MALFORMED);
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_tag *vt = l3;

		if ((void *)(vt + 1) > end)
			return verdict_pass(XTCP_STAT_MALFORMED);
		stat_inc(XTCP_STAT_VLAN);
		tagged = 1;
		proto = vt->proto;
		l3 = vt + 1;
	}
	if (proto == bpf_htons(ETH_P_IPV6))
		return xtcp_xdp6(ctx, l3, end, tagged);
	if (proto != bpf_htons(ETH_P_IP))
		return verdict_pass(XTCP_STAT_NOT_IP4);

	ip = l3;
	if ((void *)(ip + 1) > end)
		return verdict_pass(XTCP_STAT_MALFORMED);
	ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < sizeof(*ip) || bpf_ntohs(ip->tot_len) < ihl)
		return verdict_pass(XTCP_STAT_MALFORMED);
	if (ip->protocol == IPPROTO_ICMP)
		return xtcp_icmp(ctx, ip, ihl, tagged);
	if (ip->protocol != IPPROTO_TCP) {
		if (xtcp_protect_pass(ctx, ip) != XDP_PASS)
			return verdict_drop();
		return verdict_pass(XTCP_STAT_NOT_TCP);
	}
	/* MF set or a fragment offset: no (whole) TCP header to steer by. */
	if (ip->frag_off & bpf_htons(0x3fff)) {
		if (xtcp_protect_pass(ctx, ip) != XDP_PASS)
			return verdict_drop();
		return verdict_pass(XTCP_STAT_FRAGMENTS);
	}
	if (ihl > sizeof(*ip))
		stat_inc(XTCP_STAT_IP_OPTIONS);

	th = (void *)ip + ihl;
	if ((void *)(th + 1) > end)
		return verdict_pass(XTCP_STAT_MALFORMED);
	if (th->doff < 5 || bpf_ntohs(ip->tot_len) < ihl + th->doff * 4)
		return verdict_pass(XTCP_STAT_MALFORMED);

	steer = xtcp_steered(ip->daddr, th->dest);
	if (steer != STEER_NO && tagged && !vlan_steering())
		steer = STEER_NO;
	/*
	 * A pure SYN starts a new flow: ours, unless this queue's socket is
	 * draining (its process stopped listening: the kernel's listener takes
	 * new flows). Anything else may be a kernel flow, where the kernel may
	 * have one on this port; a SYN|ACK answers a connect, maybe the
	 * kernel's: always asked, and a kernel one makes the port need the
	 * lookup for that flow's later segments.
	 */
	if (steer == STEER_SERVED && th->syn && !th->ack) {
		if (queue_draining(ctx->rx_queue_index)) {
			stat_inc(XTCP_STAT_DRAIN);
			kflow_note(th->dest);
			steer = STEER_NO;
		}
	} else if (steer == STEER_SERVED && (th->syn || kflow_possible(th->dest))) {
		stat_inc(XTCP_STAT_KFLOW_LOOKUP);
		if (kernel_owns_flow(ctx, ip, th)) {
			if (flow_held(ip, th)) {
				stat_inc(XTCP_STAT_HANDOVER_HOLD);
				return verdict_drop();
			}
			stat_inc(XTCP_STAT_KERNEL_FLOW);
			if (th->syn)
				kflow_note(th->dest);
			steer = STEER_NO;
		}
	}
	if (steer == STEER_NO) {
		if (xtcp_protect_pass(ctx, ip) != XDP_PASS)
			return verdict_drop();
		stat_inc(XTCP_STAT_PASSED);
		return XDP_PASS;
	}
	if (xtcp_protect_served(ctx, ip, th) != XDP_PASS)
		return verdict_drop();
	rc = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	if (rc == XDP_REDIRECT) {
		stat_inc(XTCP_STAT_REDIRECTED);
		if (xtcp_note_syn_queue && steer == STEER_SERVED && th->syn && !th->ack) {
			struct xtcp_flow_key fk = {ip->saddr, ip->daddr, th->source, th->dest};
			__u32 q = ctx->rx_queue_index;

			bpf_map_update_elem(&xtcp_synq, &fk, &q, BPF_ANY);
		}
		return XDP_REDIRECT;
	}
	/* No socket of its own on this queue: maybe a group shares it. */
	rc = share_steer(ctx, ip->saddr, ip->daddr, (__u32)th->source << 16 | th->dest,
			 steer == STEER_SERVED && th->syn && !th->ack ? (__u64)th->seq << 32 | 1
								      : 0);
	if (rc >= 0)
		return (int)rc;
	/* No socket on this queue: a served SYN makes a kernel flow. */
	if (steer == STEER_SERVED && th->syn && !th->ack)
		kflow_note(th->dest);
	return verdict_pass(XTCP_STAT_NO_SOCKET);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
