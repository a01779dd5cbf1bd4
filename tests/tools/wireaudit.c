/* tests/tools/wireaudit.c — the wire audit: prove that every TCP
 * connection a test's policies mark TLS carried nothing but TLS records.
 *
 *   wireaudit [--test NAME] [--rules FILE] [--all] [--exclude PORT[@FROM,TO]]...
 *             [--max-errors N] [-v] CAPTURE.pcap
 *
 * Reads a classic pcap file (any byte order, micro- or nanosecond
 * timestamps; link types DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_LOOP,
 * DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_IPV4, DLT_IPV6), reassembles each TCP
 * connection in both directions by sequence number (retransmissions,
 * duplicates and out-of-order segments are handled; a hole that is never
 * filled is an error: those bytes could not be checked), and checks that
 * each direction of each audited connection is a sequence of well-formed
 * TLS records:
 *   content type 20..23, legacy version 0x0301..0x0303,
 *   length 1..16384+2048, the first record a handshake (22) or alert (21).
 * A direction may end in the middle of a record (FIN, RST, end of the
 * capture); an empty direction is fine.
 *
 * Which connections are audited: --all audits every TCP connection.
 * --rules FILE holds the test's policies, one rule per line, in order:
 *     TIME GROUP ACTION PORTS CIDR
 * TIME: when the policy was written (seconds since the epoch, decimal);
 * GROUP: a policy file and direction (rules are matched in order within a
 * group, the first match wins); ACTION: tls, plain or deny; PORTS: "*" or
 * a comma-separated list; CIDR: "*" or ADDRESS/BITS.  A connection is
 * audited when, for some group written before the connection started, the
 * first rule matching the server's address and port (the server: the
 * receiver of the SYN) says tls.  A connection whose SYN is not in the
 * capture is matched on either end.  --exclude PORT leaves connections to
 * that server port out (deliberate plaintext, declared by the test);
 * --exclude PORT@FROM,TO only those that started between the two times.
 * Connections from 127.254.0.1 to 127.254.0.1 are the library's pump
 * channels (the plaintext hop between a program and the pump process that
 * holds its session after a fork, loopback only: docs/fork.md), never a
 * connection of the program's: counted as other, whatever their port (the
 * kernel may give a channel the port number of a rule).  One end there
 * alone is audited: any local process can bind that address.
 *
 * MPTCP (RFC 8684, as Linux speaks it): a connection whose SYN and SYN-ACK
 * carry MP_CAPABLE is audited at the data level: the bytes of each subflow
 * are placed by the DSS mappings (or the first data packet's MP_CAPABLE
 * mapping) at their data sequence numbers (a mapping with a DATA_FIN
 * places one byte fewer than its data-level length, which counts the
 * DATA_FIN's own sequence number), the subflows that joined it
 * (MP_JOIN, by the token: SHA-256 of a key, as its initial data sequence
 * number is) contribute theirs, and the one data stream per direction is
 * reassembled and checked as above.  Bytes of a subflow that no mapping
 * places, or of a joined subflow whose connection is not in the capture
 * (whatever its own port: its connection's rule is unknown), could not be
 * checked: reported.  Bytes placed again where the stream was
 * already checked (Linux resends data on another subflow) must equal the
 * bytes checked there: others (an overlapping mapping) are reported, but
 * for a zero-window probe (a one-byte mapping at the last byte the stream
 * has, carrying the next byte, as Linux sends it): that byte must equal the
 * byte later sent at the next data sequence number.  A subflow's own reassembly (holes) is
 * checked as a TCP connection's; the joined subflows are not counted as
 * connections of their own.  One that fell back to TCP (no MP_CAPABLE in
 * the SYN-ACK, or no mapping at all on the first subflow) is audited as
 * TCP.
 *
 * Output: one line per problem ("wireaudit: TEST: CONN DIR offset N:
 * what | hex | ascii"), then one summary line:
 *     audited N TLS connections, M bytes; X excluded; P other
 * Exit status: 0 clean, 1 problems found, 2 the capture could not be read.
 *
 *   wireaudit --policy-rules LIST
 *
 * Writes the --rules FILE of a test's policies on standard output, with
 * libconfig (the library's own parser; a Python parser started once per
 * test before).  LIST has one line per policy the test wrote (tests/lib.sh's
 * policy() adds them): "TIME FILE", FILE a copy of the policy as it was
 * then.  For every policy, in order, and within it for accept, then
 * connect: that direction's rules in order, as "TIME GROUP ACTION PORTS
 * CIDR" (ACTION tls when unset; PORTS "*" without a port key; CIDR "*"
 * without an address).  A file that does not parse or whose rules are not
 * understood (tests write broken policies too; the library refuses those
 * and the program never runs) is named on standard error and skipped.
 *
 *   wireaudit --files DIR [--sentinel S]... [--min-conns N] [--need-bytes]
 *
 * The recording relay's captures (tests/preload/failclosed_wire.py relay:
 * files DIR/cN.c2s and DIR/cN.s2c, one per connection and direction): each
 * file must be a sequence of TLS records, checked as a direction of an
 * audited connection above (a last record may be cut short; a last
 * partial header must still start with a record type), and hold no
 * sentinel S anywhere; at least N connections (.c2s files); with
 * --need-bytes, at least one byte in all.  One line: "wire ok conns=N
 * bytes=B" (exit 0), or "wire BAD " and the first five problems (exit
 * 1); exit 2 when DIR cannot be read.  (The preload tests' check of
 * every case: a Python start each before, about 0.09 s of CPU.)
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECORD (16384 + 2048)

static const char *test_name = "?";
static int verbose;
static long max_errors = 20;
static long n_errors;

/* ------------------------------------------------------------ rules */

struct rule {
	double time;
	long group;
	int tls;          /* action tls */
	int any_port;
	int nports;
	int ports[64];
	int any_addr;
	int family;       /* 4 or 6 */
	unsigned char addr[16];
	int bits;
};
static struct rule *rules;
static size_t nrules;
static int audit_all;
static struct { int port; double from, to; } excl[1024];
static int nexcl;

static int parse_rule(char *line, struct rule *r)
{
	char ts[64], action[32], ports[1024], cidr[128];
	memset(r, 0, sizeof *r);
	if (sscanf(line, "%63s %ld %31s %1023s %127s", ts, &r->group, action, ports, cidr) != 5)
		return -1;
	r->time = strtod(ts, NULL);
	r->tls = strcmp(action, "tls") == 0;
	if (strcmp(ports, "*") == 0) {
		r->any_port = 1;
	} else {
		char *save = NULL;
		for (char *p = strtok_r(ports, ",", &save); p; p = strtok_r(NULL, ",", &save))
			if (r->nports < 64)
				r->ports[r->nports++] = atoi(p);
	}
	if (strcmp(cidr, "*") == 0) {
		r->any_addr = 1;
	} else {
		char *slash = strchr(cidr, '/');
		if (slash)
			*slash = 0;
		if (inet_pton(AF_INET, cidr, r->addr) == 1) {
			r->family = 4;
			r->bits = slash ? atoi(slash + 1) : 32;
		} else if (inet_pton(AF_INET6, cidr, r->addr) == 1) {
			r->family = 6;
			r->bits = slash ? atoi(slash + 1) : 128;
		} else {
			return -1;
		}
	}
	return 0;
}

