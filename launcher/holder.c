/* launcher/holder.c — the key-holder process.
 *
 * Started by the launcher before it execs the program, for a policy with
 * key_holder rules.  It is a grandchild of the launcher (the launcher's
 * child starts it in a session of its own and exits), so the program
 * never has it as a child: a program that waits for all its children
 * does not wait for it, and a terminal's ^C does not reach it.  It ends
 * when the program (the launcher's pid, kept across exec) ends: it polls
 * a pidfd of it.
 *
 * It is not dumpable (PR_SET_DUMPABLE 0): a process of the same user,
 * the program included, can neither ptrace it nor read its
 * /proc/PID/mem, and it writes no core file.  It holds the keys the
 * launcher loaded (the launcher's own copy is gone with its exec) and
 * answers one request per connection on an abstract unix socket
 * (SOCK_SEQPACKET), after checking the peer's user (SO_PEERCRED: the
 * holder's own, or any when the holder runs as root, for programs that
 * drop privileges) and the request's MAC, keyed by the secret token the
 * program got in its environment; its answer carries its own MAC, by
 * which the program knows it from whoever else may bind its name (the
 * token never crosses the socket: policy/keyholder.h).  Requests are served one at a time, and it never waits
 * on a peer: a connection whose request is not there yet waits in a small
 * table, a bounded time (take, try_serve).
 */
#include "launcher/holder.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/clock.h"
#include "policy/keyholder.h"
#include "policy/policy.h"
#include "policy/sni.h"

struct held {
	unsigned char hash[KH_HASH_LEN];
	EVP_PKEY *key;
};

static struct held *held;
static size_t nheld;
static OSSL_LIB_CTX *hlibctx;
static int logfd = 2;
static bool log_sock;           /* logfd is a socket: send() with MSG_DONTWAIT */
static bool verbose;
static unsigned long log_dropped;

/* One write, never a wait: the log is non-blocking (open_log,
 * own_stderr), so a full pipe (a TLSSHIM_LOG_FILE FIFO or a supervisor's
 * pipe whose reader stopped reading) costs the line, counted, not the
 * holder: it used to block in write(), and every handshake of the
 * program waited for it (helper-96).  The count goes first in the next
 * line that gets through, in the same write. */
static void log_out(const char *line, size_t n)
{
	char buf[800];
	size_t off = 0;
	ssize_t w;

	if (log_dropped)
		off = (size_t)snprintf(buf, sizeof buf, "tlsshim-keyholder[%d]: error: %lu log line%s dropped: the"
				       " log was full (its reader does not read)\n", (int)getpid(), log_dropped,
				       log_dropped == 1 ? "" : "s");
	if (off + n > sizeof buf)
		off = 0;                /* (cannot be: lines are shorter) */
	memcpy(buf + off, line, n);
	n += off;
	do
		w = log_sock ? send(logfd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) : write(logfd, buf, n);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		log_dropped++;
	else if (off)
		log_dropped = 0;
}

static void hlog(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hlog(const char *level, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n = snprintf(line, sizeof line, "tlsshim-keyholder[%d]: %s: ", (int)getpid(), level);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof line)
		n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	log_out(line, (size_t)n);
}

bool holder_needed(const struct policy *p)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].key_holder && p->rules[i].ctx)
			return true;
	return false;
}

/* ---- the keys ---------------------------------------------------------- */

static bool hold(X509 *x, EVP_PKEY *k)
{
	struct held *h;

	if (!x || !k)
		return true;
	if (!(h = realloc(held, (nheld + 1) * sizeof(*h))))
		return false;
	held = h;
	h = &held[nheld];
	if (!keyholder_spki_hash(x, h->hash))
		return false;
	for (size_t i = 0; i < nheld; i++)
		if (!memcmp(held[i].hash, h->hash, KH_HASH_LEN))
			return true;
	h->key = k;
	nheld++;
	return true;
}

