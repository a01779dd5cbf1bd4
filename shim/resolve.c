/* shim/resolve.c — remember which host name the program resolved to
 * which address, so a connect rule without server_name verifies the name
 * the program asked for ("api.internal"), not just an IP address.
 *
 * The rule (tlsshim.conf(5), "server_name"): the name verified for a
 * connection is the one the connecting thread itself resolved most
 * recently to that address (getaddrinfo, gethostbyname and their
 * variants).  A thread that resolved nothing to it gets the process's
 * name for it only when that is unambiguous: if two different names
 * resolved to the same address (virtual hosts on one IP), the IP address
 * itself is verified instead, so one host's certificate can never pass
 * for the other's.  A thread that resolved the address literal itself
 * last verifies the address.  Only while connect rules exist.
 *
 * The process's ring of recent answers (names[]) forgets: a program that
 * resolves enough other names (or one name with many addresses) pushes
 * out the older answers, and a ring alone would then take the one name
 * left for an address for the only one, although another name had been
 * resolved to it before.  So "two names for one address" is also kept in
 * seen[], which never forgets a conflict: per address (a keyed hash of
 * it), the hash of the one name resolved to it, or "several names".  An
 * address past the table's bound (262,144 addresses) never gets
 * a name from another thread (fail closed: the address is verified).
 * The hashes are SHA-256 keyed with a random key (OpenSSL's), so no name
 * can be chosen to collide with another; nothing shows them outside. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "shim/shim.h"

#define NAMES 64
#define MINE 8

#define NAME_MAX_LEN 254
struct name_entry {
	int family;
	unsigned char addr[16];
	char name[NAME_MAX_LEN];
};

static struct name_entry names[NAMES];
static unsigned names_next;
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;

/* Every address ever resolved to a name in the process, by a keyed hash
 * (seen_tag, never 0): the keyed hash of the one name (lower case, never
 * 0), or 0 once two different names were resolved to it.  Under
 * names_lock.  An open-addressing table, at most half full: it starts
 * with 1024 slots (16 KiB, on the first name) and doubles, up to
 * SEEN_MAX slots (SEEN_MAX / 2 addresses, 8 MiB); past that (or when
 * memory is short) an address not in it yet gets no name from another
 * thread (fail closed: the address is verified), and those in it keep
 * theirs.  A fixed table with full sets lost addresses from the first
 * few hundred on (helper-71: 58 of 64 named after 2,000 addresses, 3
 * after 8,000). */
#define SEEN_MIN 1024u
#define SEEN_MAX (1u << 19)
struct seen_slot {
	uint64_t tag;
	uint64_t name;
};
static struct seen_slot *seen;
static size_t seen_cap, seen_count;
static bool seen_closed;
static unsigned char seen_key[32];
static EVP_MD *seen_md;
static bool seen_keyed;

/* Under names_lock.  The key from OpenSSL's generator; without it (or
 * without SHA-256) nothing is recorded and no name crosses threads. */
static void seen_init(void)
{
	if (seen_keyed)
		return;
	if (RAND_bytes(seen_key, sizeof seen_key) != 1 || !(seen_md = EVP_MD_fetch(NULL, "SHA256", NULL)))
		return;
	seen_keyed = true;
}

/* SHA-256 of the key, a kind byte and the text (ASCII folded to lower
 * case), its first 8 bytes, never 0: nobody who does not know the key
 * can choose two texts that meet. */
static uint64_t keyed_hash(unsigned char kind, const unsigned char *p, size_t n, bool fold)
{
	unsigned char buf[sizeof seen_key + 1 + NAME_MAX_LEN], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t h = 0;

	if (n > NAME_MAX_LEN)
		n = NAME_MAX_LEN;
	memcpy(buf, seen_key, sizeof seen_key);
	buf[sizeof seen_key] = kind;
	for (size_t i = 0; i < n; i++)
		buf[sizeof seen_key + 1 + i] = fold && p[i] >= 'A' && p[i] <= 'Z' ? (unsigned char)(p[i] - 'A' + 'a') : p[i];
	if (EVP_Digest(buf, sizeof seen_key + 1 + n, md, &mdlen, seen_md, NULL) == 1 && mdlen >= 8)
		memcpy(&h, md, 8);
	OPENSSL_cleanse(buf, sizeof seen_key);
	return h | 1;
}