static void load_rules(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "wireaudit: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	char line[4096];
	size_t cap = 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (nrules == cap) {
			cap = cap ? cap * 2 : 64;
			rules = realloc(rules, cap * sizeof *rules);
			if (!rules)
				abort();
		}
		if (parse_rule(line, &rules[nrules]) == 0)
			nrules++;
		else
			fprintf(stderr, "wireaudit: %s: ignored line: %s", path, line);
	}
	fclose(f);
}

static int addr_in(const struct rule *r, int family, const unsigned char *a)
{
	if (r->any_addr)
		return 1;
	if (r->family != family)
		return 0;
	int bits = r->bits;
	for (int i = 0; bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((a[i] & mask) != (r->addr[i] & mask))
			return 0;
	}
	return 1;
}

static int rule_matches(const struct rule *r, int family, const unsigned char *a, int port)
{
	if (!r->any_port) {
		int hit = 0;
		for (int i = 0; i < r->nports; i++)
			hit |= r->ports[i] == port;
		if (!hit)
			return 0;
	}
	return addr_in(r, family, a);
}

/* Is (address, port) a TLS server end under the policies written by t? */
static int is_tls(double t, int family, const unsigned char *a, int port)
{
	if (audit_all)
		return 1;
	static unsigned char *decided;
	static long ndecided;
	long maxg = 0;
	for (size_t i = 0; i < nrules; i++)
		if (rules[i].group + 1 > maxg)
			maxg = rules[i].group + 1;
	if (maxg > ndecided) {
		decided = realloc(decided, (size_t)maxg);
		if (!decided)
			abort();
		ndecided = maxg;
	}
	if (maxg)
		memset(decided, 0, (size_t)maxg);
	for (size_t i = 0; i < nrules; i++) {   /* in order: the first match of each group */
		const struct rule *r = &rules[i];
		if (r->time > t || r->group < 0 || decided[r->group])
			continue;
		if (rule_matches(r, family, a, port)) {
			decided[r->group] = 1;
			if (r->tls)
				return 1;
		}
	}
	return 0;
}

/* --exclude PORT (all connections to it) or PORT@FROM,TO (those that
 * started in that time). */
