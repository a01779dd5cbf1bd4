/* preload_errpeek.so — a test-only counter: how often the calling thread
 * asked OpenSSL what its error queue holds.
 *
 *   LD_PRELOAD="libtlsshim.so preload_errpeek.so" prog
 *
 * Loaded AFTER the library: the library's calls to ERR_peek_error and
 * ERR_peek_last_error find these wrappers first, which count per thread
 * and call OpenSSL's.  A program reads its thread's count with
 * dlsym(RTLD_DEFAULT, "errpeek_calls").  Knows nothing about TLS; links
 * no OpenSSL (the real functions are found with dlsym(RTLD_NEXT)).
 */
#include <dlfcn.h>

static __thread unsigned long calls;

unsigned long errpeek_calls(void);
unsigned long errpeek_calls(void)
{
	return calls;
}

typedef unsigned long (*peek_fn)(void);

static unsigned long forward(const char *name)
{
	peek_fn f = (peek_fn)dlsym(RTLD_NEXT, name);

	calls++;
	return f ? f() : 0;
}

unsigned long ERR_peek_error(void);
unsigned long ERR_peek_error(void)
{
	return forward("ERR_peek_error");
}

unsigned long ERR_peek_last_error(void);
unsigned long ERR_peek_last_error(void)
{
	return forward("ERR_peek_last_error");
}
