/*
 * tcp_buf.c - socket buffer memory, byte rings and the out-of-order list.
 *
 * Buffers: power-of-two blocks cached per size (stk->bufcache). A block
 * freed by a closing connection is reused by the next one; the cache is
 * released only by stack_destroy(). Send and receive data live in byte
 * rings indexed by sequence number (tcb->sbuf/rbuf); out-of-order data is
 * written straight into the receive ring at its place and described by up
 * to TCP_OOO_HOLES sorted ranges (tcb->ooo), which are also the SACK blocks
 * we report (RFC 2018).
 */
#include <stdlib.h>

#include "stack_priv.h"

static unsigned buf_order(uint32_t size)
{
	return (unsigned)__builtin_ctz(size);
}

uint32_t buf_ring_size(uint32_t bytes)
{
	uint32_t s = TCP_BUF_MIN;

	if (bytes > TCP_BUF_MAX)
		bytes = TCP_BUF_MAX;
	while (s < bytes)
		s <<= 1;
	return s;
}

void *buf_get(struct stack *stk, uint32_t size)
{
	unsigned o = buf_order(size);
	void *b = stk->bufcache[o];

	if (b) {
		memcpy(&stk->bufcache[o], b, sizeof(void *));
		return b;
	}
	return malloc(size);
}

void buf_put(struct stack *stk, void *b, uint32_t size)
{
	unsigned o = buf_order(size);

	if (!b)
		return;
	memcpy(b, &stk->bufcache[o], sizeof(void *));
	stk->bufcache[o] = b;
}

void buf_cache_free(struct stack *stk)
{
	for (unsigned o = 0; o < BUFCACHE_ORDERS; o++) {
		void *b = stk->bufcache[o];

		while (b) {
			void *next;

			memcpy(&next, b, sizeof(void *));
			free(b);
			b = next;
		}
		stk->bufcache[o] = NULL;
	}
}

void ring_write(uint8_t *ring, uint32_t mask, uint32_t off, const void *src, uint32_t len)
{
	off &= mask;
	uint32_t first = XT_MIN(len, mask + 1 - off);

	memcpy(ring + off, src, first);
	if (len > first)
		memcpy(ring, (const uint8_t *)src + first, len - first);
}

void ring_read(const uint8_t *ring, uint32_t mask, uint32_t off, void *dst, uint32_t len)
{
	off &= mask;
	uint32_t first = XT_MIN(len, mask + 1 - off);

	memcpy(dst, ring + off, first);
	if (len > first)
		memcpy((uint8_t *)dst + first, ring, len - first);
}

/* len bytes at offset off from one ring into another of another size (a ring that grows). */
void ring_copy(uint8_t *dst, uint32_t dmask, const uint8_t *src, uint32_t smask, uint32_t off,
	       uint32_t len)
{
	while (len) {
		uint32_t d = off & dmask, c = XT_MIN(len, dmask + 1 - d);

		ring_read(src, smask, off, dst + d, c);
		off += c;
		len -= c;
	}
}

/*
 * Record [start, end) as received out of order. Overlapping or touching
 * blocks merge. Returns 0, or -1 when the block would need a new slot and
 * all TCP_OOO_HOLES are taken (the caller drops the segment: bounded state).
 */
int ooo_insert(struct tcb *t, uint32_t start, uint32_t end)
{
	unsigned i = 0, n = t->n_ooo;

	while (i < n && seq_lt(t->ooo[i].end, start))
		i++;
	if (i == n || seq_lt(end, t->ooo[i].start)) {
		if (n == TCP_OOO_HOLES)
			return -1;
		memmove(&t->ooo[i + 1], &t->ooo[i], (n - i) * sizeof(t->ooo[0]));
		t->ooo[i].start = start;
		t->ooo[i].end = end;
		t->n_ooo++;
		t->ooo_last = (uint8_t)i;
		return 0;
	}
	/* overlaps or touches block i: grow it, then swallow followers */
	t->ooo[i].start = seq_min(t->ooo[i].start, start);
	t->ooo[i].end = seq_max(t->ooo[i].end, end);
	unsigned j = i + 1;

	while (j < n && seq_leq(t->ooo[j].start, t->ooo[i].end)) {
		t->ooo[i].end = seq_max(t->ooo[i].end, t->ooo[j].end);
		j++;
	}
	if (j > i + 1) {
		memmove(&t->ooo[i + 1], &t->ooo[j], (n - j) * sizeof(t->ooo[0]));
		t->n_ooo = (uint8_t)(n - (j - i - 1));
	}
	t->ooo_last = (uint8_t)i;
	return 0;
}

/* Move rcv_nxt over blocks that in-order data has reached. */
void ooo_advance(struct tcb *t)
{
	unsigned k = 0;

	while (k < t->n_ooo && seq_leq(t->ooo[k].start, t->rcv_nxt)) {
		t->rcv_nxt = seq_max(t->rcv_nxt, t->ooo[k].end);
		k++;
	}
	if (k) {
		memmove(&t->ooo[0], &t->ooo[k], (t->n_ooo - k) * sizeof(t->ooo[0]));
		t->n_ooo = (uint8_t)(t->n_ooo - k);
		t->ooo_last = t->ooo_last >= k ? (uint8_t)(t->ooo_last - k) : 0;
	}
}
