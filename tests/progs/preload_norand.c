/* preload_norand.so — a test-only fault injector: RAND_bytes() fails (0)
 * for a request of 32 bytes, as an OpenSSL whose random generator cannot
 * be seeded answers, so that the library's pending channel
 * (shim/pump.c, pending_channel: its ends signed with a random 32-byte
 * TCP-MD5 key) cannot be made and a client session handed over
 * mid-handshake gets the ordinary channel, connected at once, with a
 * warning.  Loaded AFTER the library: the library's RAND_bytes() calls
 * find this one first (OpenSSL's own use RAND_bytes_ex, untouched).
 * Other requests are OpenSSL's. */
#include <dlfcn.h>
#include <stddef.h>

int RAND_bytes(unsigned char *buf, int num)
{
	static int (*real)(unsigned char *, int);

	if (num == 32)
		return 0;
	if (!real && !(real = (int (*)(unsigned char *, int))dlsym(RTLD_NEXT, "RAND_bytes")))
		return 0;
	return real(buf, num);
}
