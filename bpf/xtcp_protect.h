/*
 * xtcp_protect.h - flood protection in the XDP fast path: maps, their layout
 * (shared with userspace: tools/protect_cfg.c, xtcpctl) and the two hooks the
 * steering program (xtcp_xdp.bpf.c) calls.
 *
 * Call order (one line each in the steering program):
 *   TCP segment to a served (addr, port), before bpf_redirect_map():
 *       if (xtcp_protect_served(ctx, iph, th) != XDP_PASS) return XDP_DROP;
 *           1. source allow/deny list (prot_acl, LPM), when enabled: the
 *              kernel's netfilter never sees these segments, this replaces it
 *           2. SYN without ACK: per-source SYN rate (prot_syn, LRU), sources in
 *              prot_allow exempt; the stack's SYN cookies handle what passes
 *   any other IPv4 packet, before XDP_PASS (UDP, ICMP, kernel TCP, fragments):
 *       if (xtcp_protect_pass(ctx, iph) != XDP_PASS) return XDP_DROP;
 *           1. source in prot_allow (LPM): never dropped or limited
 *           2. per-destination-port rule (prot_port): allow / drop / rate
 *           3. for the protocol classes in cfg.scope: per-source token bucket
 *              (prot_src, LRU) then the global budget (prot_glob)
 *   IPv6: xtcp_protect_served6(ctx, ip6, th) and xtcp_protect_pass6(ctx, l3off),
 *   the same steps on the IPv6 tables: prot_acl6 and prot_allow6 (LPM on
 *   IPv6 prefixes), prot_syn6 and prot_src6 keyed by the source's prefix of
 *   cfg.src6_plen bits (/64 unless set: one host, or one attacker, usually
 *   owns a whole /64, so per-address buckets would be no limit at all). Port
 *   rules and the global budget are shared by both families. Before any rule,
 *   Neighbour Discovery (RFC 4861: types 133-137, hop limit 255) and MLD
 *   (RFC 2710/3810: types 130-132 and 143, hop limit 1) pass: without them
 *   the link breaks, and those hop limits prove the sender is on the link.
 * ARP and non-IP frames never reach a hook.
 *
 * Defaults: an all-zero prot_cfg (nothing written yet) limits nothing. The
 * userspace defaults (protect_cfg_defaults()) limit only UDP and other non-TCP,
 * non-ICMP protocols per source, generously; ICMP and kernel TCP (ssh) are
 * outside the default scope; SYN limit and the served-port list are off.
 *
 * Rate limits are GCRA token buckets in nanoseconds: one u64 "theoretical
 * arrival time" per bucket. Updates from several CPUs race without locks: the
 * worst case is a few extra packets admitted, never a wrong drop of a quiet
 * source. Every verdict is counted per reason in prot_stats (per-CPU).
 */
#ifndef XTCP_PROTECT_H
#define XTCP_PROTECT_H

#include <linux/types.h>

/* Counters (prot_stats, per-CPU array), X(enum, name shown by xtcpctl). */
#define PROT_COUNTERS(X)                                                                           \
	X(PROT_CNT_SEEN, "pass_checked")	       /* non-served packets inspected */          \
	X(PROT_CNT_PASS_ALLOWLIST, "pass_allowlist")   /* source in the allow-list */              \
	X(PROT_CNT_PASS_PORT_ALLOW, "pass_port_allow") /* port rule "allow" */                     \
	X(PROT_CNT_DROP_PORT, "drop_port_rule")	       /* port rule "drop" */                      \
	X(PROT_CNT_DROP_PORT_RATE, "drop_port_rate")   /* port rule "rate" exceeded */             \
	X(PROT_CNT_DROP_SRC_RATE, "drop_src_rate")     /* per-source bucket empty */               \
	X(PROT_CNT_DROP_GLOBAL, "drop_global_rate")    /* global budget empty */                   \
	X(PROT_CNT_SERVED_SEEN, "served_checked")      /* segments to served ports inspected */    \
	X(PROT_CNT_SYN_SEEN, "served_syn")	       /* of which SYN without ACK */              \
	X(PROT_CNT_DROP_SYN_RATE, "drop_syn_rate")     /* per-source SYN rate exceeded */          \
	X(PROT_CNT_DROP_ACL, "drop_served_acl")	       /* source denied on served ports */         \
	X(PROT_CNT_SRC_NEW, "src_tracked")	       /* new per-source bucket (LRU insert) */    \
	X(PROT_CNT_PASS_ND, "pass_nd_mld")	       /* IPv6 ND / MLD, never limited */          \
	X(PROT_CNT_UNPARSED6, "ip6_no_upper")	       /* IPv6 upper layer not reached (chain) */

