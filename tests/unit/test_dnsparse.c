/* tests/unit/test_dnsparse.c — the answers of res_query() and its family
 * as an attacker may write them, through shim/resolve.c's parser
 * (shim_dns_learned, dns_name, dns_same, dns_text, shim_dns_ask,
 * shim_dns_ask_msg; the file is included whole: its helpers are static).
 * Each answer is copied to a heap block of exactly its length, so that
 * the ASan build catches any read past it.  What must hold, answer by
 * answer: no read outside it, and every name an address learns is one
 * the call asked (or the address itself: no name).
 *  - dns_edges: another question than the name asked; a compression
 *    pointer to itself, forward, or into the header; a question count of
 *    0 or 2; a CNAME loop and a chain longer than the parser follows (8
 *    names); a name of exactly 255 bytes (learned) and one of 256 (no
 *    name); the program's own query of two questions (res_send: nothing
 *    asked); the table of names asked full (SHIM_DNS_ASKED: never
 *    written past); AAAA data at an odd offset, one IPv4-mapped (a
 *    misaligned read of it was undefined behaviour: the UBSan build).
 *  - dns_random: 100,000 answers, a well-formed one (a question, a CNAME,
 *    A and AAAA records, a record of the additional section, all with
 *    pointers) mutated 1 to 8 times at random (a fixed seed: the same
 *    answers every run): bytes, pointers, counts, cut short, grown.
 * The parser held at h199 (these cases pin it: a bound check of dns_name
 * loosened by one byte is an ASan error here, the asked-name check taken
 * out fails dns_random, a pointer allowed to itself hangs dns_edges
 * until the runner's timeout); nothing outside this file is started.
 * What resolve.c needs of the rest of the shim: tests/unit/resolve_stubs.h
 * (shared with tests/fuzz/fuzz_dnsanswer.c, which fuzzes the same parser). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim/resolve.c"
#include "tests/unit/resolve_stubs.h"
#include "tests/unit/unit.h"

/* ---- building answers ----------------------------------------------------- */

struct msg {
	unsigned char b[1024];
	size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
	if (m->n + n <= sizeof m->b) {
		memcpy(m->b + m->n, p, n);
		m->n += n;
	}
}

static void put16(struct msg *m, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(m, b, 2);
}

static void header(struct msg *m, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, qd);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
}

/* The length of a wire name (uncompressed). */
static size_t wire_len(const unsigned char *w)
{
	size_t o = 0;

	while (w[o])
		o += 1 + w[o];
	return o + 1;
}

/* name as text ("a.test") in wire form, uncompressed. */
static void put_name(struct msg *m, const char *name)
{
	unsigned char w[256];

	if (ns_name_pton(name, w, sizeof w) >= 0)
		put(m, w, wire_len(w));
}

static void put_ptr(struct msg *m, unsigned at)
{
	put16(m, 0xC000 | at);
}

/* A record's type, class, TTL and rdata length after its owner. */
static void rr_tail(struct msg *m, unsigned type, unsigned class, unsigned rdlen)
{
	put16(m, type);
	put16(m, class);
	put16(m, 0);
	put16(m, 60);
	put16(m, rdlen);
}

static void a_rdata(struct msg *m, unsigned last)
{
	unsigned char a[4] = { 127, 0, 0, (unsigned char)last };

	rr_tail(m, 1, 1, 4);
	put(m, a, 4);
}

/* ---- learning and looking -------------------------------------------------- */

/* The answer m, as asked (name, and the query q when not NULL), parsed
 * from a heap copy of its exact length; *nnew: how many addresses it
 * taught; found (when not NULL, len bytes): the name the last one got. */
static unsigned learn(const struct msg *m, const struct shim_dns_asked *asked, char *found,
		      size_t len)
{
	unsigned char *copy = malloc(m->n ? m->n : 1);
	unsigned start = names_next;

	if (!copy)
		abort();
	memcpy(copy, m->b, m->n);
	shim_dns_learned(copy, (int)m->n, asked);
	free(copy);
	if (found && len)
		snprintf(found, len, "%s", names_next != start ? names[(names_next - 1) % NAMES].name : "");
	return names_next - start;
}

