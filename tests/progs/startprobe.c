/* startprobe — what a shimmed process's start did to its OpenSSL and to
 * the dynamic linker, as seen from the program (tests/preload/startup.sh).
 *
 *   startprobe
 *
 * Prints, in this order:
 *   "strings loaded" / "strings not loaded": whether OpenSSL's error
 *     strings were loaded before main (asked without loading them:
 *     ERR_reason_error_string sets up no error state);
 *   "queue empty" / "queue N": the thread's error queue (this call sets
 *     up the error state, as any program's first ERR call does);
 *   "own strings loaded" / "own strings missing": after the program's own
 *     OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS);
 *   "dladdr N": the calls preload_dladdr.so counted before main;
 *     "dladdr -" without the counter.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

static unsigned long counted(void)
{
	unsigned long (*f)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "dladdr_calls");

	return f ? f() : (unsigned long)-1;
}

int main(void)
{
	unsigned long code = ERR_PACK(ERR_LIB_BIO, 0, BIO_R_UNSUPPORTED_METHOD);
	unsigned long start = counted(), e;

	printf("strings %s\n", ERR_reason_error_string(code) ? "loaded" : "not loaded");
	e = ERR_peek_error();
	if (e)
		printf("queue %08lx\n", e);
	else
		printf("queue empty\n");
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	printf("own strings %s\n", ERR_reason_error_string(code) ? "loaded" : "missing");
	if (start == (unsigned long)-1)
		printf("dladdr -\n");
	else
		printf("dladdr %lu\n", start);
	fflush(stdout);
	return 0;
}
