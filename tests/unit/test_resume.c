/* tests/unit/test_resume.c — resumption through the engine over a
 * socketpair, no preload: the client cache (policy/resume.c) keyed by
 * rule and name, TLS 1.3 sessions single-use and TLS 1.2 sessions kept,
 * the cap, sessions purged with their rule's SSL_CTX, shared ticket keys
 * (two server contexts, one key file), rotation, and a foreign key; a
 * session never resumes under a rule that asks more of the peer (a
 * client certificate, other identity lists), by the id context and by
 * the engine's own look.
 * Certificates: $TLSSHIM_TEST_CERTS (made by certs/mkcerts.sh). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "policy/ctx.h"
#include "policy/identity.h"
#include "policy/policy.h"
#include "policy/resume.h"
#include "core/log.h"
#include "core/peer.h"
#include "core/sys.h"
#include "core/tls.h"
#include "tests/unit/unit.h"

static char certs[512];
static char tmpdir[64];
static OSSL_LIB_CTX *libctx;

static char *path_in(const char *dir, const char *name)
{
	static char bufs[64][600];
	static int i;
	char *b = bufs[i++ % 64];
	snprintf(b, 600, "%s/%s", dir, name);
	return b;
}

static struct policy_rule server_rule(const char *keyfile, int max)
{
	struct policy_rule r = { .name = "srv", .direction = POLICY_ACCEPT, .action = POLICY_TLS,
				 .min_version = TLS1_2_VERSION, .handshake_timeout_ms = 10000 };
	r.cert = path_in(certs, "server.crt");
	r.key = path_in(certs, "server.key");
	r.ticket_key_file = (char *)keyfile;
	if (max == TLS1_2_VERSION)
		r.ciphersuites = (char *)"";
	return r;
}

static struct policy_rule client_rule(const char *name)
{
	struct policy_rule r = { .name = (char *)name, .direction = POLICY_CONNECT, .action = POLICY_TLS,
				 .min_version = TLS1_2_VERSION, .handshake_timeout_ms = 10000 };
	r.ca = path_in(certs, "ca.crt");
	return r;
}

/* An accept rule that requires a client certificate (ca: the test CA). */
static struct policy_rule mtls_rule(const char *keyfile, int max)
{
	struct policy_rule r = server_rule(keyfile, max);
	r.ca = path_in(certs, "ca.crt");
	r.require_client_cert = true;
	return r;
}

/* A connect rule that offers the test's client certificate. */
static struct policy_rule cert_client_rule(const char *name)
{
	struct policy_rule r = client_rule(name);
	r.cert = path_in(certs, "client.crt");
	r.key = path_in(certs, "client.key");
	return r;
}

/* The server side's identity hook in one_connection (NULL: none), and the
 * server connection's error after it. */
static bool (*srv_check)(const void *arg, X509 *leaf, char *why, size_t whylen);
static const void *srv_check_arg;
static char srv_err[300];

static bool check_stub(const void *arg, X509 *leaf, char *why, size_t whylen)
{
	(void)leaf;
	snprintf(why, whylen, "the stub says no");
	return *(const bool *)arg;
}

/* Client status callbacks: the connection's sessions hold until an hour
 * from now, or until a second ago. */
static int bound_ahead(SSL *ssl, void *arg)
{
	(void)arg;
	resume_bound(ssl, time(NULL) + 3600);
	return 1;
}

static int bound_past(SSL *ssl, void *arg)
{
	(void)arg;
	resume_bound(ssl, time(NULL) - 1);
	return 1;
}

static SSL_CTX *build(struct policy_rule *r, char *why, size_t len)
{
	enum ctx_err_key which;
	r->ctx = ctx_build(libctx, r, &which, why, len);
	return r->ctx;
}

/* One connection: handshake, a request and a reply (the client's read
 * takes in the TLS 1.3 tickets), close_notify both ways.  1: resumed,
 * 0: new session, -1: failed. */
