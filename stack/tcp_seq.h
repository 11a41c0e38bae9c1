/*
 * tcp_seq.h - sequence number arithmetic modulo 2^32 (RFC 9293 3.4).
 *
 * All comparisons of sequence numbers, acknowledgment numbers and timestamp
 * values go through these helpers: a plain '<' is wrong across wrap-around.
 */
#ifndef XTCP_TCP_SEQ_H
#define XTCP_TCP_SEQ_H

#include <stdint.h>

static inline int seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline int seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline int seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static inline int seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

/* lo <= s <= hi, modulo 2^32 */
static inline int seq_between(uint32_t s, uint32_t lo, uint32_t hi)
{
	return hi - lo >= s - lo;
}

static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
	return seq_gt(a, b) ? a : b;
}

static inline uint32_t seq_min(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? a : b;
}

#endif