#define PROT_CNT_ENUM(e, n) e,
enum prot_counter { PROT_COUNTERS(PROT_CNT_ENUM) PROT_CNT_MAX };
#undef PROT_CNT_ENUM

/* Protocol classes (prot_config.scope) that per-source and global limits cover. */
#define PROT_SCOPE_UDP	 0x1u
#define PROT_SCOPE_TCP	 0x2u /* TCP to ports xtcp does not serve (kernel TCP, ssh) */
#define PROT_SCOPE_ICMP	 0x4u
#define PROT_SCOPE_OTHER 0x8u /* any other IP protocol (GRE, SCTP, ...) */
#define PROT_SCOPE_ALL	 0xfu

/* prot_config.acl_default and prot_acl values. */
#define PROT_ACL_ALLOW 1u
#define PROT_ACL_DENY  2u

/* The single entry (key 0) of prot_cfg. A rate of 0 turns that limit off. */
struct prot_config {
	__u32 src_pps;	  /* per source address, packets/s in scope */
	__u32 src_burst;  /* bucket depth in packets (0 = 1) */
	__u32 global_pps; /* all in-scope packets together */
	__u32 global_burst;
	__u32 syn_pps; /* per source, SYNs/s to served ports */
	__u32 syn_burst;
	__u32 scope;	     /* PROT_SCOPE_* */
	__u32 acl_on;	     /* 1: consult prot_acl for served ports */
	__u32 acl_default;   /* verdict for sources not in prot_acl (PROT_ACL_*) */
	__u32 flags;	     /* PROT_F_*: which tables hold entries (skip empty lookups) */
	__u32 src6_plen;     /* IPv6 sources share a bucket per prefix of this length (0 = 64) */
	__be32 src6_mask[4]; /* that prefix as a mask, written by userspace with src6_plen */
};

/* prot_config.flags, kept by userspace: a lookup in an empty table is skipped. */
#define PROT_F_ALLOW  0x1u /* prot_allow has entries */
#define PROT_F_PORTS  0x2u /* prot_port has entries */
#define PROT_F_ALLOW6 0x4u /* prot_allow6 has entries */

#define PROT_SRC6_PLEN_DEFAULT 64

/* prot_port key: destination port of UDP/TCP that is not served. */
struct prot_port_key {
	__u8 proto; /* IPPROTO_UDP / IPPROTO_TCP */
	__u8 pad;
	__u16 port; /* host order */
};

#define PROT_PORT_ALLOW 1u /* never limited */
#define PROT_PORT_DROP	2u /* always dropped */
#define PROT_PORT_RATE	3u /* all sources together at most pps (then per-source/global) */

struct prot_port_rule {
	__u32 action; /* PROT_PORT_* */
	__u32 pps;    /* PROT_PORT_RATE */
	__u32 burst;
	__u32 pad;
	__u64 tat; /* bucket state, written by the program; 0 from userspace */
};

/* prot_allow / prot_acl key (LPM trie): prefix length, then IPv4 network order. */
struct prot_lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

/* prot_allow6 / prot_acl6 key (LPM trie): prefix length, then IPv6 network order. */
struct prot_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* prot_src6 / prot_syn6 key: the source address, bits past cfg.src6_plen cleared. */
struct prot_src6_key {
	__u32 addr[4]; /* network order */
};

/* prot_src / prot_syn / prot_glob value. */
struct prot_bucket {
	__u64 tat;
};

#define PROT_SRC_ENTRIES  65536
#define PROT_PORT_ENTRIES 1024
#define PROT_LPM_ENTRIES  1024
#define PROT_NSEC_PER_SEC 1000000000ull

