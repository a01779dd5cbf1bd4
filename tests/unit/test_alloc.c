/* tests/unit/test_alloc.c — OpenSSL's allocator at _exit (core/alloc.c):
 * between alloc_exit_begin and alloc_exit_end, OpenSSL's allocations on
 * the thread come from the exit heap (no lock) and its frees of malloc's
 * blocks do nothing; a block of the exit heap that a thread later resizes
 * or frees is copied to malloc's or given back to the exit heap, never
 * handed to realloc or free (the C library aborts on that,
 * AddressSanitizer reports it); a block freed is taken again only when it
 * was the last one taken, so a close's buffers, taken and released at
 * every session, do not use the heap up (before h189 nothing was given
 * back: 20,000 sessions' 17 KB outgrew its 256 MiB, and a 4 MiB heap,
 * what strict overcommit leaves, about 250); two threads at _exit at
 * once get blocks of their own. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "core/alloc.h"
#include "tests/unit/unit.h"

static int filled(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

#define PER_THREAD 2000

struct many {
	unsigned char *p[PER_THREAD];
	unsigned char mark;
	int ok;
};

/* At _exit in a thread of its own: blocks of many sizes, each filled
 * with the thread's mark, then all checked (another thread's block over
 * one of ours would have changed it). */
static void *at_exit_thread(void *arg)
{
	struct many *m = arg;
	bool was = alloc_exit_begin();

	m->ok = 1;
	for (int i = 0; i < PER_THREAD; i++) {
		size_t n = 1 + (size_t)(i * 37 % 3000);

		if (!(m->p[i] = CRYPTO_malloc((int)n, __FILE__, __LINE__))) {
			m->ok = 0;
			break;
		}
		memset(m->p[i], m->mark, n);
	}
	for (int i = 0; m->ok && i < PER_THREAD; i++)
		if (!filled(m->p[i], 1 + (size_t)(i * 37 % 3000), m->mark))
			m->ok = 0;
	alloc_exit_end(was);
	return NULL;
}

int main(void)
{
	/* before OpenSSL allocates anything */
	int installed = alloc_install();

	UNIT_CASE("alloc_install: OpenSSL takes the library's functions") {
		EXPECT(installed);
	}

	UNIT_CASE("exit heap: a block taken at _exit, resized by another thread, goes to malloc's") {
		bool was = alloc_exit_begin();
		unsigned char *p = CRYPTO_malloc(100, __FILE__, __LINE__), *q;
		unsigned char *keep = CRYPTO_malloc(16, __FILE__, __LINE__);

		EXPECT(alloc_exiting());
		EXPECT(p != NULL && keep != NULL);
		if (p)
			memset(p, 0xab, 100);
		alloc_exit_end(was);
		EXPECT(!alloc_exiting());
		/* after _exit's wrapper (another thread, in a real program):
		 * malloc's realloc would abort on this block */
		q = CRYPTO_realloc(p, 5000, __FILE__, __LINE__);
		EXPECT(q != NULL && q != p);
		EXPECT(q && filled(q, 100, 0xab));
		CRYPTO_free(q, __FILE__, __LINE__);     /* malloc's now: freed */
		CRYPTO_free(p, __FILE__, __LINE__);     /* the exit heap's: not the last, kept */
		EXPECT(filled(p, 100, 0xab));
		CRYPTO_free(keep, __FILE__, __LINE__);  /* the last: given back */
	}

	UNIT_CASE("exit heap: a block freed when it is the last one is taken again: 20,000 closes fit") {
		bool was = alloc_exit_begin();
		unsigned char *a = CRYPTO_malloc(17000, __FILE__, __LINE__), *b, *c;
		int got = 0;

		EXPECT(a != NULL);
		CRYPTO_free(a, __FILE__, __LINE__);
		b = CRYPTO_malloc(17000, __FILE__, __LINE__);
		EXPECT(b == a);                         /* the last one: taken back */
		c = CRYPTO_malloc(32, __FILE__, __LINE__);
		CRYPTO_free(b, __FILE__, __LINE__);     /* not the last: stays taken */
		EXPECT(c != NULL && CRYPTO_malloc(17000, __FILE__, __LINE__) != b);
		/* a session's close at _exit: the read buffer for the ticket's
		 * peek, the write buffer for the alert, each freed after use */
		for (int i = 0; i < 20000; i++) {
			unsigned char *r = CRYPTO_malloc(17000, __FILE__, __LINE__);
			unsigned char *w = r ? CRYPTO_malloc(17000, __FILE__, __LINE__) : NULL;

			if (!w)
				break;
			r[0] = w[16999] = (unsigned char)i;
			CRYPTO_free(w, __FILE__, __LINE__);
			CRYPTO_free(r, __FILE__, __LINE__);
			got++;
		}
		alloc_exit_end(was);
		EXPECT(got == 20000);
	}

	UNIT_CASE("exit heap: realloc at _exit of a malloc block copies it, leaves the old one") {
		unsigned char *p = CRYPTO_malloc(64, __FILE__, __LINE__), *q, *r;
		bool was;

		EXPECT(p != NULL);
		if (p)
			memset(p, 0x5c, 64);
		was = alloc_exit_begin();
		q = CRYPTO_realloc(p, 4096, __FILE__, __LINE__);
		r = q ? CRYPTO_realloc(q, 16, __FILE__, __LINE__) : NULL;   /* smaller: in place */
		alloc_exit_end(was);
		EXPECT(q != NULL && q != p);
		EXPECT(q && filled(q, 64, 0x5c));
		EXPECT(r == q);
		EXPECT(p && filled(p, 64, 0x5c));       /* not freed at _exit */
		CRYPTO_free(p, __FILE__, __LINE__);
	}

	UNIT_CASE("exit heap: two threads at _exit at once get blocks of their own") {
		static struct many a = { .mark = 0x11 }, b = { .mark = 0x22 };
		pthread_t ta, tb;

		pthread_create(&ta, NULL, at_exit_thread, &a);
		pthread_create(&tb, NULL, at_exit_thread, &b);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		EXPECT(a.ok && b.ok);
		EXPECT(!alloc_exiting());
	}
	return UNIT_RESULT();
}