static int excluded(int port, double t)
{
	for (int i = 0; i < nexcl; i++)
		if (excl[i].port == port && t >= excl[i].from && t <= excl[i].to)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ streams */

struct seg {
	uint32_t seq;
	uint32_t len;
	struct seg *next;
	unsigned char data[];
};

/* An MPTCP data sequence mapping: subflow bytes from relative sequence
 * number ssn (1: the first after the SYN), len of them (0: all from there,
 * an infinite mapping), at data sequence number dsn.  len counts payload
 * only: a DATA_FIN's sequence number, which a DSS's data-level length
 * includes, places no subflow byte. */
struct map {
	uint32_t ssn, len;
	uint64_t dsn;
	struct map *next;
};

/* MPTCP: a segment of the data-level stream kept until it fits. */
struct mseg {
	uint64_t dsn;
	uint32_t len;
	struct mseg *next;
	unsigned char data[];
};

struct dir {
	int known;          /* next is valid */
	uint32_t next;      /* next expected sequence number */
	uint64_t off;       /* bytes checked so far (MPTCP: of the data stream) */
	uint64_t sfoff;     /* MPTCP: subflow bytes placed so far */
	struct map *maps;   /* MPTCP: this subflow direction's mappings */
	long nmaps;
	int unplaced;       /* MPTCP: bytes no mapping placed were reported */
	/* MPTCP, on the connection's first subflow: the data-level stream */
	int mknown;
	uint64_t mnext;
	struct mseg *mpending;
	uint64_t mstart;          /* its first data sequence number */
	unsigned char *mhist;     /* the bytes checked so far, from mstart */
	size_t mhcap;
	int mdiffer;              /* bytes sent again that differ were reported */
	struct mseg *mprobe;      /* zero-window probes' bytes, at the place they wait for */
	int fin, rst;
	struct seg *pending;
	/* record checker */
	unsigned char hdr[5];
	int hlen;
	uint32_t remain;
	uint64_t rec_start;
	long nrec;
	int bad;
};

struct conn {
	int family;
	unsigned char cli[16], srv[16];
	int cport, sport;
	int syn_seen;
	int audited, excluded;
	double start;
	struct dir d[2];    /* 0: client to server, 1: server to client */
	struct conn *next;  /* hash chain */
	struct conn *all;   /* every connection, newest first */
	int dead;           /* replaced by a newer connection on the same ports */
	/* MPTCP */
	int mp_syn;         /* MP_CAPABLE in the SYN */
	int mp;             /* an MPTCP connection's first subflow (MP_CAPABLE both ways) or a join */
	int join;           /* an MP_JOIN subflow */
	unsigned char join_token[4];
	struct conn *master;        /* a join's connection (its first subflow) */
	int flip;           /* a join's client is the connection's server */
	int have_key[2];
	unsigned char key[2][8];    /* 0: the client's, 1: the server's */
};

#define HASH 65536
static struct conn *table[HASH];
static struct conn *conns;
static long n_audited, n_excluded, n_other;
static uint64_t bytes_audited;

static void fmt_end(char *buf, size_t n, int family, const unsigned char *a, int port)
{
	char s[INET6_ADDRSTRLEN];
	inet_ntop(family == 4 ? AF_INET : AF_INET6, a, s, sizeof s);
	if (family == 6)
		snprintf(buf, n, "[%s]:%d", s, port);
	else
		snprintf(buf, n, "%s:%d", s, port);
}

static void conn_name(const struct conn *c, int dir, char *buf, size_t n)
{
	char a[64], b[64];
	fmt_end(a, sizeof a, c->family, c->cli, c->cport);
	fmt_end(b, sizeof b, c->family, c->srv, c->sport);
	if (dir == 0)
		snprintf(buf, n, "%s -> %s (client to server)", a, b);
	else
		snprintf(buf, n, "%s -> %s (server to client)", b, a);
}

static void snippet(char *out, size_t n, const unsigned char *pre, int npre,
		    const unsigned char *p, size_t len)
{
	unsigned char b[24];
	int k = 0;
	for (int i = 0; i < npre && k < 24; i++)
		b[k++] = pre[i];
	for (size_t i = 0; i < len && k < 24; i++)
		b[k++] = p[i];
	size_t o = 0;
	for (int i = 0; i < k && o + 4 < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%02x ", b[i]);
	if (o + 3 < n)
		o += (size_t)snprintf(out + o, n - o, "| ");
	/* (no backslash: a test's echo of the line would interpret it) */
	for (int i = 0; i < k && o + 2 < n; i++)
		out[o++] = b[i] >= 32 && b[i] < 127 && b[i] != '\\' ? (char)b[i] : '.';
	out[o < n ? o : n - 1] = 0;
}

/* --files: the capture file being checked (problems are then kept for
 * the one line), and the first FILE_SHOW problems. */
#define FILE_SHOW 5
static const char *cur_file;
static char file_bad[FILE_SHOW][400];

static void file_problem(const char *fmt, ...)
{
	if (n_errors < FILE_SHOW) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(file_bad[n_errors], sizeof file_bad[n_errors], fmt, ap);
		va_end(ap);
	}
	n_errors++;
}

static void problem(const struct conn *c, int dir, uint64_t off, const char *what,
		    const unsigned char *pre, int npre, const unsigned char *p, size_t len)
{
	char name[200], snip[200];
	snippet(snip, sizeof snip, pre, npre, p, len);
	if (cur_file) {
		file_problem("%s: offset %llu: %s | %s", cur_file, (unsigned long long)off, what, snip);
		return;
	}
	n_errors++;
	if (n_errors > max_errors)
		return;
	conn_name(c, dir, name, sizeof name);
	printf("wireaudit: %s: %s offset %llu: %s | %s\n", test_name, name,
	       (unsigned long long)off, what, snip);
}

/* Feed in-order bytes of one direction to the record checker. */
static void check_bytes(struct conn *c, int dir, const unsigned char *p, size_t len)
{
	struct dir *d = &c->d[dir];
	bytes_audited += len;
	size_t i = 0;
	while (i < len && !d->bad) {
		if (d->remain > 0) {
			size_t take = len - i < d->remain ? len - i : d->remain;
			d->remain -= (uint32_t)take;
			i += take;
			continue;
		}
		if (d->hlen == 0)
			d->rec_start = d->off + i;
		d->hdr[d->hlen++] = p[i++];
		if (d->hlen < 5)
			continue;
		d->hlen = 0;
		int type = d->hdr[0];
		int ver = d->hdr[1] << 8 | d->hdr[2];
		int rlen = d->hdr[3] << 8 | d->hdr[4];
		char what[160];
		what[0] = 0;
		if (type < 20 || type > 23)
			snprintf(what, sizeof what, "byte 0x%02x is not a TLS record type (20-23): stray bytes, not a record", type);
		else if (ver < 0x0301 || ver > 0x0303)
			snprintf(what, sizeof what, "record version 0x%04x not 0x0301-0x0303", ver);
		else if (rlen < 1 || rlen > MAX_RECORD)
			snprintf(what, sizeof what, "record length %d not 1..%d", rlen, MAX_RECORD);
		else if (d->nrec == 0 && type != 22 && type != 21)
			snprintf(what, sizeof what, "first record has type %d, not a handshake (22) or alert (21)", type);
		if (what[0]) {
			d->bad = 1;
			problem(c, dir, d->rec_start, what, d->hdr, 5, p + i, len - i);
			break;
		}
		d->nrec++;
		d->remain = (uint32_t)rlen;
	}
	d->off += len;
}

static void mp_deliver(struct conn *c, int dir, const unsigned char *p, size_t len);

static void deliver(struct conn *c, int dir, const unsigned char *p, size_t len)
{
	if (c->mp) {
		mp_deliver(c, dir, p, len);
		return;
	}
	if (c->audited && !c->excluded)
		check_bytes(c, dir, p, len);
	else
		c->d[dir].off += len;
}

/* Segment arrives: in order, overlapping, or early (kept for later). */
static void segment(struct conn *c, int dir, uint32_t seq, const unsigned char *p, size_t len)
{
	struct dir *d = &c->d[dir];
	if (!d->known) {
		d->known = 1;
		d->next = seq;
	}
	int32_t rel = (int32_t)(seq - d->next);
	if (rel <= 0) {
		size_t skip = (size_t)(-(int64_t)rel);
		if (skip >= len)
			return;                 /* a retransmission of what we had */
		p += skip;
		len -= skip;
		deliver(c, dir, p, len);
		d->next += (uint32_t)len;
		/* early segments that now fit */
		for (;;) {
			struct seg **pp = &d->pending, *s;
			int progressed = 0;
			while ((s = *pp)) {
				int32_t r = (int32_t)(s->seq - d->next);
				if (r <= 0) {
					*pp = s->next;
					size_t sk = (size_t)(-(int64_t)r);
					if (sk < s->len) {
						deliver(c, dir, s->data + sk, s->len - sk);
						d->next += (uint32_t)(s->len - sk);
					}
					free(s);
					progressed = 1;
				} else {
					pp = &s->next;
				}
			}
			if (!progressed)
				break;
		}
		return;
	}
	if (!c->audited || c->excluded)
		return;  /* nobody reads these bytes: a hole is harmless */
	struct seg *s = malloc(sizeof *s + len);
	if (!s)
		abort();
	s->seq = seq;
	s->len = (uint32_t)len;
	memcpy(s->data, p, len);
	s->next = d->pending;
	d->pending = s;
}

/* ------------------------------------------------------------ MPTCP */

static uint64_t be64(const unsigned char *p)
{
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return x;
}

/* The first data sequence number of a direction: its sender's initial
 * one (the low 64 bits of SHA-256 of its key) plus one; 0 when the key
 * is not in the capture. */
static int mp_base(const struct conn *m, int dir, uint64_t *base)
{
	unsigned char h[SHA256_DIGEST_LENGTH];

	if (!m->have_key[dir])
		return 0;
	SHA256(m->key[dir], 8, h);
	*base = be64(h + 24) + 1;
	return 1;
}

static int token_of(const struct conn *m, int who, const unsigned char *tok)
{
	unsigned char h[SHA256_DIGEST_LENGTH];

	if (!m->have_key[who])
		return 0;
	SHA256(m->key[who], 8, h);
	return !memcmp(h, tok, 4);
}

/* A join finds its connection by the token its SYN names: the receiver's
 * (the server's when the connection's client opened it). */
static void mp_link(struct conn *c)
{
	for (struct conn *m = conns; m && !c->master; m = m->all) {
		/* (a subflow may join over the other address family) */
		if (m == c || !m->mp || m->join)
			continue;
		if (token_of(m, 1, c->join_token))
			c->flip = 0;
		else if (token_of(m, 0, c->join_token))
			c->flip = 1;
		else
			continue;
		c->master = m;
		c->audited = m->audited;
		c->excluded = m->excluded;
	}
}

/* Checked data-level bytes are kept: bytes placed again at a data
 * sequence number already checked (a reinjection on another subflow, or
 * an overlapping mapping) must be the same bytes, or they went on the wire
 * unchecked. */
static void mp_check(struct conn *m, int dir, const unsigned char *p, size_t len)
{
	struct dir *d = &m->d[dir];
	size_t have = (size_t)(d->mnext - d->mstart);

	if (have + len > d->mhcap) {
		d->mhcap = (have + len) * 2;
		d->mhist = realloc(d->mhist, d->mhcap);
		if (!d->mhist)
			abort();
	}
	memcpy(d->mhist + have, p, len);
	check_bytes(m, dir, p, len);
	d->mnext += len;
	/* a zero-window probe's byte, now that the stream reached its place */
	for (struct mseg **pp = &d->mprobe, *s; (s = *pp);) {
		if ((int64_t)(s->dsn - d->mnext) >= 0) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		if (s->data[0] != d->mhist[s->dsn - d->mstart])
			problem(m, dir, s->dsn - d->mstart, "the byte of an MPTCP zero-window probe differs"
				" from the byte sent at its place (the data sequence number after the one its"
				" mapping names): it could not be checked", NULL, 0, s->data, 1);
		free(s);
	}
}

static void mp_again(struct conn *m, int dir, uint64_t dsn, const unsigned char *p, size_t len)
{
	struct dir *d = &m->d[dir];
	int64_t at = (int64_t)(dsn - d->mstart);

	if (len == 0 || d->mdiffer)
		return;
	if (at >= 0 && (uint64_t)at + len <= d->mnext - d->mstart && !memcmp(d->mhist + at, p, len))
		return;
	d->mdiffer = 1;
	problem(m, dir, at < 0 ? 0 : (uint64_t)at, "bytes placed again at a data sequence number already"
		" checked (or before the stream's start) differ from the bytes checked there: they could not"
		" be checked", NULL, 0, p, len);
}

/* Data-level reassembly, as segment() does for a subflow.  ONE: the
 * bytes are a whole one-byte mapping.  Linux's MPTCP zero-window probe
 * (mptcp_sendmsg_frag(): the peer's window is zero and all data is
 * acknowledged) is one: its mapping names the last byte acknowledged
 * (snd_una - 1), but its byte is the next one not yet sent (snd_una), so
 * it differs from the byte checked at the place it names.  Such a byte,
 * one before the checked stream's end and unlike the byte there, waits
 * for the stream to reach the next place and must equal the byte sent
 * there (or is reported, then or at the end). */
static void mp_segment(struct conn *m, int dir, uint64_t dsn, const unsigned char *p, size_t len,
		       int one)
{
	struct dir *d = &m->d[dir];

	if (!d->mknown) {
		d->mknown = 1;
		if (!mp_base(m, dir, &d->mnext))
			d->mnext = dsn;
		d->mstart = d->mnext;
	}
	if (one && len == 1 && d->mnext != d->mstart && dsn + 1 == d->mnext &&
	    d->mhist[dsn - d->mstart] != p[0]) {
		struct mseg *s = malloc(sizeof *s + 1);
		if (!s)
			abort();
		s->dsn = d->mnext;
		s->len = 1;
		s->data[0] = p[0];
		s->next = d->mprobe;
		d->mprobe = s;
		return;
	}
	int64_t rel = (int64_t)(dsn - d->mnext);
	if (rel > 0) {
		struct mseg *s = malloc(sizeof *s + len);
		if (!s)
			abort();
		s->dsn = dsn;
		s->len = (uint32_t)len;
		memcpy(s->data, p, len);
		s->next = d->mpending;
		d->mpending = s;
		return;
	}
	if ((uint64_t)-rel >= len) {
		mp_again(m, dir, dsn, p, len);  /* sent again, on this subflow or another */
		return;
	}
	mp_again(m, dir, dsn, p, (size_t)-rel);
	p += -rel;
	len -= (size_t)-rel;
	mp_check(m, dir, p, len);
	for (int progressed = 1; progressed;) {
		struct mseg **pp = &d->mpending, *s;
		progressed = 0;
		while ((s = *pp)) {
			int64_t r = (int64_t)(s->dsn - d->mnext);
			if (r > 0) {
				pp = &s->next;
				continue;
			}
			*pp = s->next;
			if ((uint64_t)-r < s->len) {
				mp_again(m, dir, s->dsn, s->data, (size_t)-r);
				mp_check(m, dir, s->data - r, s->len - (size_t)-r);
			} else {
				mp_again(m, dir, s->dsn, s->data, s->len);
			}
			free(s);
			progressed = 1;
		}
	}
}

static struct map *mp_find(struct dir *d, uint32_t rel)
{
	for (struct map *x = d->maps; x; x = x->next)
		if ((int32_t)(rel - x->ssn) >= 0 && (!x->len || rel - x->ssn < x->len))
			return x;
	return NULL;
}

static void mp_add_map(struct dir *d, uint32_t ssn, uint64_t dsn, uint32_t len)
{
	struct map *x = malloc(sizeof *x);
	if (!x)
		abort();
	*x = (struct map){ .ssn = ssn, .len = len, .dsn = dsn, .next = d->maps };
	d->maps = x;
	d->nmaps++;
}

/* In-order bytes of a subflow: to their places in the data stream. */
static void mp_deliver(struct conn *c, int dir, const unsigned char *p, size_t len)
{
	struct dir *d = &c->d[dir];
	struct conn *m = c->join ? c->master : c;

	if (c->join && !m) {
		mp_link(c);
		m = c->master;
	}
	if (!m) {
		/* whatever port it went to: its connection's rule is unknown */
		if (!c->excluded && !d->unplaced) {
			char what[200];
			d->unplaced = 1;
			snprintf(what, sizeof what, "%zu bytes on an MPTCP subflow that joined a connection not in"
				 " the capture: they could not be checked", len);
			problem(c, dir, d->sfoff, what, NULL, 0, p, len);
		}
		d->sfoff += len;
		return;
	}
	int mdir = c->flip ? !dir : dir;
	if (!m->audited || m->excluded) {
		d->sfoff += len;
		return;
	}
	while (len > 0) {
		uint32_t rel = (uint32_t)(d->sfoff + 1);
		struct map *x = mp_find(d, rel);
		if (!x && !c->join && !d->nmaps) {
			/* no mapping at all on the first subflow: a fallback to
			 * TCP, the data stream is this direction's bytes */
			uint64_t dsn;
			if (m->d[mdir].mknown)
				dsn = m->d[mdir].mnext;
			else if (!mp_base(m, mdir, &dsn))
				dsn = 1;
			mp_add_map(d, rel, dsn, 0);
			continue;
		}
		if (!x) {
			if (!d->unplaced) {
				char what[200];
				d->unplaced = 1;
				snprintf(what, sizeof what, "%zu bytes on an MPTCP subflow that no data sequence"
					 " mapping places: they could not be checked", len);
				problem(c, dir, d->sfoff, what, NULL, 0, p, len);
			}
			d->sfoff += len;
			return;
		}
		uint32_t k = rel - x->ssn;
		size_t take = x->len && x->len - k < len ? x->len - k : len;
		mp_segment(m, mdir, x->dsn + k, p, take, x->len == 1 && k == 0);
		p += take;
		len -= take;
		d->sfoff += take;
	}
	/* mappings wholly behind what was placed are done with */
	uint32_t rel = (uint32_t)(d->sfoff + 1);
	for (struct map **pp = &d->maps, *x; (x = *pp);) {
		if (x->len && (int32_t)(rel - (x->ssn + x->len)) >= 0) {
			*pp = x->next;
			free(x);
		} else {
			pp = &x->next;
		}
	}
}

/* The MPTCP option (kind 30) of a packet of subflow c, direction dir. */
static void mp_option(struct conn *c, int dir, int syn, int ack, const unsigned char *o, size_t olen,
		      size_t plen)
{
	int sub = o[2] >> 4;
	int who = dir;          /* the sender: 0 client, 1 server */

	if (sub == 0) {                         /* MP_CAPABLE */
		if (syn && !ack) {
			c->mp_syn = 1;
			return;
		}
		if (syn && ack) {
			if (c->mp_syn && !c->join)
				c->mp = 1;
			if (olen >= 12) {
				memcpy(c->key[who], o + 4, 8);
				c->have_key[who] = 1;
			}
			return;
		}
		if (olen >= 20) {
			memcpy(c->key[who], o + 4, 8);
			memcpy(c->key[!who], o + 12, 8);
			c->have_key[who] = c->have_key[!who] = 1;
		}
		/* the first data: its mapping is implicit, from the first byte */
		if (c->mp && olen >= 22 && plen > 0 && !c->d[dir].nmaps) {
			uint64_t dsn;
			if (mp_base(c, dir, &dsn))
				mp_add_map(&c->d[dir], 1, dsn, (uint32_t)(o[20] << 8 | o[21]));
		}
		return;
	}
	if (sub == 1) {                         /* MP_JOIN */
		if (syn && !ack && olen >= 12) {
			c->join = 1;
			c->mp = 1;
			memcpy(c->join_token, o + 4, 4);
			mp_link(c);
		}
		return;
	}
	if (sub != 2 || !c->mp)                 /* DSS */
		return;
	int fl = o[3];
	size_t i = 4;
	if (fl & 0x01)
		i += fl & 0x02 ? 8 : 4;         /* data ACK */
	if (!(fl & 0x04) || olen < i + (fl & 0x08 ? 8 : 4) + 6)
		return;
	uint64_t dsn;
	if (fl & 0x08) {
		dsn = be64(o + i);
		i += 8;
	} else {
		/* 32 bits: the value nearest where this direction's stream is */
		struct conn *m = c->join ? c->master : c;
		int mdir = c->join && c->flip ? !dir : dir;
		uint64_t ref = 0;
		uint32_t lo = (uint32_t)o[i] << 24 | (uint32_t)o[i + 1] << 16 | (uint32_t)o[i + 2] << 8 | o[i + 3];
		if (m && m->d[mdir].mknown)
			ref = m->d[mdir].mnext;
		else if (m)
			(void)mp_base(m, mdir, &ref);
		dsn = (ref & ~(uint64_t)0xffffffff) | lo;
		if ((int64_t)(dsn - ref) > (int64_t)0x80000000)
			dsn -= (uint64_t)1 << 32;
		else if ((int64_t)(ref - dsn) > (int64_t)0x80000000)
			dsn += (uint64_t)1 << 32;
		i += 4;
	}
	uint32_t ssn = (uint32_t)o[i] << 24 | (uint32_t)o[i + 1] << 16 | (uint32_t)o[i + 2] << 8 | o[i + 3];
	uint32_t dlen = (uint32_t)(o[i + 4] << 8 | o[i + 5]);
	if (ssn == 0)
		return;                         /* a DATA_FIN alone: no subflow bytes */
	/* A DATA_FIN (flag F) takes one data sequence number, after the
	 * mapping's bytes, and the data-level length counts it (RFC 8684,
	 * 3.3.3; Linux's mptcp_write_data_fin() adds it to the last mapping):
	 * the subflow bytes mapped are one fewer.  (0: an infinite mapping.) */
	if ((fl & 0x10) && dlen > 0 && --dlen == 0) {
		c->d[dir].nmaps++;              /* the DATA_FIN's number only: a */
		return;                         /* mapping seen (no fallback) */
	}
	mp_add_map(&c->d[dir], ssn, dsn, dlen);
}

static void tcp_options(struct conn *c, int dir, int syn, int ack, const unsigned char *o, size_t n, size_t plen)
{
	size_t i = 0;
	while (i < n) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n)
			break;
		if (o[i] == 30 && o[i + 1] >= 4)
			mp_option(c, dir, syn, ack, o + i, o[i + 1], plen);
		i += o[i + 1];
	}
}

