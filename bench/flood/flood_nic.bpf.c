/*
 * flood_nic.bpf.c - makes a veth behave like a NIC for the flood: attached
 * (native) to the far end of a helper veth pair in the client namespace, it
 * forwards every frame with XDP_REDIRECT into the client's test bed veth.
 * The frames then reach the server's veth as XDP frames (ndo_xdp_xmit), not
 * as socket buffers: the server's receive path is a NIC driver's (XDP on the
 * raw frame, or build_skb for the kernel), and the copy that veth makes of a
 * locally sent skb happens here, on the sender's core.
 *
 * Built by bench/flood/run.sh with -DTARGET_IFINDEX=<ifindex of the client veth>.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef TARGET_IFINDEX
#error "build with -DTARGET_IFINDEX=N"
#endif

SEC("xdp")
int flood_nic(struct xdp_md *ctx)
{
	return bpf_redirect(TARGET_IFINDEX, 0);
}

char LICENSE[] SEC("license") = "GPL";
