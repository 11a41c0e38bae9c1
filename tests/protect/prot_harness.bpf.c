/*
 * prot_harness.bpf.c - a minimal XDP test harness around bpf/xtcp_protect.h,
 * for tests/protect only (the real steering program is bpf/xtcp_xdp.bpf.c).
 * It parses Ethernet, IPv4 and IPv6 (TCP right after the fixed header; the
 * hook walks any other chain itself) like the steering program and calls the
 * protection hooks at the same points. A TCP segment to a port in h_served
 * that the hooks admit gets XDP_PASS here (the steering program would
 * redirect it, or pass it when no AF_XDP socket is bound), so a kernel
 * listener on that port shows the effect of the served-port rules.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xtcp_protect.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16); /* host order */
	__type(value, __u8);
} h_served SEC(".maps");

static __always_inline int harness6(struct xdp_md *ctx, struct ipv6hdr *ip6, void *data_end)
{
	struct tcphdr *th = (void *)(ip6 + 1);
	__u16 port;

	if ((void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	if (ip6->nexthdr == IPPROTO_TCP && (void *)(th + 1) <= data_end) {
		port = bpf_ntohs(th->dest);
		if (bpf_map_lookup_elem(&h_served, &port)) {
			if (xtcp_protect_served6(ctx, ip6, th) != XDP_PASS)
				return XDP_DROP;
			return XDP_PASS;
		}
	}
	if (xtcp_protect_pass6(ctx, sizeof(struct ethhdr)) != XDP_PASS)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int prot_harness(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct tcphdr *th;
	__u16 port;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return harness6(ctx, (void *)(eth + 1), data_end);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	if (iph->protocol == IPPROTO_TCP && iph->ihl == 5 && !(iph->frag_off & bpf_htons(0x3fff))) {
		th = (void *)(iph + 1);
		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		port = bpf_ntohs(th->dest);
		if (bpf_map_lookup_elem(&h_served, &port)) {
			if (xtcp_protect_served(ctx, iph, th) != XDP_PASS)
				return XDP_DROP;
			return XDP_PASS;
		}
	}
	if (xtcp_protect_pass(ctx, iph) != XDP_PASS)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