static unsigned hash_key(int family, const unsigned char *a, int ap, const unsigned char *b, int bp)
{
	unsigned h = 2166136261u;
	int n = family == 4 ? 4 : 16;
	/* symmetric: the same bucket for both directions */
	unsigned ha = 0, hb = 0;
	for (int i = 0; i < n; i++) {
		ha = ha * 31 + a[i];
		hb = hb * 31 + b[i];
	}
	ha = ha * 31 + (unsigned)ap;
	hb = hb * 31 + (unsigned)bp;
	h ^= ha + hb;
	h *= 16777619u;
	return h % HASH;
}

static struct conn *lookup(int family, const unsigned char *src, int sp, const unsigned char *dst, int dp, int *dir)
{
	int n = family == 4 ? 4 : 16;
	for (struct conn *c = table[hash_key(family, src, sp, dst, dp)]; c; c = c->next) {
		if (c->dead || c->family != family)
			continue;
		if (c->cport == sp && c->sport == dp && !memcmp(c->cli, src, n) && !memcmp(c->srv, dst, n)) {
			*dir = 0;
			return c;
		}
		if (c->cport == dp && c->sport == sp && !memcmp(c->cli, dst, n) && !memcmp(c->srv, src, n)) {
			*dir = 1;
			return c;
		}
	}
	return NULL;
}