static int one_connection(struct policy_rule *cr, struct policy_rule *sr, const char *name)
{
	struct tls_opts co = { .ctx = cr->ctx, .label = cr->name, .verify_name = true,
			       .handshake_timeout_ms = 10000, .offer_session = resume_offer };
	struct tls_opts so = { .ctx = sr->ctx, .label = sr->name, .handshake_timeout_ms = 10000,
			       .check_peer = srv_check, .check_arg = srv_check_arg };
	struct tls_conn *c, *s;
	unsigned char buf[16];
	int fds[2], a = -1, b = -1, i, ret = -1;
	ssize_t n = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
		return -1;
	c = tls_conn_new(fds[0], &co, TLS_ROLE_CLIENT, name, "client-side");
	s = tls_conn_new(fds[1], &so, TLS_ROLE_SERVER, NULL, "server-side");
	for (i = 0; c && s && i < 1000; i++) {
		a = tls_conn_handshake(c);
		b = tls_conn_handshake(s);
		if ((a == 0 || a == TLS_ERR) && (b == 0 || b == TLS_ERR))
			break;
	}
	if (a != 0 || b != 0)
		goto out;
	if (tls_conn_write(c, "ping", 4) != 4)
		goto out;
	for (i = 0; i < 1000 && (n = tls_conn_read(s, buf, sizeof buf, false)) < 0 && n != TLS_ERR; i++)
		;
	if (n != 4 || tls_conn_write(s, "pong", 4) != 4)
		goto out;
	for (i = 0; i < 1000 && (n = tls_conn_read(c, buf, sizeof buf, false)) < 0 && n != TLS_ERR; i++)
		;
	if (n != 4)
		goto out;
	ret = tls_conn_resumed(c) ? 1 : 0;
	if (tls_conn_resumed(c) != tls_conn_resumed(s))
		ret = -1;
	tls_conn_close_notify(c);
	tls_conn_close_notify(s);
	tls_conn_read(c, buf, sizeof buf, false);
out:
	snprintf(srv_err, sizeof srv_err, "%s", s && tls_conn_error(s) ? tls_conn_error(s) : "");
	tls_conn_unref(c);
	tls_conn_unref(s);
	close(fds[0]);
	close(fds[1]);
	return ret;
}

/* The wall clock of this program, libssl's and the library's reads
 * included (OpenSSL 3.0 dates sessions and ages tickets with time() and
 * gettimeofday(); resume.c's expired() with time()): the real one plus
 * clock_skip seconds, so that a session ages past its lifetime with no
 * wait.  Defined here and exported (the build hides symbols by default),
 * they stand in front of the C library's. */
static long clock_skip;

__attribute__((visibility("default"))) time_t time(time_t *t)
{
	struct timespec ts;
	time_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec + clock_skip;
	if (t)
		*t = now;
	return now;
}

__attribute__((visibility("default"))) int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec + clock_skip;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

/* ---- OpenSSL alone: TLS 1.3 contexts with none of the library's
 * callbacks, over a BIO pair.  The server's ticket callback counts the
 * tickets it decrypted (the client offered one) and takes each one
 * (what the library's ticket_dec_cb does with a fresh one). */
static int raw_decrypted;
static SSL_SESSION *raw_latest;

static SSL_TICKET_RETURN raw_dec_cb(SSL *s, SSL_SESSION *ss, const unsigned char *kn, size_t knl,
				    SSL_TICKET_STATUS status, void *arg)
{
	(void)s; (void)ss; (void)kn; (void)knl; (void)arg;
	raw_decrypted++;
	return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE :
	       status == SSL_TICKET_SUCCESS_RENEW ? SSL_TICKET_RETURN_USE_RENEW : SSL_TICKET_RETURN_IGNORE_RENEW;
}

static int raw_new_session(SSL *s, SSL_SESSION *ss)
{
	(void)s;
	SSL_SESSION_free(raw_latest);
	raw_latest = ss;
	return 1;
}