static uint64_t seen_tag(int fam, const unsigned char key[16])
{
	return keyed_hash(fam == AF_INET ? 4 : 6, key, fam == AF_INET ? 4 : 16, false);
}

static uint64_t seen_name(const char *name)
{
	return keyed_hash('n', (const unsigned char *)name, strlen(name), true);
}

/* Under names_lock: the slot of tag, or the empty one where it goes. */
static struct seen_slot *seen_slot_of(struct seen_slot *t, size_t cap, uint64_t tag)
{
	size_t i = (size_t)(tag >> 20) & (cap - 1);

	while (t[i].tag && t[i].tag != tag)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

/* Under names_lock: room for one more address, or false. */
static bool seen_room(void)
{
	struct seen_slot *t;
	size_t cap;

	if (seen && (seen_count + 1) * 2 <= seen_cap)
		return true;
	if (seen_closed || (seen && seen_cap >= SEEN_MAX))
		goto closed;
	cap = seen ? seen_cap * 2 : SEEN_MIN;
	if (!(t = calloc(cap, sizeof *t)))
		goto closed;
	for (size_t i = 0; i < seen_cap; i++)
		if (seen[i].tag)
			*seen_slot_of(t, cap, seen[i].tag) = seen[i];
	free(seen);
	seen = t;
	seen_cap = cap;
	return true;
closed:
	seen_closed = true;
	return false;
}

/* Under names_lock: name was resolved to the address. */
static void seen_note(int fam, const unsigned char key[16], const char *name)
{
	struct seen_slot *sl;
	uint64_t tag, nh;

	seen_init();
	if (!seen_keyed)
		return;
	tag = seen_tag(fam, key);
	nh = seen_name(name);
	if (seen && (sl = seen_slot_of(seen, seen_cap, tag))->tag) {
		if (sl->name != nh)
			sl->name = 0;
		return;
	}
	if (!seen_room())
		return;
	*seen_slot_of(seen, seen_cap, tag) = (struct seen_slot){ tag, nh };
	seen_count++;
}

/* Under names_lock: name is the only name ever resolved to the address. */
static bool seen_only(int fam, const unsigned char key[16], const char *name)
{
	const struct seen_slot *sl;

	if (!seen_keyed || !seen)
		return false;
	sl = seen_slot_of(seen, seen_cap, seen_tag(fam, key));
	return sl->tag && sl->name != 0 && sl->name == seen_name(name);
}
/* This thread's own recent answers: on the heap, made at its first
 * answer (a thread that resolves nothing has none), freed when it ends.
 * Not thread-local storage: the static TLS block of every library loaded
 * at start sits at the top of every thread's stack, so its 2.3 KiB would
 * push every thread of the program that much deeper (a page fault more
 * per new thread when that crosses a page the C library keeps; bench/
 * README.md, "Per-thread state"). */
struct gai_done {
	const struct gaicb *req;
	uint64_t seq;
};
struct mine {
	unsigned next;
	struct name_entry e[MINE];
	unsigned gai_next;
	struct gai_done gai[MINE];      /* the requests learned (gai_error) */
};
static pthread_key_t mine_key;
static pthread_once_t mine_once = PTHREAD_ONCE_INIT;
static bool mine_key_made;
/* This thread had an answer it could not keep (no memory): its latest
 * answer for an address is not known, so none is taken from the process
 * either (the address is verified: fail closed). */
static __thread bool mine_lost __attribute__((tls_model("initial-exec")));

static void mine_key_init(void)
{
	mine_key_made = pthread_key_create(&mine_key, free) == 0;
}

/* This thread's answers; make: made when it has none.  NULL when it has
 * none (and could not make them). */
static struct mine *mine_get(bool make)
{
	struct mine *m;

	pthread_once(&mine_once, mine_key_init);
	if (!mine_key_made)
		goto lost;
	if ((m = pthread_getspecific(mine_key)) || !make)
		return m;
	if (!(m = calloc(1, sizeof *m)))
		goto lost;
	if (pthread_setspecific(mine_key, m) != 0) {
		free(m);
		goto lost;
	}
	return m;
lost:
	if (make && !mine_lost) {
		mine_lost = true;
		log_warn("no memory for this thread's host name answers: its connections get no name from"
			 " now on (the address is verified, host rules do not match)");
	}
	return NULL;
}

/* The next entry of this thread's ring, or NULL (mine_lost). */
static struct name_entry *mine_push(void)
{
	struct mine *m = mine_get(true);