static struct conn *new_conn(double t, int family, const unsigned char *cli, int cp,
			     const unsigned char *srv, int sp, int syn)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	int n = family == 4 ? 4 : 16;
	c->family = family;
	memcpy(c->cli, cli, n);
	memcpy(c->srv, srv, n);
	c->cport = cp;
	c->sport = sp;
	c->syn_seen = syn;
	c->start = t;
	static const unsigned char channel[4] = { 127, 254, 0, 1 };

	if (family == 4 && !memcmp(srv, channel, 4) && !memcmp(cli, channel, 4)) {
		c->audited = 0;         /* a pump channel (see the top) */
		c->excluded = 0;
	} else if (syn) {
		c->audited = is_tls(t, family, srv, sp);
		c->excluded = excluded(sp, t);
	} else {
		c->audited = is_tls(t, family, srv, sp) || is_tls(t, family, cli, cp);
		c->excluded = excluded(sp, t) || excluded(cp, t);
	}
	unsigned h = hash_key(family, cli, cp, srv, sp);
	c->next = table[h];
	table[h] = c;
	c->all = conns;
	conns = c;
	return c;
}

static void tcp_packet(double t, int family, const unsigned char *src, const unsigned char *dst,
		       const unsigned char *tcp, size_t tcplen, size_t caplen)
{
	if (caplen < 20 || tcplen < 20)
		return;
	int sp = tcp[0] << 8 | tcp[1], dp = tcp[2] << 8 | tcp[3];
	uint32_t seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
	size_t hl = (size_t)(tcp[12] >> 4) * 4;
	int flags = tcp[13];
	int syn = flags & 0x02, ack = flags & 0x10, fin = flags & 0x01, rst = flags & 0x04;
	if (hl < 20 || hl > tcplen)
		return;
	size_t plen = tcplen - hl;
	int dir;
	struct conn *c = lookup(family, src, sp, dst, dp, &dir);
	if (syn && !ack) {
		if (c && dir == 0 && c->d[0].known && c->d[0].next == seq + 1)
			return;                 /* a retransmitted SYN */
		if (c)
			c->dead = 1;            /* the ports are used again */
		c = new_conn(t, family, src, sp, dst, dp, 1);
		dir = 0;
	} else if (!c) {
		/* no SYN seen: guess the client (the higher port) */
		if (sp > dp) {
			c = new_conn(t, family, src, sp, dst, dp, 0);
			dir = 0;
		} else {
			c = new_conn(t, family, dst, dp, src, sp, 0);
			dir = 1;
		}
	}
	struct dir *d = &c->d[dir];
	if (syn) {
		d->known = 1;
		d->next = seq + 1;
		seq++;
	}
	if (hl > 20 && c->syn_seen)
		tcp_options(c, dir, syn, ack, tcp + 20, hl - 20, plen);
	if (plen > 0) {
		if (caplen < tcplen) {
			char name[200];
			conn_name(c, dir, name, sizeof name);
			if (c->audited && !c->excluded) {
				n_errors++;
				printf("wireaudit: %s: %s: a packet was captured truncated (%zu of %zu bytes): raise the snap length\n",
				       test_name, name, caplen, tcplen);
			}
			return;
		}
		segment(c, dir, seq, tcp + hl, plen);
	}
	if (fin)
		d->fin = 1;
	if (rst)
		d->rst = 1;
}