/* Map names (BPF object names: under 16 bytes), as userspace finds them. */
#define PROT_MAP_CFG	"prot_cfg"
#define PROT_MAP_STATS	"prot_stats"
#define PROT_MAP_SRC	"prot_src"
#define PROT_MAP_GLOB	"prot_glob"
#define PROT_MAP_PORT	"prot_port"
#define PROT_MAP_ALLOW	"prot_allow"
#define PROT_MAP_ACL	"prot_acl"
#define PROT_MAP_SYN	"prot_syn"
#define PROT_MAP_SRC6	"prot_src6"
#define PROT_MAP_ALLOW6 "prot_allow6"
#define PROT_MAP_ACL6	"prot_acl6"
#define PROT_MAP_SYN6	"prot_syn6"

#if defined(__bpf__) || defined(__BPF__)

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct prot_config);
} prot_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} prot_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROT_SRC_ENTRIES);
	__type(key, __u32); /* source IPv4, network order */
	__type(value, struct prot_bucket);
} prot_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROT_SRC_ENTRIES);
	__type(key, __u32);
	__type(value, struct prot_bucket);
} prot_syn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct prot_bucket);
} prot_glob SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROT_PORT_ENTRIES);
	__type(key, struct prot_port_key);
	__type(value, struct prot_port_rule);
} prot_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PROT_LPM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prot_lpm_key);
	__type(value, __u32);
} prot_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PROT_LPM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prot_lpm_key);
	__type(value, __u32); /* PROT_ACL_ALLOW / PROT_ACL_DENY */
} prot_acl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROT_SRC_ENTRIES);
	__type(key, struct prot_src6_key);
	__type(value, struct prot_bucket);
} prot_src6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PROT_SRC_ENTRIES);
	__type(key, struct prot_src6_key);
	__type(value, struct prot_bucket);
} prot_syn6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PROT_LPM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prot_lpm6_key);
	__type(value, __u32);
} prot_allow6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PROT_LPM_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct prot_lpm6_key);
	__type(value, __u32); /* PROT_ACL_ALLOW / PROT_ACL_DENY */
} prot_acl6 SEC(".maps");

static __always_inline void prot_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&prot_stats, &idx);

	if (c)
		*c += 1;
}

/*
 * GCRA: admit when the bucket's theoretical arrival time is at most
 * (burst - 1) intervals ahead of now, then advance it by one interval.
 */
static __always_inline int prot_gcra(__u64 *tat, __u64 now, __u32 pps, __u32 burst)
{
	__u64 interval = PROT_NSEC_PER_SEC / pps;
	__u64 tau = interval * (burst ? burst - 1 : 0);
	__u64 t = *tat;

	if (t < now)
		t = now;
	if (t - now > tau)
		return 0;
	*tat = t + interval;
	return 1;
}

/* Per-source bucket in an LRU map; a new source starts with a full bucket. */
static __always_inline int prot_key_admit(void *map, const void *key, __u64 now, __u32 pps,
					  __u32 burst)
{
	struct prot_bucket *b = bpf_map_lookup_elem(map, key);
	struct prot_bucket nb = {0};

	if (b)
		return prot_gcra(&b->tat, now, pps, burst);
	prot_gcra(&nb.tat, now, pps, burst);
	bpf_map_update_elem(map, key, &nb, BPF_ANY);
	prot_count(PROT_CNT_SRC_NEW);
	return 1;
}

static __always_inline int prot_addr_admit(void *map, __u32 addr, __u64 now, __u32 pps, __u32 burst)
{
	return prot_key_admit(map, &addr, now, pps, burst);
}

static __always_inline int prot_allowlisted(const struct prot_config *cfg, __u32 saddr)
{
	struct prot_lpm_key k = {.prefixlen = 32, .addr = saddr};

	if (!(cfg->flags & PROT_F_ALLOW))
		return 0;
	return bpf_map_lookup_elem(&prot_allow, &k) != NULL;
}

static __always_inline __u32 prot_scope_of(__u8 proto)
{
	switch (proto) {
	case IPPROTO_UDP:
		return PROT_SCOPE_UDP;
	case IPPROTO_TCP:
		return PROT_SCOPE_TCP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return PROT_SCOPE_ICMP;
	default:
		return PROT_SCOPE_OTHER;
	}
}

