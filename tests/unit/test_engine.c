/* tests/unit/test_engine.c — the TLS engine against itself over a
 * socketpair, no preload: handshake, data both ways through a full socket
 * buffer, close_notify, truncation, tampering, verification failure, and
 * the program's OpenSSL error queue left as found.
 * Certificates: $TLSSHIM_TEST_CERTS (made by certs/mkcerts.sh). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "policy/ctx.h"
#include "policy/policy.h"
#include "core/errq.h"
#include "core/log.h"
#include "core/sys.h"
#include "core/tls.h"
#include "tests/unit/engine_pair.h"
#include "tests/unit/unit.h"

static OSSL_LIB_CTX *libctx;
#define SPINS 1000000        /* transfer()'s bound */

static struct policy_rule server_rule(void)
{
	struct policy_rule r = { .name = "srv", .direction = POLICY_ACCEPT, .action = POLICY_TLS,
				 .min_version = TLS1_2_VERSION, .handshake_timeout_ms = 10000 };
	r.cert = cert_path("server.crt");
	r.key = cert_path("server.key");
	return r;
}

static struct policy_rule client_rule(void)
{
	struct policy_rule r = { .name = "cli", .direction = POLICY_CONNECT, .action = POLICY_TLS,
				 .min_version = TLS1_2_VERSION, .handshake_timeout_ms = 10000 };
	r.ca = cert_path("ca.crt");
	return r;
}

static SSL_CTX *build(struct policy_rule *r)
{
	enum ctx_err_key which;
	char why[256];
	r->ctx = ctx_build(libctx, r, &which, why, sizeof why);
	if (!r->ctx)
		printf("# ctx_build(%s): %s\n", r->name, why);
	return r->ctx;
}

struct pair {
	int fds[2];
	struct tls_conn *cli, *srv;
};

/* What the shim gives the engine for a rule (shim_conn_new). */
static struct tls_opts opts_of(const struct policy_rule *r)
{
	struct tls_opts o = { .ctx = r->ctx, .label = r->name,
			      .verify_name = r->verify == POLICY_VERIFY_FULL,
			      .allow_truncation = r->allow_truncation,
			      .handshake_timeout_ms = r->handshake_timeout_ms };
	return o;
}

static int make_pair(struct pair *p, struct policy_rule *cr, struct policy_rule *sr, const char *name)
{
	struct tls_opts co = opts_of(cr), so = opts_of(sr);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds) < 0)
		return -1;
	p->cli = tls_conn_new(p->fds[0], &co, TLS_ROLE_CLIENT, name, "client-side");
	p->srv = tls_conn_new(p->fds[1], &so, TLS_ROLE_SERVER, NULL, "server-side");
	return p->cli && p->srv ? 0 : -1;
}

/* A check_peer for the engine's identity hook: counts its calls, keeps
 * the leaf's CN, answers *arg. */
static int check_calls;
static char check_cn[64];
static bool check_peer_stub(const void *arg, X509 *leaf, char *why, size_t whylen)
{
	check_calls++;
	X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, check_cn, sizeof check_cn);
	snprintf(why, whylen, "stub says no to %s", check_cn);
	return *(const bool *)arg;
}

static int ctx_cb_calls;
static int ctx_verify_cb(int ok, X509_STORE_CTX *xs)
{
	(void)xs;
	ctx_cb_calls++;
	return ok;
}

static int make_pair_checked(struct pair *p, struct policy_rule *cr, struct policy_rule *sr,
			     const char *name, const bool *allow)
{
	struct tls_opts co = opts_of(cr), so = opts_of(sr);

	co.check_peer = check_peer_stub;
	co.check_arg = allow;
	check_calls = 0;
	check_cn[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds) < 0)
		return -1;
	p->cli = tls_conn_new(p->fds[0], &co, TLS_ROLE_CLIENT, name, "client-side");
	p->srv = tls_conn_new(p->fds[1], &so, TLS_ROLE_SERVER, NULL, "server-side");
	return p->cli && p->srv ? 0 : -1;
}

static void free_pair(struct pair *p)
{
	tls_conn_unref(p->cli);
	tls_conn_unref(p->srv);
	close(p->fds[0]);
	close(p->fds[1]);
}

/* Drive both handshakes from one thread; the engine never blocks. */
static int handshake_both(struct pair *p, int *cr, int *sr)
{
	for (int i = 0; i < 1000; i++) {
		*cr = tls_conn_handshake(p->cli);
		*sr = tls_conn_handshake(p->srv);
		if ((*cr == 0 || *cr == TLS_ERR) && (*sr == 0 || *sr == TLS_ERR))
			return (*cr == 0 && *sr == 0) ? 0 : -1;
	}
	return -1;
}

