/*
 * stack.c - stack instance: create/destroy, the run-to-completion poll,
 * deadlines and counters.
 *
 * stack_poll(): clock once, one RX burst (frames copied into socket
 * buffers, then returned with rx_done), TIME-WAIT expiry, the timer wheel,
 * output flush (control, ACKs, data), one TX kick, then the readiness
 * callbacks. Everything is allocated in stack_create(); the packet path
 * only takes from the pools.
 */
#include <stdlib.h>

#include "stack_priv.h"

static const char *const drop_names[DROP_MAX] = {
	[DROP_ETH_SHORT] = "eth_short",
	[DROP_ETH_DST] = "eth_dst",
	[DROP_ETH_TYPE] = "eth_type",
	[DROP_IP_SHORT] = "ip_short",
	[DROP_IP_VERSION] = "ip_version",
	[DROP_IP_HDR_LEN] = "ip_hdr_len",
	[DROP_IP_LEN] = "ip_len",
	[DROP_IP_CSUM] = "ip_csum",
	[DROP_IP_FRAG] = "ip_frag",
	[DROP_IP_DST] = "ip_dst",
	[DROP_IP_SRC] = "ip_src",
	[DROP_IP_PROTO] = "ip_proto",
	[DROP_TCP_SHORT] = "tcp_short",
	[DROP_TCP_HDR_LEN] = "tcp_hdr_len",
	[DROP_TCP_CSUM] = "tcp_csum",
	[DROP_ICMP] = "icmp",
	[DROP_TCP_FLAGS] = "tcp_flags",
	[DROP_TCP_NO_SOCKET] = "tcp_no_socket",
	[DROP_TCP_SEQ] = "tcp_seq",
	[DROP_TCP_ACK] = "tcp_ack",
	[DROP_TCP_PAWS] = "tcp_paws",
	[DROP_TCP_RST] = "tcp_rst",
	[DROP_TCP_SYN] = "tcp_syn",
	[DROP_TCP_STATE] = "tcp_state",
	[DROP_TCP_LISTEN_OVERFLOW] = "tcp_listen_overflow",
	[DROP_TCP_COOKIE] = "tcp_cookie",
	[DROP_TCP_OOO_FULL] = "tcp_ooo_full",
	[DROP_TCP_NO_MEM] = "tcp_no_mem",
	[DROP_TCP_PORT] = "tcp_port",
	[DROP_TCP_HANDED_OFF] = "handed_off",
	[DROP_TCP_FORGOTTEN] = "forgotten",
	[DROP_IP6_EXTHDR] = "ip6_exthdr",
};

_Static_assert(DROP_MAX <= 32, "stack_stats.drop_reason has 32 slots");

const char *stack_drop_reason_name(unsigned reason)
{
	return reason < DROP_MAX && drop_names[reason] ? drop_names[reason] : "unknown";
}

