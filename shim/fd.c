/* shim/fd.c — the calls that create and end fds: socket(), close(),
 * shutdown(). */
#include <errno.h>

#include "shim/shim.h"

SHIM_EXPORT int socket(int domain, int type, int proto)
{
	int fd = REAL(socket)(domain, type, proto);

	/* A number the kernel hands out again was closed behind our back
	 * (e.g. glibc-internal close): whatever we knew of it is stale. */
	if (fd >= 0 && conntab_maybe(fd)) {
		int saved = errno;
		conntab_forget(fd);
		errno = saved;
	}
	return fd;
}

SHIM_EXPORT int close(int fd)
{
	struct tls_conn *c;

	if (!conntab_maybe(fd) || !(c = conntab_detach(fd)))
		return REAL(close)(fd);
	return shim_tls_close(fd, c);
}

SHIM_EXPORT int shutdown(int fd, int how)
{
	struct tls_conn *c;
	int r;

	if (!conntab_maybe(fd) || !(c = conntab_get(fd)))
		return REAL(shutdown)(fd, how);
	r = shim_tls_shutdown(c, how);
	tls_conn_unref(c);
	return r;
}
