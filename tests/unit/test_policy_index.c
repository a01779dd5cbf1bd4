/* tests/unit/test_policy_index.c — policy_match() through its index (by
 * port, then by address: policy/addrmap.h) gives the rule a plain
 * first-match scan gives.
 *
 * Random policies (fixed seed, bounded counts): 400 small ones (1-80
 * rules) and two large ones (4,000 rules), both directions, ports from a
 * pool of 4 (so that most rules share a port; a rule may name a port
 * twice; some name none), 0-3 address blocks per rule drawn so that they
 * nest and repeat: IPv4 and IPv6 CIDRs of every prefix length /0../32 and
 * /0../128 around a few bases (10.0.0.0/16, 0.0.0.0, 255.255.255.255,
 * fd00::/16, ::, ffff:...:ffff), IPv4 blocks written v4-mapped
 * (::ffff:a.b.c.d/96+N), IPv6 blocks that contain the v4-mapped range
 * (::/0, ::ffff:0:0/95: they do not match IPv4 peers), the same block in
 * several rules and twice in one rule; connect rules with host names
 * (exact and "*.x"), and catch-all rules (no port, address or host).
 * Queries: addresses at the edges of a rule's block (first, last, one
 * before, one after), inside it at random, or anywhere; IPv4 peers as
 * sockaddr_in or v4-mapped sockaddr_in6; ports of the pool or none of
 * theirs; no host name or one (in any case, with a trailing dot).
 *
 * Each answer must equal ref_match(): this file's own scan of its own
 * copy of the rules, written from tlsshim.conf(5) (first rule in file
 * order whose port, address and host all match; v4-mapped peers match
 * IPv4 blocks only), not from policy.c — and the library's own full scan
 * (its index removed) must give it too.  Fails, with the first queries
 * that differ, when the index is wrong. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"
#include "tests/unit/refblock.h"
#include "tests/unit/unit.h"

#define MAX_RULES 4000
#define PORT0 1000
#define NPORTS 4

struct ref_rule {
	int connect;
	int nports;
	uint16_t ports[3];
	int nblk;
	struct blk blk[3];
	int nhosts;
	const char *hosts[2];
};

static struct ref_rule rules[MAX_RULES];
static int nrules;
static int large;            /* spread the blocks out: mostly long prefixes, varied bits */

static const char *const rule_hosts[] = { "db.internal", "*.cache.internal", "a.cache.internal",
					   "web.example", "*.example" };
static const char *const query_hosts[] = { "db.internal", "DB.Internal.", "a.cache.internal",
					   "b.cache.internal", "x.y.cache.internal", "cache.internal",
					   "web.example", "WEB.example.", "other.example", "nothing.test" };

/* A byte from a small alphabet (mostly), so that blocks share their bits. */
static uint8_t near_byte(void)
{
	static const uint8_t v[] = { 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff };
	return rnd() % 4 >= (large ? 3u : 1u) ? v[rnd() % 6] : (uint8_t)rnd();
}

static void gen_block(struct blk *b)
{
	int kind = (int)(rnd() % 20);

	memset(b, 0, sizeof *b);
	if (kind < 11) {                      /* IPv4 */
		int base = (int)(rnd() % 8);
		b->mapped = rnd() % 4 == 0;
		b->prefix = large && rnd() % 64 ? 16 + (int)(rnd() % 17) : (int)(rnd() % 33);
		if (base < 6) {               /* around 10.0.0.0/16 */
			b->a[0] = 10;
			b->a[1] = large ? near_byte() : (uint8_t)(rnd() % 2);
			b->a[2] = near_byte();
			b->a[3] = near_byte();
		} else {                      /* near the ends of the space */
			memset(b->a, base == 6 ? 0x00 : 0xff, 4);
			b->a[3] = near_byte();
		}
	} else {                              /* IPv6 */
		int base = (int)(rnd() % 10);
		b->v6 = 1;
		b->prefix = large && rnd() % 64 ? 64 + (int)(rnd() % 65) : (int)(rnd() % 129);
		if (base < 6) {               /* around fd00::/16 */
			b->a[0] = 0xfd;
			for (int i = 2; i < 16; i++)
				b->a[i] = rnd() % 3 ? 0 : near_byte();
			b->a[15] = near_byte();
		} else if (base < 8) {        /* near :: or ffff:...:ffff */
			memset(b->a, base == 6 ? 0x00 : 0xff, 16);
			b->a[15] = near_byte();
		} else {                      /* around the v4-mapped range, as IPv6 */
			b->a[10] = b->a[11] = 0xff;
			b->a[12] = 10;
			b->a[15] = near_byte();
			b->prefix = (int)(rnd() % 96);
		}
	}
}