	return m ? &m->e[m->next++ % MINE] : NULL;
}

/* An address literal as getaddrinfo() takes one without asking anyone:
 * inet_pton's forms, inet_aton's (127.1, 0x7f000001, 0x7f.1: the C
 * library accepts them too) and an IPv6 address with a scope
 * (fe80::1%eth0).  Before, 0x7f000001 (it has letters) was remembered
 * as a host name: the thread's newest name for 127.0.0.1 was
 * "0x7f000001", verified as a DNS name (tests/preload/names.sh). */
static bool is_literal(const char *s)
{
	unsigned char tmp[16];
	char v6[INET6_ADDRSTRLEN];
	const char *pct = strchr(s, '%');
	struct in_addr a4;

	if (inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1 || inet_aton(s, &a4))
		return true;
	if (!pct || (size_t)(pct - s) >= sizeof v6)
		return false;
	memcpy(v6, s, (size_t)(pct - s));
	v6[pct - s] = '\0';
	return inet_pton(AF_INET6, v6, tmp) == 1;
}

/* A DNS host name, not an address literal (those need no remembering). */
static bool is_host_name(const char *s)
{
	size_t n = strlen(s);
	bool alpha = false;

	if (!n || n >= sizeof names[0].name)
		return false;
	if (is_literal(s))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
			alpha = true;
		else if (!(ch >= '0' && ch <= '9') && ch != '-' && ch != '.' && ch != '_')
			return false;
	}
	/* No empty label: OpenSSL would take ".example.com" for any name
	 * under example.com.  A final dot is dropped when recorded. */
	return alpha && s[0] != '.' && !strstr(s, "..");
}

/* node without its final dot ("a.test." is a.test, as in host rules). */
static void copy_name(char *dst, size_t len, const char *node)
{
	size_t n = strlen(node);

	if (n && node[n - 1] == '.')
		n--;
	snprintf(dst, len, "%.*s", (int)n, node);
}

/* The address bytes of a sockaddr, IPv4-mapped IPv6 folded to IPv4. */
static int addr_key(int family, const void *addr, unsigned char out[16])
{
	if (family == AF_INET) {
		memcpy(out, addr, 4);
		return AF_INET;
	}
	if (family == AF_INET6) {
		/* (copied: addr may be unaligned, an AAAA record's data at
		 * any offset of a DNS answer, and IN6_IS_ADDR_V4MAPPED reads
		 * it as 32-bit words: undefined behaviour, which
		 * fuzz_dnsanswer's UBSan found) */
		struct in6_addr a;

		memcpy(&a, addr, sizeof a);
		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			memcpy(out, a.s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, a.s6_addr, 16);
		return AF_INET6;
	}
	return 0;
}

static int sa_key(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa->sa_family == AF_INET)
		return addr_key(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out);
	if (sa->sa_family == AF_INET6)
		return addr_key(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out);
	return 0;
}

/* node resolved to addr; node NULL: a name that is no host name (".test",
 * an empty label) resolved to it, recorded as the address itself (no
 * name), so that it is still this thread's latest answer for the address
 * and another name for the address is not the only one. */
static void remember_one(const char *node, int family, const void *addr)
{
	struct name_entry *e;
	unsigned char key[16];
	char text[INET6_ADDRSTRLEN];
	int fam = addr_key(family, addr, key);
	bool was_closed, closed_now;

	if (!fam)
		return;
	if (!node) {
		if (!inet_ntop(fam, key, text, sizeof text))
			return;
		node = text;
	}
	if ((e = mine_push())) {
		e->family = fam;
		memcpy(e->addr, key, 16);
		copy_name(e->name, sizeof e->name, node);
	}
	pthread_mutex_lock(&names_lock);
	was_closed = seen_closed;
	e = &names[names_next++ % NAMES];
	e->family = fam;
	memcpy(e->addr, key, 16);
	copy_name(e->name, sizeof e->name, node);
	seen_note(fam, key, e->name);
	closed_now = !was_closed && seen_closed;
	pthread_mutex_unlock(&names_lock);
	if (closed_now)        /* (logged outside names_lock: a leaf lock) */
		log_warn("the table of names per address cannot grow (no memory, or 262,144 addresses):"
			 " an address not in it gets no name from another thread");
}

