/* tests/unit/test_engine_alloc.c — allocation failure inside the engine.
 *
 * Two engines over a socketpair (as in test_engine.c) do a whole session:
 * handshake, data both ways, close_notify.  Every allocation made during
 * that session is counted: OpenSSL's through CRYPTO_set_mem_functions, the
 * engine's own (core/: the connection object, its fd list, out-buffer,
 * stage buffer) through the linker's --wrap=malloc/calloc/realloc, which
 * the Makefile gives this test only.  A clean session makes M allocations;
 * then, for N = 1..M, the session runs again with the Nth allocation
 * failing (once) — under ASan only for the first N of each distinct call
 * stack (the return addresses of the allocation, recorded in a clean
 * session: about 1,700 of 3,200; the same stack failing again later in
 * the session fails through the same callers; the 3,200 runs took 12 s of CPU
 * there) — and, for every fourth N (to keep the ASan run short),
 * with every allocation from the Nth on failing (the heap stays
 * exhausted).  Each run must either fail cleanly (a NULL
 * from tls_conn_new or TLS_ERR from a call, with a failure reason) or
 * complete with the data intact — never crash, hang, corrupt data or
 * report success with wrong bytes.  Under the ASan build this also
 * checks that no failure path touches freed or unallocated memory.
 * Certificates: $TLSSHIM_TEST_CERTS (made by certs/mkcerts.sh). */
#include <errno.h>
#include <execinfo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "policy/ctx.h"
#include "policy/policy.h"
#include "core/log.h"
#include "core/sys.h"
#include "core/tls.h"
#include "tests/unit/engine_pair.h"
#include "tests/unit/unit.h"

/* ---- the failing allocator -------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);

static long alloc_count;     /* allocations counted while armed */
static long fail_at;         /* 0: never fail */
static int fail_sticky;      /* fail every allocation from fail_at on */
static int armed;
static long failed_allocs;

/* Under ASan, the Nth-allocation runs fail one N per distinct call stack
 * (the first N at which each stack allocates): record_site() hashes the
 * return addresses of each allocation of a clean session.  The default
 * build fails every N. */
#if defined(__SANITIZE_ADDRESS__)
#define ONE_PER_STACK 1
#else
#define ONE_PER_STACK 0
#endif
static unsigned long *site_of;   /* the clean session's stack of allocation i + 1 */
static long site_cap;
static int recording, in_backtrace;

static void record_site(void)
{
	void *pc[32];
	unsigned long h = 1469598103934665603ul;
	int n;

	if (alloc_count > site_cap)
		return;
	in_backtrace = 1;
	n = backtrace(pc, 32);
	in_backtrace = 0;
	for (int i = 0; i < n; i++)
		h = (h ^ (unsigned long)(uintptr_t)pc[i]) * 1099511628211ul;
	site_of[alloc_count - 1] = h;
}

static int should_fail(void)
{
	if (!armed || in_backtrace)
		return 0;
	alloc_count++;
	if (recording)
		record_site();
	if (fail_at && (alloc_count == fail_at || (fail_sticky && alloc_count > fail_at))) {
		failed_allocs++;
		return 1;
	}
	return 0;
}

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return should_fail() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }

static void *ossl_malloc(size_t n, const char *f, int l)
{
	(void)f; (void)l;
	return should_fail() ? NULL : __real_malloc(n);
}
static void *ossl_realloc(void *p, size_t n, const char *f, int l)
{
	(void)f; (void)l;
	return should_fail() ? NULL : __real_realloc(p, n);
}
static void ossl_free(void *p, const char *f, int l)
{
	(void)f; (void)l;
	free(p);
}

/* ---- one session -------------------------------------------------------- */

static OSSL_LIB_CTX *libctx;
static struct policy_rule srule, crule;

static struct tls_opts opts_of(const struct policy_rule *r)
{
	struct tls_opts o = { .ctx = r->ctx, .label = r->name, .verify_name = true,
			      .handshake_timeout_ms = 10000 };
	return o;
}

enum outcome { OK, FAILED_CLEANLY, BAD };

#define DATA_LEN 40000      /* three records each way */
static unsigned char src[DATA_LEN], dst[DATA_LEN];

