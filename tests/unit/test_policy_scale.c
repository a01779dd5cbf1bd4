/* tests/unit/test_policy_scale.c — a policy of 10,000 rules loads, and
 * policy_match() gives exactly the first-match answer.
 *
 * The rules are generated (fixed seed): either direction, action plain or
 * deny (and a few tls ones with a certificate), 0-3 ports from a small
 * pool (so that many rules compete for one port), 0-3 address blocks:
 * IPv4 CIDRs of every prefix length inside 10.0.0.0/8, IPv6 ones inside
 * fd00::/8, and IPv4-mapped IPv6 blocks (which match IPv4 peers).  The
 * test keeps its own copy of what it wrote and answers each query with
 * its own first-match scan (written from tlsshim.conf(5), not from
 * policy.c); 200,000 queries (AF_INET, AF_INET6 and v4-mapped peers,
 * addresses drawn near the rules' blocks so that they hit) must get the
 * same rule from the library, or no rule from both, and the library's
 * port index must give what its own full scan (the same policy without
 * the index) gives — also on 500 small random policies (catch-all rules,
 * ports named twice, queries on ports no rule names) — and on 10,000
 * connect rules with host names (exact and "*.x", shared by several
 * rules, some with a port or an address), queried by name.  No wall-clock limit:
 * the load and the queries are timed for the report only, and the test
 * runs within the runner's time limit.
 * Certificates: $TLSSHIM_TEST_CERTS (made by certs/mkcerts.sh). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy.h"
#include "tests/unit/refblock.h"
#include "tests/unit/unit.h"

#define NRULES 10000
#define NQUERIES 200000
#define PORT_POOL 300

struct ref_rule {
	int dir;                 /* 0 accept, 1 connect */
	int nports;
	uint16_t ports[3];
	int nblk;
	struct blk blk[3];
};

static struct ref_rule rules[NRULES];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void gen_block(struct blk *b)
{
	int kind = (int)(rnd() % 10);

	memset(b, 0, sizeof *b);
	if (kind < 6 || kind == 9) {          /* IPv4, or IPv4 written v4-mapped */
		b->mapped = kind == 9;
		b->prefix = 8 + (int)(rnd() % 25);           /* 8..32 */
		b->a[0] = 10;
		b->a[1] = (uint8_t)(rnd() % 4);              /* dense enough to overlap */
		b->a[2] = (uint8_t)(rnd() % 64);
		b->a[3] = (uint8_t)rnd();
	} else {                              /* IPv6 inside fd00::/8 */
		b->v6 = 1;
		b->prefix = 8 + (int)(rnd() % 121);          /* 8..128 */
		b->a[0] = 0xfd;
		b->a[1] = (uint8_t)(rnd() % 3);
		for (int i = 2; i < 16; i++)
			b->a[i] = (uint8_t)(rnd() % 4);
	}
}

static long ref_match(int dir, int v6, const uint8_t *a, uint16_t port)
{
	for (long i = 0; i < NRULES; i++) {
		const struct ref_rule *r = &rules[i];

		if (r->dir == dir && in_rule(r->ports, r->nports, r->blk, r->nblk, port, v6, a))
			return i;
	}
	return -1;
}

static int write_policy(const char *path, const char *certs)
{
	FILE *f = fopen(path, "w");
	char b[80];

	if (!f)
		return -1;
	fprintf(f, "rules = (\n");
	for (int i = 0; i < NRULES; i++) {
		struct ref_rule *r = &rules[i];
		int tls = i % 2500 == 1234;

		r->dir = tls ? 0 : (int)(rnd() % 2);
		r->nports = (int)(rnd() % 4);
		for (int k = 0; k < r->nports; k++)
			r->ports[k] = (uint16_t)(1000 + rnd() % PORT_POOL);
		/* No catch-all rule: a rule with neither ports nor
		 * addresses would end every search there. */
		r->nblk = (int)(rnd() % 4);
		if (!r->nports && !r->nblk)
			r->nblk = 1;
		for (int k = 0; k < r->nblk; k++)
			gen_block(&r->blk[k]);
		fprintf(f, "  { name = \"r%d\"; direction = \"%s\"; action = \"%s\";", i,
			r->dir ? "connect" : "accept", tls ? "tls" : i % 3 ? "plain" : "deny");
		if (tls)
			fprintf(f, " cert = \"%s/server.crt\"; key = \"%s/server.key\";", certs, certs);
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
		fprintf(f, " }%s\n", i + 1 < NRULES ? "," : "");
	}
	fprintf(f, ");\n");
	return fclose(f);
}

