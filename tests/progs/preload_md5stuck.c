/* preload_md5stuck.so — a test-only fault injector: the second
 * setsockopt(IPPROTO_TCP, TCP_MD5SIG) of a process that takes a key off
 * (tcpm_keylen 0) fails (EPERM, as a seccomp filter's answer).  The
 * pump, once the crossed SYNs of a pending channel (shim/pump.c,
 * pump_connect) have connected it, takes the key off its own end first,
 * then off the program's end: that second call fails, and the program's
 * end, still signed, could take nothing from the pump's, which is what
 * the library must end (an abort: ECONNRESET) rather than leave waiting.
 * A pump is a fresh fork of a program that took no key off: its count
 * starts at 0.  Loaded AFTER the library: its setsockopt() calls find
 * this one first.  Every other call is the C library's. */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*real)(int, int, int, const void *, socklen_t);
	static int taken_off;
	struct tcp_md5sig m;

	if (!real && !(real = (int (*)(int, int, int, const void *, socklen_t))
			       dlsym(RTLD_NEXT, "setsockopt"))) {
		errno = ENOSYS;
		return -1;
	}
	if (level == IPPROTO_TCP && name == TCP_MD5SIG && val && len >= sizeof m) {
		memcpy(&m, val, sizeof m);
		if (m.tcpm_keylen == 0 && ++taken_off == 2) {
			errno = EPERM;
			return -1;
		}
	}
	return real(fd, level, name, val, len);
}