/* An engine that failed must say why. */
static bool explained(struct tls_conn *c)
{
	return !tls_conn_failed(c) || (tls_conn_error(c) && tls_conn_error(c)[0]);
}

static enum outcome session(char *why, size_t whylen)
{
	int fds[2];
	struct tls_opts co = opts_of(&crule), so = opts_of(&srule);
	struct tls_conn *cli, *srv;
	enum outcome out = OK;
	int cr = TLS_WANT_POLLIN, sr = TLS_WANT_POLLIN, i;

	why[0] = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return BAD;
	}
	armed = 1;
	cli = tls_conn_new(fds[0], &co, TLS_ROLE_CLIENT, "localhost", "client-side");
	srv = tls_conn_new(fds[1], &so, TLS_ROLE_SERVER, NULL, "server-side");
	if (!cli || !srv) {
		out = FAILED_CLEANLY;
		goto done;
	}
	for (i = 0; i < 2000; i++) {
		if (cr != 0 && cr != TLS_ERR)
			cr = tls_conn_handshake(cli);
		if (sr != 0 && sr != TLS_ERR)
			sr = tls_conn_handshake(srv);
		if ((cr == 0 || cr == TLS_ERR) && (sr == 0 || sr == TLS_ERR))
			break;
		/* One side failed: the other waits for bytes that never come
		 * (its peer's alert, if any, has been read by now). */
		if ((cr == TLS_ERR || sr == TLS_ERR) && i > 50)
			break;
	}
	if (cr != 0 || sr != 0) {
		out = FAILED_CLEANLY;
		if (cr != TLS_ERR && sr != TLS_ERR) {
			snprintf(why, whylen, "handshake stuck without an error (client %d, server %d)", cr, sr);
			out = BAD;
		}
		goto done;
	}
	memset(dst, 0, sizeof dst);
	int t = transfer(cli, srv, src, dst, DATA_LEN, 20000);
	if (t == 0 && memcmp(src, dst, DATA_LEN) != 0) {
		snprintf(why, whylen, "client -> server data corrupted");
		out = BAD;
		goto done;
	}
	if (t == 0) {
		memset(dst, 0, sizeof dst);
		t = transfer(srv, cli, src, dst, DATA_LEN, 20000);
		if (t == 0 && memcmp(src, dst, DATA_LEN) != 0) {
			snprintf(why, whylen, "server -> client data corrupted");
			out = BAD;
			goto done;
		}
	}
	if (t == -1) {
		out = FAILED_CLEANLY;
		goto done;
	}
	if (t == -2) {
		/* A failed side makes the other wait for ever: stuck is only an
		 * error when neither side failed. */
		if (tls_conn_failed(cli) || tls_conn_failed(srv)) {
			out = FAILED_CLEANLY;
		} else {
			snprintf(why, whylen, "transfer stuck without an error");
			out = BAD;
		}
		goto done;
	}
	if (tls_conn_close_notify(cli) == TLS_ERR)
		out = FAILED_CLEANLY;
	(void)tls_conn_close_notify(srv);
done:
	if (out != BAD && ((cli && !explained(cli)) || (srv && !explained(srv)))) {
		snprintf(why, whylen, "a failed engine gives no reason");
		out = BAD;
	}
	armed = 0;
	tls_conn_unref(cli);
	tls_conn_unref(srv);
	close(fds[0]);
	close(fds[1]);
	ERR_clear_error();
	return out;
}