/* A query address: usually inside (or next to) some rule's block. */
static void gen_query(struct sockaddr_storage *ss, socklen_t *len, int *v6, uint8_t *a, uint16_t *port)
{
	const struct ref_rule *r = &rules[rnd() % NRULES];
	struct blk b;
	int how = (int)(rnd() % 3);

	if (r->nblk)
		b = r->blk[rnd() % (unsigned)r->nblk];
	else
		gen_block(&b);
	memcpy(a, b.a, 16);
	/* Randomise some host bits (sometimes crossing the prefix). */
	int total = b.v6 ? 128 : 32, from = b.prefix - (int)(rnd() % 3);
	for (int bit = from < 0 ? 0 : from; bit < total; bit++)
		if (rnd() & 1)
			a[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	*v6 = b.v6;
	/* One in five outside every rule's ports: only address rules can match. */
	*port = (uint16_t)(rnd() % 5 ? 1000 + rnd() % PORT_POOL : 5000 + rnd() % 100);
	memset(ss, 0, sizeof *ss);
	if (b.v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(*port);
		memcpy(&s6->sin6_addr, a, 16);
		*len = sizeof *s6;
	} else if (how == 2) {                /* an IPv4 peer on a dual-stack socket */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(*port);
		s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], a, 4);
		*len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(*port);
		memcpy(&s4->sin_addr, a, 4);
		*len = sizeof *s4;
	}
}

/* A small random policy: 1..40 rules, ports from a pool of 8 (a list may
 * name one twice), catch-all rules allowed.  Returns the rule count. */
static int write_small(const char *path)
{
	FILE *f = fopen(path, "w");
	int n = 1 + (int)(rnd() % 40);
	char b[80];

	if (!f)
		return -1;
	fprintf(f, "rules = (\n");
	for (int i = 0; i < n; i++) {
		int np = (int)(rnd() % 4), nb = (int)(rnd() % 3);
		fprintf(f, "  { direction = \"%s\"; action = \"%s\";", rnd() % 2 ? "connect" : "accept",
			rnd() % 2 ? "plain" : "deny");
		if (np) {
			fprintf(f, " port = [");
			for (int k = 0; k < np; k++)
				fprintf(f, "%s%u", k ? ", " : "", 1000 + rnd() % 8);
			fprintf(f, "];");
		}
		if (nb) {
			fprintf(f, " address = [");
			for (int k = 0; k < nb; k++) {
				struct blk bl;
				gen_block(&bl);
				fmt_block(&bl, b, sizeof b);
				fprintf(f, "%s\"%s\"", k ? ", " : "", b);
			}
			fprintf(f, "];");
		}
		fprintf(f, " }%s\n", i + 1 < n ? "," : "");
	}
	fprintf(f, ");\n");
	return fclose(f) == 0 ? n : -1;
}

/* The library's own full scan: the same policy without its index. */
static const struct policy_rule *scan_host(const struct policy *p, enum policy_dir d,
					   const struct sockaddr *a, socklen_t len, const char *host)
{
	struct policy lin = *p;

	lin.index[0] = lin.index[1] = NULL;
	return policy_match(&lin, d, a, len, host);
}

static const struct policy_rule *scan(const struct policy *p, enum policy_dir d,
				      const struct sockaddr *a, socklen_t len)
{
	return scan_host(p, d, a, len, NULL);
}

/* Connect rules by host name, 10,000 of them: 1-3 names each, exact
 * ("sN.zM.test") or "*.zM.test", from a pool of 200 zones of 50 names,
 * so that most names are shared by a few rules; a port from a pool of 20
 * or none; one in four also an IPv4 block; one rule in ten has a port and
 * one address only (it matches without a name). */
#define NHRULES 10000
/* Under ASan, 5,000 name queries: each one is two scans of the 10,000
 * rules (the test's reference and the library's full scan), 9 s of CPU
 * for 20,000 there.  The 5,000 are drawn as the 20,000 are (exact names,
 * "*.x", no name; rules with a port or an address): the checks below
 * (hits, "*.x" hits, a deep rule) hold at either count, and the default
 * build keeps the 20,000. */
#if defined(__SANITIZE_ADDRESS__)
#define NHQUERIES 5000
#define NHQUERIES_NAME "5,000"
#else
#define NHQUERIES 20000
#define NHQUERIES_NAME "20,000"
#endif
#define HZONES 200
#define HNAMES 50
#define HPORTS 20

