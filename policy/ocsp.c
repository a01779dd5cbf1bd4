/* policy/ocsp.c — OCSP stapling and checking (see ocsp.h).
 *
 * Locking: one lock (staple_lock, core/lock.h), a leaf: the status callback takes it
 * under a connection's lock to copy a staple, the refresh to swap one in;
 * nothing else is called under it but memory functions.  Files are read
 * and responses parsed with no lock held.  As policy/resume.c's cache
 * lock, its word is its holder (a signal handler that interrupted its own
 * thread inside it serves no staple rather than hang) and the process it
 * is valid in (a child made without fork()'s handlers serves none).
 */
#include "policy/ocsp.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/lock.h"
#include "core/self.h"
#include "policy/asn1time.h"
#include "policy/file.h"
#include "policy/resume.h"
#include "policy/why.h"

/* Clock skew allowed on thisUpdate and nextUpdate. */
#define SKEW_SEC 300
/* A response without nextUpdate ("newer information is always
 * available", RFC 6960 4.2.2.1) is used for at most a day from its
 * thisUpdate (as Firefox does), plus the skew: without a bound, a
 * response fetched once would vouch for the certificate for ever,
 * revoked since or not. */
#define NO_NEXT_MAX_AGE_SEC (24 * 3600)
#define NO_NEXT_MAX_AGE_TEXT "24 hours"
/* A staple file larger than this is not an OCSP response for one
 * certificate (they are a few KiB). */
#define STAPLE_MAX (1 << 20)

/* ---- logging ------------------------------------------------------------- */

static void (*_Atomic logger)(int level, const char *msg);

void ocsp_set_logger(void (*fn)(int level, const char *msg))
{
	atomic_store(&logger, fn);
}

static void say(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int level, const char *fmt, ...)
{
	void (*fn)(int, const char *) = atomic_load(&logger);
	char buf[900];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fn(level, buf);
}

/* ---- helpers shared by both sides -------------------------------------- */

static void fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "?");
}

/* "subject (serial HEX)", printable (X509_NAME_oneline escapes the rest). */
static void describe_cert(X509 *x, char *buf, size_t len)
{
	char subj[256] = "?", serial[80] = "?";
	BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	if (x)
		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof subj);
	if (hex)
		snprintf(serial, sizeof serial, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	snprintf(buf, len, "%s (serial %s)", subj, serial);
}

/* The index of bs's SingleResponse about cert, or -1.  With the issuer,
 * the whole CertID must match (OCSP_cert_to_id with the response's hash
 * algorithm); without it, the serial number and the issuer name hash. */
static int find_single(OCSP_BASICRESP *bs, X509 *cert, X509 *issuer)
{
	int i, n = OCSP_resp_count(bs);

	for (i = 0; i < n; i++) {
		OCSP_SINGLERESP *sr = OCSP_resp_get0(bs, i);
		const OCSP_CERTID *cid = sr ? OCSP_SINGLERESP_get0_id(sr) : NULL;
		ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
		ASN1_OBJECT *alg = NULL;
		ASN1_INTEGER *serial = NULL;
		const EVP_MD *md;

		if (!cid || !OCSP_id_get0_info(&nh, &alg, &kh, &serial, (OCSP_CERTID *)cid) ||
		    !serial || ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(cert)) != 0 ||
		    !(md = EVP_get_digestbyobj(alg)))
			continue;
		if (issuer) {
			OCSP_CERTID *mine = OCSP_cert_to_id(md, cert, issuer);
			bool eq = mine && OCSP_id_issuer_cmp(mine, cid) == 0;

			OCSP_CERTID_free(mine);
			if (eq)
				return i;
		} else {
			unsigned char h[EVP_MAX_MD_SIZE];
			unsigned int hl = 0;

			if (nh && X509_NAME_digest(X509_get_issuer_name(cert), md, h, &hl) &&
			    (int)hl == ASN1_STRING_length(nh) && memcmp(h, ASN1_STRING_get0_data(nh), hl) == 0)
				return i;
		}
	}
	return -1;
}

