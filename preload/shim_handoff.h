/*
 * shim_handoff.h - hand-off of misdirected segments between the processes
 * that serve one interface, one RX queue each (shim_handoff.c).
 *
 * A serving process that also connects picks local ports p with
 * p % n_queues == its queue; a reply that lands on another queue reaches
 * the wrong process, whose stack (stack_config.on_misdirected) gives the
 * frame to shim_handoff_misdirected(); the frames go to the owner's
 * endpoint, an abstract AF_UNIX datagram socket "\0xtcp-<ifindex>-q<queue>",
 * and enter the owner's stack through its netdev wrapper as if received on
 * its own queue. The wrapper is a netdev decorator: it adds its endpoint
 * to the port's poll fds and deadline, and closes both. All calls with
 * shim.lock held.
 */
#ifndef XTCP_SHIM_HANDOFF_H
#define XTCP_SHIM_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

struct in6_addr;
struct netdev;
struct stack_config;

/*
 * Bind this process's endpoint for (dev's ifindex, queue) and wrap dev:
 * returns the netdev to give the stack (dev itself, with a warning, when no
 * endpoint can be made) and sets cfg's on_misdirected hook.
 */
struct netdev *shim_handoff_attach(struct netdev *dev, unsigned queue, unsigned n_queues,
				   struct stack_config *cfg);
/* stack_config.on_misdirected: queue the frame for its owner. */
int shim_handoff_misdirected(void *ctx, const uint8_t *frame, uint32_t len, uint16_t dport);
/* stack_config.on_unknown_flow: queue the frame for the queue its flow started on. */
int shim_handoff_unknown_flow(void *ctx, const uint8_t *frame, uint32_t len,
			      const struct in6_addr *peer, uint16_t peer_port,
			      const struct in6_addr *local, uint16_t local_port);

#endif