int main(void)
{
	const char *d = getenv("TLSSHIM_TEST_CERTS");
	enum ctx_err_key which;
	char why[256];
	long m;

	/* Before OpenSSL allocates anything: later calls are refused. */
	if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
		printf("FAIL setup: CRYPTO_set_mem_functions refused (OpenSSL allocated already)\n");
		return 1;
	}
	if (!d) {
		printf("FAIL setup: TLSSHIM_TEST_CERTS is not set (run through tests/run.sh)\n");
		return 1;
	}
	snprintf(certs, sizeof certs, "%s", d);
	core_sys_default();
	log_init(NULL);
	libctx = OSSL_LIB_CTX_new();
	srule = (struct policy_rule){ .name = "srv", .direction = POLICY_ACCEPT, .action = POLICY_TLS,
				      .min_version = TLS1_2_VERSION, .handshake_timeout_ms = 10000 };
	srule.cert = cert_path("server.crt");
	srule.key = cert_path("server.key");
	crule = (struct policy_rule){ .name = "cli", .direction = POLICY_CONNECT, .action = POLICY_TLS,
				      .min_version = TLS1_2_VERSION, .handshake_timeout_ms = 10000 };
	crule.ca = cert_path("ca.crt");
	srule.ctx = ctx_build(libctx, &srule, &which, why, sizeof why);
	crule.ctx = ctx_build(libctx, &crule, &which, why, sizeof why);
	if (!srule.ctx || !crule.ctx) {
		printf("FAIL setup: ctx_build: %s\n", why);
		return 1;
	}
	for (size_t i = 0; i < DATA_LEN; i++)
		src[i] = (unsigned char)(i * 2654435761u >> 13);

	UNIT_CASE("alloc: a clean session (no failure injected) works and is counted") {
		/* Twice: the first run warms OpenSSL's lazily built tables. */
		EXPECT(session(why, sizeof why) == OK);
		alloc_count = 0;
		EXPECT(session(why, sizeof why) == OK);
		m = alloc_count;
		EXPECT(m > 50);
		printf("# a session makes %ld allocations\n", m);
	}
	if (unit_failed_cases)
		return UNIT_RESULT();
	if (ONE_PER_STACK) {
		/* A third clean session records each allocation's stack; the
		 * first backtrace() (which loads the unwinder) is made before. */
		void *pc[4];

		backtrace(pc, 4);
		site_of = __real_calloc((size_t)m, sizeof *site_of);
		site_cap = site_of ? m : 0;
		alloc_count = 0;
		recording = 1;
		if (session(why, sizeof why) != OK || alloc_count != m)
			site_cap = 0;          /* not the same session: fail every N */
		recording = 0;
	}

	for (int sticky = 0; sticky <= 1; sticky++) {
		long ok = 0, clean = 0, bad = 0, first_bad = 0, runs = 0;
		char first_why[256] = "";

		fail_sticky = sticky;
		for (long n = 1; n <= m; n += sticky ? 4 : 1) {
			enum outcome o;
			long k = 0;

			if (!sticky && n <= site_cap)
				for (k = 1; k < n && site_of[k - 1] != site_of[n - 1]; k++)
					;
			if (k && k < n)
				continue;     /* this stack failed at k already */
			alloc_count = 0;
			fail_at = n;
			o = session(why, sizeof why);
			runs++;
			if (o == OK)
				ok++;
			else if (o == FAILED_CLEANLY)
				clean++;
			else if (!bad++) {
				first_bad = n;
				snprintf(first_why, sizeof first_why, "%s", why);
			}
		}
		fail_at = 0;
		printf("# %s: %ld runs: %ld failed cleanly, %ld completed intact, %ld bad\n",
		       sticky ? "every allocation from the Nth on fails" : "the Nth allocation fails",
		       runs, clean, ok, bad);
		UNIT_CASE(sticky ? "alloc: every allocation from the Nth on fails, N = 1, 5, 9..M: clean error or intact data, no crash"
			  : ONE_PER_STACK ? "alloc: the Nth allocation fails, N = 1..M, one N per call stack: clean error or intact data, no crash"
				 : "alloc: the Nth allocation fails, N = 1..M: clean error or intact data, no crash") {
			if (bad)
				printf("# first bad run: N = %ld: %s\n", first_bad, first_why);
			EXPECT(bad == 0);
			/* The injection must really have made sessions fail. */
			EXPECT(clean > 0);
		}
	}

	UNIT_CASE("alloc: after all the failures, a clean session still works") {
		EXPECT(session(why, sizeof why) == OK);
	}
	free(site_of);
	SSL_CTX_free(srule.ctx);
	SSL_CTX_free(crule.ctx);
	OSSL_LIB_CTX_free(libctx);
	return UNIT_RESULT();
}