static void ip_packet(double t, const unsigned char *p, size_t caplen)
{
	if (caplen < 1)
		return;
	int v = p[0] >> 4;
	if (v == 4) {
		if (caplen < 20)
			return;
		size_t ihl = (size_t)(p[0] & 15) * 4;
		size_t tot = (size_t)(p[2] << 8 | p[3]);
		int frag = (p[6] & 0x3f) << 8 | p[7];   /* MF bit and offset */
		if (p[9] != 6 || ihl < 20 || tot < ihl)
			return;
		if (frag) {
			n_errors++;
			printf("wireaudit: %s: a fragmented IPv4 TCP packet: not audited\n", test_name);
			return;
		}
		size_t cap = caplen < tot ? caplen : tot;
		if (cap < ihl)
			return;
		tcp_packet(t, 4, p + 12, p + 16, p + ihl, tot - ihl, cap - ihl);
	} else if (v == 6) {
		if (caplen < 40)
			return;
		size_t plen = (size_t)(p[4] << 8 | p[5]);
		int nh = p[6];
		size_t off = 40;
		size_t end = 40 + plen;
		while (nh == 0 || nh == 43 || nh == 60 || nh == 44) {
			if (nh == 44) {
				n_errors++;
				printf("wireaudit: %s: a fragmented IPv6 packet: not audited\n", test_name);
				return;
			}
			if (caplen < off + 8)
				return;
			int next = p[off];
			off += ((size_t)p[off + 1] + 1) * 8;
			nh = next;
		}
		if (nh != 6 || end < off)
			return;
		size_t cap = caplen < end ? caplen : end;
		if (cap < off)
			return;
		tcp_packet(t, 6, p + 8, p + 24, p + off, end - off, cap - off);
	}
}

static void link_packet(int dlt, double t, const unsigned char *p, size_t caplen)
{
	size_t off;
	int ethertype = -1;
	switch (dlt) {
	case 0:   /* DLT_NULL: host byte order family */
	case 108: /* DLT_LOOP: network byte order */
		off = 4;
		break;
	case 1:   /* DLT_EN10MB */
		if (caplen < 14)
			return;
		off = 14;
		ethertype = p[12] << 8 | p[13];
		while ((ethertype == 0x8100 || ethertype == 0x88a8) && caplen >= off + 4) {
			ethertype = p[off + 2] << 8 | p[off + 3];
			off += 4;
		}
		if (ethertype != 0x0800 && ethertype != 0x86dd)
			return;
		break;
	case 113: /* DLT_LINUX_SLL */
		if (caplen < 16)
			return;
		off = 16;
		ethertype = p[14] << 8 | p[15];
		if (ethertype != 0x0800 && ethertype != 0x86dd)
			return;
		break;
	case 276: /* DLT_LINUX_SLL2 */
		if (caplen < 20)
			return;
		off = 20;
		ethertype = p[0] << 8 | p[1];
		if (ethertype != 0x0800 && ethertype != 0x86dd)
			return;
		break;
	case 12: case 14: case 101: case 228: case 229: /* raw IP */
		off = 0;
		break;
	default:
		fprintf(stderr, "wireaudit: link type %d is not supported\n", dlt);
		exit(2);
	}
	if (caplen <= off)
		return;
	ip_packet(t, p + off, caplen - off);
}

static uint32_t sw32(uint32_t x, int swap)
{
	return swap ? __builtin_bswap32(x) : x;
}