/* Every certificate slot (RSA, ECDSA, ...) of ctx. */
static bool hold_ctx(SSL_CTX *ctx)
{
	int r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);

	for (; r == 1; r = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT))
		if (!hold(SSL_CTX_get0_certificate(ctx), SSL_CTX_get0_privatekey(ctx)))
			return false;
	return true;
}

static bool collect(const struct policy *p)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (!r->key_holder || !r->ctx)
			continue;
		if (r->sni) {
			for (size_t g = 0; g < r->sni->ngroups; g++)
				if (!hold_ctx(r->sni->groups[g].ctx))
					return false;
		} else if (!hold_ctx(r->ctx)) {
			return false;
		}
	}
	return nheld > 0;
}

static EVP_PKEY *find(const unsigned char *hash)
{
	for (size_t i = 0; i < nheld; i++)
		if (CRYPTO_memcmp(held[i].hash, hash, KH_HASH_LEN) == 0)
			return held[i].key;
	return NULL;
}

/* ---- the operations ------------------------------------------------------ */

/* MGF1 (RFC 8017 B.2.1) of seed, xored into db. */
static bool mgf1_xor(unsigned char *db, size_t dblen, const unsigned char *seed, size_t hlen, const EVP_MD *md)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char t[EVP_MAX_MD_SIZE], cnt[4];
	unsigned int tl;
	size_t off = 0;
	uint32_t i;
	bool ok = c != NULL;

	for (i = 0; ok && off < dblen; i++) {
		cnt[0] = (unsigned char)(i >> 24);
		cnt[1] = (unsigned char)(i >> 16);
		cnt[2] = (unsigned char)(i >> 8);
		cnt[3] = (unsigned char)i;
		ok = EVP_DigestInit_ex(c, md, NULL) && EVP_DigestUpdate(c, seed, hlen) &&
		     EVP_DigestUpdate(c, cnt, 4) && EVP_DigestFinal_ex(c, t, &tl);
		for (unsigned int j = 0; ok && j < tl && off < dblen; j++)
			db[off++] ^= t[j];
	}
	EVP_MD_CTX_free(c);
	return ok;
}

/* Is in (RSA_size bytes) an EMSA-PSS encoding (RFC 8017 9.1.1) with
 * SHA-256, -384 or -512 and a salt as long as the hash, as TLS 1.3 and
 * TLS 1.2's rsa_pss_rsae sign?  Only then is the raw RSA operation
 * done: the holder must not decrypt arbitrary blocks. */
static bool pss_encoded(const unsigned char *in, size_t k, int bits)
{
	static const char *const mds[] = { "SHA256", "SHA384", "SHA512" };
	size_t embits = (size_t)bits - 1, emlen = (embits + 7) / 8;
	const unsigned char *em = in;
	unsigned char top = (unsigned char)(0xff >> (8 * emlen - embits)), db[KH_MAX_DATA];

	if (bits < 1024 || emlen > k || k - emlen > 1 || emlen > sizeof db)
		return false;
	if (k > emlen && *em++ != 0)
		return false;
	if (em[emlen - 1] != 0xbc || (em[0] & ~top))
		return false;
	for (size_t m = 0; m < sizeof mds / sizeof mds[0]; m++) {
		EVP_MD *md = EVP_MD_fetch(hlibctx, mds[m], NULL);
		size_t h = md ? (size_t)EVP_MD_get_size(md) : 0, dblen, i;
		bool ok;

		if (!md || emlen < 2 * h + 2) {
			EVP_MD_free(md);
			continue;
		}
		dblen = emlen - h - 1;
		memcpy(db, em, dblen);
		ok = mgf1_xor(db, dblen, em + dblen, h, md);
		EVP_MD_free(md);
		if (!ok)
			continue;
		db[0] &= top;
		for (i = 0; i < dblen - h - 1 && db[i] == 0; i++)
			;
		if (i == dblen - h - 1 && db[i] == 0x01)
			return true;
	}
	return false;
}

