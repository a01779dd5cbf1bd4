/* preload_nomd5.so — a test-only fault injector: setsockopt(IPPROTO_TCP,
 * TCP_MD5SIG) fails (EPERM), as under a seccomp filter that refuses
 * setsockopt level 6 optname 14, or a kernel without CONFIG_TCP_MD5SIG
 * (ENOPROTOOPT), so that the library's pending channel (shim/pump.c,
 * pending_channel: its ends signed with a random key) cannot be made and
 * a client session handed over mid-handshake gets the ordinary channel,
 * connected at once, with a warning.  Loaded AFTER the library: its
 * setsockopt() calls find this one first.  Every other call is the C
 * library's. */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*real)(int, int, int, const void *, socklen_t);

	if (!real && !(real = (int (*)(int, int, int, const void *, socklen_t))
			       dlsym(RTLD_NEXT, "setsockopt"))) {
		errno = ENOSYS;
		return -1;
	}
	if (level == IPPROTO_TCP && name == TCP_MD5SIG) {
		errno = EPERM;
		return -1;
	}
	return real(fd, level, name, val, len);
}
