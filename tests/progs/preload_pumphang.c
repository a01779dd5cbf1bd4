/* preload_pumphang.so — a test-only fault injector: SSL_read_ex never
 * returns in any process but the one it was loaded into.  Loaded before
 * libtlsshim.so, it stands for a lock inside OpenSSL that another thread
 * held when the program forked, as a pump (a fork of the program) would
 * find it: the pump waits there for ever, as on such a lock, until a
 * signal handler ends it.
 *
 * It also shortens the pump's watchdog (shim/pump.c: SIGALRM every 5 s,
 * acting at the third tick of one turn of the pump's loop) to ticks of
 * 1 s, so that a case waits about 3 s for it instead of 15-20: the
 * watchdog's logic is the same, its log line still names the 15 s of
 * the library's constants.
 *
 * With TLSSHIM_TEST_HANG_HANDSHAKE=first (or =reply), SSL_do_handshake
 * waits instead, in such a process, at its first call (the pump's first
 * step of a handshake it took over), or once a call has taken in the
 * server's first reply (the state past the ClientHello), for 40 s at
 * most (then the process ends, status 9, as one killed would);
 * SSL_read_ex does not.
 */
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>


static pid_t loaded_in;
static int hang_step;           /* 1 first, 2 reply; 0: SSL_read_ex hangs instead */
static int (*real_do_handshake)(SSL *);
static int (*real_read_ex)(SSL *, void *, size_t, size_t *);
static int (*real_setitimer)(__itimer_which_t, const struct itimerval *, struct itimerval *);

__attribute__((constructor)) static void init(void)
{
	const char *h = getenv("TLSSHIM_TEST_HANG_HANDSHAKE");

	loaded_in = getpid();
	hang_step = !h ? 0 : !strcmp(h, "first") ? 1 : !strcmp(h, "reply") ? 2 : 0;
	real_do_handshake = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_do_handshake");
	/* Here, not in a fork: dlsym takes the dynamic linker's lock. */
	real_read_ex = (int (*)(SSL *, void *, size_t, size_t *))dlsym(RTLD_NEXT, "SSL_read_ex");
	real_setitimer = (int (*)(__itimer_which_t, const struct itimerval *, struct itimerval *))dlsym(RTLD_NEXT, "setitimer");
}

int setitimer(__itimer_which_t which, const struct itimerval *nv, struct itimerval *ov)
{
	struct itimerval t;

	if (!real_setitimer)
		return -1;
	if (getpid() != loaded_in && which == ITIMER_REAL && nv && nv->it_interval.tv_sec == 5) {
		t = *nv;
		t.it_interval.tv_sec = t.it_value.tv_sec = 1;
		nv = &t;
	}
	return real_setitimer(which, nv, ov);
}

int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
	if (!hang_step && getpid() != loaded_in)
		for (;;)
			pause();
	return real_read_ex ? real_read_ex(s, buf, num, readbytes) : 0;
}

static void hang(void)
{
	struct timespec t0, t;

	/* (sleep returns early for a handler that returns: the watchdog's
	 * first ticks) */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		sleep(1);
	while (clock_gettime(CLOCK_MONOTONIC, &t) == 0 && t.tv_sec - t0.tv_sec < 40);
	_exit(9);
}

int SSL_do_handshake(SSL *s)
{
	OSSL_HANDSHAKE_STATE st;
	int r;

	if (!hang_step || getpid() == loaded_in || !real_do_handshake)
		return real_do_handshake ? real_do_handshake(s) : -1;
	if (hang_step == 1)
		hang();
	r = real_do_handshake(s);
	if ((st = SSL_get_state(s)) != TLS_ST_BEFORE && st != TLS_ST_CW_CLNT_HELLO)
		hang();
	return r;
}