ssize_t read_until_done(struct tls_conn *c, void *buf, size_t len)
{
	for (int i = 0; i < 10000; i++) {
		ssize_t r = tls_conn_read(c, buf, len, false);
		if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT)
			return r;
		usleep(100);
	}
	return -100;
}

/* A connection that has carried data (the engine has been called on it
 * from this thread). */
static void pair_in_use(struct pair *p, struct policy_rule *cr, struct policy_rule *sr)
{
	unsigned char buf[3];
	int a, b;

	EXPECT(make_pair(p, cr, sr, "localhost") == 0);
	EXPECT(handshake_both(p, &a, &b) == 0);
	EXPECT(transfer(p->cli, p->srv, (const unsigned char *)"one", buf, 3, SPINS) == 0);
}

/* The client sends a record; an attacker flips one bit of it on the way:
 * the server's read fails ("bad record mac"), no data. */
static void tamper_one_record(struct pair *p)
{
	unsigned char rec[64], buf[64];
	ssize_t n;

	EXPECT(tls_conn_write(p->cli, "attack at dawn", 14) == 14);
	n = read(p->fds[1], rec, sizeof rec);      /* steal the record */
	EXPECT(n > 20);
	if (n > 20) {
		rec[n - 3] ^= 0x01;                /* flip one bit */
		EXPECT(write(p->fds[0], rec, (size_t)n) == n);
	}
	EXPECT(read_until_done(p->srv, buf, sizeof buf) == TLS_ERR);
	EXPECT(tls_conn_failure(p->srv) == TLS_FAIL_PROTOCOL);
	EXPECT_CONTAINS(tls_conn_error(p->srv), "bad record mac");
}