static bool is_address(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static struct shim_dns_asked asked_of(const char *name)
{
	struct shim_dns_asked q;

	memset(&q, 0, sizeof q);
	shim_dns_ask(&q, name, NULL);
	return q;
}

/* The question (name, IN A) after the header. */
static void question(struct msg *m, const char *name)
{
	put_name(m, name);
	put16(m, 1);
	put16(m, 1);
}

static void edges(void)
{
	struct shim_dns_asked q = asked_of("a.test");
	char got[300], big[300];
	struct msg m;

	/* well formed: the name asked */
	header(&m, 1, 1, 0, 0);
	question(&m, "a.test");
	put_ptr(&m, 12);
	a_rdata(&m, 1);
	EXPECT(learn(&m, &q, got, sizeof got) == 1);
	EXPECT_STR(got, "a.test");
	/* another question than the name asked (an attacker's answer over
	 * TCP): the address alone */
	header(&m, 1, 1, 0, 0);
	question(&m, "plain.test");
	put_ptr(&m, 12);
	a_rdata(&m, 1);
	EXPECT(learn(&m, &q, got, sizeof got) == 1);
	EXPECT_STR(got, "127.0.0.1");

	/* the question a pointer to itself, then to after it, then into the
	 * header: no name (the record's address alone) */
	for (unsigned to = 0; to < 3; to++) {
		header(&m, 1, 1, 0, 0);
		put_ptr(&m, to == 0 ? 12 : to == 1 ? 20 : 4);
		put16(&m, 1);
		put16(&m, 1);
		put_ptr(&m, 12);
		a_rdata(&m, 2);
		learn(&m, &q, got, sizeof got);
		EXPECT(!*got || is_address(got));
	}
	/* the owner a forward pointer (to the rdata's name a.test) */
	header(&m, 1, 1, 0, 0);
	question(&m, "a.test");
	put_ptr(&m, (unsigned)m.n + 16);       /* past its own record */
	a_rdata(&m, 3);
	put_name(&m, "a.test");
	learn(&m, &q, got, sizeof got);
	EXPECT(!*got || is_address(got));

	/* question counts 0 and 2 */
	header(&m, 0, 1, 0, 0);
	put_name(&m, "a.test");
	a_rdata(&m, 4);
	learn(&m, &q, got, sizeof got);
	EXPECT(!*got || is_address(got));
	header(&m, 2, 1, 0, 0);
	question(&m, "a.test");
	question(&m, "a.test");
	put_ptr(&m, 12);
	a_rdata(&m, 5);
	learn(&m, &q, got, sizeof got);
	EXPECT(!*got || is_address(got));

	/* a CNAME loop a.test -> b.test -> a.test, then b.test's A: a.test's */
	header(&m, 1, 3, 0, 0);
	question(&m, "a.test");
	put_ptr(&m, 12);
	rr_tail(&m, 5, 1, 8);
	put_name(&m, "b.test");
	put_ptr(&m, (unsigned)m.n - 8);
	rr_tail(&m, 5, 1, 2);
	put_ptr(&m, 12);
	put_ptr(&m, 12 + 12 + 12);
	a_rdata(&m, 6);
	EXPECT(learn(&m, &q, got, sizeof got) == 1);
	EXPECT_STR(got, "a.test");

	/* a chain a.test -> c1 -> ... -> c10: the 8th name's A is a.test's,
	 * the 10th's (past what is followed) the address alone */
	header(&m, 1, 12, 0, 0);
	question(&m, "a.test");
	for (int i = 1; i <= 10; i++) {
		char from[16], to[16];

		snprintf(from, sizeof from, i == 1 ? "a.test" : "c%d.test", i - 1);
		snprintf(to, sizeof to, "c%d.test", i);
		put_name(&m, from);
		rr_tail(&m, 5, 1, (unsigned)strlen(to) + 2);
		put_name(&m, to);
	}
	put_name(&m, "c7.test");
	a_rdata(&m, 7);
	put_name(&m, "c10.test");
	a_rdata(&m, 8);
	EXPECT(learn(&m, &q, got, sizeof got) == 2);
	EXPECT(names_next >= 2 && !strcmp(names[(names_next - 2) % NAMES].name, "a.test"));
	EXPECT_STR(got, "127.0.0.8");

	/* a name of exactly 255 bytes (253 characters): learned; 256: none */
	for (int len = 253; len <= 254; len++) {
		struct shim_dns_asked qb;
		int o = 0;

		while (o < len) {
			int l = len - o > 62 ? 62 : len - o;

			if (o)
				big[o++] = '.';
			if (o + l > len)
				l = len - o;
			memset(big + o, 'x', (size_t)l);
			o += l;
		}
		big[len] = '\0';
		qb = asked_of(big);
		EXPECT(qb.n == (len == 253 ? 1 : 0));
		header(&m, 1, 1, 0, 0);
		question(&m, len == 253 ? big : "a.test");
		if (len == 254) {       /* hand-made: 256 bytes of wire name */
			unsigned char w[300];
			size_t wo = 0;

			header(&m, 1, 1, 0, 0);
			for (int l = 0; l < 4; l++) {
				w[wo++] = (unsigned char)(l < 3 ? 63 : 62);
				memset(w + wo, 'x', w[wo - 1]);
				wo += w[wo - 1];
			}
			w[wo++] = 0;    /* 3 * 64 + 63 + 1 = 256 bytes */
			put(&m, w, wo);
			put16(&m, 1);
			put16(&m, 1);
		}
		put_ptr(&m, 12);
		a_rdata(&m, 9);
		learn(&m, &qb, got, sizeof got);
		if (len == 253)
			EXPECT_STR(got, big);
		else
			EXPECT(!*got || is_address(got));
	}

	/* AAAA records whose data is at an odd offset (an answer is bytes:
	 * any offset), one of them IPv4-mapped (folded to IPv4): learned,
	 * with no misaligned read (the UBSan build aborted here before) */
	header(&m, 1, 2, 0, 0);
	question(&m, "b.z");            /* 9 bytes: the records' data at odd offsets */
	put_ptr(&m, 12);
	rr_tail(&m, 28, 1, 16);
	put(&m, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\3", 16);
	put_ptr(&m, 12);
	rr_tail(&m, 28, 1, 16);
	put(&m, "\0\0\0\0\0\0\0\0\0\0\377\377\177\0\0\12", 16);
	EXPECT((m.n - 16) % 2 == 1);
	EXPECT(learn(&m, &q, got, sizeof got) == 2);
	EXPECT_STR(got, "127.0.0.10");
	EXPECT(names_next >= 2 && !strcmp(names[(names_next - 2) % NAMES].name, "::3"));

	/* res_send: the program's query of two questions asks nothing */
	{
		struct shim_dns_asked qm;

		memset(&qm, 0, sizeof qm);
		header(&m, 2, 0, 0, 0);
		question(&m, "a.test");
		question(&m, "b.test");
		shim_dns_ask_msg(&qm, m.b, (int)m.n);
		EXPECT(qm.n == 0);
		header(&m, 1, 0, 0, 0);
		question(&m, "a.test");
		shim_dns_ask_msg(&qm, m.b, 11);
		EXPECT(qm.n == 0);
		shim_dns_ask_msg(&qm, m.b, (int)m.n - 5);
		EXPECT(qm.n == 0);
		shim_dns_ask_msg(&qm, m.b, (int)m.n);
		EXPECT(qm.n == 1);
	}

	/* the table of names asked, full: never past it */
	{
		struct shim_dns_asked qf;

		memset(&qf, 0, sizeof qf);
		for (int i = 0; i < 3 * SHIM_DNS_ASKED; i++)
			shim_dns_ask(&qf, "x", "y.test");
		EXPECT(qf.n == SHIM_DNS_ASKED);
	}
}

/* The well-formed answer the random cases mutate: a.test's. */
static void seed(struct msg *m)
{
	header(m, 1, 3, 0, 1);
	question(m, "a.test");
	put_ptr(m, 12);
	rr_tail(m, 5, 1, 4);
	put(m, "\001c", 2);
	put_ptr(m, 12);
	put_ptr(m, (unsigned)m->n - 4);
	a_rdata(m, 1);
	put_ptr(m, 12);
	rr_tail(m, 28, 1, 16);
	put(m, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	put(m, "\005plain", 6);
	put_ptr(m, 14);
	a_rdata(m, 9);
}

static uint64_t rnd_state = 0x9E3779B97F4A7C15u;
static unsigned rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state >> 11);
}

static void random_answers(void)
{
	struct shim_dns_asked q = asked_of("a.test");
	unsigned learned_a = 0, bad = 0;
	struct msg m;

	shim_dns_ask(&q, "b", "x.test");
	for (int it = 0; it < 100000; it++) {
		unsigned muts = 1 + rnd() % 8, start;

		seed(&m);
		for (unsigned k = 0; k < muts; k++) {
			size_t p = rnd() % m.n;

			switch (rnd() % 6) {
			case 0:
				m.b[p] = (unsigned char)rnd();
				break;
			case 1:         /* a pointer anywhere */
				m.b[p] = (unsigned char)(0xC0 | (rnd() & 1));
				if (p + 1 < m.n)
					m.b[p + 1] = (unsigned char)rnd();
				break;
			case 2:         /* cut short */
				m.n = rnd() % m.n;
				if (!m.n)
					m.n = 1;
				break;
			case 3:         /* a label length */
				m.b[p] = (unsigned char)(rnd() % 64);
				break;
			case 4:         /* grown */
				for (int j = 0; j < 64 && m.n < sizeof m.b; j++)
					m.b[m.n++] = (unsigned char)rnd();
				break;
			default:        /* a count */
				if (m.n > 12)
					m.b[4 + rnd() % 8] = (unsigned char)(rnd() % 4);
				break;
			}
		}
		start = names_next;
		learn(&m, &q, NULL, 0);
		for (unsigned i = start; i != names_next; i++) {
			const char *nm = names[i % NAMES].name;

			if (!strcasecmp(nm, "a.test"))
				learned_a++;
			else if (strcasecmp(nm, "b.x.test") && !is_address(nm))
				bad++;
		}
	}
	EXPECT(bad == 0);
	EXPECT(learned_a > 0);      /* the mutations left some answers good */
}

int main(void)
{
	resolve_stubs_policy.has[POLICY_CONNECT] = true;
	UNIT_CASE("dns_edges")
		edges();
	UNIT_CASE("dns_random")
		random_answers();
	return UNIT_RESULT();
}