/* Case-insensitive, a trailing dot ignored; "*.x" is one whole label
 * under x. */
static int host_ok(const char *pattern, const char *host)
{
	char h[256];
	size_t n = strlen(host);

	if (n && host[n - 1] == '.')
		n--;
	if (n == 0 || n >= sizeof h)
		return 0;
	for (size_t i = 0; i < n; i++)
		h[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
	h[n] = '\0';
	if (strncmp(pattern, "*.", 2) != 0)
		return strcmp(pattern, h) == 0;
	const char *dot = strchr(h, '.');
	return dot && dot > h && strcmp(dot + 1, pattern + 2) == 0;
}

/* The first rule, in file order, whose port, address and host all match. */
static int ref_match(int connect, int v6, const uint8_t *a, uint16_t port, const char *host)
{
	for (int i = 0; i < nrules; i++) {
		const struct ref_rule *r = &rules[i];

		if (r->connect != connect || !in_rule(r->ports, r->nports, r->blk, r->nblk, port, v6, a))
			continue;
		int ok = r->nhosts == 0;
		for (int k = 0; host && k < r->nhosts; k++)
			ok |= host_ok(r->hosts[k], host);
		if (ok)
			return i;
	}
	return -1;
}

static int write_policy(const char *path, int n)
{
	FILE *f = fopen(path, "w");
	char b[80];

	if (!f)
		return -1;
	nrules = n;
	fprintf(f, "rules = (\n");
	for (int i = 0; i < n; i++) {
		struct ref_rule *r = &rules[i];
		int kind = (int)(rnd() % 100);

		/* A catch-all (or a rule with a port and no address) ends
		 * the search for its direction (or port): in a large policy
		 * only near its end, or most of it could never match. */
		if (n > 80 && i < n - 20 && kind < 8)
			kind += 8;

		memset(r, 0, sizeof *r);
		r->connect = rnd() % 5 < 3;
		if (kind < 2) {
			/* catch-all: nothing after it in its direction can match */
		} else {
			r->nports = rnd() % 4 ? 1 + (int)(rnd() % 3) : 0;
			for (int k = 0; k < r->nports; k++)
				r->ports[k] = (uint16_t)(PORT0 + rnd() % NPORTS);
			r->nblk = kind < 8 ? 0 : 1 + (int)(rnd() % 3);
			for (int k = 0; k < r->nblk; k++) {
				if (k && rnd() % 8 == 0)
					r->blk[k] = r->blk[k - 1];        /* twice in one rule */
				else if (i && rnd() % 8 == 0 && rules[i - 1].nblk)
					r->blk[k] = rules[i - 1].blk[0];  /* as the rule before */
				else
					gen_block(&r->blk[k]);
			}
			if (r->connect && rnd() % 6 == 0) {
				r->nhosts = 1 + (int)(rnd() % 2);
				for (int k = 0; k < r->nhosts; k++)
					r->hosts[k] = rule_hosts[rnd() % 5];
			}
		}
		fprintf(f, "  { direction = \"%s\"; action = \"%s\";", r->connect ? "connect" : "accept",
			i % 2 ? "plain" : "deny");
		if (r->nports) {
			fprintf(f, " port = [");
			for (int k = 0; k < r->nports; k++)
				fprintf(f, "%s%u", k ? ", " : "", r->ports[k]);
			fprintf(f, "];");
		}
		if (r->nblk) {
			fprintf(f, " address = [");
			for (int k = 0; k < r->nblk; k++) {
				fmt_block(&r->blk[k], b, sizeof b);
				fprintf(f, "%s\"%s\"", k ? ", " : "", b);
			}
			fprintf(f, "];");
		}
		if (r->nhosts) {
			fprintf(f, " host = [");
			for (int k = 0; k < r->nhosts; k++)
				fprintf(f, "%s\"%s\"", k ? ", " : "", r->hosts[k]);
			fprintf(f, "];");
		}
		fprintf(f, " }%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, ");\n");
	return fclose(f);
}

/* Adds d (+1 or -1) to the address as a number of `bytes` bytes. */
static void step(uint8_t *a, int bytes, int d)
{
	for (int i = bytes - 1; i >= 0; i--) {
		a[i] = (uint8_t)(a[i] + d);
		if (a[i] != (d > 0 ? 0x00 : 0xff))
			break;
	}
}

struct query {
	struct sockaddr_storage ss;
	socklen_t len;
	int v6;                  /* the family it matches as */
	uint8_t a[16];
	uint16_t port;
	const char *host;
	int connect;
};

static void gen_query(struct query *q)
{
	struct blk b;
	int how = (int)(rnd() % 8), bytes;

	if (nrules && rules[rnd() % (unsigned)nrules].nblk && how < 7) {
		const struct ref_rule *r = &rules[rnd() % (unsigned)nrules];
		if (r->nblk)
			b = r->blk[rnd() % (unsigned)r->nblk];
		else
			gen_block(&b);
	} else {
		gen_block(&b);
	}
	bytes = b.v6 ? 16 : 4;
	memcpy(q->a, b.a, 16);
	for (int bit = b.prefix; bit < 8 * bytes; bit++) {
		int m = 0x80 >> (bit % 8);
		switch (how % 4) {
		case 0: case 1:                       /* the first address (or one before) */
			q->a[bit / 8] &= (uint8_t)~m;
			break;
		case 2:                               /* the last (or one after) */
			q->a[bit / 8] |= (uint8_t)m;
			break;
		default:                              /* anywhere inside */
			if (rnd() & 1)
				q->a[bit / 8] ^= (uint8_t)m;
		}
	}
	if (how % 4 == 1)
		step(q->a, bytes, -1);
	else if (how % 4 == 2 && rnd() % 2)
		step(q->a, bytes, +1);
	if (rnd() % 16 == 0)                          /* a bit flipped anywhere */
		q->a[rnd() % (unsigned)bytes] ^= (uint8_t)(1u << (rnd() % 8));
	q->v6 = b.v6;
	q->port = (uint16_t)(rnd() % 8 ? PORT0 + rnd() % NPORTS : PORT0 - 1);
	q->connect = rnd() % 5 < 3;
	q->host = q->connect && rnd() % 2 ? query_hosts[rnd() % 10] : NULL;
	memset(&q->ss, 0, sizeof q->ss);
	if (b.v6 || rnd() % 2) {                      /* IPv6, or an IPv4 peer seen v4-mapped */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&q->ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(q->port);
		if (b.v6) {
			memcpy(&s6->sin6_addr, q->a, 16);
		} else {
			s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&s6->sin6_addr.s6_addr[12], q->a, 4);
		}
		q->len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&q->ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(q->port);
		memcpy(&s4->sin_addr, q->a, 4);
		q->len = sizeof *s4;
	}
	/* An IPv6 peer whose address is v4-mapped (a block around
	 * ::ffff:10.0.0.0 can produce one) is an IPv4 peer. */
	if (q->v6 && IN6_IS_ADDR_V4MAPPED((struct in6_addr *)q->a)) {
		memmove(q->a, q->a + 12, 4);
		q->v6 = 0;
	}
}

struct tally {
	long queries, diffs, matched, by_host, v6, mapped, none, deep;
};

static void run_policy(const char *path, int n, int nq, int label, struct tally *t)
{
	struct policy_error err;
	struct policy *p;

	if (write_policy(path, n) != 0 || !(p = policy_load(path, &err))) {
		char m[1200];
		policy_error_format(&err, m, sizeof m);
		printf("# policy %d: %s\n", label, m);
		t->diffs++;
		return;
	}
	if (!p->index[0] || !p->index[1]) {
		printf("# policy %d: no index\n", label);
		t->diffs++;
	}
	for (int i = 0; i < nq; i++) {
		struct query q;
		enum policy_dir d;
		const struct policy_rule *got, *scan;
		struct policy lin = *p;
		int want;

		gen_query(&q);
		d = q.connect ? POLICY_CONNECT : POLICY_ACCEPT;
		want = ref_match(q.connect, q.v6, q.a, q.port, q.host);
		got = policy_match(p, d, (struct sockaddr *)&q.ss, q.len, q.host);
		lin.index[0] = lin.index[1] = NULL;
		scan = policy_match(&lin, d, (struct sockaddr *)&q.ss, q.len, q.host);
		t->queries++;
		if ((got ? got->index : -1) != want || scan != got) {
			if (t->diffs++ < 8) {
				char a[INET6_ADDRSTRLEN];
				inet_ntop(q.v6 ? AF_INET6 : AF_INET, q.a, a, sizeof a);
				printf("# policy %d (%s), query %d: %s %s%s port %u host %s: index gave rule %d, "
				       "the first match is %d, the library's scan %d\n", label, path, i,
				       q.connect ? "connect" : "accept", a,
				       q.len == sizeof(struct sockaddr_in6) && !q.v6 ? " (v4-mapped)" : "",
				       q.port, q.host ? q.host : "(none)", got ? got->index : -1, want,
				       scan ? scan->index : -1);
			}
			continue;
		}
		if (want < 0) {
			t->none++;
			continue;
		}
		t->matched++;
		t->by_host += rules[want].nhosts > 0;
		t->v6 += q.v6;
		t->mapped += !q.v6 && q.len == sizeof(struct sockaddr_in6);
		t->deep += want >= n / 2;
	}
	if (t->diffs)
		printf("# policy %d kept in %s\n", label, path);
	else
		unlink(path);
	policy_free(p);
}

int main(void)
{
	char dir[] = "/tmp/tlsshim-index.XXXXXX", path[64];

	rng = 0x2545f4914f6cdd1dull;             /* refblock.h: the fixed sequence */
	if (!mkdtemp(dir)) {
		printf("FAIL setup: mkdtemp\n");
		return 1;
	}
	UNIT_CASE("policy index: 400 random policies of 1-80 rules, 3,000 queries each: the first match") {
		struct tally t = { 0 };
		for (int k = 0; k < 400 && !t.diffs; k++) {
			snprintf(path, sizeof path, "%s/small-%d.conf", dir, k);
			run_policy(path, 1 + (int)(rnd() % 80), 3000, k, &t);
		}
		EXPECT(t.diffs == 0);
		/* the queries reach every kind of answer */
		EXPECT(t.queries == 400L * 3000);
		EXPECT(t.matched > t.queries / 4 && t.none > t.queries / 20);
		EXPECT(t.by_host > 1000 && t.v6 > 10000 && t.mapped > 10000);
		printf("# %ld queries: %ld matched (%ld a host rule, %ld IPv6, %ld v4-mapped), %ld none\n",
		       t.queries, t.matched, t.by_host, t.v6, t.mapped, t.none);
	}
	UNIT_CASE("policy index: 2 random policies of 4,000 rules, 10,000 queries each: the first match") {
		struct tally t = { 0 };
		large = 1;
		for (int k = 0; k < 2 && !t.diffs; k++) {
			snprintf(path, sizeof path, "%s/large-%d.conf", dir, k);
			run_policy(path, MAX_RULES, 10000, k, &t);
		}
		EXPECT(t.diffs == 0);
		EXPECT(t.matched > t.queries / 4 && t.none > 0 && t.deep > 0);
		printf("# %ld queries: %ld matched (%ld a host rule, %ld IPv6, %ld v4-mapped, %ld beyond rule %d),"
		       " %ld none\n", t.queries, t.matched, t.by_host, t.v6, t.mapped, t.deep, MAX_RULES / 2,
		       t.none);
	}
	rmdir(dir);
	return UNIT_RESULT();
}