/* Is in a DigestInfo (RFC 8017 9.2) of a hash that TLS 1.2 signs with
 * RSA PKCS#1 v1.5 (SHA-1, -224, -256, -384, -512), and nothing more?  Then
 * *md is that hash and dg its digest.  Only such a digest is signed, and
 * the holder encodes it again itself: the type-1 padding of any data (up
 * to RSA_size - 11 bytes) is a raw RSA private-key oracle, since two
 * signatures of padded blocks that a lattice finds decrypt any
 * ciphertext (helper-59).  With only a digest free, two blocks leave
 * 2^(16 * digest length) choices against a modulus of `bits` bits: the
 * digest must be short enough that no two such blocks are a given
 * ciphertext's multiple (128 bits to spare), which refuses SHA-512 with
 * a 1024-bit key and nothing a 2048-bit one is asked for. */
static bool pkcs1_digest(const unsigned char *in, size_t inlen, int bits, EVP_MD **md, unsigned char *dg,
			 size_t *dglen)
{
	static const int nids[] = { NID_sha1, NID_sha224, NID_sha256, NID_sha384, NID_sha512 };
	const unsigned char *p = in;
	X509_SIG *sig = inlen <= KH_MAX_DATA ? d2i_X509_SIG(NULL, &p, (long)inlen) : NULL;
	const X509_ALGOR *alg;
	const ASN1_OCTET_STRING *d;
	const ASN1_OBJECT *obj;
	const void *pval;
	int ptype, nid;
	bool ok = false;

	*md = NULL;
	if (!sig || p != in + inlen)
		goto out;
	X509_SIG_get0(sig, &alg, &d);
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	nid = OBJ_obj2nid(obj);
	if (ptype != V_ASN1_NULL)
		goto out;
	for (size_t i = 0; i < sizeof nids / sizeof nids[0]; i++)
		if (nid == nids[i] && (*md = EVP_MD_fetch(hlibctx, OBJ_nid2sn(nid), NULL)))
			break;
	if (!*md || ASN1_STRING_length(d) != EVP_MD_get_size(*md) ||
	    16 * (size_t)ASN1_STRING_length(d) + 128 > (size_t)bits)
		goto out;
	*dglen = (size_t)ASN1_STRING_length(d);
	memcpy(dg, ASN1_STRING_get0_data(d), *dglen);
	ok = true;
out:
	X509_SIG_free(sig);
	if (!ok) {
		EVP_MD_free(*md);
		*md = NULL;
	}
	return ok;
}

static int do_op(EVP_PKEY *k, int op, const unsigned char *in, size_t inlen, unsigned char *out, size_t *outlen)
{
	unsigned char dg[EVP_MAX_MD_SIZE];
	size_t dglen;
	EVP_MD *md = NULL;

	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(hlibctx, k, NULL);
	bool rsa = EVP_PKEY_is_a(k, "RSA");
	int st = KH_ERR_SIGN;

	if (!c)
		return KH_ERR_SIGN;
	switch (op) {
	case KH_OP_RSA_PKCS1:
		if (!rsa || !pkcs1_digest(in, inlen, EVP_PKEY_get_bits(k), &md, dg, &dglen))
			st = KH_ERR_BAD;
		else if (EVP_PKEY_sign_init(c) > 0 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
			 EVP_PKEY_CTX_set_signature_md(c, md) > 0 && EVP_PKEY_sign(c, out, outlen, dg, dglen) > 0)
			st = KH_OK;
		EVP_MD_free(md);
		break;
	case KH_OP_RSA_PSS:
		if (!rsa || inlen != (size_t)EVP_PKEY_get_size(k) || !pss_encoded(in, inlen, EVP_PKEY_get_bits(k)))
			st = KH_ERR_BAD;
		else if (EVP_PKEY_decrypt_init(c) > 0 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING) > 0 &&
			 EVP_PKEY_decrypt(c, out, outlen, in, inlen) > 0)
			st = KH_OK;
		break;
	case KH_OP_ECDSA:
		if (!EVP_PKEY_is_a(k, "EC") || inlen < 20 || inlen > 64)
			st = KH_ERR_BAD;
		else if (EVP_PKEY_sign_init(c) > 0 && EVP_PKEY_sign(c, out, outlen, in, inlen) > 0)
			st = KH_OK;
		break;
	default:
		st = KH_ERR_BAD;
	}
	EVP_PKEY_CTX_free(c);
	return st;
}