static const char *status_word(int status)
{
	return status == V_OCSP_CERTSTATUS_GOOD ? "good"
	       : status == V_OCSP_CERTSTATUS_REVOKED ? "revoked" : "unknown";
}

/* ---- server: the staples ------------------------------------------------- */

struct filesig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	bool set;
};

struct staple {
	char *rule, *path;
	X509 *cert;              /* the SSL_CTX's own certificate object */
	X509 *issuer;            /* from the certificate file, or NULL */
	/* Under staple_lock: */
	unsigned char *der;      /* the response served, OPENSSL_malloc'd; NULL: none */
	int len;
	time_t next_update;      /* 0: the response has none */
	time_t expires;          /* nextUpdate, or thisUpdate + NO_NEXT_MAX_AGE_SEC + SKEW_SEC */
	struct filesig sig;      /* of the file the current state comes from */
	char problem[400];       /* why nothing (or an old response) is served */
	bool problem_logged;
	bool problem_note;       /* problem is about the response served (revoked) */
	bool retry;              /* the file holds a response unusable now (not
				  * valid yet, tryLater): read it again */
	_Atomic long long next_check;   /* time() of the next look at the file */
};

struct ocsp_staples {
	struct staple **s;
	size_t n;
};

static struct xlock staple_lock = XLOCK_INIT;
static _Atomic pid_t staple_pid;       /* the process the lock is valid in */

static bool lock_staples(void)
{
	pid_t owner = atomic_load_explicit(&staple_pid, memory_order_relaxed);

	if (owner == 0 || owner != self_pid())
		return false;
	return xlock_lock_unless_mine(&staple_lock);
}

static void unlock_staples(void)
{
	xlock_unlock(&staple_lock);
}

static bool fork_took;

void ocsp_fork_lock(void)
{
	fork_took = xlock_lock_unless_mine(&staple_lock);
}

void ocsp_fork_unlock(bool child)
{
	xlock_fork_release(&staple_lock, fork_took, child);
}

void ocsp_fork_child(void)
{
	if (atomic_load_explicit(&staple_pid, memory_order_relaxed) != 0)
		atomic_store_explicit(&staple_pid, self_pid(), memory_order_relaxed);
}

static void sig_of(const struct stat *st, struct filesig *g)
{
	g->dev = st->st_dev;
	g->ino = st->st_ino;
	g->size = st->st_size;
	g->mtim = st->st_mtim;
	g->ctim = st->st_ctim;
	g->set = true;
}