static bool wanted(const char *node)
{
	return node && shim_policy && shim_policy->has[POLICY_CONNECT] && is_host_name(node);
}

/* A name that resolved but gives no name (not a host name, not an
 * address literal: ".test", "a..test"): remembered as the address. */
static bool unnamed(const char *node)
{
	return node && shim_policy && shim_policy->has[POLICY_CONNECT] && !is_host_name(node) && !is_literal(node);
}

/* An address literal the program resolved (getaddrinfo("127.0.0.1")):
 * the newest answer of this thread for that address is the literal
 * itself, so a name it resolved earlier to the same address (its own host
 * name, say) is not the one verified for this connection. */
static void remember_literal(const char *node, const struct addrinfo *res)
{
	if (!node || !shim_policy || !shim_policy->has[POLICY_CONNECT] || !is_literal(node))
		return;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		unsigned char key[16];
		int fam;
		struct name_entry *e;

		if (!ai->ai_addr || !(fam = sa_key(ai->ai_addr, key)))
			continue;
		if (!(e = mine_push()))
			return;
		e->family = fam;
		memcpy(e->addr, key, 16);
		/* the address as inet_ntop writes it: what the connection then
		 * verifies (0x7f000001 is 127.0.0.1) */
		if (!inet_ntop(fam, key, e->name, sizeof e->name))
			e->name[0] = '\0';
	}
}

/* node resolved to the answers res (getaddrinfo's, or getaddrinfo_a's). */
static void learned(const char *node, const struct addrinfo *res)
{
	bool want = wanted(node);

	remember_literal(node, res);
	if (want || unnamed(node)) {
		const char *name = want ? node : NULL;

		for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
			if (ai->ai_addr) {
				unsigned char k[16];
				int fam = sa_key(ai->ai_addr, k);
				if (fam)
					remember_one(name, fam, k);
			}
	}
}

/* The name at a[at] (n bytes), uncompressed into out (wire form: at
 * most 255 bytes, its labels at most 63), following compression
 * pointers, each to a place before the last one's (so no loop); false
 * when it is none. */
static bool dns_name(const unsigned char *a, size_t n, size_t at, unsigned char out[256])
{
	size_t o = 0, before = at;

	while (at < n) {
		unsigned c = a[at];

		if ((c & 0xC0) == 0xC0) {
			size_t to;

			if (at + 1 >= n || (to = ((size_t)(c & 0x3F) << 8) | a[at + 1]) >= before)
				return false;
			at = before = to;
			continue;
		}
		if ((c & 0xC0) || at + 1 + c > n || o + 1 + c + 1 > 256)
			return false;
		memcpy(out + o, a + at, 1 + c);
		o += 1 + c;
		if (!c)
			return true;
		at += 1 + c;
	}
	return false;
}

/* Two names in wire form, the same but for ASCII case (as glibc's
 * resolver compares a question with the query's). */
static bool dns_same(const unsigned char *x, const unsigned char *y)
{
	for (;;) {
		unsigned c = *x;

		if (c != *y)
			return false;
		if (!c)
			return true;
		for (unsigned i = 1; i <= c; i++) {
			unsigned char p = x[i], q = y[i];

			if (p >= 'A' && p <= 'Z')
				p = (unsigned char)(p - 'A' + 'a');
			if (q >= 'A' && q <= 'Z')
				q = (unsigned char)(q - 'A' + 'a');
			if (p != q)
				return false;
		}
		x += 1 + c;
		y += 1 + c;
	}
}

/* The text of a wire name, its labels joined by dots, into text: false
 * when a label holds a byte that is not a letter, digit, '-' or '_' (a
 * dot, a NUL, '*', '\\', a space: in the resolver's text, "a\\.b.test"
 * is another name than a.b.test), or it is the root, or it is too long:
 * no host name. */