/* Destination port of a first (or only) UDP/TCP fragment, host order; 0 if none. */
static __always_inline __u16 prot_dport(struct xdp_md *ctx, struct iphdr *iph)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ihl = iph->ihl * 4;
	void *l4;

	if (iph->frag_off & bpf_htons(0x1fff))
		return 0;
	if (iph->protocol != IPPROTO_UDP && iph->protocol != IPPROTO_TCP)
		return 0;
	if (ihl < sizeof(*iph))
		return 0;
	l4 = (void *)iph + ihl;
	/* Both UDP and TCP carry the destination port at offset 2. */
	if (l4 + 4 > data_end)
		return 0;
	return bpf_ntohs(((struct udphdr *)l4)->dest);
}

/*
 * Steps 2 and 3 of the pass hook, for either family: the port rule of
 * (proto, dport), then the source's bucket (src_key in src_map) and the
 * global budget, when proto's class is in scope.
 */
static __always_inline int prot_pass_limits(const struct prot_config *cfg, __u8 proto, __u16 dport,
					    void *src_map, const void *src_key)
{
	struct prot_port_key pk = {.proto = proto, .port = dport};
	struct prot_port_rule *rule;
	struct prot_bucket *g;
	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0;

	rule = pk.port ? bpf_map_lookup_elem(&prot_port, &pk) : NULL;
	if (rule) {
		if (rule->action == PROT_PORT_ALLOW) {
			prot_count(PROT_CNT_PASS_PORT_ALLOW);
			return XDP_PASS;
		}
		if (rule->action == PROT_PORT_DROP) {
			prot_count(PROT_CNT_DROP_PORT);
			return XDP_DROP;
		}
		if (rule->action == PROT_PORT_RATE && rule->pps &&
		    !prot_gcra(&rule->tat, now, rule->pps, rule->burst)) {
			prot_count(PROT_CNT_DROP_PORT_RATE);
			return XDP_DROP;
		}
	}
	if (!(cfg->scope & prot_scope_of(proto)))
		return XDP_PASS;
	if (cfg->src_pps && !prot_key_admit(src_map, src_key, now, cfg->src_pps, cfg->src_burst)) {
		prot_count(PROT_CNT_DROP_SRC_RATE);
		return XDP_DROP;
	}
	if (cfg->global_pps) {
		g = bpf_map_lookup_elem(&prot_glob, &zero);
		if (g && !prot_gcra(&g->tat, now, cfg->global_pps, cfg->global_burst)) {
			prot_count(PROT_CNT_DROP_GLOBAL);
			return XDP_DROP;
		}
	}
	return XDP_PASS;
}

/* Any IPv4 packet the steering program would pass to the kernel. */
static __always_inline int xtcp_protect_pass(struct xdp_md *ctx, struct iphdr *iph)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct prot_config *cfg;
	__u32 zero = 0, saddr;

	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	prot_count(PROT_CNT_SEEN);
	cfg = bpf_map_lookup_elem(&prot_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	saddr = iph->saddr;
	if (prot_allowlisted(cfg, saddr)) {
		prot_count(PROT_CNT_PASS_ALLOWLIST);
		return XDP_PASS;
	}
	return prot_pass_limits(cfg, iph->protocol,
				(cfg->flags & PROT_F_PORTS) ? prot_dport(ctx, iph) : 0, &prot_src,
				&saddr);
}

/* A TCP segment to a served (addr, port), before it is redirected to AF_XDP. */
static __always_inline int xtcp_protect_served(struct xdp_md *ctx, struct iphdr *iph,
					       struct tcphdr *th)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct prot_lpm_key k = {.prefixlen = 32};
	struct prot_config *cfg;
	__u32 zero = 0, verdict;
	__u32 *acl;

	if ((void *)(iph + 1) > data_end || (void *)(th + 1) > data_end)
		return XDP_PASS;
	prot_count(PROT_CNT_SERVED_SEEN);
	cfg = bpf_map_lookup_elem(&prot_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	if (cfg->acl_on) {
		k.addr = iph->saddr;
		acl = bpf_map_lookup_elem(&prot_acl, &k);
		verdict = acl ? *acl : cfg->acl_default;
		if (verdict == PROT_ACL_DENY) {
			prot_count(PROT_CNT_DROP_ACL);
			return XDP_DROP;
		}
	}
	if (!th->syn || th->ack)
		return XDP_PASS;
	prot_count(PROT_CNT_SYN_SEEN);
	if (cfg->syn_pps && !prot_allowlisted(cfg, iph->saddr) &&
	    !prot_addr_admit(&prot_syn, iph->saddr, bpf_ktime_get_ns(), cfg->syn_pps,
			     cfg->syn_burst)) {
		prot_count(PROT_CNT_DROP_SYN_RATE);
		return XDP_DROP;
	}
	return XDP_PASS;
}