static void raw_ctxs(SSL_CTX **cc, SSL_CTX **sc)
{
	*sc = SSL_CTX_new(TLS_server_method());
	*cc = SSL_CTX_new(TLS_client_method());
	if (!*sc || !*cc)
		return;
	SSL_CTX_use_certificate_chain_file(*sc, path_in(certs, "server.crt"));
	SSL_CTX_use_PrivateKey_file(*sc, path_in(certs, "server.key"), SSL_FILETYPE_PEM);
	SSL_CTX_set_min_proto_version(*sc, TLS1_3_VERSION);
	SSL_CTX_set_min_proto_version(*cc, TLS1_3_VERSION);
	SSL_CTX_set_session_ticket_cb(*sc, NULL, raw_dec_cb, NULL);
	SSL_CTX_set_session_cache_mode(*cc, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(*cc, raw_new_session);
}

/* One connection offering `offer` (NULL: none), the server's tickets read,
 * both ends shut down cleanly (SSL_free of a connection not shut down
 * makes its session not resumable); the client's latest session in
 * *got (the caller's).  1: resumed, 0: not, -1: failed. */
static int raw_connection(SSL_CTX *cc, SSL_CTX *sc, SSL_SESSION *offer, SSL_SESSION **got)
{
	SSL *c = SSL_new(cc), *s = SSL_new(sc);
	BIO *bc, *bs;
	char buf[4];
	int a = -1, b = -1, r = -1;

	if (!c || !s || !BIO_new_bio_pair(&bc, 0, &bs, 0))
		goto out;
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	if (offer)
		SSL_set_session(c, offer);
	for (int i = 0; i < 100 && (a != 1 || b != 1); i++) {
		if (a != 1)
			a = SSL_do_handshake(c);
		if (b != 1)
			b = SSL_do_handshake(s);
	}
	if (a != 1 || b != 1 || SSL_write(s, "x", 1) != 1 || SSL_read(c, buf, sizeof buf) != 1)
		goto out;
	r = SSL_session_reused(s) ? 1 : 0;
	SSL_shutdown(c);
	SSL_shutdown(s);
out:
	SSL_free(c);
	SSL_free(s);
	if (got) {
		*got = raw_latest;
		raw_latest = NULL;
	}
	return r;
}

static void write_file(const char *path, const unsigned char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0) {
		if (write(fd, data, len) != (ssize_t)len)
			perror("write");
		fchmod(fd, mode);
		close(fd);
	}
}

/* A certificate whose notAfter is type and the bytes of s, as they are
 * (X509_set1_notAfter copies them without a check). */
static X509 *cert_until(int type, const char *s)
{
	X509 *x = X509_new();
	ASN1_STRING *t = ASN1_STRING_type_new(type);

	if (x && t && ASN1_STRING_set(t, s, (int)strlen(s)) && X509_set1_notAfter(x, t)) {
		ASN1_STRING_free(t);
		return x;
	}
	ASN1_STRING_free(t);
	X509_free(x);
	return NULL;
}

/* now + off as UTCTime (utc) or GeneralizedTime. */
static const char *time_at(long off, bool utc)
{
	static char buf[32];
	time_t t = time(NULL) + off;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y%m%d%H%M%SZ", &tm);
	return utc ? buf + 2 : buf;
}