static bool dns_text(const unsigned char *w, char *text, size_t len)
{
	size_t o = 0;

	for (unsigned c; (c = *w); w += 1 + c) {
		if (o + (o ? 1 : 0) + c + 1 > len)
			return false;
		if (o)
			text[o++] = '.';
		for (unsigned i = 1; i <= c; i++) {
			unsigned char ch = w[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
				return false;
			text[o++] = (char)ch;
		}
	}
	text[o] = '\0';
	return o > 0;
}

void shim_dns_ask(struct shim_dns_asked *q, const char *name, const char *domain)
{
	char buf[2 * NS_MAXDNAME + 2];

	if (!name || q->n >= SHIM_DNS_ASKED)
		return;
	if (domain) {
		if ((size_t)snprintf(buf, sizeof buf, "%s.%s", name, domain) >= sizeof buf)
			return;
		name = buf;
	}
	/* (res_mkquery's reading of the text: "\." a dot inside a label,
	 * "\000" a byte) */
	if (ns_name_pton(name, q->name[q->n], sizeof q->name[0]) >= 0)
		q->n++;
}

void shim_dns_ask_msg(struct shim_dns_asked *q, const unsigned char *msg, int mlen)
{
	if (msg && mlen >= 12 && q->n < SHIM_DNS_ASKED && ((msg[4] << 8) | msg[5]) == 1 &&
	    dns_name(msg, (size_t)mlen, 12, q->name[q->n]))
		q->n++;
}

/* The end of the DNS name at a[at] (labels, or a compression pointer),
 * within n bytes; 0 when it runs past them or is not a name. */
static size_t dns_skip(const unsigned char *a, size_t n, size_t at)
{
	while (at < n) {
		unsigned c = a[at];

		if (c == 0)
			return at + 1;
		if ((c & 0xC0) == 0xC0)
			return at + 2 <= n ? at + 2 : 0;
		if (c & 0xC0)
			return 0;
		at += 1 + c;
	}
	return 0;
}

/* An answer of res_query() and its family, n bytes (the program parses
 * it itself): the addresses of its A and AAAA records are learned, as
 * getaddrinfo's answers would be.  Before, such a resolution
 * was not seen: an older answer for the address (plain.test, with
 * getaddrinfo) stayed the thread's newest, and a connection made for the
 * name looked up with res_query went under plain.test's plain rule, in
 * clear (tests/preload/names.sh).
 *
 * An address gets a name only where getaddrinfo would give it one: a
 * record of class IN of the answer section whose owner is the question's
 * name, or
 * the target of a CNAME of the answer section met before it whose owner
 * is one of those, and a question that is a name the program asked
 * (asked: glibc checks an answer's question against the query over UDP,
 * over TCP only its ID, so an attacker who answers over TCP, after a
 * truncated UDP answer, can put any question there) and a host name
 * label for label (a label "plain.test", the text "plain\.test", is not
 * plain.test).  The name learned is the question's, never a CNAME's
 * target.  Every other address record (another owner's, another
 * section's or class's, any when the question is another name or no host
 * name) is
 * learned as the address alone: it becomes the thread's newest answer
 * for the address, with no name, so that an older name another look-up
 * gave it (plain.test's) is not taken for it.  Before, the question's
 * labels were joined with dots whatever they held, any question was
 * believed, and an answer whose question could not be read (a NUL in a
 * label, a pointer), and the records of another section or class than
 * the answer section's IN, taught nothing: each let a program's
 * connection for one name go under another's plain rule, in clear. */
#define DNS_CHAIN 8
void shim_dns_learned(const unsigned char *a, int len, const struct shim_dns_asked *asked)
{
	size_t n = len > 0 ? (size_t)len : 0, at, end;
	unsigned char chain[DNS_CHAIN][256], owner[256];
	char name[NAME_MAX_LEN + 1];
	unsigned qd, an, count, nchain = 0;
	bool want = false;

	if (n < 12 || !shim_policy || !shim_policy->has[POLICY_CONNECT])
		return;
	qd = (unsigned)((a[4] << 8) | a[5]);
	an = (unsigned)((a[6] << 8) | a[7]);
	count = an + (unsigned)((a[8] << 8) | a[9]) +
		(unsigned)((a[10] << 8) | a[11]);
	at = 12;
	if (qd == 1 && dns_name(a, n, at, chain[0])) {
		for (int i = 0; asked && i < asked->n && !nchain; i++)
			if (dns_same(chain[0], asked->name[i]))
				nchain = 1;
		want = nchain && dns_text(chain[0], name, sizeof name) && wanted(name);
	}
	for (unsigned i = 0; i < qd; i++) {
		if (!(end = dns_skip(a, n, at)) || end + 4 > n)
			return;
		at = end + 4;           /* type and class */
	}
	for (unsigned i = 0; i < count && at <= n; i++) {
		unsigned type, class, rdlen;
		bool own;

		if (!(end = dns_skip(a, n, at)) || end + 10 > n)
			return;
		type = (unsigned)((a[end] << 8) | a[end + 1]);
		class = (unsigned)((a[end + 2] << 8) | a[end + 3]);
		rdlen = (unsigned)((a[end + 8] << 8) | a[end + 9]);
		/* (the answer section's records come first) */
		own = false;
		if (want && i < an && class == 1 && dns_name(a, n, at, owner))
			for (unsigned k = 0; k < nchain && !own; k++)
				own = dns_same(owner, chain[k]);
		at = end + 10;
		if (at + rdlen > n)
			return;
		if (own && type == 5 && nchain < DNS_CHAIN && dns_name(a, n, at, chain[nchain]))
			nchain++;
		if ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16))
			remember_one(own ? name : NULL, type == 1 ? AF_INET : AF_INET6, a + at);
		at += rdlen;
	}
}