int main(void)
{
	const char *d = getenv("TLSSHIM_TEST_CERTS");
	struct policy_rule sr, cr;

	if (!d) {
		printf("FAIL setup: TLSSHIM_TEST_CERTS is not set (run through tests/run.sh)\n");
		return 1;
	}
	snprintf(certs, sizeof certs, "%s", d);
	core_sys_default();
	log_init(NULL);
	libctx = OSSL_LIB_CTX_new();
	sr = server_rule();
	cr = client_rule();

	UNIT_CASE("engine: contexts build with secure defaults") {
		EXPECT(build(&sr) != NULL);
		EXPECT(build(&cr) != NULL);
		EXPECT(SSL_CTX_get_min_proto_version(sr.ctx) == TLS1_2_VERSION);
		EXPECT(SSL_CTX_get_options(sr.ctx) & SSL_OP_NO_RENEGOTIATION);
		EXPECT(SSL_CTX_get_verify_mode(cr.ctx) & SSL_VERIFY_PEER);
	}
	if (!sr.ctx || !cr.ctx)
		return UNIT_RESULT();

	UNIT_CASE("engine: handshake and echo over a socketpair") {
		struct pair p;
		int a, b;
		unsigned char out[64];
		EXPECT(make_pair(&p, &cr, &sr, "localhost") == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		EXPECT(tls_conn_handshake_done(p.cli) && tls_conn_handshake_done(p.srv));
		EXPECT(transfer(p.cli, p.srv, (const unsigned char *)"hello, server", out, 13, SPINS) == 0);
		EXPECT(memcmp(out, "hello, server", 13) == 0);
		EXPECT(transfer(p.srv, p.cli, (const unsigned char *)"hello, client", out, 13, SPINS) == 0);
		EXPECT(memcmp(out, "hello, client", 13) == 0);
		free_pair(&p);
	}

	UNIT_CASE("engine: 4 MiB through a small socket buffer arrives intact") {
		struct pair p;
		int a, b, small = 4096;
		size_t n = 4u << 20;
		unsigned char *src = malloc(n), *dst = calloc(1, n);
		for (size_t i = 0; i < n; i++)
			src[i] = (unsigned char)(i * 2654435761u >> 13);
		EXPECT(make_pair(&p, &cr, &sr, "localhost") == 0);
		setsockopt(p.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		setsockopt(p.fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		EXPECT(transfer(p.cli, p.srv, src, dst, n, SPINS) == 0);
		EXPECT(memcmp(src, dst, n) == 0);
		free(src);
		free(dst);
		free_pair(&p);
	}

	UNIT_CASE("engine: write returns a prefix when the socket is full, never loses it") {
		struct pair p;
		int a, b, small = 4096;
		size_t n = 1u << 20, taken = 0;
		unsigned char *src = malloc(n), *dst = calloc(1, n);
		memset(src, 'x', n);
		EXPECT(make_pair(&p, &cr, &sr, "localhost") == 0);
		setsockopt(p.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		ssize_t w = tls_conn_write(p.cli, src, n);
		EXPECT(w > 0 && (size_t)w < n);        /* a prefix, not all */
		EXPECT(tls_conn_has_output(p.cli));     /* one record kept back */
		EXPECT(tls_conn_write(p.cli, src, n) == TLS_WANT_POLLOUT);
		taken = (size_t)(w > 0 ? w : 0);
		/* Everything taken reaches the peer once it reads. */
		size_t got = 0;
		for (long i = 0; i < 1000000 && got < taken; i++) {
			EXPECT(tls_conn_flush(p.cli) != TLS_ERR);
			ssize_t r = tls_conn_read(p.srv, dst + got, n - got, false);
			if (r > 0)
				got += (size_t)r;
			else if (r != TLS_WANT_POLLIN)
				break;
		}
		EXPECT(got == taken);
		EXPECT(memcmp(src, dst, taken) == 0);
		EXPECT(!tls_conn_has_output(p.cli));
		free(src);
		free(dst);
		free_pair(&p);
	}

	UNIT_CASE("engine: close_notify reads as end of file") {
		struct pair p;
		int a, b;
		char buf[16];
		EXPECT(make_pair(&p, &cr, &sr, "localhost") == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		EXPECT(tls_conn_close_notify(p.cli) == 0);
		EXPECT(read_until_done(p.srv, buf, sizeof buf) == 0);
		EXPECT(tls_conn_failure(p.srv) == TLS_FAIL_NONE);
		EXPECT(tls_conn_write(p.cli, "x", 1) == TLS_ERR);
		EXPECT(tls_conn_failure(p.cli) == TLS_FAIL_CLOSED);
		free_pair(&p);
	}

	UNIT_CASE("engine: FIN without close_notify is a truncation error") {
		struct pair p;
		int a, b;
		char buf[16];
		EXPECT(make_pair(&p, &cr, &sr, "localhost") == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		shutdown(p.fds[0], SHUT_WR);
		EXPECT(read_until_done(p.srv, buf, sizeof buf) == TLS_ERR);
		EXPECT(tls_conn_failure(p.srv) == TLS_FAIL_TRUNCATED);
		EXPECT_CONTAINS(tls_conn_error(p.srv), "truncated");
		free_pair(&p);
	}

	UNIT_CASE("engine: with allow_truncation a bare FIN is end of file") {
		struct policy_rule sr2 = sr;
		struct pair p;
		int a, b;
		char buf[16];
		sr2.allow_truncation = true;
		EXPECT(make_pair(&p, &cr, &sr2, "localhost") == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		shutdown(p.fds[0], SHUT_WR);
		EXPECT(read_until_done(p.srv, buf, sizeof buf) == 0);
		free_pair(&p);
	}

	/* Found by tests/fuzz/fuzz_engine (corpus: fin_reply): OpenSSL had
	 * taken the bare FIN as a fatal error, so the reply failed. */
	UNIT_CASE("engine: with allow_truncation, the side that got a bare FIN can still reply") {
		struct policy_rule sr2 = sr;
		struct pair p;
		int a, b;
		char buf[16];
		unsigned char out[8];
		sr2.allow_truncation = true;
		EXPECT(make_pair(&p, &cr, &sr2, "localhost") == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		(void)tls_conn_read(p.cli, buf, sizeof buf, false);     /* the tickets */
		shutdown(p.fds[0], SHUT_WR);
		EXPECT(read_until_done(p.srv, buf, sizeof buf) == 0);
		EXPECT(tls_conn_failure(p.srv) == TLS_FAIL_NONE);
		EXPECT(transfer(p.srv, p.cli, (const unsigned char *)"reply", out, 5, SPINS) == 0);
		EXPECT(memcmp(out, "reply", 5) == 0);
		EXPECT(tls_conn_close_notify(p.srv) == 0);
		EXPECT(read_until_done(p.cli, buf, sizeof buf) == 0);
		free_pair(&p);
	}

	UNIT_CASE("engine: an altered record is an error, not data") {
		struct pair p;
		int a, b;
		unsigned char buf[64];
		EXPECT(make_pair(&p, &cr, &sr, "localhost") == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		/* Let the server's tickets reach the client first. */
		(void)tls_conn_read(p.cli, buf, sizeof buf, false);
		tamper_one_record(&p);
		free_pair(&p);
	}

	UNIT_CASE("engine: wrong name is refused with a precise reason") {
		struct pair p;
		int a, b;
		EXPECT(make_pair(&p, &cr, &sr, "wrong.example") == 0);
		EXPECT(handshake_both(&p, &a, &b) == -1);
		EXPECT(a == TLS_ERR);
		EXPECT(tls_conn_failure(p.cli) == TLS_FAIL_HANDSHAKE);
		EXPECT_CONTAINS(tls_conn_error(p.cli), "hostname mismatch");
		free_pair(&p);
	}

	UNIT_CASE("engine: check_peer allows: asked once, about the leaf, after the chain verified") {
		static const bool yes = true;
		struct pair p;
		int a, b;
		EXPECT(make_pair_checked(&p, &cr, &sr, "localhost", &yes) == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		EXPECT(check_calls == 1);
		EXPECT_STR(check_cn, "localhost");
		free_pair(&p);
	}

	UNIT_CASE("engine: check_peer refuses: the handshake fails with its reason, no data") {
		static const bool no = false;
		struct pair p;
		int a, b;
		EXPECT(make_pair_checked(&p, &cr, &sr, "localhost", &no) == 0);
		EXPECT(handshake_both(&p, &a, &b) == -1);
		EXPECT(a == TLS_ERR && b == TLS_ERR);
		EXPECT(tls_conn_failure(p.cli) == TLS_FAIL_HANDSHAKE);
		EXPECT_STR(tls_conn_error(p.cli), "certificate verification failed: stub says no to localhost");
		EXPECT(tls_conn_failure(p.srv) == TLS_FAIL_HANDSHAKE);
		EXPECT(tls_conn_write(p.cli, "x", 1) == TLS_ERR);
		free_pair(&p);
	}

	UNIT_CASE("engine: check_peer is not asked when the chain or the name fails") {
		static const bool yes = true;
		struct pair p;
		int a, b;
		EXPECT(make_pair_checked(&p, &cr, &sr, "wrong.example", &yes) == 0);
		EXPECT(handshake_both(&p, &a, &b) == -1);
		EXPECT(check_calls == 0);
		EXPECT_CONTAINS(tls_conn_error(p.cli), "hostname mismatch");
		free_pair(&p);
	}

	UNIT_CASE("engine: an SSL_CTX verify callback still runs before check_peer") {
		static const bool no = false;
		struct pair p;
		int a, b;
		SSL_CTX_set_verify(cr.ctx, SSL_CTX_get_verify_mode(cr.ctx), ctx_verify_cb);
		ctx_cb_calls = 0;
		EXPECT(make_pair_checked(&p, &cr, &sr, "localhost", &no) == 0);
		EXPECT(handshake_both(&p, &a, &b) == -1);
		EXPECT(ctx_cb_calls >= 2 && check_calls == 1);
		free_pair(&p);
		SSL_CTX_set_verify(cr.ctx, SSL_CTX_get_verify_mode(cr.ctx), NULL);
	}

	UNIT_CASE("engine: IP literal name is checked against IP SANs") {
		struct pair p;
		int a, b;
		EXPECT(make_pair(&p, &cr, &sr, "127.0.0.1") == 0);
		EXPECT(handshake_both(&p, &a, &b) == 0);
		free_pair(&p);
		EXPECT(make_pair(&p, &cr, &sr, "127.0.0.2") == 0);
		EXPECT(handshake_both(&p, &a, &b) == -1);
		EXPECT_CONTAINS(tls_conn_error(p.cli), "IP address mismatch");
		free_pair(&p);
	}

	/* The alert of a handshake step that fails reaches the peer. */
	UNIT_CASE("engine: a failed handshake step still sends its alert") {
		struct pair p;
		int a, b;
		EXPECT(make_pair(&p, &cr, &sr, "wrong.example") == 0);
		EXPECT(handshake_both(&p, &a, &b) == -1);
		EXPECT(a == TLS_ERR && b == TLS_ERR);
		/* The client's alert (bad certificate), received by the server. */
		EXPECT_CONTAINS(tls_conn_error(p.srv), "alert");
		printf("# server: %s\n", tls_conn_error(p.srv));
		free_pair(&p);
	}

	UNIT_CASE("errq: pushes from libssl and from inside libcrypto reach our ERR_new") {
		/* Debian 12's OpenSSL 3.0: counting must be on, or the
		 * round trip asks OpenSSL four times (core/errq.c). */
		EXPECT(OpenSSL_version_num() < 0x30200000UL);
		EXPECT(errq_init());
		unsigned before = errq_pushes_;
		ERR_set_mark();
		ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);    /* the program's own */
		EXPECT(errq_pushes_ == before + 1);
		EXPECT(EVP_get_digestbyname("tlsshim-no-such-digest") == NULL);
		EXPECT(d2i_X509(NULL, &(const unsigned char *){ (const unsigned char *)"x" }, 1) == NULL);
		EXPECT(errq_pushes_ > before + 1);             /* the decoder's own raise */
		ERR_pop_to_mark();
	}

	/* The cases on the program's queue, with the pushes counted (the
	 * engine often does not look) and without (it always looks). */
	for (int counted = 1; counted >= 0; counted--) {
		errq_counting_ = counted;
		printf("# pushes %s\n", counted ? "counted" : "not counted");
		UNIT_CASE("engine: the program's OpenSSL error queue is left as found") {
			struct pair p;
			int a, b;
			char buf[32];
			ERR_clear_error();
			ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);    /* the program's own */
			unsigned long mine = ERR_peek_error();
			EXPECT(make_pair(&p, &cr, &sr, "localhost") == 0);
			EXPECT(handshake_both(&p, &a, &b) == 0);   /* not misread as failure */
			EXPECT(transfer(p.cli, p.srv, (const unsigned char *)"ok", (unsigned char *)buf, 2, SPINS) == 0);
			free_pair(&p);
			EXPECT(make_pair(&p, &cr, &sr, "wrong.example") == 0);
			EXPECT(handshake_both(&p, &a, &b) == -1);
			free_pair(&p);
			EXPECT(ERR_peek_error() == mine);
			EXPECT(ERR_peek_last_error() == mine);
			ERR_clear_error();
		}

		UNIT_CASE("engine: an error the program queues between two reads is kept, and not read as ours") {
			struct pair p;
			unsigned char buf[32];
			ERR_clear_error();
			/* The engine has seen this thread's queue empty ... */
			pair_in_use(&p, &cr, &sr);
			EXPECT(ERR_peek_error() == 0);
			/* ... then the program queues an error of its own. */
			ERR_raise(ERR_LIB_SSL, SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
			unsigned long mine = ERR_peek_error();
			/* A read with nothing there: "would block", not a failure. */
			EXPECT(tls_conn_read(p.srv, buf, sizeof buf, false) == TLS_WANT_POLLIN);
			EXPECT(ERR_peek_error() == mine);
			EXPECT(transfer(p.cli, p.srv, (const unsigned char *)"two", buf, 3, SPINS) == 0);
			EXPECT(memcmp(buf, "two", 3) == 0);
			EXPECT(ERR_peek_error() == mine && ERR_peek_last_error() == mine);
			/* And a real failure after it is still the engine's own. */
			ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
			unsigned long mine2 = ERR_peek_last_error();
			tamper_one_record(&p);
			EXPECT(ERR_peek_error() == mine && ERR_peek_last_error() == mine2);
			free_pair(&p);
			ERR_clear_error();
		}

		UNIT_CASE("engine: a call between a push's ERR_new and its ERR_set_error (a signal handler's) keeps the entry") {
			struct pair p, q;
			int a, b;
			unsigned char buf[32];
			ERR_clear_error();
			pair_in_use(&p, &cr, &sr);
			/* The program's ERR_raise, interrupted after its ERR_new
			 * (the entry's code still 0) by a handler that reads an
			 * idle connection ... */
			ERR_new();
			EXPECT(tls_conn_read(p.srv, buf, sizeof buf, false) == TLS_WANT_POLLIN);
			/* ... then completed. */
			ERR_set_debug("prog.c", 1, "main");
			ERR_set_error(ERR_LIB_EVP, EVP_R_BAD_DECRYPT, NULL);
			unsigned long mine = ERR_peek_error();
			EXPECT(mine != 0);
			/* The next connection's handshake neither fails on it nor
			 * loses it. */
			EXPECT(make_pair(&q, &cr, &sr, "localhost") == 0);
			EXPECT(handshake_both(&q, &a, &b) == 0);
			EXPECT(transfer(q.cli, q.srv, (const unsigned char *)"two", buf, 3, SPINS) == 0);
			EXPECT(ERR_peek_error() == mine && ERR_peek_last_error() == mine);
			free_pair(&q);
			free_pair(&p);
			ERR_clear_error();
		}
	}
	errq_counting_ = true;

	SSL_CTX_free(sr.ctx);
	SSL_CTX_free(cr.ctx);
	OSSL_LIB_CTX_free(libctx);
	return UNIT_RESULT();
}