/* --- IPv6 --- */

/* Extension headers walked to find the upper layer, as the steering program's XTCP_IP6_EXT_MAX. */
#define PROT_IP6_EXT_MAX 4
/* Where an IPv6 header may start: after Ethernet and at most two VLAN tags. */
#define PROT_L3OFF_MAX	 22

/* The IPv6 fragment header (RFC 8200 4.5); uapi headers do not export one. */
struct prot_frag6 {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-octet units << 3 | M */
	__be32 id;
};

/* Where the upper layer of an IPv6 packet starts, as far as prot_upper6() could tell. */
struct prot_l4 {
	void *hdr;  /* upper-layer header, NULL: not reached or a non-first fragment */
	__u8 proto; /* upper-layer protocol (of a fragment: the fragment header's next header) */
	__u8 frag;  /* a fragment header was seen */
};

/*
 * Walk up to PROT_IP6_EXT_MAX extension headers, each checked against end
 * before it is read. A first fragment is walked through (its upper-layer
 * header is there, as in IPv4's first fragment); a later one stops the walk.
 * A truncated or longer chain leaves proto at the last extension header: the
 * class "other" (counted in ip6_no_upper).
 */
static __always_inline void prot_upper6(struct ipv6hdr *ip6, void *end, struct prot_l4 *l4)
{
	void *p = ip6 + 1;
	__u8 n = ip6->nexthdr;

	l4->hdr = NULL;
	l4->frag = 0;
#pragma unroll
	for (int i = 0; i < PROT_IP6_EXT_MAX; i++) {
		struct ipv6_opt_hdr *h = p;

		if (n != IPPROTO_HOPOPTS && n != IPPROTO_ROUTING && n != IPPROTO_DSTOPTS &&
		    n != IPPROTO_FRAGMENT)
			break;
		if ((void *)h + 8 > end)
			goto unparsed;
		if (n == IPPROTO_FRAGMENT) {
			struct prot_frag6 *fh = p;

			l4->frag = 1;
			n = fh->nexthdr;
			if (fh->frag_off & bpf_htons(0xfff8)) {
				l4->proto = n;
				return;
			}
			p += sizeof(*fh);
			continue;
		}
		n = h->nexthdr;
		p += ((__u32)h->hdrlen + 1) * 8;
	}
	l4->proto = n;
	if (n == IPPROTO_HOPOPTS || n == IPPROTO_ROUTING || n == IPPROTO_DSTOPTS ||
	    n == IPPROTO_FRAGMENT)
		goto unparsed;
	l4->hdr = p;
	return;
unparsed:
	l4->proto = n;
	prot_count(PROT_CNT_UNPARSED6);
}

/*
 * ND and MLD keep the link alive; never limited. Only as the RFCs require
 * them to arrive: ND with hop limit 255 (RFC 4861 7.1.1 and 6.1.1), MLD with
 * hop limit 1 (RFC 2710 3, RFC 3810 5), never fragmented. A router lowers the
 * hop limit, so a flood from beyond the link cannot pass as either.
 */
static __always_inline int prot_icmp6_link(const struct ipv6hdr *ip6, const struct prot_l4 *l4,
					   void *end)
{
	const __u8 *type = l4->hdr;

	if (l4->proto != IPPROTO_ICMPV6 || l4->frag || !type || (void *)(type + 1) > end)
		return 0;
	if (*type >= 133 && *type <= 137) /* RS, RA, NS, NA, redirect */
		return ip6->hop_limit == 255;
	if ((*type >= 130 && *type <= 132) || *type == 143) /* MLD query, report, done, v2 report */
		return ip6->hop_limit == 1;
	return 0;
}

/*
 * The source's bucket key: its first cfg.src6_plen bits. The mask comes
 * ready from userspace: computing it here would branch per word, and every
 * branch multiplies the states the verifier walks.
 */
static __always_inline void prot_src6_key(struct prot_src6_key *k, const struct ipv6hdr *ip6,
					  const struct prot_config *cfg)
{
#pragma unroll
	for (int i = 0; i < 4; i++)
		k->addr[i] = ip6->saddr.in6_u.u6_addr32[i] & cfg->src6_mask[i];
}