bool shim_name_for(const struct sockaddr *sa, char *buf, size_t len, bool *only)
{
	unsigned char key[16];
	int fam = sa_key(sa, key);
	size_t klen = fam == AF_INET ? 4 : 16;
	const char *found = NULL;
	bool ambiguous = false;
	const struct mine *m;

	*only = false;
	if (!fam || mine_lost)
		return false;
	/* This thread's own, newest first; the only name of the address
	 * when seen[] knows no other (shim_verdict_connect: plain rules). */
	m = mine_get(false);
	for (unsigned i = 0; m && i < MINE; i++) {
		const struct name_entry *e = &m->e[(m->next - 1 - i) % MINE];
		if (e->family == fam && !memcmp(e->addr, key, klen)) {
			snprintf(buf, len, "%s", e->name);
			pthread_mutex_lock(&names_lock);
			*only = seen_only(fam, key, buf);
			pthread_mutex_unlock(&names_lock);
			return true;
		}
	}
	/* The process's, when only one name maps to the address: in the
	 * ring, and ever (seen[], which does not forget). */
	pthread_mutex_lock(&names_lock);
	for (unsigned i = 0; i < NAMES; i++) {
		const struct name_entry *e = &names[i];
		if (e->family != fam || memcmp(e->addr, key, klen))
			continue;
		if (!found) {
			found = e->name;
			snprintf(buf, len, "%s", e->name);
		} else if (strcasecmp(found, e->name)) {
			ambiguous = true;
		}
	}
	if (found && !ambiguous && !seen_only(fam, key, found))
		ambiguous = true;
	pthread_mutex_unlock(&names_lock);
	*only = found && !ambiguous;
	return *only;
}

SHIM_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			    struct addrinfo **res)
{
	int r;

	if (shim_lookup_refused(node, "getaddrinfo"))
		return EAI_SYSTEM;
	r = SHIM_LOOKUP(REAL(getaddrinfo)(node, service, hints, res));

	if (r == 0)
		learned(node, *res);
	return r;
}

/* getaddrinfo_a()'s requests, as the program made them: the newest
 * GAI_SUBS (request, number), numbered from 1 in the order made, under
 * names_lock.  A request made again (the same struct gaicb) gets a new
 * number.  gai_error() learns a request's answer once per thread and
 * number (struct mine's gai[]): asked again about a request that has
 * ended, it reports no new answer.  Before, every gai_error() that
 * reported it done learned it again: a thread that resolved a.test
 * after b.test's request ended, and then asked gai_error() about that
 * request again (a clean-up loop), had b.test for its newest name, and
 * its connection for a.test went under b.test's rule, that rule's CA and
 * client certificate (tests/preload/hostca.sh).  A request older than
 * the last GAI_SUBS has no number: learned at each report, as before. */
#define GAI_SUBS 256
static struct gai_done gai_subs[GAI_SUBS];
static unsigned gai_subs_next;
static uint64_t gai_seq;

void shim_gai_made(struct gaicb *const list[], int n)
{
	if (!list || !shim_policy || !shim_policy->has[POLICY_CONNECT])
		return;
	pthread_mutex_lock(&names_lock);
	for (int i = 0; i < n; i++)
		if (list[i])
			gai_subs[gai_subs_next++ % GAI_SUBS] = (struct gai_done){ list[i], ++gai_seq };
	pthread_mutex_unlock(&names_lock);
}