struct href_rule {
	int nhosts;
	char hosts[3][32];       /* as written, lower case */
	uint16_t port;           /* 0: any */
	int nblk;
	struct blk blk;
};

static struct href_rule hrules[NHRULES];

static void gen_v4_block(struct blk *b)
{
	memset(b, 0, sizeof *b);
	b->prefix = 24 + (int)(rnd() % 9);           /* 24..32 */
	b->a[0] = 10;
	b->a[1] = (uint8_t)(rnd() % 4);
	b->a[2] = (uint8_t)(rnd() % 4);
	b->a[3] = (uint8_t)rnd();
}

/* tlsshim.conf(5): names match without regard to case and a trailing
 * dot; "*.x" matches exactly one label in front of x.  ref_host_name()
 * puts the query in that form once (lower case, no trailing dot; NULL
 * when it is empty or too long: then it matches no pattern), and
 * ref_host_ok() compares it with each pattern (as written, lower case):
 * the reference scan of 10,000 rules no longer copies the query for
 * every pattern (two thirds of the test's CPU under ASan). */
static const char *ref_host_name(const char *query, char *h, size_t hlen, size_t *len)
{
	size_t n = strlen(query);

	if (n && query[n - 1] == '.')
		n--;
	if (n == 0 || n >= hlen)
		return NULL;
	for (size_t i = 0; i < n; i++)
		h[i] = (char)(query[i] >= 'A' && query[i] <= 'Z' ? query[i] + 32 : query[i]);
	h[n] = 0;
	*len = n;
	return h;
}

static int ref_host_ok(const char *pattern, const char *h, size_t n)
{
	size_t pl;

	if (pattern[0] != '*' || pattern[1] != '.')
		return strcmp(pattern, h) == 0;
	pl = strlen(pattern + 1);                    /* ".x" */
	if (n <= pl || strcmp(h + n - pl, pattern + 1) != 0)
		return 0;
	return memchr(h, '.', n - pl) == NULL;       /* one non-empty label */
}

static long href_match(const uint8_t *a, uint16_t port, const char *host)
{
	char hb[300];
	size_t n = 0;
	const char *h = host ? ref_host_name(host, hb, sizeof hb, &n) : NULL;

	for (long i = 0; i < NHRULES; i++) {
		const struct href_rule *r = &hrules[i];
		int ok = r->nhosts == 0;

		for (int k = 0; h && k < r->nhosts; k++)
			ok |= ref_host_ok(r->hosts[k], h, n);
		if (!ok || (r->port && r->port != port) || (r->nblk && !in_block(&r->blk, 0, a)))
			continue;
		return i;
	}
	return -1;
}

static int write_host_policy(const char *path)
{
	FILE *f = fopen(path, "w");
	char b[80];

	if (!f)
		return -1;
	fprintf(f, "rules = (\n");
	for (int i = 0; i < NHRULES; i++) {
		struct href_rule *r = &hrules[i];

		memset(r, 0, sizeof *r);
		r->nhosts = i % 10 == 7 ? 0 : 1 + (int)(rnd() % 3);
		for (int k = 0; k < r->nhosts; k++) {
			unsigned z = rnd() % HZONES;
			if (rnd() % 5 == 0)
				snprintf(r->hosts[k], sizeof r->hosts[k], "*.z%u.test", z);
			else
				snprintf(r->hosts[k], sizeof r->hosts[k], "s%u.z%u.test", rnd() % HNAMES, z);
		}
		r->port = rnd() % 3 || !r->nhosts ? (uint16_t)(2000 + rnd() % HPORTS) : 0;
		r->nblk = !r->nhosts || rnd() % 4 == 0;
		if (r->nblk)
			gen_v4_block(&r->blk);
		if (!r->nhosts)                      /* one address, so that few queries stop here */
			r->blk.prefix = 32;
		fprintf(f, "  { name = \"h%d\"; direction = \"connect\"; action = \"%s\";", i,
			i % 3 ? "plain" : "deny");
		if (r->nhosts) {
			fprintf(f, " host = [");
			for (int k = 0; k < r->nhosts; k++)
				fprintf(f, "%s\"%s\"", k ? ", " : "", r->hosts[k]);
			fprintf(f, "];");
		}
		if (r->port)
			fprintf(f, " port = %u;", r->port);
		if (r->nblk) {
			fmt_block(&r->blk, b, sizeof b);
			fprintf(f, " address = \"%s\";", b);
		}
		fprintf(f, " }%s\n", i + 1 < NHRULES ? "," : "");
	}
	fprintf(f, ");\n");
	return fclose(f);
}