static __always_inline int prot_allowlisted6(const struct prot_config *cfg,
					     const struct ipv6hdr *ip6)
{
	struct prot_lpm6_key k = {.prefixlen = 128};

	if (!(cfg->flags & PROT_F_ALLOW6))
		return 0;
	__builtin_memcpy(k.addr, &ip6->saddr, 16);
	return bpf_map_lookup_elem(&prot_allow6, &k) != NULL;
}

/*
 * Any IPv6 packet the steering program would pass to the kernel (ICMPv6
 * included), its IPv6 header l3off bytes into the frame. A global function:
 * the verifier checks it once, on its own, not again at each call site (the
 * extension-header walk multiplies the states it explores, once per inlined
 * copy). A global function takes only the context and scalars, hence the
 * offset rather than a pointer.
 */
__attribute__((noinline)) int xtcp_protect_pass6(struct xdp_md *ctx, __u32 l3off)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct prot_src6_key sk;
	struct prot_config *cfg;
	struct ipv6hdr *ip6;
	struct prot_l4 l4;
	__u16 dport = 0;
	__u32 zero = 0;

	if (l3off > PROT_L3OFF_MAX)
		return XDP_PASS;
	ip6 = (void *)(long)ctx->data + l3off;
	if ((void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	prot_count(PROT_CNT_SEEN);
	cfg = bpf_map_lookup_elem(&prot_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	prot_upper6(ip6, data_end, &l4);
	if (prot_icmp6_link(ip6, &l4, data_end)) {
		prot_count(PROT_CNT_PASS_ND);
		return XDP_PASS;
	}
	if (prot_allowlisted6(cfg, ip6)) {
		prot_count(PROT_CNT_PASS_ALLOWLIST);
		return XDP_PASS;
	}
	/* Both UDP and TCP carry the destination port at offset 2. */
	if ((cfg->flags & PROT_F_PORTS) && l4.hdr &&
	    (l4.proto == IPPROTO_UDP || l4.proto == IPPROTO_TCP) && l4.hdr + 4 <= data_end)
		dport = bpf_ntohs(((struct udphdr *)l4.hdr)->dest);
	prot_src6_key(&sk, ip6, cfg);
	return prot_pass_limits(cfg, l4.proto, dport, &prot_src6, &sk);
}

/* An IPv6 TCP segment to a served (addr, port), before it is redirected to AF_XDP. */
static __always_inline int xtcp_protect_served6(struct xdp_md *ctx, struct ipv6hdr *ip6,
						struct tcphdr *th)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct prot_lpm6_key k = {.prefixlen = 128};
	struct prot_src6_key sk;
	struct prot_config *cfg;
	__u32 zero = 0, verdict;
	__u32 *acl;

	if ((void *)(ip6 + 1) > data_end || (void *)(th + 1) > data_end)
		return XDP_PASS;
	prot_count(PROT_CNT_SERVED_SEEN);
	cfg = bpf_map_lookup_elem(&prot_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	if (cfg->acl_on) {
		__builtin_memcpy(k.addr, &ip6->saddr, 16);
		acl = bpf_map_lookup_elem(&prot_acl6, &k);
		verdict = acl ? *acl : cfg->acl_default;
		if (verdict == PROT_ACL_DENY) {
			prot_count(PROT_CNT_DROP_ACL);
			return XDP_DROP;
		}
	}
	if (!th->syn || th->ack)
		return XDP_PASS;
	prot_count(PROT_CNT_SYN_SEEN);
	if (!cfg->syn_pps || prot_allowlisted6(cfg, ip6))
		return XDP_PASS;
	prot_src6_key(&sk, ip6, cfg);
	if (!prot_key_admit(&prot_syn6, &sk, bpf_ktime_get_ns(), cfg->syn_pps, cfg->syn_burst)) {
		prot_count(PROT_CNT_DROP_SYN_RATE);
		return XDP_DROP;
	}
	return XDP_PASS;
}

#else /* userspace */

#define PROT_CNT_NAME(e, n) n,
static const char *const prot_counter_names[PROT_CNT_MAX] = {PROT_COUNTERS(PROT_CNT_NAME)};
#undef PROT_CNT_NAME

#endif
#endif