static int read_pcap(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "wireaudit: %s: %s\n", path, strerror(errno));
		return -1;
	}
	unsigned char gh[24];
	if (fread(gh, 1, 24, f) != 24) {
		fprintf(stderr, "wireaudit: %s: not a pcap file (too short)\n", path);
		fclose(f);
		return -1;
	}
	uint32_t magic;
	memcpy(&magic, gh, 4);
	int swap, nano;
	if (magic == 0xa1b2c3d4) { swap = 0; nano = 0; }
	else if (magic == 0xd4c3b2a1) { swap = 1; nano = 0; }
	else if (magic == 0xa1b23c4d) { swap = 0; nano = 1; }
	else if (magic == 0x4d3cb2a1) { swap = 1; nano = 1; }
	else {
		fprintf(stderr, "wireaudit: %s: not a pcap file (magic %08x; pcapng is not supported)\n", path, magic);
		fclose(f);
		return -1;
	}
	uint32_t dlt;
	memcpy(&dlt, gh + 20, 4);
	dlt = sw32(dlt, swap) & 0x0fffffff;
	size_t cap = 1 << 18;
	unsigned char *buf = malloc(cap);
	if (!buf)
		abort();
	unsigned char ph[16];
	size_t n;
	while ((n = fread(ph, 1, 16, f)) == 16) {
		uint32_t sec, frac, incl, orig;
		memcpy(&sec, ph, 4);
		memcpy(&frac, ph + 4, 4);
		memcpy(&incl, ph + 8, 4);
		memcpy(&orig, ph + 12, 4);
		sec = sw32(sec, swap);
		frac = sw32(frac, swap);
		incl = sw32(incl, swap);
		orig = sw32(orig, swap);
		if (incl > (1u << 24)) {
			fprintf(stderr, "wireaudit: %s: corrupt record (length %u)\n", path, incl);
			break;
		}
		if (incl > cap) {
			cap = incl;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		if (fread(buf, 1, incl, f) != incl) {
			/* the capture was cut in the middle of a packet: ignore it */
			break;
		}
		double t = sec + frac / (nano ? 1e9 : 1e6);
		(void)orig;
		link_packet((int)dlt, t, buf, incl);
	}
	free(buf);
	fclose(f);
	return 0;
}

static void finish(void)
{
	for (struct conn *c = conns; c; c = c->all) {
		if (!c->audited) {
			n_other++;
			continue;
		}
		if (c->join && c->master) {
			/* a subflow of a connection counted on its own: its
			 * holes are checked here, its bytes there */
			if (c->excluded)
				continue;
			for (int dir = 0; dir < 2; dir++)
				if (c->d[dir].pending && !c->d[dir].bad)
					problem(c, dir, c->d[dir].sfoff, "bytes missing from the capture on an MPTCP"
						" subflow (a hole before later data): they could not be checked",
						NULL, 0, NULL, 0);
			continue;
		}
		if (c->excluded) {
			n_excluded++;
			if (verbose) {
				char name[200];
				conn_name(c, 0, name, sizeof name);
				printf("wireaudit: %s: excluded: %s\n", test_name, name);
			}
			continue;
		}
		n_audited++;
		for (int dir = 0; dir < 2; dir++) {
			struct dir *d = &c->d[dir];
			if (d->pending && !d->bad) {
				uint32_t lo = d->pending->seq;
				for (struct seg *s = d->pending; s; s = s->next)
					if ((int32_t)(s->seq - lo) < 0)
						lo = s->seq;
				char what[160];
				snprintf(what, sizeof what,
					 "%u bytes missing from the capture (a hole before later data): they could not be checked",
					 lo - d->next);
				problem(c, dir, d->off, what, NULL, 0, NULL, 0);
			}
			if (c->mp && d->mpending && !d->bad)
				problem(c, dir, d->off, "MPTCP data missing from the capture (a hole in the data"
					" sequence before later data): it could not be checked", NULL, 0, NULL, 0);
			if (c->mp && d->mprobe)
				problem(c, dir, d->mprobe->dsn - d->mstart, "the byte of an MPTCP zero-window"
					" probe was never sent at its place (the data sequence number after the one"
					" its mapping names): it could not be checked", NULL, 0,
					d->mprobe->data, 1);
			if (verbose) {
				char name[200];
				conn_name(c, dir, name, sizeof name);
				printf("wireaudit: %s: %s: %llu bytes, %ld records%s%s%s\n", test_name, name,
				       (unsigned long long)d->off, d->nrec,
				       d->hlen || d->remain ? ", ends inside a record" : "",
				       d->fin ? ", FIN" : "", d->rst ? ", RST" : "");
			}
		}
	}
}

/* One rule of a policy as a rules line ("ACTION PORTS CIDR") for the
 * direction DIR; 0 when the rule has another direction, -1 (WHY set)
 * when it is not understood. */
static int rule_line(config_setting_t *r, const char *dir, char *buf, size_t n, const char **why)
{
	const char *d = NULL, *action = "tls", *addr = NULL;
	if (!config_setting_is_group(r))
		return *why = "a rule is not a group", -1;
	if (!config_setting_lookup_string(r, "direction", &d) ||
	    (strcmp(d, "accept") && strcmp(d, "connect")))
		return *why = "rule without a valid direction", -1;
	if (config_setting_get_member(r, "action") &&
	    (!config_setting_lookup_string(r, "action", &action) ||
	     (strcmp(action, "tls") && strcmp(action, "plain") && strcmp(action, "deny"))))
		return *why = "unknown action", -1;
	if (config_setting_get_member(r, "address") && !config_setting_lookup_string(r, "address", &addr))
		return *why = "address is not a string", -1;
	char ports[1024] = "*";
	config_setting_t *p = config_setting_get_member(r, "port");
	if (p) {
		int one = config_setting_type(p) == CONFIG_TYPE_INT || config_setting_type(p) == CONFIG_TYPE_INT64;
		int cnt = one ? 1 : config_setting_is_aggregate(p) ? config_setting_length(p) : 0;
		size_t used = 0;
		for (int i = 0; i < cnt; i++) {
			config_setting_t *e = one ? p : config_setting_get_elem(p, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_INT && config_setting_type(e) != CONFIG_TYPE_INT64)
				return *why = "port is not an integer or a list of integers", -1;
			int k = snprintf(ports + used, sizeof ports - used, "%s%lld", i ? "," : "",
					 config_setting_get_int64(e));
			if (k < 0 || (size_t)k >= sizeof ports - used)
				return *why = "too many ports", -1;
			used += (size_t)k;
		}
		if (!cnt)
			return *why = "port is not an integer or a list of integers", -1;
	}
	if (strcmp(d, dir))
		return 0;
	snprintf(buf, n, "%s %s %s", action, ports, addr && *addr ? addr : "*");
	return 1;
}

