/*
 * netdev_pipe.c - in-memory link joining two netdevs, for tests.
 *
 * Frames live in one preallocated array of 2 KiB slots. tx_queue() applies
 * the seeded impairments (loss, tail drop, corruption of one byte,
 * serialisation at rate_bps, one-way delay, reordering by holding a frame
 * back, duplication) and inserts the frame, sorted by due time, into the
 * queue of the other end; rx_burst() hands out frames due by the pipe's
 * virtual clock, which the test advances with netdev_pipe_set_time(). The
 * same seed gives the same run. Optionally every sent frame is written to a
 * pcap file (at its send time, before impairment).
 *
 * Memory: the pipe owns all frames; a frame from rx_burst() is the
 * receiver's until rx_done(), one from tx_alloc() the sender's until
 * tx_queue()/tx_free().
 */
#include <stdio.h>
#include <stdlib.h>

#include "stack_priv.h"

#define PIPE_FRAME 2048u
#define PIPE_ALIGN 2 /* frame data at 2 mod 4: the IP header is 4-byte aligned (NET_IP_ALIGN) */
#define NIL	   UINT32_MAX

struct pipe_frame {
	uint64_t due;
	uint32_t len;
	uint32_t next, prev;
	uint8_t buf[PIPE_FRAME + 8];
};

static uint8_t *fdata(struct pipe_frame *f)
{
	return f->buf + PIPE_ALIGN;
}

struct pipe_end {
	struct netdev dev; /* first: the netdev pointer is the end */
	struct netdev_pipe *pipe;
	int side;
};

struct pipe_queue {
	uint32_t head, tail, count;
	uint64_t busy_until; /* serialisation: the link is busy until then */
};

struct netdev_pipe {
	struct netdev_pipe_cfg cfg;
	struct pipe_end end[2];
	struct pipe_queue q[2]; /* q[i]: frames travelling to end i */
	uint64_t now;
	uint64_t rng;
	struct pipe_frame *frames;
	uint32_t nframes;
	uint32_t *free_idx;
	uint32_t nfree;
	FILE *pcap;
};

