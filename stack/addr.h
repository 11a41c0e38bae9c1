/*
 * addr.h - the stack's one address representation, for both families.
 *
 * Every address inside the stack is a 16-byte struct in6_addr. An IPv4
 * address is stored v4-mapped, ::ffff:a.b.c.d, as Linux shows IPv4 peers of
 * a dual-stack AF_INET6 socket; whether an address is v4-mapped decides the
 * wire family (IPv4 or IPv6 header). The IPv4 "any" is ::ffff:0.0.0.0, the
 * IPv6 one is ::. Pure inline helpers: no state, no allocation.
 */
#ifndef XTCP_ADDR_H
#define XTCP_ADDR_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static inline int addr_is_v4(const struct in6_addr *a)
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a->s6_addr, pfx, 12) == 0;
}

/* The IPv4 address (network order) of a v4-mapped address. */
static inline uint32_t addr_v4(const struct in6_addr *a)
{
	uint32_t v;

	memcpy(&v, a->s6_addr + 12, 4);
	return v;
}

static inline void addr_set_v4(struct in6_addr *a, uint32_t ip4)
{
	memset(a->s6_addr, 0, 10);
	a->s6_addr[10] = 0xff;
	a->s6_addr[11] = 0xff;
	memcpy(a->s6_addr + 12, &ip4, 4);
}

static inline struct in6_addr addr_from_v4(uint32_t ip4)
{
	struct in6_addr a;

	addr_set_v4(&a, ip4);
	return a;
}

static inline int addr_eq(const struct in6_addr *a, const struct in6_addr *b)
{
	uint64_t a0, a1, b0, b1;

	memcpy(&a0, a->s6_addr, 8);
	memcpy(&a1, a->s6_addr + 8, 8);
	memcpy(&b0, b->s6_addr, 8);
	memcpy(&b1, b->s6_addr + 8, 8);
	return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

/* :: (IPv6 any, dual-stack unless IPV6_V6ONLY) */
static inline int addr_is_unspec(const struct in6_addr *a)
{
	static const struct in6_addr z;

	return addr_eq(a, &z);
}

/* Any address of its family: :: or ::ffff:0.0.0.0 */
static inline int addr_is_any(const struct in6_addr *a)
{
	return addr_is_unspec(a) || (addr_is_v4(a) && addr_v4(a) == 0);
}

static inline int addr_is_linklocal(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

/*
 * The addresses' share of the TCP pseudo-header sum, in csum_partial()'s
 * 32-bit-word form: the IPv4 address alone for a v4-mapped one (RFC 9293
 * 3.1), all 16 bytes for IPv6 (RFC 8200 8.1).
 */
static inline uint64_t addr_csum(const struct in6_addr *a)
{
	uint32_t w[4];

	if (addr_is_v4(a))
		return addr_v4(a);
	memcpy(w, a->s6_addr, 16);
	return (uint64_t)w[0] + w[1] + w[2] + w[3];
}

#endif