static bool sig_eq(const struct filesig *a, const struct filesig *b)
{
	return a->set && b->set && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
	       a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* The whole file (a regular file only, never blocking: policy/file.h).
 * false with a reason; *st describes the file read. */
static bool read_file(const char *path, unsigned char **out, long *len, struct stat *st,
		      char *why, size_t whylen)
{
	const char *reason = NULL;
	FILE *f = policy_fopen_regular(path, &reason);
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		policy_why(why, whylen, "cannot read \"%s\": %s", path, reason ? reason : strerror(errno));
		return false;
	}
	if (fstat(fileno(f), st) != 0) {
		policy_why(why, whylen, "cannot read \"%s\": %s", path, strerror(errno));
		fclose(f);
		return false;
	}
	for (;;) {
		size_t got;

		if (n == cap) {
			unsigned char *nb;

			if (cap >= STAPLE_MAX) {
				policy_why(why, whylen, "\"%s\" is larger than %d bytes: not an OCSP response",
					path, STAPLE_MAX);
				goto bad;
			}
			cap = cap ? 2 * cap : 4096;
			if (!(nb = OPENSSL_realloc(buf, cap))) {
				policy_why(why, whylen, "out of memory reading \"%s\"", path);
				goto bad;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		policy_why(why, whylen, "cannot read \"%s\": %s", path, strerror(errno));
		goto bad;
	}
	fclose(f);
	if (n == 0) {
		OPENSSL_free(buf);
		policy_why(why, whylen, "\"%s\" is empty", path);
		return false;
	}
	*out = buf;
	*len = (long)n;
	return true;
bad:
	fclose(f);
	OPENSSL_free(buf);
	return false;
}

/* What a staple file holds, for this certificate. */
enum verdict {
	V_USABLE,                /* serve it */
	V_NOT_NOW,               /* an OCSP response about this certificate, unusable now */
	V_WRONG,                 /* not an OCSP response, or about another certificate */
};

static enum verdict judge(const struct staple *s, const unsigned char *der, long len, time_t *next_update,
			  time_t *expires, char *why, size_t whylen)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	enum verdict v = V_WRONG;
	char who[400], t[40];
	int st, idx, status, reason = -1;

	ERR_set_mark();
	*next_update = *expires = 0;
	describe_cert(s->cert, who, sizeof who);
	resp = d2i_OCSP_RESPONSE(NULL, &p, len);
	if (!resp || p != der + len) {
		policy_why(why, whylen, "\"%s\" is not a DER OCSP response (as \"openssl ocsp -respout\" writes)",
			s->path);
		goto out;
	}
	if ((st = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		policy_why(why, whylen, "\"%s\": the responder's answer is \"%s\", not a certificate status",
			s->path, OCSP_response_status_str(st));
		v = V_NOT_NOW;
		goto out;
	}
	if (!(bs = OCSP_response_get1_basic(resp))) {
		policy_why(why, whylen, "\"%s\" is not a basic OCSP response", s->path);
		goto out;
	}
	if ((idx = find_single(bs, s->cert, s->issuer)) < 0) {
		policy_why(why, whylen, "\"%s\" has no status for the certificate %s", s->path, who);
		goto out;
	}
	status = OCSP_single_get0_status(OCSP_resp_get0(bs, idx), &reason, &revtime, &thisupd, &nextupd);
	v = V_NOT_NOW;
	*next_update = policy_asn1_time(nextupd);
	*expires = nextupd ? *next_update : policy_asn1_time(thisupd) + NO_NEXT_MAX_AGE_SEC + SKEW_SEC;
	if (!OCSP_check_validity(thisupd, nextupd, SKEW_SEC, nextupd ? -1 : NO_NEXT_MAX_AGE_SEC + SKEW_SEC)) {
		time_t tu = policy_asn1_time(thisupd);

		if (tu > time(NULL) + SKEW_SEC) {
			fmt_time(tu, t, sizeof t);
			policy_why(why, whylen, "\"%s\" is not valid yet (thisUpdate %s)", s->path, t);
		} else if (!nextupd) {
			fmt_time(tu, t, sizeof t);
			policy_why(why, whylen, "\"%s\" has no nextUpdate and is older than " NO_NEXT_MAX_AGE_TEXT
				" (thisUpdate %s)", s->path, t);
		} else {
			fmt_time(*next_update, t, sizeof t);
			policy_why(why, whylen, "\"%s\" has expired (nextUpdate %s)", s->path, t);
		}
		goto out;
	}
	if (time(NULL) > *expires) {
		fmt_time(nextupd ? *next_update : policy_asn1_time(thisupd), t, sizeof t);
		if (nextupd)
			policy_why(why, whylen, "\"%s\" has expired (nextUpdate %s)", s->path, t);
		else
			policy_why(why, whylen, "\"%s\" has no nextUpdate and is older than " NO_NEXT_MAX_AGE_TEXT
				" (thisUpdate %s)", s->path, t);
		goto out;
	}
	if (status != V_OCSP_CERTSTATUS_GOOD)
		policy_why(why, whylen, "\"%s\" says the certificate %s is %s (stapled all the same)",
			s->path, who, status_word(status));
	else if (whylen)
		why[0] = '\0';
	v = V_USABLE;
out:
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_pop_to_mark();
	return v;
}

static struct staple *staple_for(const struct ocsp_staples *set, X509 *x)
{
	size_t i;

	if (!x)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (set->s[i]->cert == x)
			return set->s[i];
	for (i = 0; i < set->n; i++)
		if (X509_cmp(set->s[i]->cert, x) == 0)
			return set->s[i];
	return NULL;
}

/* The server's status callback: the current response for the
 * certificate this handshake uses, copied (OpenSSL frees it). */
static int server_status_cb(SSL *ssl, void *arg)
{
	struct staple *s = staple_for(arg, SSL_get_certificate(ssl));
	unsigned char *copy = NULL;
	time_t now = time(NULL);
	int len = 0;

	if (!s || !lock_staples())
		return SSL_TLSEXT_ERR_NOACK;
	if (s->der && now <= s->expires && (copy = OPENSSL_memdup(s->der, (size_t)s->len)))
		len = s->len;
	unlock_staples();
	if (!copy)
		return SSL_TLSEXT_ERR_NOACK;
	if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, len)) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

static void staple_free(struct staple *s)
{
	if (!s)
		return;
	free(s->rule);
	free(s->path);
	X509_free(s->cert);
	X509_free(s->issuer);
	OPENSSL_free(s->der);
	free(s);
}

void ocsp_staples_free(struct ocsp_staples *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		staple_free(set->s[i]);
	free(set->s);
	free(set);
}

/* Never prompt on the program's terminal for a pass phrase. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

/* The certificate file's first certificate and, among the others, its
 * issuer. */
static bool read_cert_file(OSSL_LIB_CTX *libctx, const char *path, X509 **leaf, X509 **issuer,
			   char *why, size_t whylen)
{
	const char *reason = NULL;
	BIO *in = policy_bio_regular(path, &reason);
	X509 *x;

	*leaf = *issuer = NULL;
	if (!in) {
		policy_why(why, whylen, "cannot read certificate file \"%s\": %s", path, reason ? reason : "cannot open");
		return false;
	}
	while ((x = X509_new_ex(libctx, NULL)) && PEM_read_bio_X509_AUX(in, &x, no_password, NULL)) {
		if (!*leaf)
			*leaf = x;
		else if (!*issuer && X509_check_issued(x, *leaf) == X509_V_OK)
			*issuer = x;
		else
			X509_free(x);
	}
	X509_free(x);
	BIO_free(in);
	if (!*leaf) {
		policy_why(why, whylen, "no certificate in \"%s\"", path);
		return false;
	}
	return true;
}

/* The SSL_CTX object for the certificate leaf (one of ctxs), or NULL. */
static X509 *ctx_cert(SSL_CTX *const *ctxs, size_t nctx, X509 *leaf, SSL_CTX **which)
{
	for (size_t i = 0; i < nctx; i++) {
		SSL_CTX *ctx = ctxs[i];
		X509 *cur = SSL_CTX_get0_certificate(ctx), *found = NULL;

		if (!SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST))
			continue;
		do {
			X509 *x = SSL_CTX_get0_certificate(ctx);

			if (x && !found && X509_cmp(x, leaf) == 0)
				found = x;
		} while (SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT));
		/* Back to the certificate that was current. */
		if (cur && SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST))
			while (SSL_CTX_get0_certificate(ctx) != cur &&
			       SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT))
				;
		if (found) {
			*which = ctx;
			return found;
		}
	}
	return NULL;
}