/* A dropped frame, Ethernet, IP or TCP, counted with its reason. */
void stack_drop(struct stack *stk, unsigned reason)
{
	stk->st.rx_drop++;
	if (reason < DROP_MAX)
		stk->st.drop_reason[reason]++;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* The local-port range of connect(), resolved here once for every user. */
static void stack_local_ports_normalise(struct stack_config *c)
{
	uint16_t x;

	if (!c->local_port_min && !c->local_port_max) {
		c->local_port_min = STACK_LOCAL_PORT_MIN;
		c->local_port_max = STACK_LOCAL_PORT_MAX;
	}
	if (c->local_port_min > c->local_port_max) {
		x = c->local_port_min;
		c->local_port_min = c->local_port_max;
		c->local_port_max = x;
	}
	if (!c->local_port_min)
		c->local_port_min = 1;
	if (!c->local_port_step)
		c->local_port_step = 1;
	c->local_port_rem %= c->local_port_step;
}

struct stack *stack_create(const struct stack_config *cfg)
{
	if (!cfg || !cfg->dev || !cfg->dev->ops || !cfg->dev->ops->rx_burst ||
	    !cfg->dev->ops->rx_done || !cfg->dev->ops->tx_alloc || !cfg->dev->ops->tx_queue ||
	    !cfg->dev->ops->tx_flush)
		return NULL;
	struct stack *stk = calloc(1, sizeof(*stk));

	if (!stk)
		return NULL;
	stk->cfg = *cfg;
	stk->dev = cfg->dev;
	if (!stk->cfg.max_socks)
		stk->cfg.max_socks = 16384;
	if (stk->cfg.max_socks > (1u << 24))
		stk->cfg.max_socks = 1u << 24;
	if (!stk->cfg.max_syn_queue)
		stk->cfg.max_syn_queue = 1024;
	if (!stk->cfg.sndbuf)
		stk->cfg.sndbuf = 256 * 1024;
	if (!stk->cfg.rcvbuf)
		stk->cfg.rcvbuf = 256 * 1024;
	if (!stk->cfg.rmem_max)
		stk->cfg.rmem_max = TCP_RMEM_MAX;
	stack_local_ports_normalise(&stk->cfg);
	if (!stk->cfg.challenge_ack_limit)
		stk->cfg.challenge_ack_limit = TCP_CHALLENGE_ACK_LIM;
	stk->ip4 = cfg->dev->info.ip4;
	stk->mtu = cfg->dev->info.mtu >= 576 ? cfg->dev->info.mtu : 1500;
	stk->rx_csum_trust = cfg->dev->info.rx_csum_trust_local;
	stk->tx_csum_offload = cfg->dev->info.tx_csum_offload;
	if (stk->mtu > 9000)
		stk->mtu = 9000;
	uint64_t s = cfg->seed ^ 0x7874637073746b31ULL;

	stk->hkey[0] = splitmix(&s);
	stk->hkey[1] = splitmix(&s);
	stk->rng = splitmix(&s) | 1;
	if (cfg->ts_seed) {
		s = cfg->ts_seed ^ 0x7874637074736b31ULL;
		stk->tskey[0] = splitmix(&s);
		stk->tskey[1] = splitmix(&s);
	} else {
		stk->tskey[0] = stk->hkey[0];
		stk->tskey[1] = stk->hkey[1];
	}
	stk->ntcb = stk->cfg.max_socks;
	stk->nreq = stk->cfg.max_socks;
	uint32_t hsize = 1024;

	while (hsize < 2 * (stk->ntcb + stk->nreq) && hsize < (1u << 26))
		hsize <<= 1;
	stk->hmask = hsize - 1;
	stk->tcbs = calloc(stk->ntcb, sizeof(*stk->tcbs));
	stk->reqs = calloc(stk->nreq, sizeof(*stk->reqs));
	stk->htab = calloc(hsize, sizeof(*stk->htab));
	stk->listen_sd = calloc(65536, sizeof(*stk->listen_sd));
	stk->port_refs = calloc(65536, sizeof(*stk->port_refs));
	stk->listen6_sd = calloc(65536, sizeof(*stk->listen6_sd));
	stk->port_refs6 = calloc(65536, sizeof(*stk->port_refs6));
	if (!stk->tcbs || !stk->reqs || !stk->htab || !stk->listen_sd || !stk->port_refs ||
	    !stk->listen6_sd || !stk->port_refs6) {
		stack_destroy(stk);
		return NULL;
	}
	list_init(&stk->free_tcbs);
	list_init(&stk->free_reqs);
	list_init(&stk->timewait);
	list_init(&stk->tx_pending);
	list_init(&stk->ev_pending);
	/* pool slots are handed out in order first (tcb_alloc), so creating a
	 * large stack touches no pool memory */
	wheel_init(stk, 0);
	return stk;
}

void stack_destroy(struct stack *stk)
{
	if (!stk)
		return;
	if (stk->tcbs) {
		for (unsigned i = 0; i < stk->tcb_fresh; i++) {
			struct tcb *t = &stk->tcbs[i];

			free(t->in_use ? t->sbuf : NULL);
			free(t->in_use ? t->rbuf : NULL);
			free(t->in_use ? t->rack.seg : NULL);
		}
	}
	buf_cache_free(stk);
	free(stk->tcbs);
	free(stk->reqs);
	free(stk->htab);
	free(stk->listen_sd);
	free(stk->port_refs);
	free(stk->listen6_sd);
	free(stk->port_refs6);
	free(stk);
}

static void stack_clock(struct stack *stk, uint64_t now_us)
{
	if (now_us > stk->now_us) {
		stk->now_us = now_us;
		stk->now_ms = now_us / 1000;
	}
}

static void stack_output(struct stack *stk, int hold_acks)
{
	tcp_output_flush(stk, hold_acks);
	ip_tx_kick(stk);
	tcb_events_flush(stk);
}

/* RX burst, input, timers: what marks output and events. Returns frames received. */
static int stack_input(struct stack *stk, uint64_t now_us)
{
	struct pkt pkts[NETDEV_BURST_MAX];

	stack_clock(stk, now_us);
	unsigned n = stk->dev->ops->rx_burst(stk->dev, pkts, NETDEV_BURST_MAX);

	for (unsigned i = 0; i < n; i++)
		eth_input(stk, pkts[i].data, pkts[i].len);
	if (n)
		stk->dev->ops->rx_done(stk->dev, pkts, n);
	stk->st.rx_frames += n;
	tcb_time_wait_reap(stk);
	if (stk->pmtu_next_exp && stk->pmtu_next_exp <= stk->now_us)
		pmtu_expire(stk);
	wheel_run(stk, stk->now_ms);
	return (int)n;
}

int stack_poll(struct stack *stk, uint64_t now_us)
{
	int n = stack_input(stk, now_us);

	stack_output(stk, 0);
	return n;
}

int stack_poll_hold_acks(struct stack *stk, uint64_t now_us)
{
	int n = stack_input(stk, now_us);

	stack_output(stk, 1);
	return n;
}

int stack_poll_quiet(struct stack *stk, uint64_t now_us)
{
	int n = stack_input(stk, now_us);

	tcb_events_flush(stk);
	return n;
}

void stack_flush(struct stack *stk, uint64_t now_us)
{
	stack_clock(stk, now_us);
	stack_output(stk, 0);
}

void stack_flush_hold_acks(struct stack *stk, uint64_t now_us)
{
	stack_clock(stk, now_us);
	stack_output(stk, 1);
}

uint64_t stack_next_deadline(const struct stack *cstk)
{
	struct stack *stk = (struct stack *)cstk; /* wheel_next() caches its scan */
	uint64_t ms = wheel_next(stk), dl = ms == UINT64_MAX ? UINT64_MAX : ms * 1000;

	if (!list_empty(&stk->timewait)) {
		struct tcb *t = container_of(stk->timewait.next, struct tcb, q_node);

		if (t->tw_until < dl)
			dl = t->tw_until;
	}
	return dl;
}

int stack_has_output(const struct stack *stk)
{
	return !list_empty(&stk->tx_pending) || stk->ntx;
}

unsigned stack_orphans_unsettled(const struct stack *stk)
{
	unsigned n = 0;

	for (unsigned i = 0; i < stk->tcb_fresh; i++) {
		const struct tcb *t = &stk->tcbs[i];

		if (t->in_use && (t->flags & TF_ORPHAN) && !(t->flags & TF_FORGOTTEN) &&
		    t->state != TCPS_FIN_WAIT_2 && t->state != TCPS_TIME_WAIT &&
		    t->state != TCPS_CLOSED)
			n++;
	}
	return n;
}

void stack_get_stats(const struct stack *stk, struct stack_stats *out)
{
	if (out)
		*out = stk->st;
}
