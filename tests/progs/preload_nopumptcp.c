/* preload_nopumptcp.so — a test-only fault injector that takes the pump's
 * loopback TCP channel away (tests/preload/vmrw.sh, sp_ cases).
 *
 * Loaded after libtlsshim.so: the library's bind() of a pump channel's
 * socket to an address in 127.254.0.0/16 (shim/pump.c, tcp_channel)
 * comes here and fails with EADDRNOTAVAIL, as where no loopback address
 * can be had (a network namespace whose lo is down, a filter): the pump
 * then talks to the program over a socketpair.  Every other bind() goes
 * straight through.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *a, socklen_t len)
{
	static int (*real_bind)(int, const struct sockaddr *, socklen_t);
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;

	if (a && len >= sizeof *s4 && a->sa_family == AF_INET &&
	    (ntohl(s4->sin_addr.s_addr) >> 16) == 0x7ffe) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	if (!real_bind)
		real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	return real_bind(fd, a, len);
}