bool ocsp_staple_add(struct ocsp_staples **set, SSL_CTX *const *ctxs, size_t nctx,
		     OSSL_LIB_CTX *libctx, const char *rule, const char *cert_path,
		     const char *staple_path, char *why, size_t whylen)
{
	struct staple *s = calloc(1, sizeof *s), **grown;
	X509 *leaf = NULL, *cert;
	SSL_CTX *ctx = NULL;
	unsigned char *der = NULL;
	long len = 0;
	struct stat st;
	enum verdict v;
	char problem[sizeof s->problem];

	ERR_set_mark();
	if (!s || !(s->rule = strdup(rule)) || !(s->path = strdup(staple_path))) {
		policy_why(why, whylen, "out of memory");
		goto fail;
	}
	if (!read_cert_file(libctx, cert_path, &leaf, &s->issuer, why, whylen))
		goto fail;
	if (!(cert = ctx_cert(ctxs, nctx, leaf, &ctx))) {
		policy_why(why, whylen, "internal error: the certificate of \"%s\" is not loaded", cert_path);
		goto fail;
	}
	X509_up_ref(cert);
	s->cert = cert;
	if (!read_file(staple_path, &der, &len, &st, why, whylen))
		goto fail;
	v = judge(s, der, len, &s->next_update, &s->expires, problem, sizeof problem);
	if (v == V_WRONG) {
		policy_why(why, whylen, "%s", problem);
		goto fail;
	}
	sig_of(&st, &s->sig);
	if (v == V_USABLE) {
		s->der = der;
		s->len = (int)len;
		der = NULL;
	}
	snprintf(s->problem, sizeof s->problem, "%s", problem);
	s->problem_note = v == V_USABLE;
	s->retry = v == V_NOT_NOW;
	if (!*set && !(*set = calloc(1, sizeof **set))) {
		policy_why(why, whylen, "out of memory");
		goto fail;
	}
	if (!(grown = realloc((*set)->s, ((*set)->n + 1) * sizeof *grown))) {
		policy_why(why, whylen, "out of memory");
		goto fail;
	}
	(*set)->s = grown;
	(*set)->s[(*set)->n++] = s;
	OPENSSL_free(der);
	X509_free(leaf);
	SSL_CTX_set_tlsext_status_cb(ctx, server_status_cb);
	SSL_CTX_set_tlsext_status_arg(ctx, *set);
	pid_t none = 0;
	atomic_compare_exchange_strong(&staple_pid, &none, self_pid());
	ERR_pop_to_mark();
	return true;
fail:
	OPENSSL_free(der);
	X509_free(leaf);
	staple_free(s);
	ERR_pop_to_mark();
	return false;
}

