/* tests/unit/refblock.h — the reference address blocks of the policy
 * index tests (test_policy_index.c, test_policy_scale.c): a block as the
 * test wrote it into its policy, its text, and the reference's own match
 * (written from tlsshim.conf(5), not from policy.c); and the tests'
 * random numbers (xorshift64, each test's own seed: a fixed sequence).
 * Included once, by a test's own file. */
#ifndef TLSSHIM_TESTS_REFBLOCK_H
#define TLSSHIM_TESTS_REFBLOCK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>

struct blk {
	int v6;                  /* the family it matches: 0 IPv4 (also written v4-mapped) */
	int mapped;              /* IPv4, written ::ffff:a.b.c.d/(96+prefix) */
	uint8_t a[16];           /* as written (host bits may be set) */
	int prefix;              /* in the family's own bits */
};

/* The test's seed, set before its first rnd(). */
static uint64_t rng;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* The block as the policy file says it. */
static void fmt_block(const struct blk *b, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (b->v6) {
		inet_ntop(AF_INET6, b->a, a, sizeof a);
		snprintf(out, len, "%s/%d", a, b->prefix);
	} else if (b->mapped) {
		inet_ntop(AF_INET, b->a, a, sizeof a);
		snprintf(out, len, "::ffff:%s/%d", a, b->prefix + 96);
	} else {
		inet_ntop(AF_INET, b->a, a, sizeof a);
		snprintf(out, len, "%s/%d", a, b->prefix);
	}
}

/* tlsshim.conf(5): bits beyond the prefix are ignored. */
static int in_block(const struct blk *b, int v6, const uint8_t *a)
{
	if (b->v6 != v6)
		return 0;
	for (int bit = 0; bit < b->prefix; bit++) {
		int m = 0x80 >> (bit % 8);
		if ((b->a[bit / 8] & m) != (a[bit / 8] & m))
			return 0;
	}
	return 1;
}

/* tlsshim.conf(5): a rule's ports and blocks match when it names none of
 * them or the peer's port is one of its ports, and when it names no block
 * or the peer's address is in one of its blocks. */
static int in_rule(const uint16_t *ports, int nports, const struct blk *blk, int nblk,
		   uint16_t port, int v6, const uint8_t *a)
{
	int ok = nports == 0;

	for (int k = 0; k < nports; k++)
		ok |= ports[k] == port;
	if (!ok)
		return 0;
	ok = nblk == 0;
	for (int k = 0; k < nblk; k++)
		ok |= in_block(&blk[k], v6, a);
	return ok;
}

#endif