/* A name: a pool name, one label under a zone (wildcards), two labels
 * under one (no wildcard), in upper case or with a trailing dot, a name
 * no rule has, or none. */
static const char *gen_host(char *buf, size_t len, int *wild)
{
	unsigned z = rnd() % HZONES, how = rnd() % 10;

	*wild = 0;
	switch (how) {
	case 0: case 1: case 2: case 3:
		snprintf(buf, len, "s%u.z%u.test", rnd() % HNAMES, z);
		break;
	case 4: case 5:
		snprintf(buf, len, "x%u.z%u.test", rnd() % 1000, z);
		*wild = 1;
		break;
	case 6:
		snprintf(buf, len, "a.x%u.z%u.test", rnd() % 1000, z);
		break;
	case 7:
		snprintf(buf, len, rnd() % 2 ? "S%u.Z%u.TEST" : "s%u.z%u.test.", rnd() % HNAMES, z);
		break;
	case 8:
		snprintf(buf, len, "s%u.z%u.example", rnd() % HNAMES, z);
		break;
	default:
		return NULL;
	}
	return buf;
}

int main(void)
{
	const char *certs = getenv("TLSSHIM_TEST_CERTS");
	char dir[] = "/tmp/tlsshim-scale.XXXXXX", path[64];
	struct policy_error err;
	struct policy *p = NULL;
	double t0, t_load = 0, t_match = 0;

	rng = 0x9e3779b97f4a7c15ull;             /* refblock.h: the fixed sequence */

	if (!certs) {
		printf("FAIL setup: TLSSHIM_TEST_CERTS is not set (run through tests/run.sh)\n");
		return 1;
	}
	if (!mkdtemp(dir)) {
		printf("FAIL setup: mkdtemp\n");
		return 1;
	}
	snprintf(path, sizeof path, "%s/big.conf", dir);

	UNIT_CASE("policy scale: 10,000 rules load") {
		EXPECT(write_policy(path, certs) == 0);
		t0 = now();
		p = policy_load(path, &err);
		t_load = now() - t0;
		if (!p) {
			char m[1200];
			policy_error_format(&err, m, sizeof m);
			printf("# %s\n", m);
		}
		EXPECT(p != NULL);
		EXPECT(p && p->nrules == NRULES);
		printf("# loaded %d rules in %.3f s\n", NRULES, t_load);
	}
	if (p) {
		long mismatches = 0, hits = 0, deepest = -1;
		UNIT_CASE("policy scale: 200,000 queries get the first matching rule (same as a reference scan)") {
			for (long q = 0; q < NQUERIES; q++) {
				struct sockaddr_storage ss;
				socklen_t len;
				int v6, dir_ = (int)(rnd() % 2);
				uint8_t a[16];
				uint16_t port;
				long want, got;
				const struct policy_rule *r;

				gen_query(&ss, &len, &v6, a, &port);
				want = ref_match(dir_, v6, a, port);
				t0 = now();
				r = policy_match(p, dir_ ? POLICY_CONNECT : POLICY_ACCEPT,
						 (struct sockaddr *)&ss, len, NULL);
				t_match += now() - t0;
				got = r ? r->index : -1;
				if (r != scan(p, dir_ ? POLICY_CONNECT : POLICY_ACCEPT,
					      (struct sockaddr *)&ss, len) && mismatches++ < 5)
					printf("# query %ld: the index and the full scan differ\n", q);
				if (got != want && mismatches++ < 5)
					printf("# query %ld: policy_match gave rule %ld, the first match is %ld\n",
					       q, got, want);
				if (want >= 0)
					hits++;
				if (want > deepest)
					deepest = want;
			}
			EXPECT(mismatches == 0);
			/* The queries must exercise both answers, and deep rules. */
			EXPECT(hits > NQUERIES / 10 && hits < NQUERIES);
			EXPECT(deepest > NRULES / 2);
			printf("# %d queries, %ld matched a rule (deepest #%ld), %.2f us per policy_match\n",
			       NQUERIES, hits, deepest, t_match * 1e6 / NQUERIES);
		}
		policy_free(p);
	}
	UNIT_CASE("policy scale: 10,000 host-name rules, " NHQUERIES_NAME " queries by name get the first matching rule") {
		struct policy *hp = NULL;
		long mismatches = 0, hits = 0, by_wild = 0, deepest = -1;
		double th = 0;

		EXPECT(write_host_policy(path) == 0);
		hp = policy_load(path, &err);
		if (!hp) {
			char m[1200];
			policy_error_format(&err, m, sizeof m);
			printf("# %s\n", m);
		}
		EXPECT(hp && hp->nrules == NHRULES && hp->index[POLICY_CONNECT]);
		for (long q = 0; hp && q < NHQUERIES; q++) {
			struct sockaddr_in sa = { .sin_family = AF_INET };
			uint8_t a[16] = { 0 };
			uint16_t port = (uint16_t)(rnd() % 5 ? 2000 + rnd() % HPORTS : 3000);
			char hb[64];
			int wild;
			const char *host = gen_host(hb, sizeof hb, &wild);
			const struct policy_rule *r;
			long want;

			a[0] = 10;
			a[1] = (uint8_t)(rnd() % 4);
			a[2] = (uint8_t)(rnd() % 4);
			a[3] = (uint8_t)rnd();
			sa.sin_port = htons(port);
			memcpy(&sa.sin_addr, a, 4);
			want = href_match(a, port, host);
			t0 = now();
			r = policy_match(hp, POLICY_CONNECT, (struct sockaddr *)&sa, sizeof sa, host);
			th += now() - t0;
			if ((r ? r->index : -1) != want && mismatches++ < 5)
				printf("# query %ld (%s port %u): policy_match gave rule %d, the first match is %ld\n",
				       q, host ? host : "no name", port, r ? r->index : -1, want);
			if (r != scan_host(hp, POLICY_CONNECT, (struct sockaddr *)&sa, sizeof sa, host) &&
			    mismatches++ < 5)
				printf("# query %ld: the index and the full scan differ\n", q);
			if (want >= 0) {
				hits++;
				by_wild += wild && hrules[want].nhosts;
			}
			if (want > deepest)
				deepest = want;
		}
		EXPECT(mismatches == 0);
		EXPECT(hits > NHQUERIES / 10 && hits < NHQUERIES);
		EXPECT(by_wild > NHQUERIES / 100);
		EXPECT(deepest > NHRULES / 2);
		printf("# %d queries, %ld matched a rule (%ld through a \"*.x\" name, deepest #%ld), "
		       "%.2f us per policy_match\n", NHQUERIES, hits, by_wild, deepest, th * 1e6 / NHQUERIES);
		policy_free(hp);
	}
	UNIT_CASE("policy index: 500 random small policies, 2,000 queries each: same rule as the full scan") {
		long diffs = 0, matched = 0, policies = 0;
		for (int k = 0; k < 500; k++) {
			struct policy *sp;
			if (write_small(path) < 0 || !(sp = policy_load(path, &err))) {
				char m[1200];
				policy_error_format(&err, m, sizeof m);
				printf("# small policy %d: %s\n", k, m);
				diffs++;
				break;
			}
			policies++;
			EXPECT(sp->index[0] && sp->index[1]);
			for (int q = 0; q < 2000; q++) {
				struct sockaddr_storage ss;
				socklen_t len;
				int v6;
				uint8_t a[16];
				uint16_t port;
				enum policy_dir d = rnd() % 2 ? POLICY_CONNECT : POLICY_ACCEPT;
				const struct policy_rule *x, *y;

				gen_query(&ss, &len, &v6, a, &port);
				port = (uint16_t)(998 + rnd() % 12);
				((struct sockaddr_in *)&ss)->sin_port = htons(port); /* same offset in sin6 */
				x = policy_match(sp, d, (struct sockaddr *)&ss, len, NULL);
				y = scan(sp, d, (struct sockaddr *)&ss, len);
				if (x != y && diffs++ < 5)
					printf("# policy %d query %d: index gave %d, scan %d\n", k, q,
					       x ? x->index : -1, y ? y->index : -1);
				matched += y != NULL;
			}
			policy_free(sp);
		}
		EXPECT(diffs == 0);
		EXPECT(policies == 500);
		EXPECT(matched > 0 && matched < 500L * 2000);
		printf("# %ld policies, %ld of %ld queries matched a rule\n", policies, matched, policies * 2000);
	}
	unlink(path);
	rmdir(dir);
	return UNIT_RESULT();
}
