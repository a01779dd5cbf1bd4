/* tests/unit/engine_pair.h — what the TLS engine's tests (test_engine.c,
 * test_engine_alloc.c) share: the suite's certificate files by name, and
 * a bounded transfer between two engines.  Included once, by a test's
 * own file, after core/tls.h. */
#ifndef TLSSHIM_TESTS_ENGINE_PAIR_H
#define TLSSHIM_TESTS_ENGINE_PAIR_H

#include <stdio.h>

/* $TLSSHIM_TEST_CERTS, set by the test's main. */
static char certs[512];

/* certs/NAME (the last 8 answers stay valid). */
static char *cert_path(const char *name)
{
	static char bufs[8][600];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, 600, "%s/%s", certs, name);
	return b;
}

/* Move len bytes of src from a to b's dst, alternating so neither side
 * stalls, in at most spins rounds; 0 done, -1 an engine error, -2 stuck. */
static int transfer(struct tls_conn *a, struct tls_conn *b, const unsigned char *src,
		    unsigned char *dst, size_t len, long spins)
{
	size_t sent = 0, got = 0;

	for (long n = 0; got < len && n < spins; n++) {
		if (sent < len) {
			ssize_t w = tls_conn_write(a, src + sent, len - sent);
			if (w == TLS_ERR)
				return -1;
			if (w > 0)
				sent += (size_t)w;
		} else if (tls_conn_flush(a) == TLS_ERR) {
			return -1;
		}
		ssize_t r = tls_conn_read(b, dst + got, len - got, false);
		if (r == TLS_ERR || r == 0)
			return -1;
		if (r > 0)
			got += (size_t)r;
	}
	return got == len ? 0 : -2;
}

#endif