int main(void)
{
	const char *d = getenv("TLSSHIM_TEST_CERTS");
	unsigned char k1[80], k2[80], k21[160];
	char why[400];

	if (!d) {
		printf("FAIL setup: TLSSHIM_TEST_CERTS is not set (run through tests/run.sh)\n");
		return 1;
	}
	snprintf(certs, sizeof certs, "%s", d);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/tlsshim-resume.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("FAIL setup: mkdtemp\n");
		return 1;
	}
	core_sys_default();
	log_init(NULL);
	libctx = OSSL_LIB_CTX_new();
	RAND_bytes(k1, sizeof k1);
	RAND_bytes(k2, sizeof k2);
	memcpy(k21, k2, 80);
	memcpy(k21 + 80, k1, 80);
	write_file(path_in(tmpdir, "k1"), k1, 80, 0600);
	write_file(path_in(tmpdir, "k2"), k2, 80, 0600);
	write_file(path_in(tmpdir, "k21"), k21, 160, 0600);
	write_file(path_in(tmpdir, "short"), k1, 79, 0600);
	write_file(path_in(tmpdir, "open"), k1, 80, 0644);

	struct policy_rule s13 = server_rule(NULL, TLS1_3_VERSION), s12 = server_rule(NULL, TLS1_2_VERSION);
	struct policy_rule ca = client_rule("cli-a"), cb = client_rule("cli-b");

	UNIT_CASE("resume: contexts build") {
		EXPECT(build(&s13, why, sizeof why) != NULL);
		EXPECT(build(&s12, why, sizeof why) != NULL);
		EXPECT(build(&ca, why, sizeof why) != NULL);
		EXPECT(build(&cb, why, sizeof why) != NULL);
	}
	if (!s13.ctx || !s12.ctx || !ca.ctx || !cb.ctx)
		return UNIT_RESULT();

	UNIT_CASE("resume: TLS 1.3: second connection resumes, the ticket is used once") {
		EXPECT(resume_cache_count() == 0);
		EXPECT(one_connection(&ca, &s13, "localhost") == 0);
		EXPECT(resume_cache_count() == 1);
		EXPECT(one_connection(&ca, &s13, "localhost") == 1);
		EXPECT(resume_cache_count() == 1);   /* the new connection's latest ticket */
		EXPECT(one_connection(&ca, &s13, "localhost") == 1);
	}

	UNIT_CASE("resume: keyed by rule and name") {
		EXPECT(one_connection(&cb, &s13, "localhost") == 0);   /* other rule */
		EXPECT(one_connection(&ca, &s13, "127.0.0.1") == 0);   /* other name */
		EXPECT(resume_cache_count() == 3);
		EXPECT(one_connection(&cb, &s13, "localhost") == 1);
		EXPECT(one_connection(&ca, &s13, "127.0.0.1") == 1);
	}

	UNIT_CASE("resume: TLS 1.2: the session stays for further connections") {
		struct policy_rule c = client_rule("cli-12");
		EXPECT(build(&c, why, sizeof why) != NULL);
		EXPECT(one_connection(&c, &s12, "localhost") == 0);
		EXPECT(one_connection(&c, &s12, "localhost") == 1);
		EXPECT(one_connection(&c, &s12, "localhost") == 1);
		SSL_CTX_free(c.ctx);
	}

	/* What a connection's OCSP check notes (policy/ocsp.c calls
	 * resume_bound with the end of the response it accepted): a session
	 * of that connection is kept only while that end is ahead, and a
	 * resumed connection's new tickets carry it on.  A status callback
	 * (called on every client handshake that asks for a status) stands in
	 * for the check. */
	UNIT_CASE("resume: a session is not kept past the bound its connection noted (OCSP)") {
		for (int past = 0; past <= 1; past++) {
			struct policy_rule c = client_rule(past ? "cli-ocsp-past" : "cli-ocsp-ahead");
			EXPECT(build(&c, why, sizeof why) != NULL);
			if (!c.ctx)
				continue;
			EXPECT(SSL_CTX_set_tlsext_status_type(c.ctx, TLSEXT_STATUSTYPE_ocsp) == 1);
			EXPECT(SSL_CTX_set_tlsext_status_cb(c.ctx, (past ? bound_past : bound_ahead)) == 1);
			EXPECT(one_connection(&c, &s13, "localhost") == 0);
			EXPECT(one_connection(&c, &s13, "localhost") == (past ? 0 : 1));
			EXPECT(one_connection(&c, &s13, "localhost") == (past ? 0 : 1));
			SSL_CTX_free(c.ctx);
		}
	}

	UNIT_CASE("resume: a freed rule's sessions leave the cache") {
		size_t before = resume_cache_count();
		SSL_CTX_free(cb.ctx);
		cb.ctx = NULL;
		EXPECT(resume_cache_count() == before - 1);
	}

	UNIT_CASE("resume: session_cache off: nothing kept, nothing resumed") {
		struct policy_rule c = client_rule("cli-off");
		size_t before = resume_cache_count();
		c.session_cache_off = true;
		EXPECT(build(&c, why, sizeof why) != NULL);
		EXPECT(one_connection(&c, &s13, "localhost") == 0);
		EXPECT(one_connection(&c, &s13, "localhost") == 0);
		EXPECT(resume_cache_count() == before);
		SSL_CTX_free(c.ctx);
	}

	UNIT_CASE("resume: the cache holds at most RESUME_CACHE_MAX sessions") {
		struct policy_rule c = client_rule("cli-many");
		char name[32];
		EXPECT(build(&c, why, sizeof why) != NULL);
		for (int i = 0; i < RESUME_CACHE_MAX + 5; i++) {
			snprintf(name, sizeof name, "%d.localhost", i);
			SSL_CTX_set_verify(c.ctx, SSL_VERIFY_NONE, NULL);
			one_connection(&c, &s13, name);
		}
		EXPECT(resume_cache_count() == RESUME_CACHE_MAX);
		SSL_CTX_free(c.ctx);
		EXPECT(resume_cache_count() < RESUME_CACHE_MAX);
	}

	UNIT_CASE("resume: shared ticket key file: one server's session resumes on another") {
		struct policy_rule a = server_rule(path_in(tmpdir, "k1"), TLS1_3_VERSION);
		struct policy_rule b = server_rule(path_in(tmpdir, "k1"), TLS1_3_VERSION);
		struct policy_rule x = server_rule(path_in(tmpdir, "k2"), TLS1_3_VERSION);
		struct policy_rule r = server_rule(path_in(tmpdir, "k21"), TLS1_3_VERSION);
		struct policy_rule a12 = server_rule(path_in(tmpdir, "k1"), TLS1_2_VERSION);
		struct policy_rule b12 = server_rule(path_in(tmpdir, "k1"), TLS1_2_VERSION);
		struct policy_rule c = client_rule("cli-tk");
		EXPECT(build(&a, why, sizeof why) && build(&b, why, sizeof why) && build(&x, why, sizeof why) &&
		       build(&r, why, sizeof why) && build(&a12, why, sizeof why) && build(&b12, why, sizeof why));
		EXPECT(build(&c, why, sizeof why) != NULL);
		EXPECT(one_connection(&c, &a, "localhost") == 0);
		EXPECT(one_connection(&c, &b, "localhost") == 1);    /* same key file */
		EXPECT(one_connection(&c, &x, "localhost") == 0);    /* another key */
		EXPECT(one_connection(&c, &a, "localhost") == 0);    /* x's ticket: unknown to a */
		EXPECT(one_connection(&c, &r, "localhost") == 1);    /* rotated: k1 second */
		EXPECT(one_connection(&c, &x, "localhost") == 1);    /* r issued a k2 ticket */
		EXPECT(one_connection(&c, &a12, "localhost") == 0);
		EXPECT(one_connection(&c, &b12, "localhost") == 1);  /* TLS 1.2 tickets too */
		SSL_CTX_free(a.ctx); SSL_CTX_free(b.ctx); SSL_CTX_free(x.ctx); SSL_CTX_free(r.ctx);
		SSL_CTX_free(a12.ctx); SSL_CTX_free(b12.ctx); SSL_CTX_free(c.ctx);
	}

	/* Two rules of one name (or two hosts) sharing a ticket key file and
	 * the CA, one of them asking for a client certificate: the session
	 * id context holds the rule's terms, so the other's sessions are
	 * not resumed there (a full handshake asks for the certificate). */
	UNIT_CASE("resume: a session made without a client certificate does not resume where one is required") {
		for (int v = 0; v < 2; v++) {
			int max = v ? TLS1_2_VERSION : TLS1_3_VERSION;
			struct policy_rule lax = server_rule(path_in(tmpdir, "k1"), max);
			struct policy_rule mtls = mtls_rule(path_in(tmpdir, "k1"), max);
			struct policy_rule mtls2 = mtls_rule(path_in(tmpdir, "k1"), max);
			struct policy_rule c = client_rule("cli-lax"), cc = cert_client_rule("cli-cert");
			lax.ca = path_in(certs, "ca.crt");
			EXPECT(build(&lax, why, sizeof why) && build(&mtls, why, sizeof why) &&
			       build(&mtls2, why, sizeof why) && build(&c, why, sizeof why) &&
			       build(&cc, why, sizeof why));
			EXPECT(one_connection(&c, &lax, "localhost") == 0);
			EXPECT(one_connection(&c, &mtls, "localhost") == -1);  /* full: no certificate */
			EXPECT_CONTAINS(srv_err, "certificate");
			EXPECT(one_connection(&cc, &lax, "localhost") == 0);
			EXPECT(one_connection(&cc, &mtls, "localhost") == 0);  /* the lax session: not taken */
			EXPECT(one_connection(&cc, &mtls2, "localhost") == 1); /* the same terms: resumed */
			SSL_CTX_free(lax.ctx); SSL_CTX_free(mtls.ctx); SSL_CTX_free(mtls2.ctx);
			SSL_CTX_free(c.ctx); SSL_CTX_free(cc.ctx);
		}
	}

	UNIT_CASE("resume: the identity lists are part of the session id context") {
		char *cn_a[] = { (char *)"tlsshim-client" }, *cn_b[] = { (char *)"someone-else" };
		struct policy_identity ida = { .names = { [POLICY_ID_CN] = cn_a }, .n = { [POLICY_ID_CN] = 1 } };
		struct policy_identity idb = { .names = { [POLICY_ID_CN] = cn_b }, .n = { [POLICY_ID_CN] = 1 } };
		struct policy_rule a = mtls_rule(path_in(tmpdir, "k1"), TLS1_3_VERSION);
		struct policy_rule a2 = mtls_rule(path_in(tmpdir, "k1"), TLS1_3_VERSION);
		struct policy_rule b = mtls_rule(path_in(tmpdir, "k1"), TLS1_3_VERSION);
		struct policy_rule cc = cert_client_rule("cli-id");
		a.identity = a2.identity = &ida;
		b.identity = &idb;
		EXPECT(build(&a, why, sizeof why) && build(&a2, why, sizeof why) && build(&b, why, sizeof why) &&
		       build(&cc, why, sizeof why));
		EXPECT(one_connection(&cc, &a, "localhost") == 0);
		EXPECT(one_connection(&cc, &b, "localhost") == 0);   /* other lists: a new session */
		EXPECT(one_connection(&cc, &a, "localhost") == 0);   /* b's ticket: not a's terms */
		EXPECT(one_connection(&cc, &a2, "localhost") == 1);  /* the same lists: resumed */
		SSL_CTX_free(a.ctx); SSL_CTX_free(a2.ctx); SSL_CTX_free(b.ctx); SSL_CTX_free(cc.ctx);
	}

	/* The engine's own look, under the id context: contexts made to
	 * agree by hand, so that OpenSSL resumes, and the engine refuses. */
	UNIT_CASE("resume: the engine refuses a resumed session without the certificate or the identity required") {
		static const bool no = false, yes = true;
		struct policy_rule lax = server_rule(path_in(tmpdir, "k1"), TLS1_3_VERSION);
		struct policy_rule mtls = mtls_rule(path_in(tmpdir, "k1"), TLS1_3_VERSION);
		struct policy_rule c = client_rule("cli-forced"), cc = cert_client_rule("cli-forced-cert");
		lax.ca = path_in(certs, "ca.crt");
		EXPECT(build(&lax, why, sizeof why) && build(&mtls, why, sizeof why) && build(&c, why, sizeof why) &&
		       build(&cc, why, sizeof why));
		EXPECT(SSL_CTX_set_session_id_context(lax.ctx, (const unsigned char *)"forced", 6) == 1);
		EXPECT(SSL_CTX_set_session_id_context(mtls.ctx, (const unsigned char *)"forced", 6) == 1);
		EXPECT(one_connection(&c, &lax, "localhost") == 0);
		EXPECT(one_connection(&c, &mtls, "localhost") == -1);
		EXPECT_CONTAINS(srv_err, "resumed session refused: it was made without the peer certificate");
		/* A session with a certificate, then an identity hook that
		 * refuses that peer: refused on resumption too. */
		srv_check = check_stub;
		srv_check_arg = &yes;
		EXPECT(one_connection(&cc, &mtls, "localhost") == 0);
		EXPECT(one_connection(&cc, &mtls, "localhost") == 1);   /* allowed: resumed */
		EXPECT(one_connection(&cc, &mtls, "127.0.0.1") == 0);   /* a fresh session */
		srv_check_arg = &no;
		EXPECT(one_connection(&cc, &mtls, "127.0.0.1") == -1);
		EXPECT_CONTAINS(srv_err, "resumed session refused: the stub says no");
		srv_check = NULL;
		srv_check_arg = NULL;
		SSL_CTX_free(lax.ctx); SSL_CTX_free(mtls.ctx); SSL_CTX_free(c.ctx); SSL_CTX_free(cc.ctx);
	}

	UNIT_CASE("resume: bad ticket key files are refused, their bytes never in the message") {
		struct policy_rule s = server_rule(path_in(tmpdir, "short"), TLS1_3_VERSION);
		EXPECT(build(&s, why, sizeof why) == NULL);
		EXPECT_CONTAINS(why, "1 to 8 keys of 80 bytes");
		s = server_rule(path_in(tmpdir, "open"), TLS1_3_VERSION);
		EXPECT(build(&s, why, sizeof why) == NULL);
		EXPECT_CONTAINS(why, "other users");
		s = server_rule(path_in(tmpdir, "none"), TLS1_3_VERSION);
		EXPECT(build(&s, why, sizeof why) == NULL);
		EXPECT_CONTAINS(why, "No such file");
	}

	/* M42: does OpenSSL itself refuse a TLS 1.3 ticket past its
	 * lifetime, or is the library's bound (resume.c, expired(): its
	 * client cache and ticket_dec_cb) the only one?  OpenSSL 3.0, with
	 * none of the library's callbacks: the server refuses a ticket older
	 * than its session timeout though its ticket callback takes it, and
	 * the client does not offer a session older than the ticket's
	 * lifetime hint (here 10 s), though the session's own timeout (the
	 * client context's, 7200 s) has not passed. */
	UNIT_CASE("resume: OpenSSL alone refuses a TLS 1.3 ticket past its lifetime, server and client") {
		SSL_CTX *rc = NULL, *rs = NULL;
		SSL_SESSION *t = NULL;

		raw_ctxs(&rc, &rs);
		EXPECT(rc && rs);
		if (rc && rs) {
			EXPECT(SSL_CTX_set_timeout(rs, 10) >= 0);
			/* (each session offered once: OpenSSL's client takes a
			 * TLS 1.3 session it used out of its cache) */
			for (int side = 0; side < 3; side++) {
				clock_skip = 0;
				SSL_SESSION_free(t);
				t = NULL;
				EXPECT(raw_connection(rc, rs, NULL, &t) == 0 && t);
				if (!t)
					break;
				EXPECT(SSL_SESSION_get_ticket_lifetime_hint(t) == 10);
				EXPECT(SSL_SESSION_get_timeout(t) > 70);
				clock_skip = side ? 70 : 5;
				/* The server's check: the client sees its session as
				 * new (its time moved with the clock), and offers it. */
				if (side == 1)
					SSL_SESSION_set_time(t, SSL_SESSION_get_time(t) + clock_skip);
				raw_decrypted = 0;
				if (side == 0)          /* within the lifetime: resumed */
					EXPECT(raw_connection(rc, rs, t, NULL) == 1 && raw_decrypted == 1);
				else if (side == 1)     /* offered, decrypted, taken by the callback: refused */
					EXPECT(raw_connection(rc, rs, t, NULL) == 0 && raw_decrypted == 1);
				else                    /* past the hint: not offered */
					EXPECT(raw_connection(rc, rs, t, NULL) == 0 && raw_decrypted == 0);
			}
		}
		clock_skip = 0;
		SSL_SESSION_free(t);
		SSL_CTX_free(rc);
		SSL_CTX_free(rs);
	}

	/* The library's rules: a session past the server's lifetime (7200 s,
	 * OpenSSL's default: no policy key sets it) is not resumed; the full
	 * handshake's new ticket is. */
	UNIT_CASE("resume: a TLS 1.3 ticket past its lifetime does not resume under the rules") {
		struct policy_rule c = client_rule("cli-aged");
		long life = SSL_CTX_get_timeout(s13.ctx);

		EXPECT(build(&c, why, sizeof why) != NULL);
		if (c.ctx) {
			EXPECT(one_connection(&c, &s13, "localhost") == 0);
			EXPECT(one_connection(&c, &s13, "localhost") == 1);
			clock_skip = life + 60;
			EXPECT(one_connection(&c, &s13, "localhost") == 0);
			EXPECT(one_connection(&c, &s13, "localhost") == 1);
			clock_skip = 0;
			SSL_CTX_free(c.ctx);
		}
	}

	/* tls_x509_expired (core/peer.h), the engine's and the cache's look
	 * at a resumed session's peer, answers as X509_cmp_current_time <= 0,
	 * which it replaced: past, future, the centuries of the two types,
	 * and every format X509_cmp_time refuses (refused as expired). */
	UNIT_CASE("resume: the peer's expiry look answers as X509_cmp_current_time") {
		static const long offs[] = { -86400 * 400L, -86400, -30, -5, 5, 30, 86400, 86400 * 400L };
		static const struct { int type; const char *s; } odd[] = {
			{ V_ASN1_UTCTIME, "491231235959Z" }, { V_ASN1_UTCTIME, "500101000000Z" },
			{ V_ASN1_GENERALIZEDTIME, "20991231235959Z" }, { V_ASN1_GENERALIZEDTIME, "19991231235959Z" },
			{ V_ASN1_UTCTIME, "9912312359Z" }, { V_ASN1_UTCTIME, "991231235959" },
			{ V_ASN1_UTCTIME, "991231235959+0100" }, { V_ASN1_UTCTIME, "99123123595Zz" },
			{ V_ASN1_UTCTIME, "99123123595aZ" }, { V_ASN1_UTCTIME, "99 231235959Z" },
			{ V_ASN1_UTCTIME, "20991231235959Z" }, { V_ASN1_GENERALIZEDTIME, "991231235959Z" },
			{ V_ASN1_GENERALIZEDTIME, "20991231235959.5Z" }, { V_ASN1_GENERALIZEDTIME, "20991231235959z" },
			{ V_ASN1_GENERALIZEDTIME, "2099123123595+Z" }, { V_ASN1_GENERALIZEDTIME, "20991331235959Z" },
			{ V_ASN1_GENERALIZEDTIME, "20990231235959Z" }, { V_ASN1_UTCTIME, "991231246059Z" },
			{ V_ASN1_OCTET_STRING, "20991231235959Z" }, { V_ASN1_UTCTIME, "" },
		};
		int n = 0;

		for (size_t i = 0; i < 2 * sizeof offs / sizeof offs[0]; i++) {
			X509 *x = cert_until(i % 2 ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME,
					     time_at(offs[i / 2], i % 2));

			EXPECT(x != NULL);
			if (x) {
				EXPECT(tls_x509_expired(x) == (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0));
				EXPECT(tls_x509_expired(x) == (offs[i / 2] < 0));
				n++;
			}
			X509_free(x);
		}
		for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
			X509 *x = cert_until(odd[i].type, odd[i].s);

			EXPECT(x != NULL);
			if (x && tls_x509_expired(x) != (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)) {
				printf("# %s: type %d \"%s\": %d, X509_cmp_current_time %d\n", unit_case, odd[i].type,
				       odd[i].s, tls_x509_expired(x), X509_cmp_current_time(X509_get0_notAfter(x)));
				EXPECT(0);
			}
			n += x != NULL;
			X509_free(x);
		}
		EXPECT(n == 2 * sizeof offs / sizeof offs[0] + sizeof odd / sizeof odd[0]);
	}

	SSL_CTX_free(ca.ctx);
	SSL_CTX_free(s13.ctx);
	SSL_CTX_free(s12.ctx);
	UNIT_CASE("resume: every session freed with its rules") {
		EXPECT(resume_cache_count() == 0);
	}
	OSSL_LIB_CTX_free(libctx);
	for (const char *f = "k1\0k2\0k21\0short\0open\0"; *f; f += strlen(f) + 1)
		unlink(path_in(tmpdir, f));
	rmdir(tmpdir);
	return UNIT_RESULT();
}
