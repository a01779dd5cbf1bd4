/* startprobe — what a shimmed process's start did to its OpenSSL, as seen
 * from the program (tests/preload/startup.sh).
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
 *     OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS).
 */
#include <stdio.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

int main(void)
{
	unsigned long code = ERR_PACK(ERR_LIB_BIO, 0, BIO_R_UNSUPPORTED_METHOD);
	unsigned long e;

	printf("strings %s\n", ERR_reason_error_string(code) ? "loaded" : "not loaded");
	e = ERR_peek_error();
	if (e)
		printf("queue %08lx\n", e);
	else
		printf("queue empty\n");
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
	printf("own strings %s\n", ERR_reason_error_string(code) ? "loaded" : "missing");
	fflush(stdout);
	return 0;
}