/* ---- serving ------------------------------------------------------------- */

static unsigned char token[KH_TOKEN_LEN];
static EVP_MAC *hmac;

/* The answer to a request whose MAC was right (reqmac) carries the
 * holder's MAC over it and the answer (policy/keyholder.h); a refusal of
 * an unproven request carries zeros: the holder MACs nothing a request
 * without the token asked for. */
static void answer(int c, int st, const unsigned char *data, size_t len, const unsigned char *reqmac)
{
	unsigned char buf[KH_ANS_HDR_LEN + KH_MAX_DATA];

	if (st != KH_OK)
		len = 0;
	memcpy(buf, KH_MAGIC, 4);
	buf[4] = (unsigned char)st;
	buf[5] = 0;
	buf[6] = (unsigned char)(len >> 8);
	buf[7] = (unsigned char)len;
	if (len)
		memcpy(buf + KH_ANS_HDR_LEN, data, len);
	if (!reqmac || !keyholder_mac(hmac, token, KH_LABEL_ANS, reqmac, KH_MAC_LEN, buf, KH_ANS_MAC_OFF,
				      buf + KH_ANS_HDR_LEN, len, buf + KH_ANS_MAC_OFF))
		memset(buf + KH_ANS_MAC_OFF, 0, KH_MAC_LEN);
	(void)!send(c, buf, KH_ANS_HDR_LEN + len, MSG_NOSIGNAL);
}

/* A refused connection's line: at most one a second; what was refused
 * in between is counted, and the count logged once its second is over
 * (refused_due, refused_flush).  Any local user can knock when the
 * holder runs as root, and a user's own processes without the token. */
static time_t refused_sec;
static unsigned long refused_quiet;

static time_t mono_sec(void)
{
	return (time_t)(clock_ms() / 1000);
}

