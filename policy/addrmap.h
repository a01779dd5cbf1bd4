/* policy/addrmap.h — which of a set of rules' CIDR blocks hold an address:
 * the smallest rule index among them, in O(log n).
 *
 * CIDR blocks are nested or disjoint, never partly overlapping, so the
 * address space of a family cuts into at most 2n+1 ranges on each of
 * which the answer (the smallest rule index of the blocks that hold the
 * address, or none) is constant.  addrmap_build() computes these ranges
 * once (sort, then one sweep with a stack of the open blocks); a lookup
 * is a binary search for the range that holds the address.  IPv4 and
 * IPv6 are two separate maps: a CIDR matches only addresses of its own
 * family (policy_match folds v4-mapped addresses to IPv4 before asking,
 * and the loader turns v4-mapped CIDRs into IPv4 ones). */
#ifndef TLSSHIM_POLICY_ADDRMAP_H
#define TLSSHIM_POLICY_ADDRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

#define ADDRMAP_NONE SIZE_MAX

struct addrmap_entry {
	const struct policy_cidr *cidr;
	size_t rule;
};

struct addrmap_seg;

struct addrmap {
	struct addrmap_seg *seg[2]; /* [0] IPv4, [1] IPv6: sorted by start */
	size_t nseg[2];
};

/* Builds m (zeroed first) from n entries, which it reorders.  Entries of
 * a family other than AF_INET and AF_INET6 are ignored.  Returns false
 * when out of memory (m is then empty). */
bool addrmap_build(struct addrmap *m, struct addrmap_entry *e, size_t n);

/* The smallest rule of the entries whose CIDR holds addr (family AF_INET:
 * 4 bytes, AF_INET6: 16, network order), or ADDRMAP_NONE. */
size_t addrmap_lookup(const struct addrmap *m, int family, const uint8_t *addr);

void addrmap_free(struct addrmap *m);

#endif
