/*
 * posix_proto.h - the tiny protocol between posix_srv and posix_cli, and the
 * seeded byte pattern both sides check every byte against, and how both
 * write it.
 *
 * A connection starts with a 20-byte header from the client:
 *   magic "XTP1", op (u32), size (u64), seed (u32), network byte order.
 * What follows depends on op (see posix_srv.c). Plain POSIX only: these
 * programs must behave identically on the kernel and under LD_PRELOAD.
 */
#ifndef XTCP_POSIX_PROTO_H
#define XTCP_POSIX_PROTO_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

enum posix_op {
	OP_UPLOAD = 1,	  /* client sends size bytes, SHUT_WR; server answers "ok N\n" */
	OP_DOWNLOAD = 2,  /* server sends size bytes and closes */
	OP_ECHO = 3,	  /* server echoes until EOF, then closes */
	OP_RST = 4,	  /* server closes with SO_LINGER {1,0}: the client sees a reset */
	OP_SIGPIPE = 5,	  /* server writes into a reset connection: SIGPIPE and EPIPE */
	OP_TIMEO = 6,	  /* server recv() with SO_RCVTIMEO on a silent client */
	OP_PEERDEATH = 7, /* the client process dies; server sees EOF */
	OP_HALFCLOSE = 8, /* server sends size, SHUT_WR, then reads size bytes */
	OP_RESULT = 9,	  /* server answers the result line of the last 5/7/8 */
};

#define PROTO_HDR 20

static inline void proto_hdr(uint8_t h[PROTO_HDR], uint32_t op, uint64_t size, uint32_t seed)
{
	int i;

	memcpy(h, "XTP1", 4);
	for (i = 0; i < 4; i++)
		h[4 + i] = (uint8_t)(op >> (24 - 8 * i));
	for (i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)(size >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		h[16 + i] = (uint8_t)(seed >> (24 - 8 * i));
}

static inline int proto_parse(const uint8_t h[PROTO_HDR], uint32_t *op, uint64_t *size,
			      uint32_t *seed)
{
	int i;

	if (memcmp(h, "XTP1", 4) != 0)
		return -1;
	*op = 0;
	*size = 0;
	*seed = 0;
	for (i = 0; i < 4; i++)
		*op = *op << 8 | h[4 + i];
	for (i = 0; i < 8; i++)
		*size = *size << 8 | h[8 + i];
	for (i = 0; i < 4; i++)
		*seed = *seed << 8 | h[16 + i];
	return 0;
}

/* Seeded pattern: a stream of xorshift64* words, consumed byte by byte. */
struct pat {
	uint64_t x, word;
	unsigned left; /* bytes left in word */
	uint64_t off;  /* bytes produced so far */
};

static inline void pat_init(struct pat *p, uint32_t seed)
{
	p->x = 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 17 | seed);
	p->left = 0;
	p->off = 0;
}

static inline uint8_t pat_byte(struct pat *p)
{
	uint8_t b;

	if (!p->left) {
		p->x ^= p->x >> 12;
		p->x ^= p->x << 25;
		p->x ^= p->x >> 27;
		p->word = p->x * 0x2545f4914f6cdd1dull;
		p->left = 8;
	}
	b = (uint8_t)p->word;
	p->word >>= 8;
	p->left--;
	p->off++;
	return b;
}

static inline void pat_fill(struct pat *p, uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = pat_byte(p);
}

/* Check n received bytes; returns the index of the first bad byte, or -1. */
static inline long pat_check(struct pat *p, const uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] != pat_byte(p))
			return (long)i;
	return -1;
}

#define CHUNK 65536 /* pattern bytes per read() or write() */

/* Write all n bytes (retrying EINTR and short writes); 0, or -1. */
static inline int write_full(int fd, const void *buf, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t r = write(fd, (const char *)buf + put, n - put);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		put += (size_t)r;
	}
	return 0;
}

/* Send size bytes of the pattern of seed; 0, or -1. */
static inline int send_pattern(int fd, uint32_t seed, uint64_t size)
{
	static __thread uint8_t buf[CHUNK];
	struct pat p;

	pat_init(&p, seed);
	while (size) {
		size_t n = size < CHUNK ? (size_t)size : CHUNK;

		pat_fill(&p, buf, n);
		if (write_full(fd, buf, n))
			return -1;
		size -= n;
	}
	return 0;
}

#endif