static uint64_t pipe_rand(struct netdev_pipe *p)
{
	uint64_t z = (p->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static int pipe_chance(struct netdev_pipe *p, uint32_t ppm)
{
	return ppm && pipe_rand(p) % 1000000u < ppm;
}

static struct pipe_end *end_of(struct netdev *dev)
{
	return (struct pipe_end *)dev;
}

static uint32_t frame_get(struct netdev_pipe *p)
{
	return p->nfree ? p->free_idx[--p->nfree] : NIL;
}

static void frame_put(struct netdev_pipe *p, uint32_t i)
{
	p->free_idx[p->nfree++] = i;
}

static unsigned pipe_rx_burst(struct netdev *dev, struct pkt *pkts, unsigned max)
{
	struct pipe_end *e = end_of(dev);
	struct netdev_pipe *p = e->pipe;
	struct pipe_queue *q = &p->q[e->side];
	unsigned n = 0;

	while (n < max && q->head != NIL && p->frames[q->head].due <= p->now) {
		uint32_t i = q->head;
		struct pipe_frame *f = &p->frames[i];

		q->head = f->next;
		if (q->head != NIL)
			p->frames[q->head].prev = NIL;
		else
			q->tail = NIL;
		q->count--;
		pkts[n].data = fdata(f);
		pkts[n].len = f->len;
		pkts[n].addr = i;
		n++;
	}
	return n;
}

static void pipe_rx_done(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct netdev_pipe *p = end_of(dev)->pipe;

	for (unsigned i = 0; i < n; i++)
		frame_put(p, (uint32_t)pkts[i].addr);
}

static int pipe_tx_alloc(struct netdev *dev, struct pkt *pkt, uint32_t len)
{
	struct netdev_pipe *p = end_of(dev)->pipe;

	if (len > PIPE_FRAME)
		return -ENOBUFS;
	uint32_t i = frame_get(p);

	if (i == NIL)
		return -ENOBUFS;
	pkt->data = fdata(&p->frames[i]);
	pkt->len = 0;
	pkt->addr = i;
	return 0;
}

static void pipe_tx_free(struct netdev *dev, struct pkt *pkt)
{
	frame_put(end_of(dev)->pipe, (uint32_t)pkt->addr);
}

/* Insert frame i into q sorted by due time (stable: after equal times). */
static void queue_insert(struct netdev_pipe *p, struct pipe_queue *q, uint32_t i)
{
	struct pipe_frame *f = &p->frames[i];
	uint32_t at = q->tail;

	while (at != NIL && p->frames[at].due > f->due)
		at = p->frames[at].prev;
	f->prev = at;
	if (at == NIL) {
		f->next = q->head;
		q->head = i;
	} else {
		f->next = p->frames[at].next;
		p->frames[at].next = i;
	}
	if (f->next == NIL)
		q->tail = i;
	else
		p->frames[f->next].prev = i;
	q->count++;
}

static void pcap_write(struct netdev_pipe *p, const uint8_t *data, uint32_t len)
{
	uint32_t rec[4] = {(uint32_t)(p->now / 1000000), (uint32_t)(p->now % 1000000), len, len};

	if (fwrite(rec, sizeof(rec), 1, p->pcap) != 1 || fwrite(data, len, 1, p->pcap) != 1) {
		fclose(p->pcap);
		p->pcap = NULL;
	}
}

static void pipe_send_one(struct netdev_pipe *p, int to, uint32_t i, uint32_t len)
{
	struct pipe_queue *q = &p->q[to];
	struct pipe_frame *f = &p->frames[i];
	const struct netdev_pipe_cfg *c = &p->cfg;
	uint32_t qmax = c->queue_frames ? c->queue_frames : 4096;

	f->len = len;
	if (p->pcap && len)
		pcap_write(p, fdata(f), len);
	if (!len || pipe_chance(p, c->loss_ppm) || q->count >= qmax) {
		frame_put(p, i);
		return;
	}
	if (pipe_chance(p, c->corrupt_ppm)) {
		uint64_t r = pipe_rand(p);

		fdata(f)[r % len] ^= (uint8_t)(1u << ((r >> 32) % 8));
	}
	uint64_t start = q->busy_until > p->now ? q->busy_until : p->now;

	if (c->rate_bps) {
		uint64_t ser = ((uint64_t)len * 8 * 1000000 + c->rate_bps - 1) / c->rate_bps;

		q->busy_until = start + ser;
		start = q->busy_until;
	}
	f->due = start + c->delay_us;
	if (pipe_chance(p, c->reorder_ppm)) {
		uint64_t span = c->delay_us > 1000 ? c->delay_us : 1000;

		f->due += span / 4 + 100 + pipe_rand(p) % span;
	}
	if (pipe_chance(p, c->dup_ppm)) {
		uint32_t d = frame_get(p);

		if (d != NIL) {
			memcpy(fdata(&p->frames[d]), fdata(f), len);
			p->frames[d].len = len;
			p->frames[d].due = f->due + 1 + pipe_rand(p) % 200;
			queue_insert(p, q, d);
		}
	}
	queue_insert(p, q, i);
}

static void pipe_tx_queue(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct pipe_end *e = end_of(dev);

	for (unsigned k = 0; k < n; k++) {
		uint32_t len = pkts[k].len > PIPE_FRAME ? PIPE_FRAME : pkts[k].len;

		pipe_send_one(e->pipe, !e->side, (uint32_t)pkts[k].addr, len);
	}
}

static int pipe_tx_flush(struct netdev *dev)
{
	(void)dev;
	return 0;
}

static int pipe_resolve(struct netdev *dev, uint32_t dst_ip4, uint8_t mac[6])
{
	struct pipe_end *e = end_of(dev);
	const struct netdev *peer = &e->pipe->end[!e->side].dev;

	if (dst_ip4 != peer->info.ip4)
		return -EHOSTUNREACH;
	memcpy(mac, peer->info.mac, 6);
	return 0;
}

static int pipe_resolve6(struct netdev *dev, const struct in6_addr *dst, uint8_t mac[6])
{
	struct pipe_end *e = end_of(dev);
	const struct netdev *peer = &e->pipe->end[!e->side].dev;

	if (memcmp(dst, &peer->info.ip6[0], 16) != 0)
		return -EHOSTUNREACH;
	memcpy(mac, peer->info.mac, 6);
	return 0;
}

static const struct netdev_ops pipe_ops = {
	.rx_burst = pipe_rx_burst,
	.rx_done = pipe_rx_done,
	.tx_alloc = pipe_tx_alloc,
	.tx_free = pipe_tx_free,
	.tx_queue = pipe_tx_queue,
	.tx_flush = pipe_tx_flush,
	.resolve = pipe_resolve,
	.resolve6 = pipe_resolve6,
};

struct netdev_pipe *netdev_pipe_pair(struct netdev **a, struct netdev **b,
				     const struct netdev_pipe_cfg *cfg)
{
	if (!a || !b)
		return NULL;
	struct netdev_pipe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (cfg)
		p->cfg = *cfg;
	uint32_t qmax = p->cfg.queue_frames ? p->cfg.queue_frames : 4096;

	p->nframes = 2 * qmax + 8 * NETDEV_BURST_MAX;
	p->frames = calloc(p->nframes, sizeof(*p->frames));
	p->free_idx = calloc(p->nframes, sizeof(*p->free_idx));
	if (!p->frames || !p->free_idx) {
		netdev_pipe_free(p);
		return NULL;
	}
	for (uint32_t i = 0; i < p->nframes; i++)
		p->free_idx[p->nfree++] = p->nframes - 1 - i;
	p->rng = p->cfg.seed ^ 0x70697065ULL;
	for (int s = 0; s < 2; s++) {
		struct netdev_info *in = &p->end[s].dev.info;

		p->end[s].dev.ops = &pipe_ops;
		p->end[s].pipe = p;
		p->end[s].side = s;
		in->mac[0] = 0x02;
		in->mac[5] = (uint8_t)(s + 1);
		in->mtu = 1500;
		in->ip4 = be32(0x0a4d0100u | (uint32_t)(s + 1)); /* 10.77.1.1 / 10.77.1.2 */
		in->prefix_len = 24;
		in->ip6[0].s6_addr[0] = 0xfd; /* fd77:1::1 / fd77:1::2 */
		in->ip6[0].s6_addr[1] = 0x77;
		in->ip6[0].s6_addr[3] = 1;
		in->ip6[0].s6_addr[15] = (uint8_t)(s + 1);
		in->ip6_prefix[0] = 64;
		in->n_ip6 = 1;
		in->ifindex = s + 1;
		in->queue_id = 0;
		in->n_queues = 1;
		p->q[s].head = p->q[s].tail = NIL;
	}
	if (p->cfg.pcap) {
		p->pcap = fopen(p->cfg.pcap, "wb");
		if (p->pcap) {
			uint32_t gh[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, 1};

			if (fwrite(gh, sizeof(gh), 1, p->pcap) != 1) {
				fclose(p->pcap);
				p->pcap = NULL;
			}
		}
	}
	p->cfg.pcap = NULL;
	*a = &p->end[0].dev;
	*b = &p->end[1].dev;
	return p;
}

void netdev_pipe_set_time(struct netdev_pipe *pipe, uint64_t now_us)
{
	if (now_us > pipe->now)
		pipe->now = now_us;
}

uint64_t netdev_pipe_next_due(const struct netdev_pipe *pipe)
{
	uint64_t due = UINT64_MAX;

	for (int s = 0; s < 2; s++)
		if (pipe->q[s].head != NIL && pipe->frames[pipe->q[s].head].due < due)
			due = pipe->frames[pipe->q[s].head].due;
	return due;
}

void netdev_pipe_free(struct netdev_pipe *pipe)
{
	if (!pipe)
		return;
	if (pipe->pcap)
		fclose(pipe->pcap);
	free(pipe->frames);
	free(pipe->free_idx);
	free(pipe);
}
