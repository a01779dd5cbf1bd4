/* preload_synrace.so — a test-only fault injector: a connect() in progress
 * completes between the library's questions about it.
 *
 *   LD_PRELOAD="libtlsshim.so preload_synrace.so" SYNRACE_GATE=FILE prog
 *
 * Loaded AFTER the library: the library's getsockopt() calls find this
 * one first.  The first TCP_INFO asked about a socket in SYN_SENT creates
 * FILE (a gated relay then lets the connection through) and waits, at
 * most 10 seconds, until the connection is made; then it answers as the
 * kernel does (ESTABLISHED by then).  So a classification that asked
 * getpeername() first (ENOTCONN: still connecting) sees the connection
 * made by the time it asks TCP_INFO: the window of a peer's SYN-ACK that
 * arrives between the two system calls, held open.  Knows nothing about
 * TLS (tests/preload/escape.sh).  Its own open, close and poll are the C
 * library's (dlsym(RTLD_NEXT)), not the library's wrappers.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*close_fn)(int);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

static int done;

int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	getsockopt_fn real = (getsockopt_fn)dlsym(RTLD_NEXT, "getsockopt");
	const char *gate = getenv("SYNRACE_GATE");

	if (!real)
		return -1;
	if (gate && !__atomic_load_n(&done, __ATOMIC_ACQUIRE) && level == IPPROTO_TCP && opt == TCP_INFO) {
		struct tcp_info ti;
		socklen_t l = sizeof ti;

		if (real(fd, level, opt, &ti, &l) == 0 && ti.tcpi_state == TCP_SYN_SENT &&
		    !__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			open_fn o = (open_fn)dlsym(RTLD_NEXT, "open");
			close_fn c = (close_fn)dlsym(RTLD_NEXT, "close");
			poll_fn w = (poll_fn)dlsym(RTLD_NEXT, "poll");
			int g = o ? o(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) : -1;

			if (g >= 0 && c)
				c(g);
			if (w)
				(void)w(&p, 1, 10000);
		}
	}
	return real(fd, level, opt, val, len);
}
