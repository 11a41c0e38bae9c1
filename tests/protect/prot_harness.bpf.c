/*
 * prot_harness.bpf.c - a minimal XDP test harness around bpf/xtcp_protect.h,
 * for tests/protect only (the real steering program is bpf/xtcp_xdp.bpf.c).
 * It parses Ethernet and IPv4 like the steering program and calls the two
 * protection hooks at the same points. A TCP segment to a port in h_served
 * that the hooks admit gets XDP_PASS here (the steering program would
 * redirect it, or pass it when no AF_XDP socket is bound), so a kernel
 * listener on that port shows the effect of the served-port rules.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
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

SEC("xdp")
int prot_harness(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct tcphdr *th;
	__u16 port;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
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
