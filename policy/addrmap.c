/* policy/addrmap.c — see addrmap.h. */
#include "policy/addrmap.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* An address as a 128-bit number (IPv4: the low 32 bits). */
struct key {
	uint64_t hi, lo;
};

/* From start up to the next segment's start, the answer is rule. */
struct addrmap_seg {
	struct key start;
	size_t rule;
};

/* A block as the range [first, last], and where it came from. */
struct block {
	struct key first, last;
	int prefix;
	size_t rule;
};

static int key_cmp(struct key a, struct key b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	return a.lo < b.lo ? -1 : a.lo > b.lo;
}

static struct key key_of(int v6, const uint8_t *addr)
{
	uint64_t h, l;
	uint32_t w;

	if (v6) {
		memcpy(&h, addr, 8);
		memcpy(&l, addr + 8, 8);
		return (struct key){ be64toh(h), be64toh(l) };
	}
	memcpy(&w, addr, 4);
	return (struct key){ 0, be32toh(w) };
}

/* The low `bits` bits set (0..64). */
static uint64_t low_bits(int bits)
{
	return bits >= 64 ? UINT64_MAX : bits <= 0 ? 0 : (UINT64_C(1) << bits) - 1;
}

static void block_of(const struct addrmap_entry *e, int v6, struct block *b)
{
	int host = (v6 ? 128 : 32) - e->cidr->prefix;   /* host bits */
	struct key m = { low_bits(host - 64), low_bits(host) };

	b->first = key_of(v6, e->cidr->addr);
	b->first.hi &= ~m.hi;
	b->first.lo &= ~m.lo;
	b->last = (struct key){ b->first.hi | m.hi, b->first.lo | m.lo };
	b->prefix = e->cidr->prefix;
	b->rule = e->rule;
}

/* By first address, then the larger block first, then the smaller rule. */
static int cmp_block(const void *x, const void *y)
{
	const struct block *a = x, *b = y;
	int c = key_cmp(a->first, b->first);

	if (c)
		return c;
	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	return a->rule < b->rule ? -1 : a->rule > b->rule;
}

/* From start on the answer is rule: a segment at the same start is
 * replaced, one that repeats its predecessor's answer is not kept. */
static void emit(struct addrmap_seg *s, size_t *n, struct key start, size_t rule)
{
	if (*n && key_cmp(s[*n - 1].start, start) == 0) {
		s[*n - 1].rule = rule;
		if (*n >= 2 && s[*n - 2].rule == rule)
			(*n)--;
		return;
	}
	if (*n ? s[*n - 1].rule == rule : rule == ADDRMAP_NONE)
		return;
	s[(*n)++] = (struct addrmap_seg){ start, rule };
}

static struct key next_key(struct key k)
{
	k.lo++;
	if (k.lo == 0)
		k.hi++;
	return k;
}

/* The blocks (sorted by cmp_block) into segments; s has room for 2n.
 * Blocks are nested or disjoint, so the blocks holding the current
 * address are a stack, innermost on top, each with the smallest rule
 * of itself and the blocks around it. */
static size_t sweep(const struct block *b, size_t n, int v6, struct addrmap_seg *s)
{
	const struct key max = { v6 ? UINT64_MAX : 0, v6 ? UINT64_MAX : UINT32_MAX };
	struct {
		struct key last;
		size_t best;
	} st[130];               /* strictly nested: at most 129 deep (/0../128) */
	size_t ns = 0, depth = 0;

	for (size_t i = 0; i < n; i++) {
		/* the same block again: the first (smallest rule) counts */
		if (i && key_cmp(b[i].first, b[i - 1].first) == 0 && b[i].prefix == b[i - 1].prefix)
			continue;
		while (depth && key_cmp(st[depth - 1].last, b[i].first) < 0) {
			depth--;
			emit(s, &ns, next_key(st[depth].last), depth ? st[depth - 1].best : ADDRMAP_NONE);
		}
		st[depth].last = b[i].last;
		st[depth].best = depth && st[depth - 1].best < b[i].rule ? st[depth - 1].best : b[i].rule;
		emit(s, &ns, b[i].first, st[depth].best);
		depth++;
	}
	while (depth) {
		depth--;
		/* a block that ends at the family's last address ends nothing */
		if (key_cmp(st[depth].last, max) != 0)
			emit(s, &ns, next_key(st[depth].last), depth ? st[depth - 1].best : ADDRMAP_NONE);
	}
	return ns;
}

bool addrmap_build(struct addrmap *m, struct addrmap_entry *e, size_t n)
{
	struct block *b = NULL;
	bool ok = true;

	memset(m, 0, sizeof(*m));
	for (int v6 = 0; ok && v6 < 2; v6++) {
		int family = v6 ? AF_INET6 : AF_INET;
		size_t nb = 0;

		for (size_t i = 0; i < n; i++)
			if (e[i].cidr->family == family) {
				if (e[i].cidr->prefix < 0 || e[i].cidr->prefix > (v6 ? 128 : 32))
					ok = false;
				nb++;
			}
		if (!ok || !nb)
			continue;
		if (!(b = malloc(nb * sizeof(*b))) || !(m->seg[v6] = malloc(2 * nb * sizeof(*m->seg[v6])))) {
			ok = false;
			break;
		}
		nb = 0;
		for (size_t i = 0; i < n; i++)
			if (e[i].cidr->family == family)
				block_of(&e[i], v6, &b[nb++]);
		qsort(b, nb, sizeof(*b), cmp_block);
		m->nseg[v6] = sweep(b, nb, v6, m->seg[v6]);
		free(b);
		b = NULL;
	}
	free(b);
	if (!ok)
		addrmap_free(m);
	return ok;
}

size_t addrmap_lookup(const struct addrmap *m, int family, const uint8_t *addr)
{
	int v6 = family == AF_INET6;
	const struct addrmap_seg *s = m->seg[v6];
	size_t lo = 0, hi = m->nseg[v6];
	struct key k;

	if ((family != AF_INET && family != AF_INET6) || !hi)
		return ADDRMAP_NONE;
	k = key_of(v6, addr);
	/* the first segment that starts after k; the one before holds k */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(s[mid].start, k) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? s[lo - 1].rule : ADDRMAP_NONE;
}

void addrmap_free(struct addrmap *m)
{
	free(m->seg[0]);
	free(m->seg[1]);
	memset(m, 0, sizeof(*m));
}
