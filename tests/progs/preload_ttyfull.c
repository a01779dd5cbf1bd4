/* preload_ttyfull.so — a test-only fault injector: poll() says a terminal
 * takes more (POLLOUT) whatever the kernel said.  Loaded after
 * libtlsshim.so, it is the library's "real" poll: it stands for another
 * writer that fills the terminal between the library's poll() and its
 * write() (tests/preload/failclosed_log.sh), which before made the log's
 * blocking write to standard error wait for ever.
 */
#include <dlfcn.h>
#include <poll.h>
#include <unistd.h>

int poll(struct pollfd *p, nfds_t n, int timeout)
{
	static int (*real)(struct pollfd *, nfds_t, int);
	int r;

	if (!real)
		real = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
	if (!real)
		return -1;
	r = real(p, n, timeout);
	if (r >= 0 && n == 1 && (p[0].events & POLLOUT) && isatty(p[0].fd)) {
		p[0].revents = POLLOUT;
		r = 1;
	}
	return r;
}
