/* tests/fuzz/fuzz_dnsanswer.c — libFuzzer target: the parser of the
 * answers of res_query() and its family (shim/resolve.c, included whole
 * as tests/unit/test_dnsparse.c does: its helpers are static; the rest of
 * the shim is stubbed by tests/unit/resolve_stubs.h).
 *
 * An input is two bytes choosing what the program asked, then the answer:
 *   byte 0, bits 0-1: the call, as shim/dnsres.c's answered() records it:
 *     0 res_query(name), 1 res_search(name) with a search list,
 *     2 res_querydomain(name, domain), 3 res_send(query);
 *   byte 0, bits 2-3: name, one of NAMES_ASKED (bits 4-5: the domain of
 *     res_querydomain);
 *   byte 1: res_search: which of SEARCH (6 domains, glibc's MAXDNSRCH)
 *     are the search list; res_send: the query's length, its bytes next.
 * The answer (the rest) and the query are each a heap copy of exactly
 * their length, so that ASan catches a read past either.  It aborts when
 * an address learns a name that is neither one the call asked (case
 * aside) nor the address itself; for res_send, the name asked is the
 * query's question as glibc's ns_name_uncompress reads it (a separate
 * parser, never stricter than resolve.c's: a name resolve.c takes, it
 * takes too).  FUZZ_DNSANSWER_TRACE=1 prints each name learned (the
 * seeds' check).  Build and run: make fuzz (see tests/fuzz/README). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shim/resolve.c"
#include "tests/unit/resolve_stubs.h"

static const char *const NAMES_ASKED[4] = { "a.test", "A.Test", "b", "c-1_2.x.test." };
static const char *const DOMAINS[4] = { "test", "x.test", "", "B.test." };
static const char *const SEARCH[MAXDNSRCH] = { "x.test", "test", "Y.test", "z", "a.test", "q.x" };

/* The texts the call asked, as the program wrote them (at most 1 + 6). */
struct texts {
	int n;
	char t[1 + MAXDNSRCH][2 * NS_MAXDNAME + 2];
};

static void add(struct texts *t, const char *name, const char *domain)
{
	if (domain)
		snprintf(t->t[t->n++], sizeof t->t[0], "%s.%s", name, domain);
	else
		snprintf(t->t[t->n++], sizeof t->t[0], "%s", name);
}

/* a and b the same name in text, but for ASCII case and a final dot. */
static bool same_text(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && !strncasecmp(a, b, la);
}

static bool is_address(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int trace = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shim_dns_asked q;
	struct texts said;
	unsigned char *ans, *query = NULL;
	size_t qlen = 0, alen;
	unsigned start, got;
	const char *name;

	if (trace < 0)
		trace = getenv("FUZZ_DNSANSWER_TRACE") && *getenv("FUZZ_DNSANSWER_TRACE") == '1';
	if (size < 2)
		return 0;
	resolve_stubs_policy.has[POLICY_CONNECT] = true;
	memset(&q, 0, sizeof q);
	said.n = 0;
	name = NAMES_ASKED[(data[0] >> 2) & 3];
	switch (data[0] & 3) {
	case 0:         /* res_query */
		shim_dns_ask(&q, name, NULL);
		add(&said, name, NULL);
		break;
	case 1:         /* res_search: the name, then with each domain (none
			 * when it ends with a dot) */
		shim_dns_ask(&q, name, NULL);
		add(&said, name, NULL);
		if (name[strlen(name) - 1] != '.')
			for (int i = 0; i < MAXDNSRCH; i++)
				if (data[1] & (1u << i)) {
					shim_dns_ask(&q, name, SEARCH[i]);
					add(&said, name, SEARCH[i]);
				}
		break;
	case 2:         /* res_querydomain */
		shim_dns_ask(&q, name, DOMAINS[(data[0] >> 4) & 3]);
		add(&said, name, DOMAINS[(data[0] >> 4) & 3]);
		break;
	default:        /* res_send: the program's own query */
		qlen = data[1];
		if (qlen > size - 2)
			qlen = size - 2;
		if (!(query = malloc(qlen ? qlen : 1)))
			abort();
		memcpy(query, data + 2, qlen);
		shim_dns_ask_msg(&q, query, (int)qlen);
		if (qlen >= 12 && ((query[4] << 8) | query[5]) == 1 &&
		    ns_name_uncompress(query, query + qlen, query + 12, said.t[0],
				       sizeof said.t[0]) >= 0)
			said.n = 1;
		break;
	}
	alen = size - 2 - qlen;
	if (!(ans = malloc(alen ? alen : 1)))
		abort();
	memcpy(ans, data + 2 + qlen, alen);
	start = names_next;
	shim_dns_learned(ans, (int)alen, &q);
	got = names_next - start;
	/* (the table keeps the NAMES newest) */
	for (unsigned i = got > NAMES ? names_next - NAMES : start; i != names_next; i++) {
		const char *nm = names[i % NAMES].name;
		bool ok = is_address(nm);

		for (int k = 0; k < said.n && !ok; k++)
			ok = same_text(nm, said.t[k]);
		if (trace)
			fprintf(stderr, "fuzz_dnsanswer: call %d learned \"%s\"\n", data[0] & 3, nm);
		if (!ok) {
			fprintf(stderr, "fuzz_dnsanswer: an address learned the name \"%s\","
				" which the call (%d) did not ask\n", nm, data[0] & 3);
			abort();
		}
	}
	free(ans);
	free(query);
	return 0;
}