static int policy_rules(const char *list)
{
	FILE *f = fopen(list, "r");
	if (!f) {
		fprintf(stderr, "wireaudit: %s: %s\n", list, strerror(errno));
		return 2;
	}
	static const char *const dirs[] = { "accept", "connect" };
	char line[4096], when[64], path[4000], rl[1200];
	long group = 0;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%63s %3999[^\n]", when, path) != 2)
			continue;
		config_t c;
		config_init(&c);
		const char *why = NULL;
		char err[300];
		config_setting_t *rs = NULL;
		if (!config_read_file(&c, path)) {
			snprintf(err, sizeof err, "line %d: %s", config_error_line(&c),
				 config_error_text(&c) ? config_error_text(&c) : strerror(errno));
			why = err;
		} else if ((rs = config_lookup(&c, "rules")) && !config_setting_is_list(rs)) {
			why = "rules is not a list";
		}
		/* every rule understood first: a file is printed whole or not at all */
		int n = rs && !why ? config_setting_length(rs) : 0;
		for (int i = 0; i < n && !why; i++)
			rule_line(config_setting_get_elem(rs, (unsigned)i), "", rl, sizeof rl, &why);
		if (why) {
			fprintf(stderr, "wireaudit: %s: not understood, skipped (%s)\n", path, why);
			config_destroy(&c);
			continue;
		}
		for (int d = 0; d < 2; d++, group++)
			for (int i = 0; i < n; i++)
				if (rule_line(config_setting_get_elem(rs, (unsigned)i), dirs[d], rl, sizeof rl, &why) == 1)
					printf("%s %ld %s\n", when, group, rl);
		config_destroy(&c);
	}
	fclose(f);
	return fflush(stdout) ? 2 : 0;
}

/* ------------------------------------------------------------ --files */

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static int relay_capture(const struct dirent *e)
{
	return ends_with(e->d_name, ".c2s") || ends_with(e->d_name, ".s2c");
}

/* The whole file in memory (NULL, errno set, when it cannot be read). */
static unsigned char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0, k;
	unsigned char *b = malloc(cap);
	while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			unsigned char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	int bad = b == NULL || ferror(f);
	fclose(f);
	if (bad) {
		free(b);
		errno = errno ? errno : EIO;
		return NULL;
	}
	*len = n;
	return b;
}

static int relay_files(const char *dir, char *const *sent, int nsent, long min_conns, int need_bytes)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, relay_capture, alphasort);
	if (n < 0) {
		printf("wire BAD %s: %s\n", dir, strerror(errno));
		return 2;
	}
	long nconns = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
		cur_file = ents[i]->d_name;
		nconns += ends_with(cur_file, ".c2s");
		size_t len = 0;
		unsigned char *data = read_whole(path, &len);
		if (!data) {
			file_problem("%s: %s", cur_file, strerror(errno));
			free(ents[i]);
			continue;
		}
		for (int k = 0; k < nsent; k++) {
			const unsigned char *at = memmem(data, len, sent[k], strlen(sent[k]));
			if (at) {
				size_t o = (size_t)(at - data), from = o > 8 ? o - 8 : 0;
				char snip[200];
				snippet(snip, sizeof snip, NULL, 0, data + from, len - from);
				file_problem("%s: %s in clear at offset %zu: %s", cur_file, sent[k], o, snip);
			}
		}
		/* a direction of an audited connection, but for the end: a
		 * last partial header must still begin with a record type */
		struct conn c;
		memset(&c, 0, sizeof c);
		check_bytes(&c, 0, data, len);
		struct dir *d = &c.d[0];
		if (!d->bad && d->hlen && (d->hdr[0] < 20 || d->hdr[0] > 23))
			problem(&c, 0, d->rec_start, "stray bytes at the end, not a record header",
				d->hdr, d->hlen, NULL, 0);
		free(data);
		free(ents[i]);
	}
	free(ents);
	cur_file = NULL;
	if (nconns < min_conns)
		file_problem("only %ld connections recorded, expected at least %ld", nconns, min_conns);
	if (need_bytes && bytes_audited == 0)
		file_problem("nothing was recorded at all");
	if (!n_errors) {
		printf("wire ok conns=%ld bytes=%llu\n", nconns, (unsigned long long)bytes_audited);
		return 0;
	}
	printf("wire BAD ");
	for (long i = 0; i < n_errors && i < FILE_SHOW; i++)
		printf("%s%s", i ? "; " : "", file_bad[i]);
	if (n_errors > FILE_SHOW)
		printf(" (+%ld more)", n_errors - FILE_SHOW);
	printf("\n");
	return 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: wireaudit [--test NAME] [--rules FILE] [--all] [--exclude PORT[@FROM,TO]]... "
		"[--max-errors N] [-v] CAPTURE.pcap\n"
		"       wireaudit --policy-rules LIST\n"
		"       wireaudit --files DIR [--sentinel S]... [--min-conns N] [--need-bytes]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *pcap = NULL;
	if (argc == 3 && !strcmp(argv[1], "--policy-rules"))
		return policy_rules(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "--files")) {
		char *sent[64];
		int nsent = 0, need_bytes = 0;
		long min_conns = 0;
		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--sentinel") && i + 1 < argc && nsent < 64)
				sent[nsent++] = argv[++i];
			else if (!strcmp(argv[i], "--min-conns") && i + 1 < argc)
				min_conns = atol(argv[++i]);
			else if (!strcmp(argv[i], "--need-bytes"))
				need_bytes = 1;
			else
				usage();
		}
		return relay_files(argv[2], sent, nsent, min_conns, need_bytes);
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--test") && i + 1 < argc) {
			test_name = argv[++i];
		} else if (!strcmp(a, "--rules") && i + 1 < argc) {
			load_rules(argv[++i]);
		} else if (!strcmp(a, "--all")) {
			audit_all = 1;
		} else if (!strcmp(a, "--exclude") && i + 1 < argc) {
			const char *e = argv[++i];
			if (nexcl < 1024) {
				const char *at = strchr(e, '@');
				excl[nexcl].port = atoi(e);
				excl[nexcl].from = -1e18;
				excl[nexcl].to = 1e18;
				if (at && sscanf(at + 1, "%lf,%lf", &excl[nexcl].from, &excl[nexcl].to) != 2) {
					fprintf(stderr, "wireaudit: bad --exclude %s\n", e);
					return 2;
				}
				nexcl++;
			}
		} else if (!strcmp(a, "--max-errors") && i + 1 < argc) {
			max_errors = atol(argv[++i]);
		} else if (!strcmp(a, "-v")) {
			verbose = 1;
		} else if (a[0] == '-' || pcap) {
			usage();
		} else {
			pcap = a;
		}
	}
	if (!pcap)
		usage();
	if (read_pcap(pcap) < 0)
		return 2;
	finish();
	if (n_errors > max_errors)
		printf("wireaudit: %s: ... and %ld more problems\n", test_name, n_errors - max_errors);
	printf("audited %ld TLS connections, %llu bytes; %ld excluded; %ld other\n",
	       n_audited, (unsigned long long)bytes_audited, n_excluded, n_other);
	return n_errors ? 1 : 0;
}
