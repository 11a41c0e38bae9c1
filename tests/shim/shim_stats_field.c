/*
 * shim_stats_field.c - print counters of a process's statistics file
 * (/dev/shm/xtcp-<pid>.stats, preload/shim_stats.h) by name, for shell tests.
 *
 *   shim_stats_field FILE NAME...   one value per line
 * NAME: queue, polls, sleeps, stack_rx_frames, stack_retrans_segs, stack_tx_frames, xsk_rx_packets,
 * handoff_sent, handoff_lost, handoff_no_owner, handoff_received, handoff_rejected,
 * stack_syn_cookies_{sent,validated,failed}, stack_challenge_acks, stack_invalid_acks_limited,
 * stack_malformed_opt_lists, stack_rx_csum_partial, listeners, conns, stack_socks_in_use,
 * kernel_at_fork, kernel_at_exit, kernel_failed, kernel_left, stack_icmp_{errors,acted,rejected},
 * stack_pmtu_lowered, xsk_tx_frames, xsk_tx_frames_in_use, stack_pmtu_hints,
 * stack_mtu_blackholes, stack_mtu_probes, or
 * drop:<reason> (stack_drop_reason_name(), e.g. drop:tcp_no_socket). A field the file is too old or
 * too short for prints "absent" (a shim without it); an unknown name or unreadable file: exit 2.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim_stats.h"
#include "stack.h"

static const struct {
	const char *name;
	size_t off;
	unsigned version;
} fields[] = {
	{"queue", offsetof(struct shim_stats, queue), 1}, /* low half: see below */
	{"polls", offsetof(struct shim_stats, polls), 1},
	{"sleeps", offsetof(struct shim_stats, sleeps), 1},
	{"stack_rx_frames", offsetof(struct shim_stats, stack_rx_frames), 1},
	{"stack_retrans_segs", offsetof(struct shim_stats, stack_retrans_segs), 1},
	{"stack_tx_frames", offsetof(struct shim_stats, stack_tx_frames), 1},
	{"xsk_rx_packets", offsetof(struct shim_stats, xsk_rx_packets), 3},
	{"handoff_sent", offsetof(struct shim_stats, handoff_sent), 4},
	{"handoff_lost", offsetof(struct shim_stats, handoff_lost), 4},
	{"handoff_no_owner", offsetof(struct shim_stats, handoff_no_owner), 4},
	{"handoff_received", offsetof(struct shim_stats, handoff_received), 4},
	{"handoff_rejected", offsetof(struct shim_stats, handoff_rejected), 4},
	{"stack_syn_cookies_sent", offsetof(struct shim_stats, stack_syn_cookies_sent), 5},
	{"stack_syn_cookies_validated", offsetof(struct shim_stats, stack_syn_cookies_validated),
	 5},
	{"stack_syn_cookies_failed", offsetof(struct shim_stats, stack_syn_cookies_failed), 5},
	{"stack_challenge_acks", offsetof(struct shim_stats, stack_challenge_acks), 5},
	{"stack_invalid_acks_limited", offsetof(struct shim_stats, stack_invalid_acks_limited), 5},
	{"stack_malformed_opt_lists", offsetof(struct shim_stats, stack_malformed_opt_lists), 5},
	{"listeners", offsetof(struct shim_stats, listeners), 1},
	{"conns", offsetof(struct shim_stats, conns), 1},
	{"stack_socks_in_use", offsetof(struct shim_stats, stack_socks_in_use), 1},
	{"kernel_at_fork", offsetof(struct shim_stats, kernel_at_fork), 5},
	{"accepted_kernel", offsetof(struct shim_stats, accepted_kernel), 1},
	{"fallback_kernel_handshake",
	 offsetof(struct shim_stats, fallback) + SHIM_FB_KERNEL_SYN * sizeof(uint64_t), 1},
	{"kernel_at_exit", offsetof(struct shim_stats, kernel_at_exit), 5},
	{"kernel_failed", offsetof(struct shim_stats, kernel_failed), 5},
	{"kernel_left", offsetof(struct shim_stats, kernel_left), 5},
	{"stack_icmp_errors", offsetof(struct shim_stats, stack_icmp_errors), 5},
	{"stack_icmp_acted", offsetof(struct shim_stats, stack_icmp_acted), 5},
	{"stack_icmp_rejected", offsetof(struct shim_stats, stack_icmp_rejected), 5},
	{"stack_pmtu_lowered", offsetof(struct shim_stats, stack_pmtu_lowered), 5},
	{"xsk_tx_frames", offsetof(struct shim_stats, xsk_tx_frames), 5},
	{"xsk_tx_frames_in_use", offsetof(struct shim_stats, xsk_tx_frames_in_use), 5},
	{"stack_pmtu_hints", offsetof(struct shim_stats, stack_pmtu_hints), 5},
	{"stack_mtu_blackholes", offsetof(struct shim_stats, stack_mtu_blackholes), 5},
	{"stack_mtu_probes", offsetof(struct shim_stats, stack_mtu_probes), 5},
};

int main(int argc, char **argv)
{
	static struct shim_stats st;
	ssize_t got;
	int fd, i;

	if (argc < 3) {
		fprintf(stderr, "usage: shim_stats_field FILE NAME...\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	got = read(fd, &st, sizeof(st));
	close(fd);
	if (got < (ssize_t)offsetof(struct shim_stats, listeners) || st.magic != SHIM_STATS_MAGIC) {
		fprintf(stderr, "%s: not a statistics file\n", argv[1]);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		size_t off = 0, k;
		unsigned version = 1;
		uint64_t v;

		if (!strncmp(argv[i], "drop:", 5)) {
			for (k = 0; k < 32; k++)
				if (!strcmp(stack_drop_reason_name((unsigned)k), argv[i] + 5))
					break;
			if (k == 32) {
				fprintf(stderr, "unknown drop reason %s\n", argv[i] + 5);
				return 2;
			}
			off = offsetof(struct shim_stats, stack_drop) + k * sizeof(uint64_t);
		} else {
			for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
				if (!strcmp(fields[k].name, argv[i]))
					break;
			if (k == sizeof(fields) / sizeof(fields[0])) {
				fprintf(stderr, "unknown field %s\n", argv[i]);
				return 2;
			}
			off = fields[k].off;
			version = fields[k].version;
		}
		if (st.version < version || (size_t)got < off + sizeof(v)) {
			printf("absent\n");
			continue;
		}
		memcpy(&v, (const char *)&st + off, sizeof(v));
		if (off == offsetof(struct shim_stats, queue))
			v = st.queue; /* a uint32_t */
		printf("%llu\n", (unsigned long long)v);
	}
	return 0;
}