/* One staple: look at the file if its second has come. */
static void refresh_one(struct staple *s)
{
	long long now = (long long)time(NULL);
	long long due = atomic_load_explicit(&s->next_check, memory_order_relaxed);
	unsigned char *der = NULL, *old = NULL;
	char why[sizeof s->problem] = "", t[40];
	struct filesig g = { 0 };
	time_t nu = 0, exp = 0;
	struct stat st;
	enum verdict v = V_WRONG;
	bool same, had, log_problem = false, log_ok = false, log_gone = false, note = false;
	long len = 0;
	int serr = 0;

	if (now < due || !atomic_compare_exchange_strong(&s->next_check, &due, now + 1))
		return;
	if (stat(s->path, &st) == 0)
		sig_of(&st, &g);
	else
		serr = errno;
	if (!lock_staples())
		return;
	same = g.set && sig_eq(&g, &s->sig) && !s->retry;
	unlock_staples();
	if (g.set && !same) {
		/* Changed (or first seen since a failure to stat): read it. */
		if (read_file(s->path, &der, &len, &st, why, sizeof why)) {
			sig_of(&st, &g);
			v = judge(s, der, len, &nu, &exp, why, sizeof why);
		}
	} else if (!g.set) {
		snprintf(why, sizeof why, "cannot read \"%s\": %s", s->path, strerror(serr));
	}
	if (!lock_staples()) {
		OPENSSL_free(der);
		return;
	}
	had = s->der != NULL;
	if (g.set && !same && v == V_USABLE) {
		old = s->der;
		s->der = der;
		s->len = (int)len;
		der = NULL;
		s->next_update = nu;
		s->expires = exp;
		s->sig = g;
		snprintf(s->problem, sizeof s->problem, "%s", why);
		s->problem_logged = !why[0];
		s->problem_note = true;
		s->retry = false;
		log_ok = true;
	} else if ((g.set && !same) || (!g.set && s->sig.set)) {
		/* A new file that cannot be served (or the file is gone):
		 * remembered, so that it is read and logged once. */
		bool again = s->retry && strcmp(s->problem, why) == 0;

		if (g.set)
			s->sig = g;
		else
			memset(&s->sig, 0, sizeof s->sig);
		s->retry = g.set && v == V_NOT_NOW;
		if (!again) {       /* a file read again for the same reason: said */
			snprintf(s->problem, sizeof s->problem, "%s", why);
			s->problem_logged = false;
			s->problem_note = false;
		}
	} else if (s->der && now > (long long)s->expires) {
		old = s->der;
		s->der = NULL;
		if (s->next_update) {
			fmt_time(s->next_update, t, sizeof t);
			snprintf(s->problem, sizeof s->problem, "\"%s\" has expired (nextUpdate %s)", s->path, t);
		} else {
			fmt_time(s->expires - NO_NEXT_MAX_AGE_SEC - SKEW_SEC, t, sizeof t);
			snprintf(s->problem, sizeof s->problem, "\"%s\" has no nextUpdate and is older than "
				 NO_NEXT_MAX_AGE_TEXT " (thisUpdate %s)", s->path, t);
		}
		s->problem_logged = false;
		s->problem_note = false;
		log_gone = true;
	}
	if (!s->problem_logged && s->problem[0]) {
		s->problem_logged = true;
		log_problem = true;
		note = s->problem_note;
		snprintf(why, sizeof why, "%s", s->problem);
	}
	nu = s->next_update;
	exp = s->expires;
	unlock_staples();
	OPENSSL_free(old);
	OPENSSL_free(der);
	fmt_time(nu ? nu : exp, t, sizeof t);
	if (log_ok)
		say(2, "rule \"%s\": OCSP staple \"%s\" loaded (%s%s%s)", s->rule, s->path,
		    nu ? "next update " : "no next update: stapled until ", t,
		    nu ? "" : ", thisUpdate + " NO_NEXT_MAX_AGE_TEXT);
	if (log_problem && note)
		say(1, "rule \"%s\": OCSP staple %s", s->rule, why);
	else if (log_problem && log_gone)
		say(1, "rule \"%s\": OCSP staple %s: no longer stapled", s->rule, why);
	else if (log_problem)
		say(1, "rule \"%s\": OCSP staple %s; %s", s->rule, why,
		    had ? "still stapling the previous response" : "no response is stapled");
}

