/* core/errq.c — counting the pushes onto OpenSSL's error queues.
 *
 * Every engine call leaves the program's OpenSSL error queue as found
 * (core/tls.c, "the program's error queue"): it looks whether the
 * program has errors queued when it starts, and whether its own calls
 * queued any when it ends.  Each look is a call into OpenSSL that
 * fetches the thread's error state, about 200 instructions; four per
 * round trip of a kept-open connection, a twentieth of the shim's
 * whole cost per round trip.
 *
 * In OpenSSL 3.0 and 3.1 only ERR_new() adds an entry to a queue
 * (ERR_raise and ERR_put_error call it; ERR_set_error, ERR_add_error_*
 * fill the entry ERR_new made; everything else only removes).  libssl,
 * libcrypto and its providers call it through the dynamic linker, and
 * this library, preloaded, is found first: so our ERR_new sees every
 * push and counts it per thread.  The engine notes the count when it
 * sees the queue empty; while the count has not moved, the queue is
 * still empty and there is nothing to look at.
 *
 * errq_init() checks that at run time (a push from libssl and one from
 * inside libcrypto must both be counted), and for an OpenSSL whose push
 * paths we know: otherwise counting stays off and the engine asks
 * OpenSSL as before.  The limit: a push that does not go through the
 * dynamic linker's global lookup (code in a dlmopen namespace; code
 * loaded with RTLD_DEEPBIND is bound to ours after the load, by
 * shim/dlsym.c) is not counted; see docs/design.md.  A function pointer taken with dlsym() on
 * libcrypto's own handle is this ERR_new (shim/dlsym.c).
 *
 * The count is 64 bits: it never comes round to the value noted.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/errq.h"
#include "core/log.h"

__thread unsigned long errq_pushes_ ERRQ_TLS;
__thread unsigned long errq_empty_at_ ERRQ_TLS;
bool errq_counting_;

typedef void (*err_new_fn)(void);
static err_new_fn real_err_new;

static err_new_fn find_real(void)
{
	err_new_fn f = __atomic_load_n(&real_err_new, __ATOMIC_ACQUIRE);

	if (f)
		return f;
	f = (err_new_fn)dlsym(RTLD_NEXT, "ERR_new");
	if (!f || f == ERR_new) {
		static const char m[] = "tlsshim: cannot find OpenSSL's ERR_new\n";
		/* Never straight to fd 2: it may be a TLS connection. */
		log_stderr_fatal(m, sizeof m - 1);
	}
	__atomic_store_n(&real_err_new, f, __ATOMIC_RELEASE);
	return f;
}

__attribute__((visibility("default")))
void ERR_new(void)
{
	/* Counted after the push.  An engine call that a signal handler
	 * runs between the two reads the count first, then finds the entry
	 * (structurally: its code is still 0 until ERR_set_error, so
	 * ERR_peek_error says "empty"; core/tls.c asks ERR_set_mark) and
	 * does not note the queue empty; one that runs before the push has
	 * read the old count, which the increment makes stale. */
	find_real()();
	errq_pushes_++;
}

void errq_resolve(void)
{
	(void)find_real();
}

bool errq_init(void)
{
	unsigned long v = OpenSSL_version_num(), before;
	bool ssl_counted, crypto_counted;
	SSL_CTX *ctx;
	BIO *bio;

	(void)find_real();
	if (v < 0x30000000UL || v >= 0x30200000UL)
		return false;   /* 3.2 added OSSL_ERR_STATE_restore, another push */
	/* Two pushes on this thread: never where they could push the
	 * program's own entries out of the 16-entry ring (at start-up the
	 * queue is empty; if it is not, counting stays off). */
	if (ERR_peek_error() || ERR_peek_last_error())
		return false;
	ERR_set_mark();
	before = errq_pushes_;
	ctx = SSL_CTX_new(NULL);        /* libssl raises "null method" */
	ssl_counted = !ctx && errq_pushes_ != before;
	before = errq_pushes_;
	bio = BIO_new_mem_buf(NULL, 0); /* libcrypto raises "null parameter" */
	crypto_counted = !bio && errq_pushes_ != before;
	SSL_CTX_free(ctx);
	BIO_free(bio);
	ERR_pop_to_mark();
	if (!ssl_counted || !crypto_counted)
		return false;
	__atomic_store_n(&errq_counting_, true, __ATOMIC_RELAXED);
	return true;
}
