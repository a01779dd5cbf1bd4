/* tests/progs/stream.h — the byte stream of the bulk transfers and its
 * checksum, shared by tests/progs/bulk.c (the plain program) and
 * bench/native.c (its twin linking OpenSSL), so that the work both do
 * around the I/O is the same code: an xorshift64 fill of every 16 KiB
 * chunk, and a 64-bit Fletcher-style sum over 8-byte words.
 * The sums and the generator's state are kept in locals in the loops:
 * through the pointers, the compiler must assume a byte of the buffer
 * may be one of them, and two copies of the same source compiled into two
 * programs came out 40 % apart (bench/README, "The bulk programs'
 * checksum"). */
#ifndef TLSSHIM_TESTS_STREAM_H
#define TLSSHIM_TESTS_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cks {
	uint64_t a, b, n;
	uint8_t pend[8];
	unsigned npend;
};

static inline void cks_word(struct cks *c, const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	c->a += w;
	c->b += c->a;
}

static inline void cks_update(struct cks *c, const uint8_t *p, size_t len)
{
	uint64_t a, b;

	c->n += len;
	while (c->npend && len) {
		c->pend[c->npend++] = *p++;
		len--;
		if (c->npend == 8) {
			cks_word(c, c->pend);
			c->npend = 0;
		}
	}
	a = c->a;
	b = c->b;
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		a += w;
		b += a;
	}
	c->a = a;
	c->b = b;
	while (len--)
		c->pend[c->npend++] = *p++;
}

static inline uint64_t cks_final(struct cks *c)
{
	if (c->npend) {
		memset(c->pend + c->npend, 0, 8 - c->npend);
		cks_word(c, c->pend);
		c->npend = 0;
	}
	return (c->a * 0x9E3779B97F4A7C15ull) ^ c->b ^ c->n;
}

static uint64_t xs_state = 0x2545F4914F6CDD1Dull;

static inline void fill(uint8_t *buf, size_t len)
{
	uint64_t s = xs_state;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(buf + i, &s, 8);
	}
	xs_state = s;
}

#endif
