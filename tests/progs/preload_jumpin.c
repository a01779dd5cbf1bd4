/* preload_jumpin.so — a test-only fault injector: a signal at a chosen
 * place inside a TLS call.  Loaded after libtlsshim.so, it is what the
 * library finds as the C library's ppoll(), send() and recv() (the real
 * functions it resolves with RTLD_NEXT), so the signal lands exactly
 * where a timer's could: in a blocking call's wait (ppoll), or inside the
 * TLS engine with the connection's lock held (send, recv: OpenSSL's
 * record I/O).
 *
 * The program arms it with jumpin_arm(which, nth) (looked up with dlsym):
 * the nth call of that function by the arming thread raises SIGUSR1 in
 * that thread first, once.  which: 1 ppoll, 2 send, 3 recv, 4 a send
 * right after one that failed with EAGAIN (the library's flush of what
 * the socket could not take, under the connection's lock).
 */
#include <errno.h>
#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_recv)(int, void *, size_t, int);

static _Atomic int armed;
static _Atomic int left;
static pthread_t armer;
static __thread int last_eagain;

__attribute__((constructor)) static void init(void)
{
	real_ppoll = (int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))
		dlsym(RTLD_NEXT, "ppoll");
	real_send = (ssize_t (*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
	real_recv = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
}

__attribute__((visibility("default"))) void jumpin_arm(int which, int nth)
{
	armer = pthread_self();
	atomic_store(&left, nth);
	atomic_store(&armed, which);
}

static void fire(int which)
{
	if (atomic_load(&armed) == which && pthread_equal(armer, pthread_self()) &&
	    atomic_fetch_sub(&left, 1) == 1) {
		atomic_store(&armed, 0);
		raise(SIGUSR1);
	}
}

int ppoll(struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *m)
{
	fire(1);
	return real_ppoll(p, n, t, m);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	ssize_t r;

	fire(2);
	if (last_eagain)
		fire(4);
	r = real_send(fd, buf, len, flags);
	last_eagain = r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	return r;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	fire(3);
	return real_recv(fd, buf, len, flags);
}