/* req's number (its newest making), or 0: not known. */
static uint64_t gai_number(const struct gaicb *req)
{
	uint64_t seq = 0;

	pthread_mutex_lock(&names_lock);
	for (unsigned i = 1; i <= GAI_SUBS && !seq; i++) {
		const struct gai_done *d = &gai_subs[(gai_subs_next - i) % GAI_SUBS];

		if (d->req == req)
			seq = d->seq;
	}
	pthread_mutex_unlock(&names_lock);
	return seq;
}

/* This thread learned req's answer of its making seq already. */
static bool gai_learned_here(const struct mine *m, const struct gaicb *req, uint64_t seq)
{
	for (unsigned i = 0; m && seq && i < MINE; i++)
		if (m->gai[i].req == req && m->gai[i].seq == seq)
			return true;
	return false;
}

/* A request of getaddrinfo_a() (GAI_WAIT) that has ended, or one whose
 * end gai_error() reports: its answer is this thread's newest for its
 * addresses, as getaddrinfo's would be (once: see gai_subs).  The C
 * library looks the names up in a helper thread of its own, with its
 * internal getaddrinfo, which no wrapper sees: before, the thread's older
 * answer for the address stayed its newest (a.test resolved with
 * getaddrinfo_a after plain.test with getaddrinfo, both to one address,
 * went under plain.test's plain rule, in clear; tests/preload/names.sh). */
void shim_gai_learned(struct gaicb *req)
{
	if (req)
		(void)gai_error(req);
}

/* The program asks whether a getaddrinfo_a() request has ended (it
 * reads its answer next): the answer is learned here. */
SHIM_EXPORT int gai_error(struct gaicb *req)
{
	int r = REAL(gai_error) ? REAL(gai_error)(req) : EAI_SYSTEM;
	uint64_t seq;
	struct mine *m;

	if (r != 0 || !req || !shim_policy || !shim_policy->has[POLICY_CONNECT])
		return r;
	seq = gai_number(req);
	if (gai_learned_here(mine_get(false), req, seq))
		return r;
	learned(req->ar_name, req->ar_result);
	/* (a thread that learned nothing from it has no answers to keep) */
	if (seq && (m = mine_get(false)))
		m->gai[m->gai_next++ % MINE] = (struct gai_done){ req, seq };
	return r;
}

/* A gethostbyname*_r() or gethostbyaddr_r() that shim_lookup_refused()
 * or shim_resolver_refused() refused (h_errno NO_RECOVERY and errno
 * ECONNREFUSED set there): no result. */
int shim_hostent_r_refused(struct hostent **result, int *err)
{
	if (result)
		*result = NULL;
	if (err)
		*err = NO_RECOVERY;
	return ECONNREFUSED;
}

static void remember_hostent(const char *node, const struct hostent *h)
{
	if (!h || !(wanted(node) || unnamed(node)))
		return;
	for (char **a = h->h_addr_list; a && *a; a++)
		remember_one(wanted(node) ? node : NULL, h->h_addrtype, *a);
}

SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
	struct hostent *h;

	if (shim_lookup_refused(name, "gethostbyname"))
		return NULL;
	h = SHIM_LOOKUP(REAL(gethostbyname)(name));

	remember_hostent(name, h);
	return h;
}

SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *h;

	if (shim_lookup_refused(name, "gethostbyname2"))
		return NULL;
	h = SHIM_LOOKUP(REAL(gethostbyname2)(name, af));

	remember_hostent(name, h);
	return h;
}

SHIM_EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
				struct hostent **result, int *err)
{
	int r;

	if (shim_lookup_refused(name, "gethostbyname_r"))
		return shim_hostent_r_refused(result, err);
	r = SHIM_LOOKUP(REAL(gethostbyname_r)(name, ret, buf, len, result, err));

	if (r == 0 && result)
		remember_hostent(name, *result);
	return r;
}

SHIM_EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
				 size_t len, struct hostent **result, int *err)
{
	int r;

	if (shim_lookup_refused(name, "gethostbyname2_r"))
		return shim_hostent_r_refused(result, err);
	r = SHIM_LOOKUP(REAL(gethostbyname2_r)(name, af, ret, buf, len, result, err));

	if (r == 0 && result)
		remember_hostent(name, *result);
	return r;
}

void shim_names_fork_lock(void)
{
	pthread_mutex_lock(&names_lock);
}

void shim_names_fork_unlock(void)
{
	pthread_mutex_unlock(&names_lock);
}
