/*
 * csum.c - Internet checksum (RFC 1071) and SipHash-2-4.
 *
 * csum_partial() adds a buffer to a 64-bit one's-complement accumulator
 * (32-bit words, native byte order: the result is stored back with memcpy,
 * so it needs no byte swapping); csum_fold() reduces it to 16 bits.
 * Callers chain csum_partial() only at even offsets. SipHash keys the ISN
 * generator (RFC 6528), SYN cookies, port choice and the 4-tuple hash.
 * Pure functions: no state, no allocation.
 */
#include "stack_priv.h"

uint64_t csum_partial(const void *buf, size_t len, uint64_t sum)
{
	const uint8_t *p = buf;
	uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;

	/*
	 * 32-bit halves into four independent 64-bit accumulators: no carry
	 * chain, so the adds run in parallel (and vectorise). Each accumulator
	 * takes len/16 values < 2^32: no overflow below 2^36 bytes.
	 */
	while (len >= 32) {
		uint64_t w0, w1, w2, w3;

		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		memcpy(&w2, p + 16, 8);
		memcpy(&w3, p + 24, 8);
		a0 += (w0 & 0xffffffffu) + (w2 & 0xffffffffu);
		a1 += (w0 >> 32) + (w2 >> 32);
		a2 += (w1 & 0xffffffffu) + (w3 & 0xffffffffu);
		a3 += (w1 >> 32) + (w3 >> 32);
		p += 32;
		len -= 32;
	}
	while (len >= 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		a0 += v;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;

		memcpy(&h, p, 2);
		a1 += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint16_t h = 0;

		memcpy(&h, p, 1); /* trailing byte padded with zero, in memory order */
		a2 += h;
	}
	uint64_t t = a0 + a1 + a2 + a3;

	sum += t;
	return sum + (sum < t); /* end-around carry */
}

uint16_t csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

/* SipHash-2-4 of n 64-bit words (all callers hash small fixed tuples). */
uint64_t siphash_words(const uint64_t key[2], const uint64_t *m, unsigned n)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t b = (uint64_t)(n * 8) << 56;

	for (unsigned i = 0; i < n; i++) {
		v3 ^= m[i];
		SIPROUND;
		SIPROUND;
		v0 ^= m[i];
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