static void refused(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void refused(const char *fmt, ...)
{
	time_t now = mono_sec();
	char msg[300];
	va_list ap;

	if (refused_sec && now == refused_sec) {
		refused_quiet++;
		return;
	}
	refused_sec = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	hlog("error", "%s", msg);
}

/* Milliseconds until the count of refusals may be logged; -1: none waits. */
static long long refused_due(long long now)
{
	long long end = ((long long)refused_sec + 1) * 1000;

	if (!refused_quiet)
		return -1;
	return end > now ? end - now : 0;
}

static void refused_flush(void)
{
	if (refused_quiet && mono_sec() != refused_sec) {
		hlog("error", "%lu more connection%s or request%s refused in that second", refused_quiet,
		     refused_quiet == 1 ? "" : "s", refused_quiet == 1 ? "" : "s");
		refused_quiet = 0;
	}
}

/* One request, already in req (n bytes), from a peer of user uid. */
static void serve(int c, const unsigned char *req, ssize_t n, const struct ucred *cr)
{
	unsigned char out[KH_MAX_DATA], mac[KH_MAC_LEN];
	const unsigned char *rmac = req + KH_REQ_MAC_OFF;
	size_t outlen = sizeof out, len;
	EVP_PKEY *k;
	int st;

	if (n < KH_HDR_LEN || memcmp(req, KH_MAGIC, 4) != 0 || req[4] != KH_VERSION) {
		if (n != 0)
			refused("pid %d: malformed request", (int)cr->pid);
		answer(c, KH_ERR_BAD, NULL, 0, NULL);
		return;
	}
	if (!keyholder_mac(hmac, token, KH_LABEL_REQ, req, KH_REQ_MAC_OFF, req + KH_HDR_LEN,
			   (size_t)n - KH_HDR_LEN, NULL, 0, mac) ||
	    CRYPTO_memcmp(mac, rmac, KH_MAC_LEN) != 0) {
		refused("refused a request from uid %d pid %d: wrong MAC (not made with the program's secret)",
			(int)cr->uid, (int)cr->pid);
		answer(c, KH_ERR_AUTH, NULL, 0, NULL);
		return;
	}
	len = (size_t)req[6] << 8 | req[7];
	if (len != (size_t)n - KH_HDR_LEN || len > KH_MAX_DATA) {
		hlog("error", "pid %d: malformed request", (int)cr->pid);
		answer(c, KH_ERR_BAD, NULL, 0, rmac);
		return;
	}
	if (!(k = find(req + 8 + KH_NONCE_LEN))) {
		hlog("error", "pid %d: no key held for that certificate", (int)cr->pid);
		answer(c, KH_ERR_NOKEY, NULL, 0, rmac);
		return;
	}
	st = do_op(k, req[5], req + KH_HDR_LEN, len, out, &outlen);
	if (st == KH_ERR_BAD)
		hlog("error", "pid %d: refused operation %d (not a signature this holder makes)", (int)cr->pid,
		     req[5]);
	else if (st != KH_OK)
		hlog("error", "pid %d: signing failed", (int)cr->pid);
	else if (verbose)
		hlog("debug", "pid %d: signed (operation %d)", (int)cr->pid, req[5]);
	answer(c, st, out, outlen, rmac);
	OPENSSL_cleanse(out, sizeof out);
}

/* Connections whose request has not come yet.  The holder never waits on
 * one: the program's client sends its request right after connecting
 * (usually in the queue before the accept), a connection waits here at
 * most KH_WAIT_MS for it, and when KH_PARKED wait, the oldest goes.  So a
 * local user who opens connections and sends nothing (any user can reach
 * a holder that runs as root) delays no one's signature. */
#define KH_PARKED 32
#define KH_WAIT_MS 2000

static struct parked {
	int fd;
	struct ucred cr;
	long long deadline;
} parked[KH_PARKED];
static size_t nparked;

static void unpark(size_t i)
{
	close(parked[i].fd);
	parked[i] = parked[--nparked];
}

/* Read c's request if it is there: served and closed (true), or not yet
 * (false: nothing read, c still open). */
static bool try_serve(int c, const struct ucred *cr)
{
	unsigned char req[KH_HDR_LEN + KH_MAX_DATA + 1];
	ssize_t n;

	while ((n = recv(c, req, sizeof req, MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	if (n > 0)
		serve(c, req, n, cr);
	close(c);
	return true;
}

static void take(int lfd)
{
	for (int i = 0; i < 64; i++) {
		struct ucred cr = { .pid = 0, .uid = (uid_t)-1 };
		socklen_t crl = sizeof cr;
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (c < 0)
			return;
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0 ||
		    (cr.uid != getuid() && getuid() != 0)) {
			refused("refused a connection from uid %d pid %d: not the program's user", (int)cr.uid,
				(int)cr.pid);
			answer(c, KH_ERR_AUTH, NULL, 0, NULL);
			close(c);
			continue;
		}
		if (try_serve(c, &cr))
			continue;
		if (nparked == KH_PARKED) {
			size_t old = 0;

			for (size_t j = 1; j < nparked; j++)
				if (parked[j].deadline < parked[old].deadline)
					old = j;
			refused("pid %d: %d connections sent no request: dropped the oldest", (int)parked[old].cr.pid,
				KH_PARKED);
			unpark(old);
		}
		parked[nparked++] = (struct parked){ .fd = c, .cr = cr, .deadline = clock_ms() + KH_WAIT_MS };
	}
}

static void close_all_but(const int *keep, size_t n)
{
	int lo = 3;

	for (;;) {
		int next = -1;

		for (size_t i = 0; i < n; i++)
			if (keep[i] >= lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0) {
			syscall(SYS_close_range, (unsigned)lo, ~0U, 0);
			return;
		}
		if (next > lo)
			syscall(SYS_close_range, (unsigned)lo, (unsigned)next - 1, 0);
		lo = next + 1;
	}
}

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* TLSSHIM_LOG_FILE as the library opens it (core/log.c): without waiting
 * (a FIFO without a reader held the holder in open() before its "OK", and
 * so the launcher, for ever: ENXIO now), and only a regular file, a
 * character device or a pipe (EINVAL for anything else).  As in the
 * library it stays non-blocking: a full pipe drops the holder's line
 * (log_out). */
static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Standard error as the holder's log, never waited on: it shares its
 * open file (and so O_NONBLOCK) with the program, so a pipe or a terminal
 * is opened again, non-blocking, through /proc/self/fd/2 (a description
 * of the holder's own), and a socket (journald's) is written with
 * MSG_DONTWAIT.  A regular file stays as it is; so does anything that
 * cannot be opened again (no /proc). */
static int own_stderr(void)
{
	struct stat st;
	int fd;

	if (fstat(2, &st) != 0 || S_ISREG(st.st_mode))
		return 2;
	if (S_ISSOCK(st.st_mode)) {
		log_sock = true;
		return 2;
	}
	fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	return fd >= 0 ? fd : 2;
}

static void __attribute__((noreturn)) holder_main(struct policy *p, pid_t prog, const char *name, int rep)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	const char *lf = getenv("TLSSHIM_LOG_FILE"), *lv = getenv("TLSSHIM_LOG");
	int pidfd, lfd, devnull, keep[4];

	/* Started with 0, 1 or 2 closed (a daemon's supervisor may do that),
	 * the launcher's pipe, and then the pidfd, the socket or the log,
	 * took those numbers, which /dev/null replaces below: the pidfd
	 * became /dev/null, always readable, and the holder ended right after
	 * its "OK" (every handshake failed), or the "OK" went to /dev/null (71,
	 * "it ended at once").  So the pipe goes above 2 and the three are
	 * filled first. */
	if (rep < 3) {
		int r = fcntl(rep, F_DUPFD_CLOEXEC, 3);

		if (r < 0)
			_exit(1);
		close(rep);
		rep = r;
	}
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) {
			report(rep, "cannot open /dev/null: %s", strerror(errno));
			_exit(1);
		}
	verbose = lv && !strcasecmp(lv, "debug");
	(void)prctl(PR_SET_NAME, "tlsshim-keyhold", 0, 0, 0);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		report(rep, "cannot make the key holder non-dumpable: %s", strerror(errno));
		_exit(1);
	}
	if ((pidfd = (int)syscall(SYS_pidfd_open, prog, 0)) < 0) {
		report(rep, "pidfd_open: %s", strerror(errno));
		_exit(1);
	}
	memcpy(sa.sun_path + 1, name, strlen(name));
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, salen) != 0 || listen(lfd, 128) != 0) {
		report(rep, "cannot listen on the key holder's socket: %s", strerror(errno));
		_exit(1);
	}
	if (!collect(p)) {
		report(rep, "no key to hold (or out of memory)");
		_exit(1);
	}
	hlibctx = p->libctx;
	if (!(hmac = EVP_MAC_fetch(hlibctx, OSSL_MAC_NAME_HMAC, NULL))) {
		report(rep, "no HMAC in OpenSSL");
		_exit(1);
	}
	if (!lf || !*lf)
		logfd = own_stderr();
	else if ((logfd = open_log(lf)) < 0) {
		int e = errno;

		logfd = own_stderr();
		hlog("error", "cannot open TLSSHIM_LOG_FILE \"%s\": %s; logging to standard error", lf,
		     e == EINVAL ? "not a regular file, a character device nor a pipe" : strerror(e));
	}
	keep[0] = pidfd;
	keep[1] = lfd;
	keep[2] = rep;
	keep[3] = logfd;
	close_all_but(keep, 4);
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		if (devnull > 2)
			close(devnull);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	if (chdir("/") != 0) {
		report(rep, "chdir /: %s", strerror(errno));
		_exit(1);
	}
	report(rep, "OK");
	close(rep);
	if (verbose || (lv && !strcasecmp(lv, "info")))
		hlog("info", "holding %zu key%s for pid %d", nheld, nheld == 1 ? "" : "s", (int)prog);
	for (;;) {
		struct pollfd pf[2 + KH_PARKED] = { { .fd = pidfd, .events = POLLIN }, { .fd = lfd, .events = POLLIN } };
		long long now = clock_ms(), wait = -1;
		size_t np = nparked;

		for (size_t i = 0; i < np; i++) {
			pf[2 + i] = (struct pollfd){ .fd = parked[i].fd, .events = POLLIN };
			if (wait < 0 || parked[i].deadline - now < wait)
				wait = parked[i].deadline > now ? parked[i].deadline - now : 0;
		}
		if (refused_due(now) >= 0 && (wait < 0 || refused_due(now) < wait))
			wait = refused_due(now);
		if (poll(pf, 2 + np, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			hlog("error", "poll: %s; exiting", strerror(errno));
			_exit(1);
		}
		if (pf[0].revents)
			_exit(0);
		/* The parked ones first (the table changes under take), last to first. */
		now = clock_ms();
		for (size_t i = np; i-- > 0;) {
			if (pf[2 + i].revents && try_serve(parked[i].fd, &parked[i].cr)) {
				parked[i] = parked[--nparked];
			} else if (parked[i].deadline <= now) {
				refused("pid %d: sent no request in %d ms: dropped", (int)parked[i].cr.pid, KH_WAIT_MS);
				unpark(i);
			}
		}
		if (pf[1].revents & POLLIN)
			take(lfd);
		refused_flush();
	}
}