void ocsp_staples_refresh(struct ocsp_staples *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		refresh_one(set->s[i]);
}

/* ---- client ---------------------------------------------------------------- */

/* The handshake fails; the reason travels to the engine on the error
 * queue (ocsp.h).  Returns 0, the status callback's "refuse". */
static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int refuse(const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	ERR_pop_to_mark();
	ERR_raise_data(ERR_LIB_SSL, SSL_R_INVALID_STATUS_RESPONSE, "%s", buf);
	return 0;
}

static int client_status_cb(SSL *ssl, void *arg)
{
	enum policy_ocsp mode = (enum policy_ocsp)(intptr_t)arg;
	const unsigned char *p = NULL, *q;
	long len = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
	X509 *leaf = SSL_get0_peer_certificate(ssl), *issuer = NULL;
	STACK_OF(X509) *verified = SSL_get0_verified_chain(ssl);
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	char who[400], t[40];
	int st, idx, status, reason = -1, ret = 1;

	/* A resumed session (TLS 1.3 calls this without a certificate) was
	 * checked when it was made. */
	if (SSL_session_reused(ssl))
		return 1;
	/* Whatever OpenSSL queues here goes; only a refusal's reason stays
	 * (a stray error would make the engine see a failed handshake). */
	ERR_set_mark();
	describe_cert(leaf, who, sizeof who);
	if (!p || len <= 0) {
		if (mode == POLICY_OCSP_REQUIRE)
			return refuse("OCSP: server certificate %s: no OCSP response stapled"
				      " (the rule has ocsp = \"require\")", who);
		ERR_pop_to_mark();
		return 1;
	}
	if (!leaf)
		return refuse("OCSP: an OCSP response stapled, but no server certificate");
	q = p;
	if (!(resp = d2i_OCSP_RESPONSE(NULL, &q, len)) || q != p + len) {
		ret = refuse("OCSP: server certificate %s: what the server stapled is not an OCSP response", who);
		goto out;
	}
	if ((st = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		ret = refuse("OCSP: server certificate %s: the stapled OCSP response is unsuccessful (\"%s\")",
			     who, OCSP_response_status_str(st));
		goto out;
	}
	if (!(bs = OCSP_response_get1_basic(resp))) {
		ret = refuse("OCSP: server certificate %s: the stapled OCSP response is not a basic response", who);
		goto out;
	}
	/* Signed by the issuer, or by a responder the issuer delegated to
	 * (OCSP signing), whose chain leads to the rule's trust store. */
	if (OCSP_basic_verify(bs, SSL_get_peer_cert_chain(ssl),
			      SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)), 0) <= 0) {
		unsigned long e = ERR_peek_last_error();
		const char *r = e ? ERR_reason_error_string(e) : NULL;

		ret = refuse("OCSP: server certificate %s: the stapled OCSP response is not signed by the"
			     " issuer or a responder it authorised (%s)", who, r ? r : "verification failed");
		goto out;
	}
	if (verified && sk_X509_num(verified) > 1)
		issuer = sk_X509_value(verified, 1);
	if (!issuer || (idx = find_single(bs, leaf, issuer)) < 0) {
		ret = refuse("OCSP: server certificate %s: the stapled OCSP response has no status for it", who);
		goto out;
	}
	status = OCSP_single_get0_status(OCSP_resp_get0(bs, idx), &reason, &revtime, &thisupd, &nextupd);
	if (!OCSP_check_validity(thisupd, nextupd, SKEW_SEC, nextupd ? -1 : NO_NEXT_MAX_AGE_SEC + SKEW_SEC)) {
		time_t tu = policy_asn1_time(thisupd);
		bool early = tu > time(NULL) + SKEW_SEC;

		fmt_time(early || !nextupd ? tu : policy_asn1_time(nextupd), t, sizeof t);
		ret = refuse("OCSP: server certificate %s: the stapled OCSP response %s %s", who,
			     early ? "is not valid yet: thisUpdate"
			     : nextupd ? "has expired: nextUpdate"
			     : "has no nextUpdate and is older than " NO_NEXT_MAX_AGE_TEXT ": thisUpdate", t);
		goto out;
	}
	if (status == V_OCSP_CERTSTATUS_REVOKED) {
		fmt_time(policy_asn1_time(revtime), t, sizeof t);
		ret = refuse("OCSP: server certificate %s: REVOKED (since %s%s%s)", who, t,
			     reason >= 0 ? ", reason " : "", reason >= 0 ? OCSP_crl_reason_str(reason) : "");
		goto out;
	}
	if (status != V_OCSP_CERTSTATUS_GOOD) {
		ret = refuse("OCSP: server certificate %s: status unknown to the OCSP responder", who);
		goto out;
	}
	/* The sessions of this connection are resumed only while this
	 * response would still be accepted (policy/resume.c). */
	resume_bound(ssl, nextupd ? policy_asn1_time(nextupd) + SKEW_SEC
		     : policy_asn1_time(thisupd) + NO_NEXT_MAX_AGE_SEC + SKEW_SEC);
	ERR_pop_to_mark();
out:
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	return ret;
}

void ocsp_staples_attach(SSL_CTX *ctx, struct ocsp_staples *set)
{
	if (!ctx || !set)
		return;
	SSL_CTX_set_tlsext_status_cb(ctx, server_status_cb);
	SSL_CTX_set_tlsext_status_arg(ctx, set);
}

bool ocsp_client_setup(SSL_CTX *ctx, enum policy_ocsp mode, char *why, size_t whylen)
{
	if (mode == POLICY_OCSP_OFF)
		return true;
	ERR_set_mark();
	if (!SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp) ||
	    !SSL_CTX_set_tlsext_status_cb(ctx, client_status_cb) ||
	    !SSL_CTX_set_tlsext_status_arg(ctx, (void *)(intptr_t)mode)) {
		ERR_pop_to_mark();
		policy_why(why, whylen, "cannot ask for the server's OCSP status");
		return false;
	}
	ERR_pop_to_mark();
	return true;
}
