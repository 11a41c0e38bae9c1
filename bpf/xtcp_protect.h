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
 * ARP, IPv6 and non-IP frames never reach a hook.
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
	X(PROT_CNT_SEEN, "pass_checked")	       /* non-served IPv4 packets inspected */     \
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
	X(PROT_CNT_SRC_NEW, "src_tracked")	       /* new per-source bucket (LRU insert) */

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
	__u32 scope;	   /* PROT_SCOPE_* */
	__u32 acl_on;	   /* 1: consult prot_acl for served ports */
	__u32 acl_default; /* verdict for sources not in prot_acl (PROT_ACL_*) */
	__u32 flags;	   /* PROT_F_*: which tables hold entries (skip empty lookups) */
};

/* prot_config.flags, kept by userspace: a lookup in an empty table is skipped. */
#define PROT_F_ALLOW 0x1u /* prot_allow has entries */
#define PROT_F_PORTS 0x2u /* prot_port has entries */

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

/* prot_src / prot_syn / prot_glob value. */
struct prot_bucket {
	__u64 tat;
};

#define PROT_SRC_ENTRIES  65536
#define PROT_PORT_ENTRIES 1024
#define PROT_LPM_ENTRIES  1024
#define PROT_NSEC_PER_SEC 1000000000ull

/* Map names (BPF object names: under 16 bytes), as userspace finds them. */
#define PROT_MAP_CFG   "prot_cfg"
#define PROT_MAP_STATS "prot_stats"
#define PROT_MAP_SRC   "prot_src"
#define PROT_MAP_GLOB  "prot_glob"
#define PROT_MAP_PORT  "prot_port"
#define PROT_MAP_ALLOW "prot_allow"
#define PROT_MAP_ACL   "prot_acl"
#define PROT_MAP_SYN   "prot_syn"

#if defined(__bpf__) || defined(__BPF__)

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
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

/* Per-address bucket in an LRU map; a new address starts with a full bucket. */
static __always_inline int prot_addr_admit(void *map, __u32 addr, __u64 now, __u32 pps, __u32 burst)
{
	struct prot_bucket *b = bpf_map_lookup_elem(map, &addr);
	struct prot_bucket nb = {0};

	if (b)
		return prot_gcra(&b->tat, now, pps, burst);
	prot_gcra(&nb.tat, now, pps, burst);
	bpf_map_update_elem(map, &addr, &nb, BPF_ANY);
	prot_count(PROT_CNT_SRC_NEW);
	return 1;
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

/* Any IPv4 packet the steering program would pass to the kernel. */
static __always_inline int xtcp_protect_pass(struct xdp_md *ctx, struct iphdr *iph)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct prot_port_key pk = {0};
	struct prot_port_rule *rule;
	struct prot_config *cfg;
	struct prot_bucket *g;
	__u32 zero = 0;
	__u64 now;

	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	prot_count(PROT_CNT_SEEN);
	cfg = bpf_map_lookup_elem(&prot_cfg, &zero);
	if (!cfg)
		return XDP_PASS;
	if (prot_allowlisted(cfg, iph->saddr)) {
		prot_count(PROT_CNT_PASS_ALLOWLIST);
		return XDP_PASS;
	}
	now = bpf_ktime_get_ns();
	pk.proto = iph->protocol;
	pk.port = (cfg->flags & PROT_F_PORTS) ? prot_dport(ctx, iph) : 0;
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
	if (!(cfg->scope & prot_scope_of(iph->protocol)))
		return XDP_PASS;
	if (cfg->src_pps &&
	    !prot_addr_admit(&prot_src, iph->saddr, now, cfg->src_pps, cfg->src_burst)) {
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

/*
 * An IPv6 TCP segment to a served (addr, port). The rules and buckets are
 * keyed by IPv4 source, so no IPv6 source is in them: the source ACL's
 * default verdict is all that applies (an allow-list, acl_default DENY,
 * keeps IPv6 sources out as it keeps unlisted IPv4 ones); no rate limit.
 */
static __always_inline int xtcp_protect_served6(void)
{
	struct prot_config *cfg;
	__u32 zero = 0;

	prot_count(PROT_CNT_SERVED_SEEN);
	cfg = bpf_map_lookup_elem(&prot_cfg, &zero);
	if (cfg && cfg->acl_on && cfg->acl_default == PROT_ACL_DENY) {
		prot_count(PROT_CNT_DROP_ACL);
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