int holder_start(struct policy *p, char *env, size_t envlen)
{
	unsigned char rnd[8];
	char name[KH_NAME_MAX + 1], buf[400];
	pid_t prog = getpid(), a;
	int pfd[2], status;
	ssize_t n;
	size_t off = 0;

	if (RAND_bytes(rnd, sizeof rnd) != 1 || RAND_bytes(token, sizeof token) != 1) {
		fprintf(stderr, "tlsshim: key holder: no random bytes\n");
		return -1;
	}
	snprintf(name, sizeof name, "tlsshim-keyholder-%d-%02x%02x%02x%02x%02x%02x%02x%02x", (int)prog,
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		fprintf(stderr, "tlsshim: key holder: pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	a = fork();
	if (a < 0) {
		fprintf(stderr, "tlsshim: key holder: fork: %s\n", strerror(errno));
		return -1;
	}
	if (a == 0) {
		pid_t h;

		close(pfd[0]);
		setsid();
		h = fork();
		if (h == 0)
			holder_main(p, prog, name, pfd[1]);
		if (h < 0)
			report(pfd[1], "fork: %s", strerror(errno));
		_exit(h < 0);
	}
	close(pfd[1]);
	while (waitpid(a, &status, 0) < 0 && errno == EINTR)
		;
	while (off < sizeof buf - 1 && ((n = read(pfd[0], buf + off, sizeof buf - 1 - off)) > 0 ||
					(n < 0 && errno == EINTR)))
		if (n > 0)
			off += (size_t)n;
	close(pfd[0]);
	buf[off] = '\0';
	if (strcmp(buf, "OK") != 0) {
		fprintf(stderr, "tlsshim: key holder not started: %s\n", off ? buf : "it ended at once");
		return -1;
	}
	off = (size_t)snprintf(env, envlen, "%s:", name);
	for (size_t i = 0; i < KH_TOKEN_LEN && off + 2 < envlen; i++, off += 2)
		snprintf(env + off, envlen - off, "%02x", token[i]);
	OPENSSL_cleanse(token, sizeof token);
	return 0;
}
